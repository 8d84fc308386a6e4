package face

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// near returns a unit vector at cosine about 0.95 from v: a probe of the same
// person, in the arithmetic sense only (these are synthetic vectors).
func near(rng *rand.Rand, v []float32) []float32 {
	q := append([]float32(nil), v...)
	for i := range q {
		q[i] += float32(rng.NormFloat64()) * 0.03
	}
	return Normalize(q)
}

func TestHNSWRecall(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	const dim, n = 128, 5000
	h := NewHNSW(dim, HNSWM, HNSWEf)
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = synthetic(rng, dim)
		h.Put(fmt.Sprint(i), "", vecs[i])
	}
	hits := 0
	const queries = 500
	for range queries {
		src := rng.IntN(n)
		if r := h.Search(near(rng, vecs[src]), 1); len(r) == 1 && r[0].PersonID == fmt.Sprint(src) {
			hits++
		}
	}
	if recall := float64(hits) / queries; recall < 0.99 {
		t.Fatalf("recall@1 %.3f, want ≥ 0.99", recall)
	}
	// Removed and replaced people never answer; the graph still routes through them.
	for i := 0; i < n; i += 2 {
		if !h.Remove(fmt.Sprint(i)) {
			t.Fatalf("remove %d", i)
		}
	}
	if h.Remove("0") {
		t.Fatal("removed twice")
	}
	moved := synthetic(rng, dim)
	h.Put("1", "9999", moved)
	if h.Len() != n/2 {
		t.Fatalf("len %d, want %d", h.Len(), n/2)
	}
	for range 200 {
		src := rng.IntN(n)
		for _, c := range h.Search(near(rng, vecs[src]), 3) {
			var id int
			fmt.Sscan(c.PersonID, &id)
			if id%2 == 0 {
				t.Fatalf("removed person %s answered", c.PersonID)
			}
		}
	}
	if r := h.Search(moved, 1); len(r) != 1 || r[0].PersonID != "1" || r[0].PhoneTail != "9999" || r[0].Score < 0.999 {
		t.Fatalf("replaced template: %+v", r)
	}
}

func TestHNSWCompactsAfterChurn(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	h := NewHNSW(16, 8, 32)
	keep := map[string][]float32{}
	for i := range 3000 {
		v := synthetic(rng, 16)
		id := fmt.Sprint(i)
		h.Put(id, "", v)
		if i%4 == 0 {
			keep[id] = v
		} else {
			h.Remove(id)
		}
	}
	h.mu.RLock()
	rows := len(h.ids)
	h.mu.RUnlock()
	if rows >= 3000 {
		t.Fatalf("%d rows kept for %d live people: never compacted", rows, len(keep))
	}
	for id, v := range keep {
		if r := h.Search(v, 1); len(r) != 1 || r[0].PersonID != id {
			t.Fatalf("after compaction %s finds %+v", id, r)
		}
	}
}

// TestLibrarySwitchesToTheGraph grows a library past the switch size and checks
// that every person is still found, on the graph, and after a reload.
func TestLibrarySwitchesToTheGraph(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	store := NewMemoryStore()
	l := NewLibraries(store, 32).ForModel("m/32")
	l.approxFrom = 200
	vecs := map[string][]float32{}
	for i := range 300 {
		id := fmt.Sprint("P", i)
		vecs[id] = synthetic(rng, 32)
		if err := l.Enrol(ctx, Enrolment{Library: "L", PersonID: id, Vectors: [][]float32{vecs[id]}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := l.idx["L"].(*HNSW); !ok {
		t.Fatalf("library of 300 is %T, want the graph", l.idx["L"])
	}
	if _, err := store.ReplaceTemplates(ctx, "L", "X", []Template{{Library: "L", PersonID: "X", Model: "other/32", Vector: vecs["P0"]}}); err != nil {
		t.Fatal(err)
	}
	reloaded := NewLibraries(store, 32).ForModel("m/32")
	reloaded.approxFrom = 200
	rule := Rule{Threshold: 0.99, Margin: 0.001}
	for id, v := range vecs {
		for _, lib := range []*Libraries{l, reloaded} {
			r, err := lib.Identify(ctx, "L", v, rule)
			if err != nil || r.Match == nil || r.Match.PersonID != id {
				t.Fatalf("%s: %+v %v (another model's template must not load)", id, r, err)
			}
		}
	}
}
