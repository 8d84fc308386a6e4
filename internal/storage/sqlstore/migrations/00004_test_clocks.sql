-- +goose Up
-- A merchant on a test clock lives at the frozen instant test_clock (Unix µs) until an
-- operator advances it; NULL is the real clock. Production merchants never get one.
ALTER TABLE merchants ADD COLUMN test_clock BIGINT;
ALTER TABLE merchants ADD COLUMN production BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE merchants DROP COLUMN production;
ALTER TABLE merchants DROP COLUMN test_clock;
