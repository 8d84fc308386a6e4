-- +goose Up
-- Face member cards: configured per merchant and store, opened once per merchant
-- and person (openid under the merchant's appid).
CREATE TABLE member_cards (
    mch_id     TEXT   NOT NULL,
    store_id   TEXT   NOT NULL,
    card_id    TEXT   NOT NULL,
    enabled_at BIGINT NOT NULL,
    PRIMARY KEY (mch_id, store_id)
);
CREATE TABLE memberships (
    mch_id     TEXT   NOT NULL,
    openid     TEXT   NOT NULL,
    card_id    TEXT   NOT NULL,
    member_no  TEXT   NOT NULL,
    store_id   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (mch_id, openid)
);

-- +goose Down
DROP TABLE memberships;
DROP TABLE member_cards;
