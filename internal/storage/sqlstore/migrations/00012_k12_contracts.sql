-- +goose Up
-- K12 contracts (one row per signing; re-signing makes a new one), the contracted
-- payer of each user, and where a service provider's K12 webhooks go.
CREATE TABLE k12_contracts (
    contract_id     TEXT   NOT NULL PRIMARY KEY,
    organization_id TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    sp_mch_id       TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL,
    payer_id        TEXT   NOT NULL,
    contract_mode   TEXT   NOT NULL,
    card_from       TEXT   NOT NULL DEFAULT '',
    state           TEXT   NOT NULL,
    signed_at       BIGINT NOT NULL,
    terminated_at   BIGINT
);
CREATE INDEX k12_contracts_user ON k12_contracts (user_id);
ALTER TABLE k12_users ADD COLUMN payer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE merchants ADD COLUMN notify_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE merchants DROP COLUMN notify_url;
ALTER TABLE k12_users DROP COLUMN payer_id;
DROP TABLE k12_contracts;
