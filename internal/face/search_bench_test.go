package face

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Search benchmarks on synthetic unit vectors (not faces: search cost depends on
// the count and the dimension only). `go test -bench Search -run '^$' ./internal/face/`;
// the sizes and the comparison with FAISS and hnswlib are `facepay bench face`.
// Building the 100 000-row graph takes about 40 s, so that size runs only without -short.

func benchSearcher(b *testing.B, s Searcher, n int) {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = synthetic(rng, s.Dim())
		s.Put(fmt.Sprint(i), "", vecs[i])
	}
	qs := make([][]float32, 256)
	for i := range qs {
		qs[i] = near(rng, vecs[rng.IntN(n)])
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if len(s.Search(qs[i%len(qs)], 1)) != 1 {
			b.Fatal("no answer")
		}
		i++
	}
}

func BenchmarkSearchExact(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchSearcher(b, NewIndex(128), n) })
	}
}

func BenchmarkSearchHNSW(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		if n > 10_000 && testing.Short() {
			continue
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := NewHNSW(128, HNSWM, HNSWEf)
			h.SetEf(efFor(n))
			benchSearcher(b, h, n)
		})
	}
}
