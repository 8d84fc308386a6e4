package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/seal"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// EnvPostgres names the variable with the PostgreSQL URL the tests use.
const EnvPostgres = "FACEPAY_TEST_PG"

// DefaultPostgres is the local cluster that `make test` starts.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/facepay_test?sslmode=disable"

// Backend is a fresh store plus what a test needs to open it again.
type Backend struct {
	Name   string
	DB     *sqlstore.DB
	Config sqlstore.Config // opens the same store again (with another Sealer, say)
}

// Reopen opens the same store with sealer.
func (b Backend) Reopen(ctx context.Context, sealer *seal.Sealer) (*sqlstore.DB, error) {
	cfg := b.Config
	cfg.Sealer = sealer
	return sqlstore.Open(ctx, cfg)
}

// TestSealer returns a sealer with a fixed key, so reopened stores read their secrets.
func TestSealer(t testing.TB) *seal.Sealer {
	s, err := seal.New(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each runs fn as a parallel subtest on a fresh SQLite store and a fresh PostgreSQL schema.
func Each(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, name))
		})
	}
}

// Open opens a fresh store of the named backend, closed and dropped when t ends.
func Open(t testing.TB, name string) Backend {
	t.Helper()
	var cfg sqlstore.Config
	switch name {
	case "sqlite":
		cfg = sqlstore.Config{DataDir: t.TempDir()}
	case "postgres":
		cfg = sqlstore.Config{URL: PostgresSchema(t)}
	default:
		t.Fatalf("unknown backend %q", name)
	}
	cfg.Sealer = TestSealer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sqlstore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s store: %v", name, err)
	}
	t.Cleanup(func() { db.Close() })
	return Backend{Name: name, DB: db, Config: cfg}
}

// PostgresURL is the server the tests use.
func PostgresURL() string {
	if u := os.Getenv(EnvPostgres); u != "" {
		return u
	}
	return DefaultPostgres
}

// PostgresSchema creates an empty schema for one test and returns a URL whose
// search_path points into it; the schema is dropped when the test ends.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, drop, err := sqlstore.NewSchema(ctx, PostgresURL(), "t")
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v: run `make test`, which starts the local cluster and creates the test database, or set %s", PostgresURL(), err, EnvPostgres)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Logf("drop test schema: %v", err)
		}
	})
	return u
}

// Must returns v, and panics on err: a test helper for set-up calls whose failure
// means the test cannot go on (the panic fails the test with its stack).
func Must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Errorf("unexpected error: %w", err))
	}
	return v
}

// Must2 is Must for two results.
func Must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(fmt.Errorf("unexpected error: %w", err))
	}
	return a, b
}
