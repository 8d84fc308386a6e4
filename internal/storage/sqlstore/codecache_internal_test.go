package sqlstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/pay"
)

// The cache of minted codes stays bounded: by count under a minting storm, and by
// age, past which no code it holds could still pay.
func TestCodeCacheIsBounded(t *testing.T) {
	c := newCodeCache()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]pay.Credential, 1000)
	for i := 0; i < CodeCacheMax/len(batch)+5; i++ {
		for j := range batch {
			batch[j] = pay.Credential{Hash: strconv.Itoa(i*len(batch) + j)}
		}
		c.add(t0, batch)
	}
	if n := c.len(); n != CodeCacheMax {
		t.Fatalf("%d codes held, want the bound %d", n, CodeCacheMax)
	}
	if _, ok := c.get("0"); ok {
		t.Fatal("the oldest code is still held past the bound")
	}
	last := strconv.Itoa((CodeCacheMax/len(batch)+5)*len(batch) - 1)
	if _, ok := c.get(last); !ok {
		t.Fatal("the newest code was dropped")
	}
	c.add(t0.Add(codeCacheKeep+time.Second), []pay.Credential{{Hash: "late"}})
	if n := c.len(); n != 1 {
		t.Fatalf("%d codes held after all the others aged out, want 1", n)
	}
	if len(c.fifo)-c.head != 1 {
		t.Fatalf("the minting order still holds %d entries", len(c.fifo)-c.head)
	}
}

// Once every code of a burst is used, the cache gives the burst's memory back.
func TestCodeCacheReleasesABurst(t *testing.T) {
	c := newCodeCache()
	batch := make([]pay.Credential, 5000)
	for i := range batch {
		batch[i] = pay.Credential{Hash: strconv.Itoa(i)}
	}
	c.add(time.Now(), batch)
	for _, cr := range batch[:len(batch)-1] {
		c.drop(cr.Hash)
	}
	if len(c.fifo) == 0 {
		t.Fatal("released while a code was still held")
	}
	c.drop(batch[len(batch)-1].Hash)
	if c.fifo != nil || c.len() != 0 {
		t.Fatalf("after the burst: %d in the minting order, %d held", len(c.fifo), c.len())
	}
}
