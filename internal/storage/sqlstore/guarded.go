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
// one batch is every statement of up to maxBatch writes, sent in one round trip as
// one implicit transaction (the statements up to a Sync, which commits them, or rolls
// them all back if one fails). When a guard fails, the batch goes again without that
// write. While a batch commits, the next one is sent behind it (chain), so the server
// starts on it as soon as the commit is flushed instead of waiting for this process to
// read the answers, answer its callers and plan the next. One connection: a second, to
// execute one batch while the other's commit is flushed, measured no faster here
// (2 286 and 2 393 against 1 912 and 2 668 paid/s, alternating runs; again at 6 000
// paid/s, 0.40–0.41 of the storage ceiling against 0.45–0.48: halved batches cost the
// backends more per payment, and the WAL flush it would overlap takes 0.1 ms here), and
// its batches wait on each other's wallet rows.
type pipeline struct {
	config *pgx.ConnConfig
	conn   *pgx.Conn                               // nil until the first batch, and after a broken connection
	pl     *pgconn.Pipeline                        // conn in pipeline mode, nil outside it
	stmts  map[string]*pgconn.StatementDescription // conn's prepared statements, by text
	eqb    pgx.ExtendedQueryBuilder
	jobs   chan *pipeJob
	quit   chan struct{}
	wg     sync.WaitGroup
	sent   atomic.Int64 // statements sent
	// chained counts the batches sent while the one before them committed.
	chained atomic.Int64
	// unmerged sends each write's steps on their own, as before plan merged them;
	// unsummed sends a batch's deferred credits as a row per write, as before summed;
	// unchained sends a batch only once the one before it committed, as before chain
	// (to compare them: BenchmarkGuardedPayments, BenchmarkPipelineMerged).
	unmerged, unsummed, unchained atomic.Bool
	rebinder
}

// pipeJob is one guarded write waiting for its batch.
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

// pipelineSettings are the pipeline connection's session settings. Its statements keep
// the generic plans PostgreSQL makes after their first executions, and those were
// planned on the tables as they were then: a table of a few hundred wallets, or an
// empty one in a new store, is cheaper to scan than to look up in, and that plan
// stayed as the table grew (4 612 scans of ledger_accounts in 45 s of `bench pay`,
// 1.66 M rows read, one per batch). Every statement the pipeline sends changes or
// checks rows by their keys, so none has a reason to scan a table.
var pipelineSettings = map[string]string{"enable_seqscan": "off"}

func startPipeline(url string, d dialect) (*pipeline, error) {
	cfg, err := namedConfig(url, PipelineApp)
	if err != nil {
		return nil, err
	}
	for k, v := range pipelineSettings {
		cfg.RuntimeParams[k] = v
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
	defer p.drop()
	var next *flight
	for {
		if next == nil {
			batch, ok := collect(p.jobs, p.quit, maxBatch)
			if !ok {
				return
			}
			next = &flight{jobs: batch}
		}
		next = p.commit(next)
	}
}

// flight is a batch: its jobs, and once sent, the statements that went for them.
type flight struct {
	jobs  []*pipeJob
	steps []planned
	sent  bool
}

// outcome is what became of a flight. refused is the job that failed alone and why
// its answer: errGuard when a guard did not hold or a constraint refused it, the
// server's error when its statement failed otherwise. err is the flight's own failure
// (the connection, the commit), or errRows when a statement carrying several writes'
// rows failed; unwritten says the flight's transaction cannot have committed.
type outcome struct {
	refused   int
	why       error
	unwritten bool
	err       error
}

// commit writes flight f, answering every job: nil after the commit, errGuard for a
// job whose guard failed (the others go again without it), or the batch's error. It
// returns the batch that was sent, or taken, while f committed.
func (p *pipeline) commit(f *flight) (next *flight) {
	if !f.sent {
		f.jobs = live(f.jobs)
	}
	attempt, merge := 1, !p.unmerged.Load()
	for len(f.jobs) > 0 {
		var o outcome
		o, next = p.once(f, merge)
		jobs := f.jobs
		if next != nil && !next.sent && (o.err != nil || o.refused >= 0) {
			jobs, next = append(jobs, next.jobs...), nil // taken, not sent: they go with f's again
		}
		if errors.Is(o.err, errRows) {
			merge = false // the batch again, each write's rows its own, to find whose they were
			f = &flight{jobs: jobs}
			continue
		}
		// A batch that cannot have committed goes again: after a serialisation failure or
		// a deadlock, and after a broken connection (the server rolls back what it had).
		// One whose commit may have run: its callers hear the error, and a retry with the
		// same out_trade_no finds the order if it did.
		again := p.d.isRetryable(o.err) || o.unwritten && connectionLost(o.err)
		if o.err != nil && again && attempt < maxAttempts {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
			attempt++
			f = &flight{jobs: jobs}
			continue
		}
		if o.err != nil {
			answer(f.jobs, o.err)
			f = &flight{jobs: jobs[len(f.jobs):]}
			continue
		}
		if o.refused < 0 {
			answer(f.jobs, nil)
			return next
		}
		f.jobs[o.refused].done <- o.why
		f = &flight{jobs: append(jobs[:o.refused:o.refused], jobs[o.refused+1:]...)}
	}
	return next
}

// live is jobs without those whose callers gave up before they were sent (not
// written), who hear so.
func live(jobs []*pipeJob) []*pipeJob {
	out := jobs[:0:0]
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			continue
		}
		out = append(out, j)
	}
	return out
}

