package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Guarded writes. A payment whose outcome was decided from reads outside any
// transaction (the common charge: a fresh order number, an unused code, a wallet that
// covers it) needs no reads inside one, only writes that each check what the decision
// assumed: the code is still unused, the order number still free, the wallet still
// covers the amount. Every statement's arguments are known before the transaction
// starts, so on PostgreSQL the statements of many payments travel in one pipeline and
// share one commit, as SQLite's group commit shares one fsync. A payment whose guard
// fails is written not at all; its caller then takes the interactive path, which
// finds out why and answers as it always has.
//
// The statements are the interactive path's own (the same SQL text), so both paths
// write the same rows on both backends.

// step is one statement of a guarded write; one says it must change exactly one row.
// row marks a plain one-row INSERT … VALUES (…) that guards nothing beyond its
// table's keys: on PostgreSQL the rows of a batch's writes that share its text go as
// one statement (see plan).
type step struct {
	q    string
	args []any
	one  bool
	row  bool
}

// errGuard: a guard did not hold, or a unique or foreign key refused a step; nothing
// was written. Any other failure of a step is that write's error alone, on both
// backends: the other writes of its batch go again without it.
var errGuard = errors.New("sqlstore: a guarded write did not apply")

// applyGuarded writes steps in one transaction and returns after its commit, or
// errGuard with nothing written.
func (db *DB) applyGuarded(ctx context.Context, steps []step) error {
	if db.pipe != nil {
		return db.pipe.submit(ctx, steps)
	}
	return db.InTx(ctx, func(tx *Tx) error {
		for _, s := range steps {
			res, err := tx.Exec(ctx, s.q, s.args...)
			if err != nil {
				if db.d.isUnique(err) || db.d.isForeignKey(err) {
					return errGuard
				}
				return err
			}
			if !s.one {
				continue
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return errGuard
			}
		}
		return nil
	})
}

// pipeline group-commits guarded writes on PostgreSQL over a connection of its own:
// one batch is BEGIN, every statement of up to maxBatch writes and COMMIT in one round
// trip (when a guard fails, ROLLBACK, and the batch again without that write). While a
// batch commits, the next one queues. One connection: a second, to
// execute one batch while the other's commit is flushed, measured no faster here
// (2 286 and 2 393 against 1 912 and 2 668 paid/s, alternating runs): with both cores
// busy, PostgreSQL's CPU is the limit, not the flush.
type pipeline struct {
	config *pgx.ConnConfig
	conn   *pgx.Conn // nil until the first batch, and after a broken connection
	jobs   chan *pipeJob
	quit   chan struct{}
	wg     sync.WaitGroup
	sent   atomic.Int64 // statements sent, BEGIN and COMMIT aside
	// unmerged sends each write's rows on their own, as before plan merged them (to
	// compare the two in one run: BenchmarkGuardedPayments).
	unmerged atomic.Bool
	rebinder
}

type pipeJob struct {
	ctx   context.Context
	steps []step
	done  chan error
}

// PipelineApp names the pipeline's connections in pg_stat_activity, followed by the
// search_path when the URL sets one (so the stores of one database tell theirs apart).
const PipelineApp = "openfacepay-pipeline"

// namedConfig is url's connection configuration, named app in pg_stat_activity,
// followed by the URL's search_path.
func namedConfig(url, app string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	cfg.RuntimeParams["application_name"] = strings.TrimSpace(app + " " + cfg.RuntimeParams["search_path"])
	return cfg, nil
}

func startPipeline(url string, d dialect) (*pipeline, error) {
	cfg, err := namedConfig(url, PipelineApp)
	if err != nil {
		return nil, err
	}
	p := &pipeline{config: cfg, rebinder: rebinder{d: d}, jobs: make(chan *pipeJob), quit: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p, nil
}

func (p *pipeline) stop() {
	close(p.quit)
	p.wg.Wait()
}

func (p *pipeline) submit(ctx context.Context, steps []step) error {
	j := &pipeJob{ctx: ctx, steps: steps, done: make(chan error, 1)}
	select {
	case p.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		return errClosed
	}
	return <-j.done // taken: it may be in a transaction already, so wait for the end
}

func (p *pipeline) run() {
	defer p.wg.Done()
	defer func() {
		if p.conn != nil {
			_ = p.conn.Close(context.Background())
		}
	}()
	for {
		batch, ok := collect(p.jobs, p.quit, maxBatch)
		if !ok {
			return
		}
		p.commit(batch)
	}
}

// commit writes a batch, answering every job: nil after the commit, errGuard for a
// job whose guard failed (the others go again without it), or the batch's error.
func (p *pipeline) commit(batch []*pipeJob) {
	pending := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- err // gave up before it was sent: not written
			continue
		}
		pending = append(pending, j)
	}
	attempt, merge := 1, !p.unmerged.Load()
	for len(pending) > 0 {
		refused, unwritten, err := p.once(pending, merge)
		if errors.Is(err, errRows) {
			merge = false // the batch again, each write's rows its own, to find whose they were
			continue
		}
		// A batch that cannot have committed goes again: after a serialisation failure or
		// a deadlock, and after a broken connection (the server rolls back what it had).
		// One whose COMMIT was sent and not answered may have committed: its callers hear
		// the error, and a retry with the same out_trade_no finds the order if it did.
		again := p.d.isRetryable(err) || unwritten && connectionLost(err)
		if err != nil && again && attempt < maxAttempts {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
			attempt++
			continue
		}
		if err != nil {
			for _, j := range pending {
				j.done <- err
			}
			return
		}
		if len(refused) == 0 {
			for _, j := range pending {
				j.done <- nil
			}
			return
		}
		kept := pending[:0:0]
		for i, j := range pending {
			if e, ok := refused[i]; ok {
				j.done <- e
			} else {
				kept = append(kept, j)
			}
		}
		pending = kept
	}
}

