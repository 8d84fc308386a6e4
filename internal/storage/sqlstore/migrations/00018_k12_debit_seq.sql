-- +goose Up
-- A user's debit sequence: every transaction that locks the user to debit (or repay)
-- moves it on. A debit decided from reads outside any transaction (its day's spending
-- read in the same statement as this number) writes only if the number is still the
-- one it read, so no debit it did not see has committed in between.
ALTER TABLE k12_users ADD COLUMN debit_seq BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE k12_users DROP COLUMN debit_seq;
