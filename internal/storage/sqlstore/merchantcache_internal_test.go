package sqlstore

import (
	"log/slog"
	"strconv"
	"testing"
)

// A change of one merchant keeps only that merchant's racing reads from being stored:
// every process hears every merchant's changes, and on a shared database the other
// tenants' changes must not turn every read into a miss. Forgetting which merchants
// were dropped (the bound) refuses every read begun before, as a reset does.
func TestCacheRefusesOnlyTheDroppedMerchantsReads(t *testing.T) {
	c := newMerchantCache(nil, slog.New(slog.DiscardHandler))
	c.start.Do(func() {}) // no watch: the test plays its part
	c.reset(true)
	k := func(id string) cacheKey { return cacheKey{keyMerchant, id} }
	stored := func(id string) bool {
		_, _, ok := c.get(k(id))
		return ok
	}

	_, gen, _ := c.get(k("A"))
	c.drop("B") // another merchant changed while A was read
	c.put(gen, k("A"), "A", 1)
	if !stored("A") {
		t.Fatal("a read of A was refused for a change of B")
	}

	_, gen, _ = c.get(k("C"))
	c.drop("C") // C changed while it was read: what was read may be stale
	c.put(gen, k("C"), "C", 1)
	if stored("C") {
		t.Fatal("a read of C begun before C changed was stored")
	}
	_, gen, _ = c.get(k("C"))
	c.put(gen, k("C"), "C", 2)
	if !stored("C") {
		t.Fatal("a read of C begun after its change was refused")
	}

	_, gen, _ = c.get(k("D"))
	for i := range maxDropped + 1 {
		c.drop("X" + strconv.Itoa(i))
	}
	if len(c.dropped) > maxDropped {
		t.Fatalf("%d drops remembered, bound %d", len(c.dropped), maxDropped)
	}
	c.put(gen, k("D"), "D", 1)
	if stored("D") {
		t.Fatal("a read begun before the drops were forgotten was stored")
	}
	if !stored("A") {
		t.Fatal("forgetting the drops emptied the cache")
	}

	_, gen, _ = c.get(k("E"))
	c.reset(true)
	c.put(gen, k("E"), "E", 1)
	if stored("E") {
		t.Fatal("a read begun before a reset was stored")
	}
}
