package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit for SQLite. Every write transaction of a process goes through the one
// writer connection anyway; instead of one fsync per transaction, a committer
// goroutine takes the transactions that queued while the previous commit ran and
// runs them in one database transaction, each inside its own SAVEPOINT, so a
// transaction that fails rolls back alone. Nobody hears of success before the COMMIT
// that makes their transaction durable. With synchronous=FULL the fsync is the cost
// of a commit, so the batch shares it.
//
// Bodies run back to back without savepoints (each statement SQLite parses costs
// CPU on the one writer). When a body fails, the whole transaction rolls back and the
// batch runs again without it: its error stands, the others are recomputed against a
// state that never contained its writes. Failures are rare (domain refusals commit
// their outcome), so the common batch is one BEGIN, the bodies and one COMMIT.

// maxBatch bounds how many transactions share a commit.
const maxBatch = 128

var errClosed = errors.New("sqlstore: store is closed")

type job struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

type committer struct {
	db   *DB
	jobs chan *job
	quit chan struct{}
	wg   sync.WaitGroup
}

func startCommitter(db *DB) *committer {
	c := &committer{db: db, jobs: make(chan *job), quit: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	return c
}

func (c *committer) stop() {
	close(c.quit)
	c.wg.Wait()
}

// submit runs fn in the next batch and returns its result after the batch commits.
func (c *committer) submit(ctx context.Context, fn func(*Tx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.quit:
		return errClosed
	}
	// Once taken, the job may already be inside a transaction: wait for the commit.
	return <-j.done
}

func (c *committer) run() {
	defer c.wg.Done()
	for {
		batch, ok := collect(c.jobs, c.quit, maxBatch)
		if !ok {
			return
		}
		c.commit(batch)
	}
}

// collect waits for a job, then takes the jobs queued behind it, up to max: what
// queued during the previous commit shares the next one. ok=false once quit is closed.
func collect[J any](jobs <-chan J, quit <-chan struct{}, max int) (batch []J, ok bool) {
	select {
	case j := <-jobs:
		batch = append(batch, j)
	case <-quit:
		return nil, false
	}
	return queued(jobs, batch, max), true
}

// queued appends to batch the jobs queued now, up to max in all, without waiting.
func queued[J any](jobs <-chan J, batch []J, max int) []J {
	for len(batch) < max {
		select {
		case j := <-jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// commit runs a batch; a retryable failure of the whole transaction (another process
// holds the write lock past busy_timeout) runs it again.
func (c *committer) commit(batch []*job) {
	pending := batch
	for len(pending) > 0 {
		var (
			failed int
			err    error
		)
		for attempt := 1; attempt <= maxAttempts; attempt++ {
			failed, err = c.once(pending)
			if err == nil || !c.db.d.isRetryable(err) {
				break
			}
			time.Sleep(time.Duration(attempt) * time.Millisecond)
		}
		switch {
		case err != nil: // the transaction itself failed: nobody's work is committed
			for _, j := range pending {
				j.done <- err
			}
			return
		case failed < 0: // committed: everyone has their answer
			return
		}
		// pending[failed] was answered with its own error; run the rest again.
		pending = append(pending[:failed:failed], pending[failed+1:]...)
	}
}

// once runs the jobs in one transaction. It returns -1 after a commit (every job has
// been answered), or the index of the first job whose body failed (that job has been
// answered and the transaction rolled back), or an error of the transaction.
func (c *committer) once(batch []*job) (int, error) {
	ctx := context.Background() // one request's cancellation must not abort its batch
	sqlTx, err := c.db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, db: c.db}
	skipped := make([]error, len(batch))
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			skipped[i] = err // gave up waiting: not run, not committed
			continue
		}
		if err := runJob(j, tx); err != nil {
			_ = sqlTx.Rollback()
			tx.settle(false)
			j.done <- err
			return i, nil
		}
	}
	err = sqlTx.Commit()
	tx.settle(err == nil) // before anyone hears of the commit
	if err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	for i, j := range batch {
		j.done <- skipped[i]
	}
	return -1, nil
}

// runJob runs one transaction body; a panic fails that job, not the batch.
func runJob(j *job, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlstore: transaction panicked: %v", p)
		}
	}()
	return j.fn(tx)
}
