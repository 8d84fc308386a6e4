-- +goose Up
-- Credits to a collecting account (a merchant's settlement account, which every payment
-- credits) are recorded here and folded into its balance later, so concurrent payments
-- do not queue on its row until their commits. An account's balance is its row's
-- balance plus its rows here.
CREATE TABLE ledger_deferred (
    transfer_key TEXT   PRIMARY KEY REFERENCES ledger_transfers (idem_key),
    account_id   TEXT   NOT NULL REFERENCES ledger_accounts (id),
    amount       BIGINT NOT NULL CHECK (amount > 0)
);
CREATE INDEX ledger_deferred_account ON ledger_deferred (account_id);

-- +goose Down
DROP TABLE ledger_deferred;
