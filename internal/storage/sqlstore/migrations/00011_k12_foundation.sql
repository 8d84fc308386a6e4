-- +goose Up
-- K12: organisations of service providers, their users (name and phone sealed, bound
-- to the user's row) and the tokens that open the parents' pages (only a hash kept).
CREATE TABLE k12_organizations (
    organization_id TEXT   NOT NULL PRIMARY KEY,
    name            TEXT   NOT NULL,
    sp_mch_id       TEXT   NOT NULL,
    sub_mch_id      TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    UNIQUE (sp_mch_id, name)
);
CREATE TABLE k12_users (
    user_id         TEXT   NOT NULL PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES k12_organizations (organization_id),
    out_user_id     TEXT   NOT NULL,
    name_sealed     BYTEA,
    phone_sealed    BYTEA,
    phone_tail      TEXT   NOT NULL DEFAULT '',
    user_type       TEXT   NOT NULL,
    class_name      TEXT   NOT NULL DEFAULT '',
    occupation      TEXT   NOT NULL DEFAULT '',
    status          TEXT   NOT NULL,
    disabled_by     TEXT   NOT NULL DEFAULT '',
    contract_state  TEXT   NOT NULL,
    contract_id     TEXT   NOT NULL DEFAULT '',
    face_image_ok   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (organization_id, out_user_id)
);
CREATE TABLE k12_tokens (
    token_hash      TEXT   NOT NULL PRIMARY KEY,
    organization_id TEXT   NOT NULL,
    out_user_id     TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE k12_tokens;
DROP TABLE k12_users;
DROP TABLE k12_organizations;
