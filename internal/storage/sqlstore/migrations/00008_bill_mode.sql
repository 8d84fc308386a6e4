-- +goose Up
-- When a merchant's bills become available: 'daily' from D+1 10:00 Beijing time, as
-- WeChat serves them; 'instant' at once, listing the trades so far, so that
-- reconciliation can be tested the same day.
ALTER TABLE merchants ADD COLUMN bill_mode TEXT NOT NULL DEFAULT 'daily';

-- +goose Down
ALTER TABLE merchants DROP COLUMN bill_mode;
