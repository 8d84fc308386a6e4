// Package face is the recognition engine's library side: per-organisation (or
// per-merchant) face libraries of L2-normalised templates, an in-memory index that
// loads at start and changes incrementally on enrol and delete, and identification
// with a threshold and the look-alike rule (a second-best within a margin asks for
// the phone tail; several candidates with that tail is error 271378587).
// Templates are sealed at rest by the storage layer.
package face

import (
	"math"
	"sort"
	"sync"

	"github.com/viterin/vek/vek32"
)

// Candidate is one enrolled person and how alike the probe is (cosine similarity).
type Candidate struct {
	PersonID  string  `json:"person_id"`
	PhoneTail string  `json:"-"` // personal: used to settle look-alikes, never printed
	Score     float32 `json:"score"`
}

// Index is an exact inner-product index over unit vectors of one dimension. Search
// scores rows a block at a time with a SIMD matrix-vector product; it is exact, for
// libraries of the size one organisation has (see Searcher for large ones).
type Index struct {
	mu    sync.RWMutex
	dim   int
	ids   []string
	tails []string
	vecs  []float32 // row-major, len(ids)*dim
	pos   map[string]int
}

// NewIndex returns an empty index for dim-dimensional templates.
func NewIndex(dim int) *Index { return &Index{dim: dim, pos: map[string]int{}} }

// Dim is the template dimension.
func (x *Index) Dim() int { return x.dim }

// Len is the number of enrolled people.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.ids)
}

// Put enrols or replaces a person's template.
func (x *Index) Put(id, tail string, vec []float32) {
	if len(vec) != x.dim {
		panic("face: template of the wrong dimension")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if i, ok := x.pos[id]; ok {
		copy(x.vecs[i*x.dim:], vec)
		x.tails[i] = tail
		return
	}
	x.pos[id] = len(x.ids)
	x.ids = append(x.ids, id)
	x.tails = append(x.tails, tail)
	x.vecs = append(x.vecs, vec...)
}

// Remove deletes a person; the last row moves into its place.
func (x *Index) Remove(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.pos[id]
	if !ok {
		return false
	}
	last := len(x.ids) - 1
	if i != last {
		x.ids[i], x.tails[i] = x.ids[last], x.tails[last]
		copy(x.vecs[i*x.dim:(i+1)*x.dim], x.vecs[last*x.dim:])
		x.pos[x.ids[i]] = i
	}
	x.ids, x.tails, x.vecs = x.ids[:last], x.tails[:last], x.vecs[:last*x.dim]
	delete(x.pos, id)
	return true
}

// Each calls fn with every row, in storage order.
func (x *Index) Each(fn func(id, tail string, vec []float32)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for i, id := range x.ids {
		fn(id, x.tails[i], x.vecs[i*x.dim:(i+1)*x.dim])
	}
}

// searchBlock rows are scored per matrix-vector product: 1024 × 128 floats
// (512 KiB) stay in L2 while the SIMD kernel streams them.
const searchBlock = 1024

// Search returns the k most similar people, best first.
func (x *Index) Search(q []float32, k int) []Candidate {
	if len(q) != x.dim || k <= 0 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	top := make([]Candidate, 0, k+1)
	scores := make([]float32, min(searchBlock, len(x.ids)))
	for start := 0; start < len(x.ids); start += searchBlock {
		n := min(searchBlock, len(x.ids)-start)
		// vek32 picks AVX2/FMA kernels when the CPU has them and pure Go otherwise.
		vek32.MatMul_Into(scores[:n], x.vecs[start*x.dim:(start+n)*x.dim], q, x.dim)
		for j, s := range scores[:n] {
			if len(top) == k && s <= top[k-1].Score {
				continue
			}
			i := start + j
			top = insertTop(top, Candidate{PersonID: x.ids[i], PhoneTail: x.tails[i], Score: s}, k)
		}
	}
	return top
}

// insertTop keeps top sorted best first and at most k long.
func insertTop(top []Candidate, c Candidate, k int) []Candidate {
	j := sort.Search(len(top), func(j int) bool { return top[j].Score < c.Score })
	top = append(top, Candidate{})
	copy(top[j+1:], top[j:])
	top[j] = c
	if len(top) > k {
		top = top[:k]
	}
	return top
}

// Normalize scales v to unit length in place and returns it; a zero vector stays zero.
func Normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
	return v
}
