package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/openfacepay/openfacepay/internal/face"
)

// SearchConfig sets up the 1:N search benchmark. Its vectors are random unit
// vectors, not faces: search speed and recall depend on the count and the
// dimension, and no package ships a million faces.
type SearchConfig struct {
	Sizes    []int
	Dim      int
	Queries  int
	M, Ef    int    // the graph's links per node and its beam while building
	Efs      []int  // search beams to measure on the same graph (default Ef)
	External string // the searchbench binary (FAISS, hnswlib); empty skips them
	Progress io.Writer
}

// SearchRow is one implementation at one size.
type SearchRow struct {
	Size   int     `json:"size"`
	Impl   string  `json:"impl"`
	BuildS float64 `json:"build_s"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	Ef     int     `json:"ef,omitempty"`
	Recall float64 `json:"recall_at_1"`
	MemMB  float64 `json:"mem_mb"`
}

// RunSearch measures exact and graph search in Go and, with External, FAISS
// IndexFlatIP and hnswlib on the same vectors and queries in the same run.
func RunSearch(ctx context.Context, cfg SearchConfig) ([]SearchRow, error) {
	var rows []SearchRow
	for _, n := range cfg.Sizes {
		rng := rand.New(rand.NewPCG(uint64(n), 42))
		base := make([]float32, n*cfg.Dim)
		for i := 0; i < n; i++ {
			unit(rng, base[i*cfg.Dim:(i+1)*cfg.Dim], nil)
		}
		qs := make([]float32, cfg.Queries*cfg.Dim)
		truth := make([]int32, cfg.Queries)
		for i := range truth {
			truth[i] = int32(rng.IntN(n))
			// A probe of a stored row at cosine ≈ 0.95, as a second photo of the
			// same person scores (README face quality table).
			unit(rng, qs[i*cfg.Dim:(i+1)*cfg.Dim], base[int(truth[i])*cfg.Dim:int(truth[i]+1)*cfg.Dim])
		}
		ids := make([]string, n)
		for i := range ids {
			ids[i] = strconv.Itoa(i)
		}
		for _, impl := range []string{"go exact", "go hnsw"} {
			say(cfg.Progress, "bench face search: %s, %d random %d-d vectors", impl, n, cfg.Dim)
			var s face.Searcher
			before := heap()
			t := time.Now()
			if impl == "go exact" {
				s = face.NewIndex(cfg.Dim)
			} else {
				s = face.NewHNSW(cfg.Dim, cfg.M, cfg.Ef)
			}
			for i := 0; i < n; i++ {
				s.Put(ids[i], "", base[i*cfg.Dim:(i+1)*cfg.Dim])
				if i%100000 == 99999 {
					say(cfg.Progress, "  %d/%d inserted (%s)", i+1, n, time.Since(t).Round(time.Second))
				}
			}
			build := SearchRow{Size: n, Impl: impl, BuildS: time.Since(t).Seconds(), MemMB: float64(heap()-before) / (1 << 20)}
			efs := []int{0}
			if _, ok := s.(*face.HNSW); ok {
				efs = efsOf(cfg)
			}
			for _, ef := range efs {
				row := build
				if g, ok := s.(*face.HNSW); ok {
					g.SetEf(ef)
					row.Ef = ef
				}
				lat := make([]float64, cfg.Queries)
				hits := 0
				for i := range lat {
					q := qs[i*cfg.Dim : (i+1)*cfg.Dim]
					t := time.Now()
					r := s.Search(q, 1)
					lat[i] = float64(time.Since(t).Nanoseconds()) / 1000
					if len(r) == 1 && r[0].PersonID == ids[truth[i]] {
						hits++
					}
				}
				row.P50us, row.P99us = pct(lat)
				row.Recall = float64(hits) / float64(cfg.Queries)
				rows = append(rows, row)
			}
			runtime.KeepAlive(s)
		}
		if cfg.External != "" {
			say(cfg.Progress, "bench face search: FAISS and hnswlib, %d vectors", n)
			ext, err := runExternal(ctx, cfg, n, base, qs, truth)
			if err != nil {
				return rows, err
			}
			rows = append(rows, ext...)
		}
	}
	return rows, nil
}

func say(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
}

// unit fills v with a random unit vector, or one near centre when centre is set.
func unit(rng *rand.Rand, v, centre []float32) {
	var n float64
	for i := range v {
		x := rng.NormFloat64()
		if centre != nil {
			x = float64(centre[i]) + 0.03*x
		}
		v[i] = float32(x)
		n += x * x
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func pct(v []float64) (p50, p99 float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

func runExternal(ctx context.Context, cfg SearchConfig, n int, base, qs []float32, truth []int32) ([]SearchRow, error) {
	f, err := os.CreateTemp("", "searchbench-*.bin")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	efs := efsOf(cfg)
	hdr := []int32{int32(n), int32(cfg.Dim), int32(cfg.Queries), int32(cfg.M), int32(max(cfg.Ef, 100)), int32(len(efs))}
	ef32 := make([]int32, len(efs))
	for i, e := range efs {
		ef32[i] = int32(e)
	}
	for _, part := range []any{hdr, ef32, base, qs, truth} {
		if err := binary.Write(f, binary.LittleEndian, part); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, cfg.External, f.Name()).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(cfg.External), err)
	}
	type res struct {
		Ef     int     `json:"ef"`
		P50    float64 `json:"p50_us"`
		P99    float64 `json:"p99_us"`
		Recall float64 `json:"recall"`
		MemKB  float64 `json:"mem_kb"`
		BuildS float64 `json:"build_s"`
	}
	var r struct {
		Flat res   `json:"faiss_flat"`
		HNSW []res `json:"hnswlib"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("searchbench output %q: %w", out, err)
	}
	rows := []SearchRow{{Size: n, Impl: "faiss IndexFlatIP", P50us: r.Flat.P50, P99us: r.Flat.P99, Recall: r.Flat.Recall, MemMB: r.Flat.MemKB / 1024}}
	for _, x := range r.HNSW {
		rows = append(rows, SearchRow{Size: n, Impl: "hnswlib", Ef: x.Ef, BuildS: x.BuildS, P50us: x.P50, P99us: x.P99, Recall: x.Recall, MemMB: x.MemKB / 1024})
	}
	return rows, nil
}

func efsOf(cfg SearchConfig) []int {
	if len(cfg.Efs) == 0 {
		return []int{cfg.Ef}
	}
	return cfg.Efs
}
