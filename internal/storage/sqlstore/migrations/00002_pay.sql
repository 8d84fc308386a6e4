-- +goose Up
-- The v2 face-payment path: stores and devices, payers and their one-time
-- credentials, orders, refunds and per-merchant emulator controls.

-- Payments above this many fen need the payer's password (USERPAYING); 0 never does.
ALTER TABLE merchants ADD COLUMN password_threshold BIGINT NOT NULL DEFAULT 0;

CREATE TABLE stores (
    mch_id     TEXT   NOT NULL REFERENCES merchants (mch_id),
    store_id   TEXT   NOT NULL,
    store_name TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (mch_id, store_id)
);

-- A merchant's terminal number, bound to the face SDK identity (its key) that first
-- asked for authinfo under it.
CREATE TABLE devices (
    mch_id        TEXT   NOT NULL REFERENCES merchants (mch_id),
    device_id     TEXT   NOT NULL,
    sdk_device_id TEXT   NOT NULL,
    device_key    TEXT   NOT NULL,
    store_id      TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (mch_id, device_id)
);

CREATE TABLE payers (
    payer_id     TEXT   PRIMARY KEY,
    phone_sealed BYTEA,
    phone_tail   TEXT,
    created_at   BIGINT NOT NULL
);

-- face_code and payment codes are bearer credentials: only their SHA-256 is stored.
CREATE TABLE pay_credentials (
    code_hash     TEXT   PRIMARY KEY,
    kind          TEXT   NOT NULL CHECK (kind IN ('face_code', 'pay_code')),
    payer_id      TEXT   NOT NULL REFERENCES payers (payer_id),
    mch_id        TEXT,            -- face codes: the merchant of the authinfo (sub-merchant in SP mode)
    appid         TEXT,
    device_id     TEXT,
    authinfo_hash TEXT,
    expires_at    BIGINT NOT NULL,
    used_by       TEXT,            -- owner_mch_id/out_trade_no of the order that consumed it
    created_at    BIGINT NOT NULL
);

CREATE TABLE orders (
    owner_mch_id     TEXT   NOT NULL REFERENCES merchants (mch_id),
    out_trade_no     TEXT   NOT NULL,
    transaction_id   TEXT   NOT NULL UNIQUE,
    mch_id           TEXT   NOT NULL,
    sub_mch_id       TEXT   NOT NULL DEFAULT '',
    appid            TEXT   NOT NULL,
    sub_appid        TEXT   NOT NULL DEFAULT '',
    api              TEXT   NOT NULL,
    trade_type       TEXT   NOT NULL,
    payer_id         TEXT   NOT NULL REFERENCES payers (payer_id),
    openid           TEXT   NOT NULL,
    sub_openid       TEXT   NOT NULL DEFAULT '',
    total_fee        BIGINT NOT NULL CHECK (total_fee > 0),
    fee_type         TEXT   NOT NULL,
    body             TEXT   NOT NULL,
    attach           TEXT   NOT NULL DEFAULT '',
    device_info      TEXT   NOT NULL DEFAULT '',
    credential_hash  TEXT   NOT NULL,
    request_digest   TEXT   NOT NULL,
    state            TEXT   NOT NULL,
    state_desc       TEXT   NOT NULL DEFAULT '',
    refunded_fee     BIGINT NOT NULL DEFAULT 0 CHECK (refunded_fee >= 0 AND refunded_fee <= total_fee),
    refund_count     BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    paid_at          BIGINT,
    decide_by        BIGINT,         -- USERPAYING: when the payer's password wait times out
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (owner_mch_id, out_trade_no)
);
CREATE INDEX orders_paid ON orders (owner_mch_id, paid_at);

CREATE TABLE refunds (
    refund_id      TEXT   PRIMARY KEY,
    owner_mch_id   TEXT   NOT NULL,
    out_refund_no  TEXT   NOT NULL,
    out_trade_no   TEXT   NOT NULL,
    refund_fee     BIGINT NOT NULL CHECK (refund_fee > 0),
    total_fee      BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    refund_account TEXT   NOT NULL,
    refund_desc    TEXT   NOT NULL DEFAULT '',
    request_digest TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    success_at     BIGINT,
    UNIQUE (owner_mch_id, out_refund_no),
    FOREIGN KEY (owner_mch_id, out_trade_no) REFERENCES orders (owner_mch_id, out_trade_no)
);
CREATE INDEX refunds_order ON refunds (owner_mch_id, out_trade_no, created_at);
CREATE INDEX refunds_created ON refunds (owner_mch_id, created_at);

-- Emulator fault rules: the next `remaining` calls of api for mch_id answer err_code
-- (or wait delay_ms first).
CREATE TABLE fault_rules (
    id         TEXT   PRIMARY KEY,
    mch_id     TEXT   NOT NULL,
    api        TEXT   NOT NULL,
    err_code   TEXT   NOT NULL DEFAULT '',
    delay_ms   BIGINT NOT NULL DEFAULT 0,
    remaining  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX fault_rules_lookup ON fault_rules (mch_id, api);

-- +goose Down
DROP TABLE fault_rules;
DROP TABLE refunds;
DROP TABLE orders;
DROP TABLE pay_credentials;
DROP TABLE payers;
DROP TABLE devices;
DROP TABLE stores;
ALTER TABLE merchants DROP COLUMN password_threshold;
