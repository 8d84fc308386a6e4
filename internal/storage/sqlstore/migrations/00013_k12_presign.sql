-- +goose Up
-- A presign token carries the contract mode and the designated card (sealed to the
-- token's hash); the identity number and phones given at presign are sealed too.
ALTER TABLE k12_tokens ADD COLUMN contract_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE k12_tokens ADD COLUMN card_sealed BYTEA;
ALTER TABLE k12_tokens ADD COLUMN identity_sealed BYTEA;
ALTER TABLE k12_contracts ADD COLUMN card_sealed BYTEA;

-- +goose Down
ALTER TABLE k12_contracts DROP COLUMN card_sealed;
ALTER TABLE k12_tokens DROP COLUMN identity_sealed;
ALTER TABLE k12_tokens DROP COLUMN card_sealed;
ALTER TABLE k12_tokens DROP COLUMN contract_mode;
