package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the store's SQLite driver, for the SQLite anchor

	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// The storage ceiling is the research notes' pay-shaped transaction on the same
// backend with nothing else around it: INSERT the order (unique out_trade_no), two
// postings, UPDATE a payer's balance (one of 10 000) and the merchant's (one hot row
// every payment shares), INSERT an outbox row, COMMIT — prepared statements, group
// commit of up to 64 payments per transaction, full durability. On PostgreSQL a
// batch's statements travel pipelined in one round trip (pgx.Batch). It uses tables
// of its own (a file beside the store on SQLite, a throw-away schema on PostgreSQL),
// so it measures what the backend can do, not what the store does.

const anchorSchema = `
CREATE TABLE anchor_orders (out_trade_no TEXT PRIMARY KEY, merchant BIGINT NOT NULL, payer BIGINT NOT NULL, amount BIGINT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE anchor_postings (id TEXT NOT NULL, account BIGINT NOT NULL, amount BIGINT NOT NULL, PRIMARY KEY (id, account));
CREATE TABLE anchor_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);
CREATE TABLE anchor_outbox (id TEXT PRIMARY KEY, payload TEXT NOT NULL, created_at BIGINT NOT NULL);`

const (
	anchorPayers = 10000
	anchorBatch  = 64
	// anchorCacheKiB is the SQLite anchor's page cache (newSQLiteAnchor says why).
	anchorCacheKiB = 64 << 10
)

var anchorStatements = []string{
	`INSERT INTO anchor_orders (out_trade_no, merchant, payer, amount, created_at) VALUES ($1, 0, $2, 1, $3)`,
	`INSERT INTO anchor_postings (id, account, amount) VALUES ($1, $2, -1)`,
	`INSERT INTO anchor_postings (id, account, amount) VALUES ($1, 0, 1)`,
	`UPDATE anchor_accounts SET balance = balance - 1 WHERE id = $1`,
	`UPDATE anchor_accounts SET balance = balance + 1 WHERE id = 0`,
	`INSERT INTO anchor_outbox (id, payload, created_at) VALUES ($1, '{"event":"TRANSACTION.SUCCESS"}', $2)`,
}

// anchorPayment is one payment's arguments and where its answer goes.
type anchorPayment struct {
	no    string
	payer int64
	done  chan error
}

// committer runs batches of payments, each batch one transaction.
type committer interface {
	commit(ctx context.Context, batch []anchorPayment) error
	close()
}

// storageAnchor is the storage ceiling's tables, open for the run's rounds.
type storageAnchor struct {
	c   committer
	seq atomic.Int64 // numbers the orders across rounds: out_trade_no is unique
}

func openStorageAnchor(ctx context.Context, dbURL string) (*storageAnchor, error) {
	var (
		c   committer
		err error
	)
	if dbURL == "" {
		c, err = newSQLiteAnchor(ctx)
	} else {
		c, err = newPostgresAnchor(ctx, dbURL)
	}
	if err != nil {
		return nil, err
	}
	return &storageAnchor{c: c}, nil
}

func (a *storageAnchor) close() { a.c.close() }

// run commits pay-shaped payments from workers goroutines for d.
func (a *storageAnchor) run(ctx context.Context, workers int, d time.Duration, name string, progressTo io.Writer) (Result, error) {
	queue := make(chan anchorPayment, 4*anchorBatch)
	var group sync.WaitGroup
	group.Add(1)
	go func() {
		defer group.Done()
		for p := range queue {
			batch := []anchorPayment{p}
		more:
			for len(batch) < anchorBatch {
				select {
				case q, ok := <-queue:
					if !ok {
						break more
					}
					batch = append(batch, q)
				default:
					break more
				}
			}
			err := a.c.commit(ctx, batch)
			for _, b := range batch {
				b.done <- err // answered only after the commit
			}
		}
	}()
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		wg         sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	stop := progress(progressTo, name, start, &ok)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			done := make(chan error, 1)
			var local []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				queue <- anchorPayment{no: "A" + strconv.FormatInt(a.seq.Add(1), 10), payer: 1 + rng.Int64N(anchorPayers), done: done}
				if err := <-done; err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(queue)
	group.Wait()
	stop()
	r := measured(name, int(ok.Load()), int(failed.Load()), time.Since(start), lat)
	if r.Failed > 0 {
		return r, fmt.Errorf("%d pay-shaped payments failed", r.Failed)
	}
	return r, nil
}

// sqliteAnchor is the anchor on its own SQLite file, one writer, FULL sync.
type sqliteAnchor struct {
	dir   string
	db    *sql.DB
	conn  *sql.Conn
	stmts []*sql.Stmt
}

