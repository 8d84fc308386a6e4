package sqlstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/pay"
)

// Codes this process minted, as minted. A face_code is minted by the platform the
// kiosk asked and paid with a few seconds later, most often through the same
// process; the charge's first read (MerchantState) then finds the code here instead
// of in the database. On SQLite that read cost a payment a fifth of its CPU: every
// commit empties a reader connection's page cache, so each lookup read its pages
// again.
//
// An entry only ever says what the code was when it was minted: unused. Whatever
// uses the code afterwards (this process or another one) is decided in the write:
// the charge's claim is guarded by used_by IS NULL, so an entry that is out of date
// sends the charge down the interactive path, which reads the row and refuses a used
// code as it always has. Entries enter only after their transaction commits, so
// nothing rolled back is ever found; a claim by this process drops the entry at once.
const (
	// codeCacheKeep outlives every code kind's TTL: an older entry is dropped, as
	// the code it describes can no longer pay.
	codeCacheKeep = pay.FaceCodeTTL + time.Minute
)

// CodeCacheMax is how many of the codes its process minted a store keeps at most
// (about 20 MB): it bounds a minting storm. A charge whose code is not among them
// reads it from the database.
const CodeCacheMax = 1 << 16

type codeCache struct {
	// hits and misses count the charges' lookups: a miss costs the charge a read.
	hits, misses atomic.Int64
	mu           sync.Mutex
	items        map[string]*pay.Credential // pointers: a map's slots outlive its entries
	fifo         []mintedAt                 // in minting order; entries may already be gone from items
	head         int
}

type mintedAt struct {
	hash string // shares its bytes with the key
	at   int64  // UnixNano of the add
}

func newCodeCache() *codeCache { return &codeCache{items: map[string]*pay.Credential{}} }

func (c *codeCache) get(hash string) (pay.Credential, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.items[hash]; ok {
		return *v, true
	}
	return pay.Credential{}, false
}

// add keeps codes a transaction minted and committed, dropping those older than
// codeCacheKeep and, past CodeCacheMax, the oldest.
func (c *codeCache) add(now time.Time, creds []pay.Credential) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := now.UnixNano()
	for _, cr := range creds {
		c.items[cr.Hash] = &cr
		c.fifo = append(c.fifo, mintedAt{cr.Hash, at})
	}
	for c.head < len(c.fifo) && (len(c.fifo)-c.head > CodeCacheMax || at-c.fifo[c.head].at > int64(codeCacheKeep)) {
		delete(c.items, c.fifo[c.head].hash)
		c.fifo[c.head] = mintedAt{}
		c.head++
	}
	if c.head > len(c.fifo)/2 { // reuse the front half rather than grow forever
		c.fifo = append(c.fifo[:0], c.fifo[c.head:]...)
		c.head = 0
	}
	c.release()
}

// release gives a passed burst's memory back once every code it minted is used or
// dropped: a map keeps its slots after its entries are deleted.
func (c *codeCache) release() {
	if len(c.items) == 0 && cap(c.fifo) > 1024 {
		c.items, c.fifo, c.head = map[string]*pay.Credential{}, nil, 0
	}
}

func (c *codeCache) drop(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, hash)
	c.release()
}

func (c *codeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// asStored is c as InsertCredential stores it and the database returns it: unused,
// times to the microsecond in UTC, so a cached code reads exactly as a read one.
func asStored(c pay.Credential) pay.Credential {
	c.ExpiresAt, c.CreatedAt = fromMicros(micros(c.ExpiresAt)), fromMicros(micros(c.CreatedAt))
	c.UsedBy = ""
	return c
}