// once runs the jobs in one transaction, sent with its BEGIN and COMMIT in one round
// trip: committed when it returns no refusals and no error; rolled back otherwise.
// refused holds the answer of the job that failed alone: errGuard when a guard did not
// hold or a constraint refused it, the server's error when its statement failed
// otherwise. err is the batch's own failure (the connection, the commit), or errRows
// when a statement carrying several writes' rows failed; unwritten says the COMMIT
// cannot have run.
//
// A guard must stop the COMMIT behind it, so the pipeline sends each one-row step as a
// statement that fails when it changed no row (guardedText). The server skips what
// follows a failed statement up to the batch's end, COMMIT included, and answers the
// messages it skipped with nothing; so whatever error the server reports for a
// statement before the COMMIT's answer, the COMMIT did not run. Only a connection that
// ends with no answer leaves the COMMIT in doubt.
func (p *pipeline) once(jobs []*pipeJob, merge bool) (refused map[int]error, unwritten bool, err error) {
	ctx := context.Background() // one request's cancellation must not abort its batch
	if p.conn != nil && p.conn.IsClosed() {
		p.conn = nil
	}
	if p.conn == nil {
		if p.conn, err = pgx.ConnectConfig(ctx, p.config); err != nil {
			return nil, true, fmt.Errorf("sqlstore: pipeline connection: %w", err)
		}
	}
	steps := p.plan(jobs, merge)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, s := range steps {
		b.Queue(s.q, s.args...)
	}
	b.Queue("COMMIT")
	p.sent.Add(int64(len(steps)))
	br := p.conn.SendBatch(ctx, b)
	var culprit *planned // the step whose statement failed
	_, err = br.Exec()
	for i := 0; err == nil && i < len(steps); i++ {
		if _, err = br.Exec(); err != nil {
			culprit = &steps[i]
		}
	}
	committed := false
	if err == nil {
		_, err = br.Exec()
		committed = err == nil
	}
	if cerr := br.Close(); err == nil && !committed {
		err = cerr
	}
	refused = map[int]error{}
	code := pgCode(err)
	switch {
	case committed:
		err = nil
	case culprit != nil && code != "" && !connectionLost(err) && !p.d.isRetryable(err):
		// The statement's own failure: the batch goes again without its write.
		switch {
		case culprit.job < 0:
			err = errRows // whose row it was, the batch run again unmerged tells
		case culprit.one && code == codeGuard || p.d.isUnique(err) || p.d.isForeignKey(err):
			refused[culprit.job], err = errGuard, nil
		default:
			refused[culprit.job], err = err, nil
		}
		unwritten = true
	default:
		// The server answered with an error before the COMMIT's answer (a cut connection
		// it reported, a serialisation failure, a deadlock), or the batch never left.
		unwritten = code != "" || pgconn.SafeToRetry(err)
	}
	if !committed && !p.conn.IsClosed() {
		// A failed statement leaves the transaction open and aborted. pgx then drops
		// the batch's prepared statements before the connection's next statement run
		// outside a transaction; done inside the next SendBatch, a failure there (a
		// connection cut since) could not be told from one after its COMMIT was sent,
		// so it is done here.
		for _, q := range []string{"ROLLBACK", "SELECT 1"} {
			if _, rerr := p.conn.Exec(ctx, q); rerr != nil {
				if err == nil {
					err = rerr
				}
				break
			}
		}
	}
	if err != nil && (p.conn.IsClosed() || err != errRows && connectionLost(err)) {
		// Broken, or in a state we cannot vouch for: the next batch opens a new one.
		_ = p.conn.Close(ctx)
		p.conn = nil
	}
	if err != nil {
		return nil, unwritten, err
	}
	return refused, !committed, nil
}