func newSQLiteAnchor(ctx context.Context) (*sqliteAnchor, error) {
	dir, err := os.MkdirTemp("", "facepay-anchor")
	if err != nil {
		return nil, err
	}
	a := &sqliteAnchor{dir: dir}
	pragmas := url.Values{}
	// The page cache is 64 MB, where the store keeps SQLite's 2 MB default. This SQLite
	// build keeps one page cache for every connection of the process
	// (SQLITE_ENABLE_MEMORY_MANAGEMENT), and a connection that reaches its own limit
	// takes the page the whole process used least recently. Between the anchor's phases
	// the platform's connections took the anchor's pages, so with 2 MB the anchor read
	// its tables back from the file in its next phase and measured 7 512 and 7 648
	// tx/s against 8 927 and 9 666 with 64 MB (alternating `bench pay` runs of ten 1 s
	// rounds, 2026-12-05). Alone in a process it commits 9 500–11 700 a second with 2 MB.
	cache := "cache_size(-" + strconv.Itoa(anchorCacheKiB) + ")"
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", cache} {
		pragmas.Add("_pragma", p)
	}
	if a.db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "anchor.db")+"?"+pragmas.Encode()+"&_txlock=immediate"); err != nil {
		a.close()
		return nil, err
	}
	a.db.SetMaxOpenConns(1)
	if _, err := a.db.ExecContext(ctx, anchorSchema); err != nil {
		a.close()
		return nil, err
	}
	if err := seedAnchor(ctx, func(q string, args ...any) error { _, err := a.db.ExecContext(ctx, q, args...); return err }); err != nil {
		a.close()
		return nil, err
	}
	if a.conn, err = a.db.Conn(ctx); err != nil {
		a.close()
		return nil, err
	}
	for _, q := range anchorStatements {
		st, err := a.conn.PrepareContext(ctx, q)
		if err != nil {
			a.close()
			return nil, err
		}
		a.stmts = append(a.stmts, st)
	}
	return a, nil
}

func seedAnchor(ctx context.Context, exec func(q string, args ...any) error) error {
	if err := exec(`INSERT INTO anchor_accounts (id, balance) VALUES (0, 0)`); err != nil {
		return err
	}
	for i := int64(1); i <= anchorPayers; i += 500 {
		q := `INSERT INTO anchor_accounts (id, balance) VALUES `
		for j := i; j < i+500 && j <= anchorPayers; j++ {
			if j > i {
				q += ", "
			}
			q += "(" + strconv.FormatInt(j, 10) + ", 1000000)"
		}
		if err := exec(q); err != nil {
			return err
		}
	}
	return nil
}

func (a *sqliteAnchor) commit(ctx context.Context, batch []anchorPayment) error {
	tx, err := a.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	for _, p := range batch {
		for i, st := range a.stmts {
			var err error
			switch i {
			case 0:
				_, err = tx.StmtContext(ctx, st).ExecContext(ctx, p.no, p.payer, now)
			case 1:
				_, err = tx.StmtContext(ctx, st).ExecContext(ctx, p.no, p.payer)
			case 2:
				_, err = tx.StmtContext(ctx, st).ExecContext(ctx, p.no)
			case 3:
				_, err = tx.StmtContext(ctx, st).ExecContext(ctx, p.payer)
			case 4:
				_, err = tx.StmtContext(ctx, st).ExecContext(ctx)
			case 5:
				_, err = tx.StmtContext(ctx, st).ExecContext(ctx, p.no, now)
			}
			if err != nil {
				_ = tx.Rollback()
				return err
			}
		}
	}
	return tx.Commit()
}

func (a *sqliteAnchor) close() {
	for _, st := range a.stmts {
		st.Close()
	}
	if a.conn != nil {
		a.conn.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
	os.RemoveAll(a.dir)
}

// postgresAnchor is the anchor in a throw-away schema: a batch's statements and
// its COMMIT travel in one pipelined round trip.
type postgresAnchor struct {
	conn *pgx.Conn
	drop func() error
}

func newPostgresAnchor(ctx context.Context, dbURL string) (*postgresAnchor, error) {
	u, drop, err := sqlstore.NewSchema(ctx, dbURL, "anchor")
	if err != nil {
		return nil, err
	}
	a := &postgresAnchor{drop: drop}
	if a.conn, err = pgx.Connect(ctx, u); err != nil {
		a.close()
		return nil, err
	}
	if _, err := a.conn.Exec(ctx, anchorSchema); err != nil {
		a.close()
		return nil, err
	}
	if err := seedAnchor(ctx, func(q string, args ...any) error { _, err := a.conn.Exec(ctx, q, args...); return err }); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *postgresAnchor) commit(ctx context.Context, batch []anchorPayment) error {
	now := time.Now().UnixMicro()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, p := range batch {
		b.Queue(anchorStatements[0], p.no, p.payer, now)
		b.Queue(anchorStatements[1], p.no, p.payer)
		b.Queue(anchorStatements[2], p.no)
		b.Queue(anchorStatements[3], p.payer)
		b.Queue(anchorStatements[4])
		b.Queue(anchorStatements[5], p.no, now)
	}
	b.Queue("COMMIT")
	return a.conn.SendBatch(ctx, b).Close()
}

func (a *postgresAnchor) close() {
	if a.conn != nil {
		a.conn.Close(context.Background())
	}
	if a.drop != nil {
		_ = a.drop()
	}
}