func answer(jobs []*pipeJob, err error) {
	for _, j := range jobs {
		j.done <- err
	}
}

// once runs flight f, sending it first unless it was sent behind the one before it.
// Once every statement of f has run and its commit is under way, the jobs waiting
// by then are sent as the next flight (or, when a statement of theirs is not yet
// prepared on this connection, only taken); it is returned to go next.
//
// A guard must stop the commit, so the pipeline sends each one-row step as a
// statement that fails when it changed no row (guardedText). The server skips what
// follows a failed statement up to the flight's Sync and rolls the flight back; so
// whatever error the server reports for a flight, it did not commit. Only a
// connection that ends with no answer leaves the commit in doubt.
func (p *pipeline) once(f *flight, merge bool) (o outcome, next *flight) {
	o.refused = -1
	if !f.sent {
		if err := p.send(f, merge); err != nil {
			o.unwritten, o.err = !f.sent || pgconn.SafeToRetry(err), err
			return o, nil
		}
	}
	var culprit *planned // the step whose statement failed
	err := p.statements(f, &culprit)
	if err == nil && !p.unchained.Load() {
		next = p.chain()
	}
	if serr := p.synced(); err == nil {
		err = serr
	}
	code := pgCode(err)
	switch {
	case err == nil:
		return o, next
	case culprit != nil && code != "" && !connectionLost(err) && !p.d.isRetryable(err):
		// The statement's own failure: the batch goes again without its write.
		switch {
		case culprit.job < 0:
			o.err = errRows // whose row it was, the batch run again unmerged tells
		case culprit.one && isGuard(err) || p.d.isUnique(err) || p.d.isForeignKey(err):
			o.refused, o.why = culprit.job, errGuard
		default:
			o.refused, o.why = culprit.job, err
		}
		o.unwritten = true
		return o, next
	}
	// The server answered with an error (a cut connection it reported, a serialisation
	// failure, a deadlock, a failed commit), or the connection ended with no answer.
	o.unwritten, o.err = code != "", err
	if culprit == nil || connectionLost(err) {
		// The connection is gone, or the commit failed: then the server's answers to
		// what was sent behind f cannot be told apart from f's any more.
		p.drop()
	}
	if next != nil && next.sent {
		// Sent behind a flight whose commit failed or whose connection ended: it may
		// have committed, so its callers hear the error.
		answer(next.jobs, fmt.Errorf("sqlstore: pipeline: sent behind a batch that failed: %w", err))
		next = nil
	}
	return o, next
}

// send plans f's statements and sends them with a Sync, on a connection that has
// them prepared.
func (p *pipeline) send(f *flight, merge bool) error {
	if err := p.connect(); err != nil {
		return err
	}
	f.steps = p.plan(f.jobs, merge)
	if err := p.prepare(f.steps); err != nil {
		return err
	}
	return p.push(f)
}

// push writes f's statements, a Flush (so their answers come before the commit's)
// and a Sync; f.sent once anything may have reached the server.
func (p *pipeline) push(f *flight) error {
	if p.pl == nil {
		p.pl = p.conn.PgConn().StartPipeline(context.Background())
	}
	for _, s := range f.steps {
		sd := p.stmts[s.q]
		if err := p.eqb.Build(p.conn.TypeMap(), sd, s.args); err != nil {
			// Statements before it are queued without their Sync, so the connection
			// goes, and a flight committing ahead of this one is in doubt. Only a step
			// whose arguments no PostgreSQL type takes gets here: a fault of this code.
			p.drop()
			return fmt.Errorf("sqlstore: pipeline: %w", err)
		}
		p.pl.SendQueryPrepared(sd.Name, p.eqb.ParamValues, p.eqb.ParamFormats, p.eqb.ResultFormats)
	}
	p.pl.SendFlushRequest()
	p.pl.SendPipelineSync()
	p.sent.Add(int64(len(f.steps)))
	f.sent = true
	if err := p.pl.Flush(); err != nil {
		p.drop()
		return err
	}
	return nil
}

