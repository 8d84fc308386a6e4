package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
//
// many, for a one-row step, is the same change for n rows of arguments at once as one
// statement that fails unless it changed n rows; key is the argument that names the
// changed row, so that two steps changing one row never share a statement.
//
// sum, for a row step, says that the rows of a batch's steps of its text may be added
// up: one row per value of args[key], carrying the first such row's other arguments
// and, as its last, the total of their last arguments (a batch's deferred credits to
// one account are one row).
type step struct {
	q    string
	args []any
	one  bool
	row  bool
	sum  bool
	many func(n int) string
	key  int
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
	// unmerged sends each write's steps on their own, as before plan merged them (to
	// compare the two: BenchmarkGuardedPayments, BenchmarkPipelineMerged).
	unmerged atomic.Bool
	// unsummed sends a batch's deferred credits as a row per write, as before summed
	// (BenchmarkPipelineMerged/credits).
	unsummed atomic.Bool
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
		refused, why, unwritten, err := p.once(pending, merge)
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
		if refused < 0 {
			for _, j := range pending {
				j.done <- nil
			}
			return
		}
		pending[refused].done <- why
		pending = append(pending[:refused:refused], pending[refused+1:]...)
	}
}

// once runs the jobs in one transaction, sent with its BEGIN and COMMIT in one round
// trip: committed when it returns refused < 0 and no error; rolled back otherwise.
// refused is the job that failed alone and why its answer: errGuard when a guard did
// not hold or a constraint refused it, the server's error when its statement failed
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
func (p *pipeline) once(jobs []*pipeJob, merge bool) (refused int, why error, unwritten bool, err error) {
	ctx := context.Background() // one request's cancellation must not abort its batch
	if p.conn != nil && p.conn.IsClosed() {
		p.conn = nil
	}
	if p.conn == nil {
		if p.conn, err = pgx.ConnectConfig(ctx, p.config); err != nil {
			return -1, nil, true, fmt.Errorf("sqlstore: pipeline connection: %w", err)
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
	refused = -1
	code := pgCode(err)
	switch {
	case committed:
		err = nil
	case culprit != nil && code != "" && !connectionLost(err) && !p.d.isRetryable(err):
		// The statement's own failure: the batch goes again without its write.
		switch {
		case culprit.job < 0:
			err = errRows // whose row it was, the batch run again unmerged tells
		case culprit.one && isGuard(err) || p.d.isUnique(err) || p.d.isForeignKey(err):
			refused, why, err = culprit.job, errGuard, nil
		default:
			refused, why, err = culprit.job, err, nil
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
		return -1, nil, unwritten, err
	}
	return refused, why, !committed, nil
}

// guardMark begins the text of the error a guarded step's statement raises when it
// changed fewer rows than it must (guardCheck): an operator reading PostgreSQL's log
// sees what it was, and no other failure can carry it.
const guardMark = "openfacepay guard"

// guardCheck is the SELECT that follows a CTE named changed, whose statement returns
// one row per row it changed: it answers 1 when that was n rows, and otherwise fails
// converting a text that says so to an integer (22P02). The text depends on the count,
// so the planner cannot fold it into an error of every execution.
func guardCheck(n int) string {
	want := strconv.Itoa(n)
	return ` SELECT CASE WHEN count(*) = ` + want + ` THEN 1 ELSE CAST('` + guardMark + `: ' || count(*) || ' of ` + want +
		` rows changed' AS INT) END FROM changed`
}

// isGuard: err is a guarded statement's refusal (guardCheck).
func isGuard(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, guardMark)
}

// guardedText is q, an UPDATE or INSERT that must change exactly one row, as one
// statement that fails when it changed none.
func guardedText(q string) string {
	return `WITH changed AS (` + q + ` RETURNING 1)` + guardCheck(1)
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
// commits what running them one after another would. With merge, a round's steps of
// one text go as one statement where they can: plain INSERTs as one INSERT of all
// their rows, guarded changes that have a many form as that form (each row key once
// per statement: a wallet two payments of the batch debit is debited by two
// statements, each guarded). A pay batch of seven payments sends 5 statements instead
// of 35; PostgreSQL starts an executor, prepares the table's CHECK constraints and
// sets up the foreign-key triggers once per statement.
func (p *pipeline) plan(jobs []*pipeJob, merge bool) []planned {
	var (
		out    []planned
		texts  []string             // the round's mergeable texts, in the order first seen
		owners = map[string][]int{} // text → the jobs whose step in this round it is
		widest int
	)
	for _, j := range jobs {
		widest = max(widest, len(j.steps))
	}
	for k := range widest {
		texts = texts[:0]
		clear(owners)
		for i, j := range jobs {
			if k >= len(j.steps) {
				continue
			}
			s := j.steps[k]
			if merge && (s.row || s.many != nil) {
				if _, seen := owners[s.q]; !seen {
					texts = append(texts, s.q)
				}
				owners[s.q] = append(owners[s.q], i)
				continue
			}
			out = append(out, p.single(s, i))
		}
		for _, q := range texts {
			first := jobs[owners[q][0]].steps[k]
			if first.sum && !p.unsummed.Load() {
				out = append(out, p.summed(jobs, owners[q], k)...)
				continue
			}
			for _, layer := range layers(jobs, owners[q], k, first) {
				for len(layer) > 0 {
					n := min(len(layer), maxRows)
					if n == 1 {
						out = append(out, p.single(jobs[layer[0]].steps[k], layer[0]))
					} else {
						part := planned{q: p.rebindMany(q, n, first.many), job: -1, one: first.one, args: make([]any, 0, n*len(first.args))}
						for _, i := range layer[:n] {
							part.args = append(part.args, jobs[i].steps[k].args...)
						}
						out = append(out, part)
					}
					layer = layer[n:]
				}
			}
		}
	}
	return out
}

// summed is the k-th steps of jobs[owners], rows that may be added up (step.sum), as
// one row per key: one INSERT of up to maxRows rows at a time.
func (p *pipeline) summed(jobs []*pipeJob, owners []int, k int) []planned {
	if len(owners) == 1 {
		return []planned{p.single(jobs[owners[0]].steps[k], owners[0])}
	}
	var (
		rows [][]any
		at   = map[any]int{} // key → its row
	)
	for _, i := range owners {
		s := jobs[i].steps[k]
		last := len(s.args) - 1
		r, seen := at[s.args[s.key]]
		if !seen {
			at[s.args[s.key]], r = len(rows), len(rows)
			rows = append(rows, slices.Clone(s.args))
			continue
		}
		rows[r][last] = rows[r][last].(int64) + s.args[last].(int64)
	}
	var out []planned
	for len(rows) > 0 {
		n := min(len(rows), maxRows)
		part := planned{q: p.rebind(jobs[owners[0]].steps[k].q), job: -1}
		if n > 1 {
			part.q = p.rebindMany(jobs[owners[0]].steps[k].q, n, nil)
		}
		for _, r := range rows[:n] {
			part.args = append(part.args, r...)
		}
		out, rows = append(out, part), rows[n:]
	}
	return out
}

// single is job's step s as a statement of its own.
func (p *pipeline) single(s step, job int) planned {
	q := p.rebind(s.q)
	if s.one {
		q = p.rebindGuarded(s.q)
	}
	return planned{q: q, args: s.args, job: job, one: s.one}
}

// layers splits the jobs whose k-th step is like first so that no layer holds two
// that change the same row: the first change of each row, then the second, and so on.
func layers(jobs []*pipeJob, owners []int, k int, first step) [][]int {
	if first.row {
		return [][]int{owners} // new rows: their keys refuse a twin
	}
	var (
		out  [][]int
		seen []map[any]bool
	)
	for _, i := range owners {
		key := jobs[i].steps[k].args[first.key]
		l := 0
		for l < len(out) && seen[l][key] {
			l++
		}
		if l == len(out) {
			out, seen = append(out, nil), append(seen, map[any]bool{})
		}
		out[l], seen[l][key] = append(out[l], i), true
	}
	return out
}

// guardedMany wraps changes, a CTE named changed whose statement returns one row per
// row it changed, as a statement that fails unless it changed n rows (guardCheck).
func guardedMany(changes string, n int) string {
	return changes + guardCheck(n)
}

// tuples is n copies of the parenthesised tuple, comma-separated.
func tuples(n int, tuple string) string {
	return strings.TrimSuffix(strings.Repeat("("+tuple+"), ", n), ", ")
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

// rebindMany is rebind(many(n)), or rebind(manyRows(q, n)) without many, kept like
// rebind's.
func (r *rebinder) rebindMany(q string, n int, many func(int) string) string {
	k := rowsKey{q, n}
	if v, ok := r.rows.Load(k); ok {
		return v.(string)
	}
	var v string
	if many != nil {
		v = r.d.rebind(many(n))
	} else {
		v = r.d.rebind(manyRows(q, n))
	}
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
