package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLiteFile is the database file's name inside the data directory.
const SQLiteFile = "facepay.db"

type sqliteDialect struct{}

func (sqliteDialect) name() string           { return "sqlite" }
func (sqliteDialect) rebind(q string) string { return q }
func (sqliteDialect) forUpdate() string      { return "" } // the single writer already excludes others
func (sqliteDialect) isUnique(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
func (sqliteDialect) isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
func (sqliteDialect) isRetryable(err error) bool {
	c := sqliteCode(err)
	return c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func openSQLite(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("sqlstore: SQLite needs a data directory (--data)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	path := filepath.Join(cfg.DataDir, SQLiteFile)
	// FULL: a payment answered is a payment on disk. Another process (an admin command
	// while serve runs) waits on busy_timeout rather than failing.
	pragmas := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		pragmas.Add("_pragma", p)
	}
	writeDSN := "file:" + path + "?" + pragmas.Encode() + "&_pragma=wal_autocheckpoint(0)&_txlock=immediate" // checkpoint.go
	readDSN := "file:" + path + "?" + pragmas.Encode() + "&_pragma=query_only(1)"
	write, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, err
	}
	// All writes run on this one connection, owned by the committer (groupcommit.go).
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	db := &DB{write: write, d: sqliteDialect{}, sealer: cfg.Sealer, log: cfg.Logger, clock: cfg.Clock}
	if err := withFileLock(path+".lock", func() error { return migrate(ctx, write, goose.DialectSQLite3, "migrations", nil) }); err != nil {
		write.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		write.Close()
		return nil, err
	}
	// Idle connections are kept (the default keeps two): a connection opened per read
	// would parse the schema again and lose its prepared statements.
	read.SetMaxOpenConns(4)
	read.SetMaxIdleConns(4)
	db.read = read
	db.writeStmts, db.readStmts = newStmtCache(write, true), newStmtCache(read, false)
	ckpt, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		write.Close()
		read.Close()
		return nil, err
	}
	ckpt.SetMaxOpenConns(1)
	db.ckpt = startCheckpointer(ckpt, cfg.Logger)
	db.batch = startCommitter(db)
	db.merchants = newMerchantCache(generations(db, sqliteWatchEvery), cfg.Logger)
	return db, nil
}

// withFileLock serialises migrations between processes that open one data directory
// at once (serve and an admin command started together).
func withFileLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: lock %s: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("sqlstore: lock %s: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

func (sqliteDialect) skipLocked() string { return "" } // claims already run one at a time

// defersCredits is false: SQLite's one writer commits a batch as one transaction, so
// the settlement row is written once a commit whoever credits it, and nothing queues on
// it. A deferred credit would instead cost a row in three B-trees per payment, pages in
// every commit, and the fold's deletes of it after.
func (sqliteDialect) defersCredits() bool { return false }
