package face

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Template is one enrolled person's face in a library.
type Template struct {
	Library   string // an organisation or merchant id
	PersonID  string
	PhoneTail string
	Model     string    // the pack and embedder that made it (engine.Model)
	Vector    []float32 // L2-normalised
	CreatedAt time.Time
}

// Store keeps templates; implementations seal the vectors at rest.
type Store interface {
	PutTemplate(ctx context.Context, t Template) error
	DeleteTemplate(ctx context.Context, library, personID string) (bool, error)
	Templates(ctx context.Context, library string) ([]Template, error)
}

// Libraries holds one in-memory index per library, loaded from the store on first
// use and kept in step with it on every enrol and delete.
type Libraries struct {
	store      Store
	dim        int
	model      string
	approxFrom int
	mu         sync.Mutex
	idx        map[string]Searcher
}

// ApproximateFrom is the library size from which search switches from the exact
// scan to the HNSW graph. At 10 000 templates the exact scan takes about 0.3 ms
// and is exact; at 100 000 it takes about 3 ms, memory-bound, while the graph
// answers in under 1 ms at recall@1 ≥ 0.99 (README, `facepay bench face`).
const ApproximateFrom = 50_000

// HNSWM and HNSWEf are the graph's links per node and its construction (and
// smallest search) beam; with them recall@1 is ≥ 0.99 on random 128-d vectors
// up to 100 000, and efFor widens the search beam beyond (`facepay bench face`).
const (
	HNSWM  = 16
	HNSWEf = 128
)

// efFor is the search beam for a graph of n templates: random 128-d vectors
// needed ef 128 for recall@1 ≥ 0.99 up to 100 000 and ef 1 024 at 1 000 000
// (0.986 at 512), in `facepay bench face`.
func efFor(n int) int { return min(1024, max(HNSWEf, n/1000)) }

// tune widens a graph's beam as it grows.
func tune(s Searcher) Searcher {
	if g, ok := s.(*HNSW); ok {
		g.SetEf(efFor(g.Len()))
	}
	return s
}

// grow replaces an exact index that has reached from rows by a graph.
func grow(s Searcher, from int) Searcher {
	x, ok := s.(*Index)
	if !ok || x.Len() < from {
		return s
	}
	h := NewHNSW(x.Dim(), HNSWM, HNSWEf)
	x.Each(h.Put)
	return h
}

// NewLibraries returns libraries of dim-dimensional templates over store.
func NewLibraries(store Store, dim int) *Libraries {
	return &Libraries{store: store, dim: dim, idx: map[string]Searcher{}, approxFrom: ApproximateFrom}
}

// ForModel makes the libraries keep to one model's templates: enrolments are
// tagged with it, and templates of another model (enrolled before the operator
// switched packs) are not loaded, since their scores mean nothing to this one.
func (l *Libraries) ForModel(model string) *Libraries {
	l.model = model
	return l
}

// index returns a library's index, loading it the first time.
func (l *Libraries) index(ctx context.Context, library string) (Searcher, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if x, ok := l.idx[library]; ok {
		return x, nil
	}
	ts, err := l.store.Templates(ctx, library)
	if err != nil {
		return nil, fmt.Errorf("load face library %s: %w", library, err)
	}
	var x Searcher = NewIndex(l.dim)
	if len(ts) >= l.approxFrom {
		x = NewHNSW(l.dim, HNSWM, HNSWEf)
	}
	for _, t := range ts {
		if len(t.Vector) == l.dim && (l.model == "" || t.Model == l.model) {
			x.Put(t.PersonID, t.PhoneTail, t.Vector)
		}
	}
	l.idx[library] = tune(x)
	return l.idx[library], nil
}

// Enrol stores a template (replacing the person's previous one) and indexes it.
func (l *Libraries) Enrol(ctx context.Context, t Template) error {
	if len(t.Vector) != l.dim {
		return fmt.Errorf("face: template has %d dimensions, the library %d", len(t.Vector), l.dim)
	}
	if _, err := l.index(ctx, t.Library); err != nil {
		return err
	}
	t.Vector = Normalize(append([]float32(nil), t.Vector...))
	t.Model = l.model
	if err := l.store.PutTemplate(ctx, t); err != nil {
		return err
	}
	// Under the lock, so that a switch to the graph cannot lose a concurrent enrolment.
	l.mu.Lock()
	defer l.mu.Unlock()
	x := l.idx[t.Library]
	x.Put(t.PersonID, t.PhoneTail, t.Vector)
	l.idx[t.Library] = tune(grow(x, l.approxFrom))
	return nil
}

// Delete removes a person from a library.
func (l *Libraries) Delete(ctx context.Context, library, personID string) (bool, error) {
	x, err := l.index(ctx, library)
	if err != nil {
		return false, err
	}
	ok, err := l.store.DeleteTemplate(ctx, library, personID)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur := l.idx[library]; cur != nil {
		x = cur
	}
	x.Remove(personID)
	return ok, nil
}

// Identify searches a library and applies the rule.
func (l *Libraries) Identify(ctx context.Context, library string, probe []float32, r Rule) (Identification, error) {
	x, err := l.index(ctx, library)
	if err != nil {
		return Identification{}, err
	}
	q := Normalize(append([]float32(nil), probe...))
	return r.Decide(x.Search(q, 8)), nil
}
