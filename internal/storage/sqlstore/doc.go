// Package sqlstore keeps the platform's state in SQLite (the embedded default, one file
// in the data directory) or PostgreSQL (the scale backend), and implements the storage
// interfaces that the domain packages declare (tenant.Store, ledger.Store).
//
// Both backends run the same SQL and the same versioned migrations (one schema, typed
// so that both read it alike); what truly differs between them (driver and connection
// setup, row locking, placeholders, how a unique violation or a retryable conflict
// looks) lives in a dialect. One contract suite (package storagetest)
// runs against both, so a behaviour that differs between backends shows up as a failure.
//
// SQLite has a single writer: writes go through one connection that opens every
// transaction with BEGIN IMMEDIATE, reads through a separate pool. PostgreSQL locks the
// rows a transaction changes with SELECT ... FOR UPDATE, in a stable order.
package sqlstore