// codeGuard is division_by_zero, which a guarded step's statement raises when it
// changed no row (guardedText); no statement of a guarded write divides otherwise.
const codeGuard = "22012"

// guardedText is q, an UPDATE or INSERT that must change exactly one row, as one
// statement that fails when it changed none: it counts the rows q returns and
// divides by the count.
func guardedText(q string) string {
	return `WITH changed AS (` + q + ` RETURNING 1) SELECT 1 / count(*) FROM changed`
}

// errRows: a statement carrying the rows of several writes failed; nothing was written.
var errRows = errors.New("sqlstore: a statement of several writes' rows failed")

// maxRows bounds the rows of one merged INSERT, and so the statement texts a
// connection keeps prepared: one per table and count up to it.
const maxRows = 32

// planned is one statement of a batch: a step of job, or with job < 0 the rows of
// several jobs' steps.
type planned struct {
	q    string
	args []any
	job  int
	one  bool
}

// plan orders a batch's steps in rounds: every job's first step, then every job's
// second, and so on, so each job's steps keep their order. Jobs are independent: each
// guard checks only what its own decision read, so any interleaving of their steps
// commits what running them one after another would. With merge, a round's row steps
// of one text go as one INSERT of all their rows: a pay batch of seven sends 17
// statements instead of 35, and PostgreSQL starts an executor, prepares its tables'
// CHECK constraints and sets up the foreign-key triggers once per statement.
func (p *pipeline) plan(jobs []*pipeJob, merge bool) []planned {
	var (
		out    []planned
		texts  []string             // the round's row texts, in the order first seen
		rows   = map[string][]int{} // text → the jobs whose step in this round it is
		widest int
	)
	for _, j := range jobs {
		widest = max(widest, len(j.steps))
	}
	for k := range widest {
		texts = texts[:0]
		clear(rows)
		for i, j := range jobs {
			if k >= len(j.steps) {
				continue
			}
			s := j.steps[k]
			if merge && s.row {
				if _, seen := rows[s.q]; !seen {
					texts = append(texts, s.q)
				}
				rows[s.q] = append(rows[s.q], i)
				continue
			}
			q := p.rebind(s.q)
			if s.one {
				q = p.rebindGuarded(s.q)
			}
			out = append(out, planned{q: q, args: s.args, job: i, one: s.one})
		}
		for _, q := range texts {
			owners := rows[q]
			for len(owners) > 0 {
				n := min(len(owners), maxRows)
				part := planned{q: p.rebindRows(q, n), job: -1}
				if n == 1 {
					part.job = owners[0]
				}
				for _, i := range owners[:n] {
					part.args = append(part.args, jobs[i].steps[k].args...)
				}
				out = append(out, part)
				owners = owners[n:]
			}
		}
	}
	return out
}

// manyRows is q, a one-row INSERT … VALUES (…), with room for n rows.
func manyRows(q string, n int) string {
	if n == 1 {
		return q
	}
	tuple := q[strings.LastIndex(q, "VALUES")+len("VALUES"):]
	var b strings.Builder
	b.Grow(len(q) + (n-1)*(len(tuple)+1))
	b.WriteString(q)
	for range n - 1 {
		b.WriteByte(',')
		b.WriteString(tuple)
	}
	return b.String()
}

// connectionLost: the error ended the connection, not a statement (no server code, a
// connection exception, or the server shutting the session down).
func connectionLost(err error) bool {
	c := pgCode(err)
	return c == "" || strings.HasPrefix(c, "08") || strings.HasPrefix(c, "57P")
}

// rebinder keeps each statement's $n form, so a batch does not rewrite its text again.
type rebinder struct {
	d       dialect
	rebound sync.Map
	rows    sync.Map // rowsKey → rebound text
	guarded sync.Map // q → rebound guardedText(q)
}

// rebindGuarded is rebind(guardedText(q)), kept like rebind's.
func (r *rebinder) rebindGuarded(q string) string {
	if v, ok := r.guarded.Load(q); ok {
		return v.(string)
	}
	v := r.d.rebind(guardedText(q))
	r.guarded.Store(q, v)
	return v
}

// rebindRows is rebind(manyRows(q, n)), kept like rebind's.
func (r *rebinder) rebindRows(q string, n int) string {
	k := rowsKey{q, n}
	if v, ok := r.rows.Load(k); ok {
		return v.(string)
	}
	v := r.d.rebind(manyRows(q, n))
	r.rows.Store(k, v)
	return v
}

type rowsKey struct {
	q string
	n int
}

func (r *rebinder) rebind(q string) string {
	if v, ok := r.rebound.Load(q); ok {
		return v.(string)
	}
	v := r.d.rebind(q)
	r.rebound.Store(q, v)
	return v
}
