package sqlstore

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/pay"
)

func codeHash(i int) string { return pay.HashCode("FC" + strconv.Itoa(i)) }

// The cache of minted codes stays bounded: by count under a minting storm, and by
// age, past which no code it holds could still pay.
func TestCodeCacheIsBounded(t *testing.T) {
	c := newCodeCache()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]pay.Credential, 1000)
	for i := 0; i < CodeCacheMax/len(batch)+5; i++ {
		for j := range batch {
			batch[j] = pay.Credential{Hash: codeHash(i*len(batch) + j)}
		}
		c.add(t0, batch)
	}
	if n := c.len(); n != CodeCacheMax {
		t.Fatalf("%d codes held, want the bound %d", n, CodeCacheMax)
	}
	if _, ok := c.get(codeHash(0)); ok {
		t.Fatal("the oldest code is still held past the bound")
	}
	last := codeHash((CodeCacheMax/len(batch)+5)*len(batch) - 1)
	if _, ok := c.get(last); !ok {
		t.Fatal("the newest code was dropped")
	}
	c.add(t0.Add(codeCacheKeep+time.Second), []pay.Credential{{Hash: codeHash(-1)}})
	if n := c.len(); n != 1 {
		t.Fatalf("%d codes held after all the others aged out, want 1", n)
	}
	if n := c.next - c.first; n != 1 {
		t.Fatalf("the minting order still holds %d records", n)
	}
	if len(c.ring) > CodeCacheMax {
		t.Fatalf("the ring grew to %d records", len(c.ring))
	}
	if _, ok := c.get(codeHash(-1)); !ok {
		t.Fatal("the code added after the others aged out is not found")
	}
}

// Once every code of a burst is used, the cache gives the burst's memory back.
func TestCodeCacheReleasesABurst(t *testing.T) {
	c := newCodeCache()
	batch := make([]pay.Credential, 5000)
	for i := range batch {
		batch[i] = pay.Credential{Hash: codeHash(i)}
	}
	c.add(time.Now(), batch)
	for _, cr := range batch[:len(batch)-1] {
		c.drop(cr.Hash)
	}
	if len(c.ring) == 0 {
		t.Fatal("released while a code was still held")
	}
	c.drop(batch[len(batch)-1].Hash)
	if c.ring != nil || c.len() != 0 {
		t.Fatalf("after the burst: a ring of %d records, %d held", len(c.ring), c.len())
	}
	c.add(time.Now(), batch[:1])
	if got, ok := c.get(batch[0].Hash); !ok || got.Hash != batch[0].Hash {
		t.Fatalf("after a release the cache holds %+v, %v", got, ok)
	}
}

// A cached code reads back as the store returns it; what the cache cannot hold
// exactly (a text that is not a stored hash, fields longer than a record) it does
// not hold, so its charge reads the row.
func TestCodeCacheHoldsCodesExactly(t *testing.T) {
	c := newCodeCache()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	full := asStored(pay.Credential{Hash: codeHash(1), Kind: pay.FaceCode, PayerID: "P0123456789abcdef", MchID: "1900000109",
		AppID: "wx2421b1c4370ec43b", DeviceID: "dev-é-01", AuthInfoHash: codeHash(2), ExpiresAt: t0.Add(pay.FaceCodeTTL), CreatedAt: t0})
	empty := asStored(pay.Credential{Hash: codeHash(3), Kind: pay.FaceCode, ExpiresAt: t0, CreatedAt: t0})
	long := pay.Credential{Hash: codeHash(4), Kind: pay.FaceCode, DeviceID: strings.Repeat("d", codeText)}
	upper := pay.Credential{Hash: strings.ToUpper(codeHash(5)), Kind: pay.FaceCode}
	c.add(t0, []pay.Credential{full, empty, long, upper, {Hash: "0"}})
	for _, want := range []pay.Credential{full, empty} {
		if got, ok := c.get(want.Hash); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("read back %+v, %v; want %+v", got, ok, want)
		}
	}
	for _, h := range []string{long.Hash, upper.Hash, codeHash(5), "0", ""} {
		if got, ok := c.get(h); ok {
			t.Fatalf("%q is held as %+v", h, got)
		}
	}
	if n := c.len(); n != 2 {
		t.Fatalf("%d codes held, want 2", n)
	}
}

// Nothing the cache keeps per code holds a pointer, so a collection never marks a
// full cache's codes one by one.
func TestCodeCacheHoldsNoPointers(t *testing.T) {
	var pointerFree func(reflect.Type) bool
	pointerFree = func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Array:
			return pointerFree(t.Elem())
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				if !pointerFree(t.Field(i).Type) {
					return false
				}
			}
			return true
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64:
			return true
		}
		return false
	}
	c := newCodeCache()
	for _, typ := range []reflect.Type{reflect.TypeOf(c.ring).Elem(), reflect.TypeOf(c.index).Key(), reflect.TypeOf(c.index).Elem()} {
		if !pointerFree(typ) {
			t.Fatalf("%v holds a pointer", typ)
		}
	}
}

// Records keep their codes when the ring wraps and when it grows while wrapped.
func TestCodeCacheRingKeepsItsRecords(t *testing.T) {
	c := newCodeCache()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	codes := func(from, n int) []pay.Credential {
		out := make([]pay.Credential, n)
		for i := range out {
			out[i] = pay.Credential{Hash: codeHash(from + i), Kind: pay.FaceCode, PayerID: "P" + strconv.Itoa(from+i)}
		}
		return out
	}
	c.add(t0, codes(0, 1000))
	late := t0.Add(codeCacheKeep + time.Second)
	c.add(late, codes(1000, 1)) // the first thousand age out: the ring's next record is its 1 001st
	c.add(late, codes(1001, 2000))
	if c.first != 1000 || len(c.ring) != 2048 {
		t.Fatalf("records %d to %d in a ring of %d; want from 1000 in 2048", c.first, c.next, len(c.ring))
	}
	for i := 0; i < 3001; i++ {
		got, ok := c.get(codeHash(i))
		if ok != (i >= 1000) || ok && got.PayerID != "P"+strconv.Itoa(i) {
			t.Fatalf("code %d: %+v, %v", i, got, ok)
		}
	}
}
