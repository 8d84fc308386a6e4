package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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

// guarded is one guarded write: its statements, and the row it locks that others
// share (a payer's wallet), by which a batch orders its writes.
type guarded struct {
	steps []step
	lock  string
}

// step is one statement of a guarded write; one says it must change exactly one row.
type step struct {
	q    string
	args []any
	one  bool
}

// errGuard: a guard did not hold, or a constraint refused a step; nothing was written.
var errGuard = errors.New("sqlstore: a guarded write did not apply")

// applyGuarded writes steps in one transaction and returns after its commit, or
// errGuard with nothing written.
func (db *DB) applyGuarded(ctx context.Context, w guarded) error {
	if db.pipe != nil {
		return db.pipe.submit(ctx, w)
	}
	return db.InTx(ctx, func(tx *Tx) error {
		for _, s := range w.steps {
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

// pipeline group-commits guarded writes on PostgreSQL. Each of its workers has a
// connection of its own: one batch is BEGIN and every statement of up to maxBatch
// writes in one round trip, then COMMIT (or ROLLBACK, and the batch again without the
// writes whose guard failed). Each batch takes its shared rows in one order (by
// guarded.lock), so that batches of several workers could never wait for each other in
// a circle.
type pipeline struct {
	url     string
	d       dialect
	jobs    chan *pipeJob
	quit    chan struct{}
	wg      sync.WaitGroup
	rebound sync.Map // each statement's $n form
}

// pipelineWorkers: one. A second, to execute one batch while the other's commit is
// flushed, measured no faster here (2 286 and 2 393 against 1 912 and 2 668 paid/s,
// alternating runs): with both cores busy, PostgreSQL's CPU is the limit, not the flush.
const pipelineWorkers = 1

type pipeJob struct {
	ctx  context.Context
	w    guarded
	done chan error
}

func startPipeline(url string, d dialect) *pipeline {
	p := &pipeline{url: url, d: d, jobs: make(chan *pipeJob), quit: make(chan struct{})}
	for range pipelineWorkers {
		p.wg.Add(1)
		go (&pipeWorker{p: p}).run()
	}
	return p
}

func (p *pipeline) stop() {
	close(p.quit)
	p.wg.Wait()
}

// pipeWorker runs batches over its own connection.
type pipeWorker struct {
	p    *pipeline
	conn *pgx.Conn // nil until the first batch, and after a broken connection
}

func (p *pipeline) submit(ctx context.Context, w guarded) error {
	j := &pipeJob{ctx: ctx, w: w, done: make(chan error, 1)}
	select {
	case p.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		return errClosed
	}
	return <-j.done // taken: it may be in a transaction already, so wait for the end
}

func (pw *pipeWorker) run() {
	p := pw.p
	defer p.wg.Done()
	defer func() {
		if pw.conn != nil {
			_ = pw.conn.Close(context.Background())
		}
	}()
	for {
		batch, ok := collect(p.jobs, p.quit)
		if !ok {
			return
		}
		slices.SortStableFunc(batch, func(a, b *pipeJob) int { return strings.Compare(a.w.lock, b.w.lock) })
		pw.commit(batch)
	}
}

// commit writes a batch, answering every job: nil after the commit, errGuard for a
// job whose guard failed (the others go again without it), or the batch's error.
func (pw *pipeWorker) commit(batch []*pipeJob) {
	p := pw.p
	pending := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- err // gave up before it was sent: not written
			continue
		}
		pending = append(pending, j)
	}
	attempt := 1
	for len(pending) > 0 {
		refused, err := pw.once(pending)
		if err != nil && p.d.isRetryable(err) && attempt < maxAttempts {
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
			if refused[i] {
				j.done <- errGuard
			} else {
				kept = append(kept, j)
			}
		}
		pending = kept
	}
}

// once runs the jobs in one transaction: committed when it returns no refusals and
// no error; rolled back otherwise. refused marks the jobs whose guard failed.
func (pw *pipeWorker) once(jobs []*pipeJob) (refused map[int]bool, err error) {
	p := pw.p
	ctx := context.Background() // one request's cancellation must not abort its batch
	if pw.conn == nil {
		if pw.conn, err = pgx.Connect(ctx, p.url); err != nil {
			return nil, fmt.Errorf("sqlstore: pipeline connection: %w", err)
		}
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, j := range jobs {
		for _, s := range j.w.steps {
			b.Queue(p.rebind(s.q), s.args...)
		}
	}
	br := pw.conn.SendBatch(ctx, b)
	refused = map[int]bool{}
	var failed error // an error that is not a guard's: the batch fails or goes again
	if _, err := br.Exec(); err != nil {
		failed = err
	}
read:
	for i, j := range jobs {
		for _, s := range j.w.steps {
			if failed != nil {
				break read
			}
			tag, err := br.Exec()
			switch {
			case err != nil && (p.d.isUnique(err) || p.d.isForeignKey(err)):
				refused[i] = true
				break read // the server skips the rest of the pipeline
			case err != nil:
				failed = err
			case s.one && tag.RowsAffected() != 1:
				refused[i] = true
			}
		}
	}
	if err := br.Close(); err != nil && failed == nil && len(refused) == 0 {
		failed = err
	}
	end := "COMMIT"
	if failed != nil || len(refused) > 0 {
		end = "ROLLBACK"
	}
	if _, err := pw.conn.Exec(ctx, end); err != nil && failed == nil {
		failed = err
	}
	if failed != nil {
		if pw.conn.IsClosed() || pgCode(failed) == "" {
			// Broken, or in a state we cannot vouch for: the next batch opens a new one.
			_ = pw.conn.Close(ctx)
			pw.conn = nil
		}
		return nil, failed
	}
	return refused, nil
}

func (p *pipeline) rebind(q string) string {
	if r, ok := p.rebound.Load(q); ok {
		return r.(string)
	}
	r := p.d.rebind(q)
	p.rebound.Store(q, r)
	return r
}
