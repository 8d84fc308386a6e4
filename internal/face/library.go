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
	store Store
	dim   int
	mu    sync.Mutex
	idx   map[string]*Index
}

// NewLibraries returns libraries of dim-dimensional templates over store.
func NewLibraries(store Store, dim int) *Libraries {
	return &Libraries{store: store, dim: dim, idx: map[string]*Index{}}
}

// index returns a library's index, loading it the first time.
func (l *Libraries) index(ctx context.Context, library string) (*Index, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if x, ok := l.idx[library]; ok {
		return x, nil
	}
	ts, err := l.store.Templates(ctx, library)
	if err != nil {
		return nil, fmt.Errorf("load face library %s: %w", library, err)
	}
	x := NewIndex(l.dim)
	for _, t := range ts {
		if len(t.Vector) == l.dim {
			x.Put(t.PersonID, t.PhoneTail, t.Vector)
		}
	}
	l.idx[library] = x
	return x, nil
}

// Enrol stores a template (replacing the person's previous one) and indexes it.
func (l *Libraries) Enrol(ctx context.Context, t Template) error {
	if len(t.Vector) != l.dim {
		return fmt.Errorf("face: template has %d dimensions, the library %d", len(t.Vector), l.dim)
	}
	x, err := l.index(ctx, t.Library)
	if err != nil {
		return err
	}
	t.Vector = Normalize(append([]float32(nil), t.Vector...))
	if err := l.store.PutTemplate(ctx, t); err != nil {
		return err
	}
	x.Put(t.PersonID, t.PhoneTail, t.Vector)
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
