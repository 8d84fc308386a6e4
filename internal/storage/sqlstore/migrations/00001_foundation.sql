-- +goose Up
-- One schema for both backends: BIGINT and BYTEA mean 64-bit integers and byte strings
-- on PostgreSQL and have integer and blob-preserving affinity on SQLite.
-- Times are Unix microseconds (UTC); money is integer fen; flags are 0/1.
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v BYTEA NOT NULL
);

CREATE TABLE platform_ca (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    cert_pem   TEXT    NOT NULL,
    key_sealed BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE merchants (
    mch_id           TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('direct', 'service_provider', 'sub_merchant')),
    parent_mch_id    TEXT REFERENCES merchants (mch_id),
    name             TEXT NOT NULL,
    api_key_sealed   BYTEA NOT NULL,
    apiv3_key_sealed BYTEA NOT NULL,
    platform_mode    TEXT NOT NULL CHECK (platform_mode IN ('certificate', 'public_key')),
    created_at       BIGINT NOT NULL
);
CREATE INDEX merchants_parent ON merchants (parent_mch_id);

CREATE TABLE merchant_certs (
    serial_no  TEXT PRIMARY KEY,
    mch_id     TEXT NOT NULL REFERENCES merchants (mch_id),
    cert_pem   TEXT NOT NULL,
    not_after  BIGINT NOT NULL,
    revoked    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX merchant_certs_mch ON merchant_certs (mch_id);

CREATE TABLE platform_identities (
    serial_no      TEXT PRIMARY KEY,
    mch_id         TEXT NOT NULL REFERENCES merchants (mch_id),
    kind           TEXT NOT NULL CHECK (kind IN ('certificate', 'public_key')),
    cert_pem       TEXT,
    public_key_pem TEXT,
    key_sealed     BYTEA NOT NULL,
    not_before     BIGINT NOT NULL,
    not_after      BIGINT NOT NULL
);
CREATE INDEX platform_identities_mch ON platform_identities (mch_id);

CREATE TABLE app_bindings (
    appid  TEXT NOT NULL,
    mch_id TEXT NOT NULL REFERENCES merchants (mch_id),
    PRIMARY KEY (appid, mch_id)
);
CREATE INDEX app_bindings_mch ON app_bindings (mch_id);

CREATE TABLE v3_nonces (
    mch_id  TEXT    NOT NULL,
    nonce   TEXT    NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (mch_id, nonce)
);
CREATE INDEX v3_nonces_seen ON v3_nonces (seen_at);

CREATE TABLE ledger_accounts (
    id              TEXT PRIMARY KEY,
    kind            TEXT    NOT NULL,
    may_go_negative BIGINT NOT NULL,
    balance         BIGINT NOT NULL DEFAULT 0,
    pending_debits  BIGINT NOT NULL DEFAULT 0,
    pending_credits BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    -- the engine checks this under a lock; the constraint is the last line of defence
    CHECK (may_go_negative = 1 OR balance - pending_debits >= 0),
    CHECK (pending_debits >= 0 AND pending_credits >= 0)
);

CREATE TABLE ledger_transfers (
    idem_key       TEXT    PRIMARY KEY,
    debit_account  TEXT    NOT NULL REFERENCES ledger_accounts (id),
    credit_account TEXT    NOT NULL REFERENCES ledger_accounts (id),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    code           TEXT    NOT NULL,
    two_phase      BIGINT NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account);

-- +goose Down
DROP TABLE ledger_transfers;
DROP TABLE ledger_accounts;
DROP TABLE v3_nonces;
DROP TABLE app_bindings;
DROP TABLE platform_identities;
DROP TABLE merchant_certs;
DROP TABLE merchants;
DROP TABLE platform_ca;
DROP TABLE meta;
