package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Batched reads. On PostgreSQL the read every request makes (the merchant's state, a
// K12 debit's context) is a round trip of its own: the client's write wakes a backend,
// the backend's answer wakes the client, and on a loaded machine those wakeups cost
// more than the query (a fifth of the process's CPU was that socket write in the
// orderquery profile). Reads that arrive while another batch is out travel together
// as one pipeline over a connection of the batcher's own: one write, one wakeup of the
// backend, one read of all the answers. Each read is its own statement, in autocommit,
// so each still sees what had committed when it ran.

// maxReads bounds one batch: enough to take what sixteen or sixty-four clients send
// while a batch is out.
const maxReads = 64

// readers is how many batches can be out at once. One: while its batch is out the
// next one queues, so a batch carries about 3.6 reads at sixteen clients instead of
// 1.9 with two readers, and each write that wakes the backend is shared by more
// reads. orderquery measured 0.50–0.73 of the protocol ceiling with one reader
// against 0.45–0.53 with two, alternating in one session. A machine with more cores
// may want two: one batch read while the other executes.
const readers = 1

// readBatcher sends queued single-row reads in pipelines.
type readBatcher struct {
	config *pgx.ConnConfig
	jobs   chan *readJob
	quit   chan struct{}
	wg     sync.WaitGroup
	rebinder
}

// A readJob moves from pending to taken when a reader scans into its destinations,
// or to abandoned when its caller gave up first; whichever moves it first wins, so a
// reader never writes into the variables of a caller that has returned.
type readJob struct {
	q     string
	args  []any
	dest  []any
	state atomic.Int32
	done  chan error
}

const (
	jobPending int32 = iota
	jobTaken
	jobAbandoned
)

// ReaderApp names the batcher's connections in pg_stat_activity, like PipelineApp.
const ReaderApp = "openfacepay-reader"

func startReadBatcher(url string, d dialect) (*readBatcher, error) {
	cfg, err := namedConfig(url, ReaderApp)
	if err != nil {
		return nil, err
	}
	b := &readBatcher{config: cfg, rebinder: rebinder{d: d}, jobs: make(chan *readJob), quit: make(chan struct{})}
	for range readers {
		b.wg.Add(1)
		go b.run()
	}
	return b, nil
}

func (b *readBatcher) stop() {
	close(b.quit)
	b.wg.Wait()
}

// read runs q and scans its one row into dest; sql.ErrNoRows when there is none.
func (b *readBatcher) read(ctx context.Context, q string, args []any, dest []any) error {
	j := &readJob{q: b.rebind(q), args: args, dest: dest, done: make(chan error, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errClosed
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobPending, jobAbandoned) {
			return ctx.Err()
		}
		return <-j.done // a reader is scanning into dest: wait for it
	}
}

func (b *readBatcher) run() {
	defer b.wg.Done()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	for {
		batch, ok := collect(b.jobs, b.quit, maxReads)
		if !ok {
			return
		}
		conn = b.send(conn, batch, true)
	}
}

// send answers every job of a batch and returns the connection for the next one (nil
// after it broke). A statement that fails makes the server skip the rest of the
// pipeline: the reads after it go again, each alone. Reads lost with a broken
// connection go again once on a new one (a read changes nothing, so repeating it is
// safe); a second loss is their answer.
func (b *readBatcher) send(conn *pgx.Conn, batch []*readJob, retry bool) *pgx.Conn {
	ctx := context.Background() // one caller's cancellation must not fail the others
	if conn == nil {
		var err error
		if conn, err = pgx.ConnectConfig(ctx, b.config); err != nil {
			err = fmt.Errorf("sqlstore: reader connection: %w", err)
			for _, j := range batch {
				j.done <- err
			}
			return nil
		}
	}
	pb := &pgx.Batch{}
	for _, j := range batch {
		pb.Queue(j.q, j.args...)
	}
	br := conn.SendBatch(ctx, pb)
	var (
		failed      error // the first failure: the server skipped what came after it
		alone, lost []*readJob
		first       = true // no read of the batch answered yet
	)
	for _, j := range batch {
		if failed != nil {
			if connectionLost(failed) {
				lost = append(lost, j)
			} else {
				alone = append(alone, j)
			}
			continue
		}
		rows, _ := br.Query() // its error, if any, is the rows'
		if !j.state.CompareAndSwap(jobPending, jobTaken) {
			rows.Close() // its caller left: read and dropped
			if failed = rows.Err(); failed == nil {
				first = false
			}
			continue
		}
		err := sql.ErrNoRows
		if rows.Next() {
			err = rows.Scan(j.dest...)
		}
		rows.Close()
		if rerr := rows.Err(); rerr != nil {
			err, failed = rerr, rerr
			// Lost with the connection, or failed before any read of the batch was
			// answered (preparing a new statement fails the whole batch, whichever
			// statement it was): nothing was scanned, so it may go again.
			if connectionLost(rerr) || first && len(batch) > 1 {
				j.state.Store(jobPending)
				if connectionLost(rerr) {
					lost = append(lost, j)
				} else {
					alone = append(alone, j)
				}
				continue
			}
		}
		first = false
		j.done <- err
	}
	if err := br.Close(); err != nil && failed == nil {
		failed = err
	}
	if failed != nil && (conn.IsClosed() || connectionLost(failed)) {
		_ = conn.Close(ctx)
		conn = nil
	}
	for _, j := range alone {
		conn = b.send(conn, []*readJob{j}, retry)
	}
	if len(lost) > 0 && retry {
		return b.send(conn, lost, false)
	}
	for _, j := range lost {
		j.done <- failed
	}
	return conn
}
