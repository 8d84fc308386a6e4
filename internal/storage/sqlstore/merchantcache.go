package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// merchantCache keeps merchants (with their keys and appids), their certificates and
// their platform identities as read, on PostgreSQL, where every signed request would
// otherwise spend round trips resolving its caller. Every write that changes what it
// holds (an appid bound, the platform mode; certificates and identities are written
// only with their merchant, and any later change of them must go through
// changeMerchant) sends a NOTIFY in its own transaction; each process LISTENs and
// drops what belongs to the merchant when the change commits, and the writing process
// drops it at once. Until its listener is connected, and whenever that connection
// breaks, the cache is emptied and not used, so a missed notification cannot leave a
// stale entry behind. A read racing a change does not store what it read (gen). An
// appid missing from a cached merchant is read again before a request is refused
// (tenant's checkApp), so a binding made in another process works at once; other
// changes reach other processes when the notification does, well under a
// millisecond on one host. Only what exists is cached: an unknown serial is read
// every time.
//
// SQLite has no cache: its read is a local call, not a round trip.
type merchantCache struct {
	url string
	log *slog.Logger

	mu    sync.Mutex
	gen   uint64
	live  bool // the listener is connected and listening
	items map[cacheKey]cached

	start   sync.Once
	started bool // set inside start
	quit    chan struct{}
	done    chan struct{}
}

// cacheKey names an entry: a merchant, its platform identities (both by mch_id) or a
// certificate (by serial_no).
type cacheKey struct{ kind, id string }

const (
	keyMerchant   = "merchant"
	keyIdentities = "identities"
	keyCert       = "cert"
)

// cached is an entry and the merchant it belongs to, whose notification drops it.
type cached struct {
	mchID string
	value any
}

// merchantChannel is the NOTIFY channel; the payload is a mch_id.
const merchantChannel = "openfacepay_merchant"

func newMerchantCache(url string, log *slog.Logger) *merchantCache {
	return &merchantCache{url: url, log: log, items: map[cacheKey]cached{}, quit: make(chan struct{}), done: make(chan struct{})}
}

// get returns a cached value, or ok=false with the generation a read must quote to
// store what it reads.
func (c *merchantCache) get(k cacheKey) (v any, gen uint64, ok bool) {
	c.start.Do(func() { // at the first use, not Open: most stores never resolve callers
		c.started = true
		go c.listen()
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	return e.value, c.gen, ok
}

// put stores v, which belongs to mchID, unless the cache changed since gen was read or
// is not live.
func (c *merchantCache) put(gen uint64, k cacheKey, mchID string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.gen == gen {
		c.items[k] = cached{mchID: mchID, value: v}
	}
}

// through returns what the cache holds under k, or what read reads (stored when the
// cache did not change meanwhile). Values are shared: clone gives each caller its own
// copy of what a caller could change.
func through[V any](c *merchantCache, k cacheKey, read func() (V, error), owner func(V) string, clone func(V) V) (V, error) {
	if c == nil {
		return read()
	}
	v, gen, ok := c.get(k)
	if ok {
		return clone(v.(V)), nil
	}
	fresh, err := read()
	if err == nil {
		c.put(gen, k, owner(fresh), clone(fresh))
	}
	return fresh, err
}

// drop forgets everything of one merchant.
func (c *merchantCache) drop(mchID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.items {
		if e.mchID == mchID {
			delete(c.items, k)
		}
	}
}

// reset forgets everything and says whether notifications are heard.
func (c *merchantCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.items)
}

func (c *merchantCache) stop() {
	c.start.Do(func() {}) // no listener starts after this
	close(c.quit)
	if c.started {
		<-c.done
	}
}

// listen holds the LISTEN connection, and opens it again after a failure.
func (c *merchantCache) listen() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.quit
		cancel()
	}()
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := c.session(ctx)
		c.reset(false)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("merchant cache: listener lost; resolving every caller from the database until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func (c *merchantCache) session(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+merchantChannel); err != nil {
		return err
	}
	c.reset(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c.drop(n.Payload)
	}
}

// merchantChanged makes tx tell every process, when it commits, that mchID changed.
func (t *Tx) merchantChanged(ctx context.Context, mchID string) error {
	if t.db.merchants == nil {
		return nil
	}
	_, err := t.Exec(ctx, `SELECT pg_notify(?, ?)`, merchantChannel, mchID)
	return err
}
