package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/seal"
)

// Config says which database to use.
type Config struct {
	// URL selects PostgreSQL when it starts with postgres:// or postgresql://; when
	// empty the store is SQLite in DataDir.
	URL     string
	DataDir string
	Sealer  *seal.Sealer
	Logger  *slog.Logger
	Clock   clock.Clock // stamps bookkeeping times; wall clock when nil
}

// DB is an open store.
type DB struct {
	write  *sql.DB
	read   *sql.DB
	d      dialect
	sealer *seal.Sealer
	log    *slog.Logger
	clock  clock.Clock
	batch  *committer   // SQLite: group commit; nil on PostgreSQL
	pipe   *pipeline    // PostgreSQL: guarded writes pipelined and group-committed
	reads  *readBatcher // PostgreSQL: the hot single-row reads, pipelined
	// Merchants as read, dropped when another process's change is heard (NOTIFY on
	// PostgreSQL, a polled generation on SQLite).
	merchants *merchantCache
	// This store changed a merchant that other processes may hold in their caches
	// (AwaitWatchers).
	announced atomic.Bool
	ckpt      *checkpointer // SQLite: WAL checkpoints beside the writer
	fold      *ticker       // folds deferred ledger credits
	codes     *codeCache    // codes this process minted (codecache.go)
	// SQLite: statements kept prepared on the writer and on the read pool; nil on
	// PostgreSQL, whose driver keeps its own.
	writeStmts, readStmts *stmtCache
	// Platform signing keys as parsed, by serial number with the sealed bytes they came
	// from: parsing validates the key, which costs more than the request it signs.
	platformKeys sync.Map // serial_no → parsedKey
}

// dialect is what differs between the backends.
type dialect interface {
	name() string
	rebind(query string) string
	forUpdate() string
	skipLocked() string // rows another transaction holds are passed over, where the backend can
	// defersCredits: a credit to a collecting account (a merchant's settlement account)
	// is recorded beside it and folded later, because commits run concurrently and
	// would queue on its row (ledger.Request.DeferCredit).
	defersCredits() bool
	isUnique(err error) bool
	isForeignKey(err error) bool
	isRetryable(err error) bool
}

// Open opens (and creates, on SQLite) the store, applies pending migrations and checks
// that the master key opens what the store already holds.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Sealer == nil {
		return nil, errors.New("sqlstore: no sealer configured")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	var (
		db  *DB
		err error
	)
	if IsPostgresURL(cfg.URL) {
		db, err = openPostgres(ctx, cfg)
	} else if cfg.URL != "" {
		return nil, fmt.Errorf("sqlstore: --db must be a postgres:// URL, got a %q URL", scheme(cfg.URL))
	} else {
		db, err = openSQLite(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	db.codes = newCodeCache() // before the first transaction, whose settle may fill it
	if err := db.checkKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.fold = startFolder(db)
	return db, nil
}

// IsPostgresURL reports whether url selects the PostgreSQL backend.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func scheme(url string) string {
	if i := strings.Index(url, "://"); i > 0 {
		return url[:i]
	}
	return "schemeless"
}

// Backend names the backend: "sqlite" or "postgres".
func (db *DB) Backend() string { return db.d.name() }

// Close closes the connections.
func (db *DB) Close() error {
	if db.fold != nil {
		db.fold.stop() // before the committer, which its folds go through
	}
	if db.batch != nil {
		db.batch.stop()
	}
	if db.pipe != nil {
		db.pipe.stop()
	}
	if db.reads != nil {
		db.reads.stop()
	}
	if db.merchants != nil {
		db.merchants.stop()
	}
	if db.ckpt != nil {
		db.ckpt.stop()
	}
	db.writeStmts.close()
	db.readStmts.close()
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

const keyCheckPurpose = "meta/seal_check"

// checkKey makes a wrong master key fail at start with a clear message, instead of at
// the first secret read.
func (db *DB) checkKey(ctx context.Context) error {
	return db.InTx(ctx, func(tx *Tx) error {
		var v []byte
		err := tx.QueryRow(ctx, `SELECT v FROM meta WHERE k = ?`, "seal_check").Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.Exec(ctx, `INSERT INTO meta (k, v) VALUES (?, ?)`, "seal_check",
				db.sealer.Seal(keyCheckPurpose, []byte("openfacepay")))
			return err
		}
		if err != nil {
			return err
		}
		if _, err := db.sealer.Open(keyCheckPurpose, v); err != nil {
			return fmt.Errorf("the master key (%s or %s in the data directory) does not open this store's secrets", seal.EnvKey, seal.KeyFile)
		}
		return nil
	})
}

// Tx is one open transaction.
type Tx struct {
	tx      *sql.Tx
	db      *DB
	changed []string         // merchants whose cached entries settle drops (merchantChanged)
	minted  []pay.Credential // codes settle keeps once committed (codecache.go)
}

// Exec runs a statement written with ? placeholders.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.db.writeStmts.get(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.db.d.rebind(q), args...)
}

// QueryRow runs a query written with ? placeholders.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.db.writeStmts.get(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.db.d.rebind(q), args...)
}

// Query runs a query written with ? placeholders.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.db.writeStmts.get(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.db.d.rebind(q), args...)
}

const maxAttempts = 8

// InTx runs fn in a write transaction and returns once it is committed. A conflict
// the database reports as retryable (a PostgreSQL serialization failure or deadlock,
// SQLite busy after its timeout) runs fn again from the start; fn must therefore only
// touch the database, and never call InTx itself. On SQLite, fn shares its commit with
// the transactions queued beside it (see groupcommit.go).
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	if db.batch != nil {
		return db.batch.submit(ctx, fn)
	}
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = db.once(ctx, fn)
		if err == nil || !db.d.isRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
	return errcode.Wrap(errcode.Unavailable, err, "the database stayed busy, try again")
}

func (db *DB) once(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, db: db}
	defer func() {
		if err != nil {
			_ = sqlTx.Rollback()
		}
		tx.settle(err == nil)
	}()
	if err = runJob(&job{fn: fn}, tx); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// queryRow reads outside any write transaction.
func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := db.readStmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, db.d.rebind(q), args...)
}

// row is a read of one row: on PostgreSQL it travels with the reads queued beside it
// (readbatch.go), elsewhere it is queryRow's. Its Scan answers sql.ErrNoRows when
// there is none.
func (db *DB) row(ctx context.Context, q string, args ...any) scanner {
	if db.reads != nil {
		return batchedRow{ctx: ctx, b: db.reads, q: q, args: args}
	}
	return db.queryRow(ctx, q, args...)
}

type batchedRow struct {
	ctx  context.Context
	b    *readBatcher
	q    string
	args []any
}

func (r batchedRow) Scan(dest ...any) error { return r.b.read(r.ctx, r.q, r.args, dest) }

func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := db.readStmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, db.d.rebind(q), args...)
}

// rebindDollar turns ? placeholders into $1, $2, ... The queries of this package never
// carry a literal question mark.
func rebindDollar(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// SQL exposes the read pool for diagnostics and for tests that must look at raw rows
// (for example to prove that secrets are sealed at rest).
func (db *DB) SQL() *sql.DB { return db.read }

// Rebind rewrites a query written with ? placeholders for this backend.
func (db *DB) Rebind(q string) string { return db.d.rebind(q) }
