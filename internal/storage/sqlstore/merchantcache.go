package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// merchantCache keeps merchants (with their keys and appids), their certificates and
// their platform identities as read, so that a signed request does not spend reads
// resolving its caller. Every write that changes what it holds (an appid bound, the
// platform mode; certificates and identities are written only with their merchant,
// and any later change of them must go through changeMerchant) says so in its own
// transaction (merchantChanged), and the writing process drops the merchant's entries
// at once. Other processes hear of it through the watch: on PostgreSQL a LISTEN on the
// NOTIFY the write sent, which drops the merchant's entries when the change commits
// (well under a millisecond on one host); on SQLite, which has no NOTIFY, a poll of the
// generation the write moved on, every sqliteWatchEvery, which empties the cache when
// it moved. Until the watch is running, and whenever it fails, the cache is emptied and
// not used, so a missed change cannot leave a stale entry behind. A read racing a
// change of its merchant does not store what it read (gen, dropped). An appid missing
// from a cached merchant is read again before a request is refused (tenant's
// checkApp), so a binding made in another process works at once. Only what exists is
// cached: an unknown serial is read every time.
type merchantCache struct {
	watch func(ctx context.Context, c *merchantCache) error // returns only when it failed or ctx ended
	log   *slog.Logger

	mu   sync.Mutex
	gen  uint64 // moves on at every drop and reset; a read quotes it (get) to store (put)
	live bool   // the watch is running: changes are heard
	// A read stores nothing when its merchant was dropped after it began (dropped) or
	// when it began before floor. Only the merchant's own drops count: every process
	// on a database hears every merchant's changes (and every test schema's, where
	// tests share one database), and a change of one merchant must not keep the
	// others' reads from being stored.
	dropped map[string]uint64 // mch_id → gen of its last drop, since floor
	floor   uint64
	items   map[cacheKey]cached

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
	keyState      = "state" // a merchant's test clock and password threshold (stateEntry)
	keyFault      = "fault" // whether a fault rule waits for a merchant's API (faultKey)
)

// cached is an entry and the merchant it belongs to, whose notification drops it.
type cached struct {
	mchID string
	value any
}

// merchantChannel is the NOTIFY channel; the payload is a mch_id.
const merchantChannel = "openfacepay_merchant"

func newMerchantCache(watch func(context.Context, *merchantCache) error, log *slog.Logger) *merchantCache {
	return &merchantCache{watch: watch, log: log, items: map[cacheKey]cached{}, dropped: map[string]uint64{},
		quit: make(chan struct{}), done: make(chan struct{})}
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

// put stores v, which belongs to mchID, unless mchID was dropped or the cache reset
// since gen was read, or the cache is not live.
func (c *merchantCache) put(gen uint64, k cacheKey, mchID string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && gen >= c.floor && c.dropped[mchID] <= gen {
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
	if len(c.dropped) >= maxDropped {
		// Forgetting which merchants were dropped means refusing every read begun
		// before now, as a reset does, without emptying the cache.
		clear(c.dropped)
		c.floor = c.gen
	}
	c.dropped[mchID] = c.gen
	for k, e := range c.items {
		if e.mchID == mchID {
			delete(c.items, k)
		}
	}
}

// maxDropped bounds the merchants whose last drop is remembered.
const maxDropped = 4096

// reset forgets everything and says whether notifications are heard.
func (c *merchantCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.floor = c.gen
	clear(c.dropped)
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

// listen keeps the watch running, and starts it again after a failure.
func (c *merchantCache) listen() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.quit
		cancel()
	}()
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := c.watch(ctx, c)
		c.reset(false)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("merchant cache: watch lost; resolving every caller from the database until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// notifications watches PostgreSQL's NOTIFY channel on a connection of its own.
func notifications(url string) func(context.Context, *merchantCache) error {
	return func(ctx context.Context, c *merchantCache) error {
		conn, err := pgx.Connect(ctx, url)
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
}

// sqliteWatchEvery is how often a SQLite store looks for another process's change of
// a merchant: how long such a change may take to reach this process.
const sqliteWatchEvery = 100 * time.Millisecond

// generations polls the merchants' generation of a SQLite store.
func generations(db *DB, every time.Duration) func(context.Context, *merchantCache) error {
	read := func(ctx context.Context) (gen int64, err error) {
		err = db.queryRow(ctx, sqlMerchantGeneration).Scan(&gen)
		return gen, err
	}
	return func(ctx context.Context, c *merchantCache) error {
		last, err := read(ctx)
		if err != nil {
			return err
		}
		c.reset(true)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
			gen, err := read(ctx)
			if err != nil {
				return err
			}
			if gen != last {
				c.reset(true) // which merchant changed is not recorded: forget them all
				last = gen
			}
		}
	}
}

const (
	sqlMerchantGeneration = `SELECT gen FROM store_generations WHERE name = 'merchants'`
	sqlMerchantChanged    = `UPDATE store_generations SET gen = gen + 1 WHERE name = 'merchants'`
)

// merchantChanged makes tx tell every process, when it commits, that mchID changed:
// a NOTIFY on PostgreSQL, the merchants' generation moved on on SQLite. This process
// drops the merchant's entries as soon as tx has ended (settle).
func (t *Tx) merchantChanged(ctx context.Context, mchID string) error {
	t.changed = append(t.changed, mchID)
	if t.db.d.name() == "sqlite" {
		_, err := t.Exec(ctx, sqlMerchantChanged)
		return err
	}
	_, err := t.Exec(ctx, `SELECT pg_notify(?, ?)`, merchantChannel, mchID)
	return err
}

// settle drops this process's entries of the merchants tx changed, and keeps the
// codes it minted when it committed. It runs once the transaction has ended,
// committed or not (a failed commit's outcome may be unknown), and before any caller
// hears how it ended, so no caller of this process reads back what it changed from
// the cache.
func (t *Tx) settle(committed bool) {
	if committed && len(t.minted) > 0 {
		t.db.codes.add(t.db.clock.Now(), t.minted)
	}
	t.minted = nil
	if len(t.changed) > 0 {
		t.db.announced.Store(true)
	}
	if t.db.merchants != nil {
		for _, id := range t.changed {
			t.db.merchants.drop(id)
		}
	}
	t.changed = nil
}

// notifyHeard is how long a NOTIFY takes, with a wide margin, to reach and be applied
// by the other processes listening on one PostgreSQL host: delivery is at commit,
// the listener drops the merchant as it reads the notification.
const notifyHeard = 100 * time.Millisecond

// AwaitWatchers returns once every other process watching the database has heard of
// the merchant changes this store made (none: at once). A command that changes a
// merchant (an admin command setting a test clock, a fault rule, a password
// threshold or an appid) calls it before it exits, so that the next request to a
// running serve sees the change: a SQLite serve hears it at its next poll of the
// generation, a PostgreSQL one with the notification.
func (db *DB) AwaitWatchers(ctx context.Context) error {
	if !db.announced.Load() {
		return nil
	}
	wait := notifyHeard
	if db.d.name() == "sqlite" {
		wait = 2*sqliteWatchEvery + notifyHeard // a poll that had just read the old generation, then the next
	}
	select {
	case <-time.After(wait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
