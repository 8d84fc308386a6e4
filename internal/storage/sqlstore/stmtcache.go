package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache keeps SQLite statements prepared, one per query text, on a pool. The SQLite
// driver prepares (parses and plans) the SQL text of every statement run without a
// prepared statement: measured, that was a fifth of all CPU of a payment. A
// database/sql Stmt keeps its prepared form on each connection it ran on, and a
// transaction on that connection reuses it (Tx.StmtContext), so with the one writer
// connection every query text is parsed once per process. PostgreSQL needs none of
// this: pgx caches prepared statements per connection by itself.
type stmtCache struct {
	pool *sql.DB
	// async: prepare in the background and run this time unprepared. The writer pool
	// has one connection, which the transaction asking for the statement holds:
	// preparing on the pool there and then would wait for it forever.
	async   bool
	m       sync.Map // query text → *sql.Stmt
	n       atomic.Int32
	mu      sync.Mutex // one prepare per text at a time
	pending map[string]bool
}

// maxCachedStmts bounds the cache: query texts are constants of this package except
// a few built with a variable number of placeholders, so a bound is only a guard.
const maxCachedStmts = 1024

func newStmtCache(pool *sql.DB, async bool) *stmtCache {
	return &stmtCache{pool: pool, async: async, pending: map[string]bool{}}
}

// get returns the prepared statement for q, or nil when q should run unprepared (the
// cache is full, or q does not prepare: then running it reports the error).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if c.async {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.pending[q] && c.n.Load()+int32(len(c.pending)) < maxCachedStmts {
			c.pending[q] = true
			go c.prepare(context.WithoutCancel(ctx), q)
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	return c.prepareLocked(context.WithoutCancel(ctx), q)
}

func (c *stmtCache) prepare(ctx context.Context, q string) {
	st, err := c.pool.PrepareContext(ctx, q)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, q)
	if err != nil {
		c.pending[q] = true // does not prepare: never try again
		return
	}
	c.m.Store(q, st)
	c.n.Add(1)
}

func (c *stmtCache) prepareLocked(ctx context.Context, q string) *sql.Stmt {
	if c.n.Load() >= maxCachedStmts {
		return nil
	}
	st, err := c.pool.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.m.Store(q, st)
	c.n.Add(1)
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock() // a background prepare still running would otherwise add to a closed cache
	defer c.mu.Unlock()
	c.m.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
}