// chain takes the jobs waiting now and, when their statements are all prepared on
// this connection, sends them behind the flight that is committing.
func (p *pipeline) chain() *flight {
	jobs := live(queued(p.jobs, nil, maxBatch))
	if len(jobs) == 0 {
		return nil
	}
	next := &flight{jobs: jobs, steps: p.plan(jobs, !p.unmerged.Load())}
	for _, s := range next.steps {
		if p.stmts[s.q] == nil {
			return &flight{jobs: jobs} // sent once the connection is out of pipeline mode
		}
	}
	if err := p.push(next); err != nil {
		if !next.sent || pgconn.SafeToRetry(err) {
			return &flight{jobs: jobs}
		}
		answer(jobs, err)
		return nil
	}
	p.chained.Add(1)
	return next
}

// statements reads the answers to f's statements up to the first that failed, which
// *culprit is then.
func (p *pipeline) statements(f *flight, culprit **planned) error {
	if p.pl == nil {
		return errors.New("sqlstore: pipeline: connection lost")
	}
	for i := range f.steps {
		res, err := p.pl.GetResults()
		if err == nil {
			if rr, ok := res.(*pgconn.ResultReader); ok {
				_, err = rr.Close()
			} else {
				err = fmt.Errorf("sqlstore: pipeline: a statement answered %T", res)
			}
		}
		if err != nil {
			*culprit = &f.steps[i]
			return err
		}
	}
	return nil
}

// synced reads the answer to a flight's Sync: nil when it committed, or the error
// the commit failed with.
func (p *pipeline) synced() error {
	if p.pl == nil {
		return errors.New("sqlstore: pipeline: connection lost")
	}
	res, err := p.pl.GetResults()
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("sqlstore: pipeline: a Sync answered %T", res)
	}
	return nil
}

// connect opens the pipeline's connection when it has none.
func (p *pipeline) connect() error {
	if p.conn != nil && p.conn.IsClosed() {
		p.drop()
	}
	if p.conn != nil {
		return nil
	}
	conn, err := pgx.ConnectConfig(context.Background(), p.config)
	if err != nil {
		return fmt.Errorf("sqlstore: pipeline connection: %w", err)
	}
	p.conn, p.stmts = conn, map[string]*pgconn.StatementDescription{}
	return nil
}

// prepare prepares the texts of steps the connection does not have yet, out of
// pipeline mode (nothing is in flight when a batch is planned afresh).
func (p *pipeline) prepare(steps []planned) error {
	for _, s := range steps {
		if p.stmts[s.q] != nil {
			continue
		}
		if p.pl != nil {
			if err := p.pl.Close(); err != nil {
				p.drop()
				return err
			}
			p.pl = nil
		}
		name := "ofp" + strconv.Itoa(len(p.stmts)+1)
		sd, err := p.conn.PgConn().Prepare(context.Background(), name, s.q, nil)
		if err != nil {
			if connectionLost(err) {
				p.drop()
			}
			return err
		}
		p.stmts[s.q] = sd
	}
	return nil
}

// drop closes the connection; the next batch opens a new one.
func (p *pipeline) drop() {
	if p.conn != nil {
		_ = p.conn.Close(context.Background())
	}
	p.conn, p.pl, p.stmts = nil, nil, nil
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
		q    = jobs[owners[0]].steps[k].q
		rows [][]any
		at   = map[any]int{} // key → its row
	)
	for _, i := range owners {
		s := jobs[i].steps[k]
		last := len(s.args) - 1
		if r, seen := at[s.args[s.key]]; seen {
			rows[r][last] = rows[r][last].(int64) + s.args[last].(int64)
			continue
		}
		at[s.args[s.key]] = len(rows)
		rows = append(rows, slices.Clone(s.args))
	}
	var out []planned
	for len(rows) > 0 {
		n := min(len(rows), maxRows)
		part := planned{q: p.rebind(q), job: -1}
		if n > 1 {
			part.q = p.rebindMany(q, n, nil)
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

// keyParams lists, as $n, the k-th parameter (from 1) of each of n tuples of width
// parameters that come first in a statement: the keys of the rows a many form changes.
func keyParams(n, width, k int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i*width+k))
	}
	return b.String()
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
