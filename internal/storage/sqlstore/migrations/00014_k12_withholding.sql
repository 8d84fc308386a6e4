-- +goose Up
-- K12 withholding. A debit is an order (so the generic query, refund and bills see
-- it) funded by the payer's wallet or by the platform's advance; an advance leaves
-- the order's debt open until the payer repays. The K12 side of a debit (user,
-- organisation, the Beijing day it counts toward, the refusal reason) is its own row.
ALTER TABLE merchants ADD COLUMN advance_funding BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchants ADD COLUMN k12_payment_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchants ADD COLUMN k12_daily_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE k12_organizations ADD COLUMN risk_hours TEXT NOT NULL DEFAULT '';
ALTER TABLE k12_organizations ADD COLUMN risk_devices TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN funding TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN debt_state TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN repayment_id TEXT NOT NULL DEFAULT '';
ALTER TABLE payers ADD COLUMN card_sealed BYTEA;
CREATE TABLE k12_debits (
    owner_mch_id        TEXT   NOT NULL,
    out_trade_no        TEXT   NOT NULL,
    sp_mch_id           TEXT   NOT NULL,
    sp_appid            TEXT   NOT NULL DEFAULT '',
    organization_id     TEXT   NOT NULL,
    user_id             TEXT   NOT NULL,
    contract_id         TEXT   NOT NULL DEFAULT '',
    device_id           TEXT   NOT NULL DEFAULT '',
    day                 TEXT   NOT NULL,
    total_fee           BIGINT NOT NULL,
    counted             BIGINT NOT NULL DEFAULT 0,
    error_type          TEXT   NOT NULL DEFAULT '',
    business_product_id BIGINT NOT NULL,
    business_scene_id   BIGINT NOT NULL,
    device_ip           TEXT   NOT NULL DEFAULT '',
    goods_tag           TEXT   NOT NULL DEFAULT '',
    profit_sharing      BIGINT NOT NULL DEFAULT 0,
    credential_hash     TEXT   NOT NULL,
    request_digest      TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (owner_mch_id, out_trade_no)
);
CREATE INDEX k12_debits_user_day ON k12_debits (user_id, day);
-- An offline credential pays once: at most one counted (successful) debit holds it;
-- refused debits do not use it up.
CREATE UNIQUE INDEX k12_debits_credential ON k12_debits (credential_hash) WHERE counted = 1;
CREATE TABLE k12_repayments (
    repayment_id TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    payer_id     TEXT   NOT NULL,
    amount       BIGINT NOT NULL,
    debts        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX k12_repayments_user ON k12_repayments (user_id);
-- Terminals made by `admin rawdata`: their private keys, sealed, so that emulator
-- commands can sign as them (offline payment credentials).
CREATE TABLE emulator_terminals (
    sdk_device_id TEXT   NOT NULL PRIMARY KEY,
    key_sealed    BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE emulator_terminals;
DROP TABLE k12_repayments;
DROP TABLE k12_debits;
ALTER TABLE payers DROP COLUMN card_sealed;
ALTER TABLE orders DROP COLUMN repayment_id;
ALTER TABLE orders DROP COLUMN debt_state;
ALTER TABLE orders DROP COLUMN funding;
ALTER TABLE k12_organizations DROP COLUMN risk_devices;
ALTER TABLE k12_organizations DROP COLUMN risk_hours;
ALTER TABLE merchants DROP COLUMN k12_daily_limit;
ALTER TABLE merchants DROP COLUMN k12_payment_limit;
ALTER TABLE merchants DROP COLUMN advance_funding;
