package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

type postgresDialect struct{}

func (postgresDialect) name() string                { return "postgres" }
func (postgresDialect) rebind(q string) string      { return rebindDollar(q) }
func (postgresDialect) forUpdate() string           { return " FOR UPDATE" }
func (postgresDialect) defersCredits() bool         { return true }
func (postgresDialect) isUnique(err error) bool     { return pgCode(err) == "23505" }
func (postgresDialect) isForeignKey(err error) bool { return pgCode(err) == "23503" }
func (postgresDialect) isRetryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	pool, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	// The pool's statements (interactive transactions, lists, bills) are planned for
	// each execution. A generic plan is made once, after five executions, and kept while
	// the table grows. Made on a nearly empty table, PostgreSQL cannot tell an index
	// that leads with the tenant column from the key the statement names: a refund by
	// out_refund_no then read every refund of its merchant. The hot statements run on
	// the pipeline's and the reader's own connections, keep generic plans, and
	// plans_test.go checks them.
	pool.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	db := stdlib.OpenDB(*pool)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: cannot reach PostgreSQL: %w", err)
	}
	// An advisory lock keeps several instances starting at once from racing on migrations.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, goose.DialectPostgres, "migrations", locker); err != nil {
		db.Close()
		return nil, err
	}
	d := postgresDialect{}
	pipe, err := startPipeline(cfg.URL, d)
	if err != nil {
		db.Close()
		return nil, err
	}
	reads, err := startReadBatcher(cfg.URL, d)
	if err != nil {
		pipe.stop()
		db.Close()
		return nil, err
	}
	return &DB{write: db, read: db, d: d, sealer: cfg.Sealer, log: cfg.Logger, clock: cfg.Clock, pipe: pipe, reads: reads,
		merchants: newMerchantCache(notifications(cfg.URL), cfg.Logger)}, nil
}

func (postgresDialect) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }
