// Package storagetest is the storage contract: one suite that every backend must pass,
// and the helpers that open a fresh, isolated store of each backend for any test (a
// temporary SQLite directory, or a new PostgreSQL schema on the server named by
// FACEPAY_TEST_PG), so tests of other packages can run against both.
package storagetest
