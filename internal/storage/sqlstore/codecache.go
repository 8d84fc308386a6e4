package sqlstore

import (
	"crypto/sha256"
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
// reads it from the database. A power of two, as the ring of records is.
const CodeCacheMax = 1 << 16

// codeText bounds the text of a cached code (its kind, payer, merchant, appid,
// device and authinfo hash together, about 150 bytes as minted); a code with more is
// not cached and its charge reads it. At most 255, so that a length fits its byte.
const codeText = 192

var _ [255 - codeText]struct{} // does not compile if a length could overflow its byte

// The cache holds no pointer: a record is fixed-size bytes in a ring, and the index
// maps a hash's bytes to a record's number. A full cache used to be some 400 000
// small objects (a credential, its strings, a map slot each) that every collection
// marked again, a tenth of a payment's CPU with a few seconds' codes waiting; memory
// without pointers is never scanned.
type codeCache struct {
	// hits and misses count the charges' lookups: a miss costs the charge a read.
	hits, misses atomic.Int64
	mu           sync.Mutex
	index        map[[sha256.Size]byte]uint64 // a code's hash → its record's number
	// ring holds records first to next-1 in minting order, record n at
	// ring[n%len(ring)]; a used code's record stays until the ring passes it.
	ring        []codeRecord
	first, next uint64
}

type codeRecord struct {
	hash             [sha256.Size]byte
	at               int64 // UnixNano of the add
	expires, created int64 // micros, as stored
	lens             [6]uint8
	text             [codeText]byte // kind, payer, merchant, appid, device, authinfo hash
}

func newCodeCache() *codeCache { return &codeCache{index: map[[sha256.Size]byte]uint64{}} }

// hashKey is a code hash as pay stores it (64 lowercase hex digits) in bytes; any
// other text is not a hash this cache holds. Decoded by hand rather than by
// encoding/hex, which accepts upper case too and, given the string, would copy it to
// the heap on every charge.
func hashKey(hash string) (k [sha256.Size]byte, ok bool) {
	if len(hash) != 2*sha256.Size {
		return k, false
	}
	for i := range k {
		hi, ok1 := lowerHex(hash[2*i])
		lo, ok2 := lowerHex(hash[2*i+1])
		if !ok1 || !ok2 {
			return k, false
		}
		k[i] = hi<<4 | lo
	}
	return k, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// set fills r from c, or says c's text does not fit.
func (r *codeRecord) set(k [sha256.Size]byte, at int64, c pay.Credential) bool {
	n := 0
	for i, f := range [6]string{c.Kind, c.PayerID, c.MchID, c.AppID, c.DeviceID, c.AuthInfoHash} {
		if n+len(f) > codeText {
			return false
		}
		r.lens[i] = uint8(len(f))
		n += copy(r.text[n:], f)
	}
	r.hash, r.at = k, at
	r.expires, r.created = micros(c.ExpiresAt), micros(c.CreatedAt)
	return true
}

// credential is the code r holds, as asStored reads it; its strings share one
// allocation.
func (r *codeRecord) credential(hash string) pay.Credential {
	total := 0
	for _, l := range r.lens {
		total += int(l)
	}
	text := string(r.text[:total])
	var f [6]string
	for i, l := range r.lens {
		f[i], text = text[:l], text[l:]
	}
	return pay.Credential{Hash: hash, Kind: f[0], PayerID: f[1], MchID: f[2], AppID: f[3], DeviceID: f[4],
		AuthInfoHash: f[5], ExpiresAt: fromMicros(r.expires), CreatedAt: fromMicros(r.created)}
}

func (c *codeCache) record(n uint64) *codeRecord { return &c.ring[n%uint64(len(c.ring))] }

func (c *codeCache) get(hash string) (pay.Credential, bool) {
	k, ok := hashKey(hash)
	if !ok {
		return pay.Credential{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.index[k]; ok {
		return c.record(n).credential(hash), true
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
		k, ok := hashKey(cr.Hash)
		if !ok {
			continue
		}
		if c.next-c.first == CodeCacheMax {
			c.pass()
		}
		if c.next-c.first == uint64(len(c.ring)) {
			c.grow()
		}
		if c.record(c.next).set(k, at, cr) {
			c.index[k] = c.next
			c.next++
		}
	}
	for c.next > c.first && at-c.record(c.first).at > int64(codeCacheKeep) {
		c.pass()
	}
	c.release()
}

// pass drops the oldest record, and its code unless a newer record holds it.
func (c *codeCache) pass() {
	r := c.record(c.first)
	if n, ok := c.index[r.hash]; ok && n == c.first {
		delete(c.index, r.hash)
	}
	c.first++
}

// grow doubles the ring (to CodeCacheMax at most, which the count never passes),
// each record moving to its place in the new length.
func (c *codeCache) grow() {
	ring := make([]codeRecord, max(1024, 2*len(c.ring)))
	for n := c.first; n < c.next; n++ {
		ring[n%uint64(len(ring))] = *c.record(n)
	}
	c.ring = ring
}

// release gives a passed burst's memory back once every code it minted is used or
// dropped: a map keeps its slots after its entries are deleted.
func (c *codeCache) release() {
	if len(c.index) == 0 && len(c.ring) > 1024 {
		c.index = map[[sha256.Size]byte]uint64{}
		c.ring, c.first = nil, c.next
	}
}

func (c *codeCache) drop(hash string) {
	k, ok := hashKey(hash)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.index, k)
	c.release()
}

func (c *codeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// asStored is c as InsertCredential stores it and the database returns it: unused,
// times to the microsecond in UTC, so a cached code reads exactly as a read one.
func asStored(c pay.Credential) pay.Credential {
	c.ExpiresAt, c.CreatedAt = fromMicros(micros(c.ExpiresAt)), fromMicros(micros(c.CreatedAt))
	c.UsedBy = ""
	return c
}
