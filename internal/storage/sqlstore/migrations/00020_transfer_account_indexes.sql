-- +goose Up
-- No statement looks transfers up by account: the audit reads the whole table, and
-- accounts are never deleted, so no foreign key check needs these either. Each cost
-- every transfer two index entries, the debit one on a page of its own (one per
-- wallet) in every commit.
DROP INDEX ledger_transfers_debit;
DROP INDEX ledger_transfers_credit;

-- +goose Down
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account);
