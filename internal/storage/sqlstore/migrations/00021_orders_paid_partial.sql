-- +goose Up
-- orders_paid served only the bills, which ask for paid_at in a range. As a full index
-- it led with owner_mch_id like the primary key, so PostgreSQL could take it for a
-- lookup by (owner_mch_id, out_trade_no) or by transaction_id: a plan made while the
-- table was nearly empty, and kept by the connection's prepared statement, then read
-- every order of the merchant to find one (measured: orderquery fell from 15 000 to
-- 400 a second once 10 000 orders were in). A partial index on paid orders cannot
-- answer a query that says nothing of paid_at, so those lookups have only their own
-- keys to use, and unpaid orders no longer cost the index an entry.
DROP INDEX orders_paid;
CREATE INDEX orders_paid ON orders (owner_mch_id, paid_at) WHERE paid_at IS NOT NULL;

-- +goose Down
DROP INDEX orders_paid;
CREATE INDEX orders_paid ON orders (owner_mch_id, paid_at);
