package face

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Template is one of an enrolled person's faces in a library.
type Template struct {
	Library   string // an organisation or merchant id
	PersonID  string
	Seq       int // 0.. within the person: each enrolment photo is one template
	PhoneTail string
	Model     string    // the pack and embedder that made it (engine.Model)
	Vector    []float32 // L2-normalised
	CreatedAt time.Time
}

// MaxTemplates is how many faces one person may have: a few photos from other
// days raise the 1:N rate (README, face recognition); more would let one person
// crowd the candidates of a search.
const MaxTemplates = 5

// Store keeps templates; implementations seal the vectors at rest.
//
// Every change raises the library's version in the change's own transaction, so
// that each process holding the library in memory notices a change made by
// another (an admin command, another instance) and reloads.
type Store interface {
	// ReplaceTemplates makes ts (all of one person, Seq 0..) the person's only
	// templates, in one transaction, and returns the library's new version.
	ReplaceTemplates(ctx context.Context, library, personID string, ts []Template) (int64, error)
	// DeleteTemplate removes every template of the person.
	DeleteTemplate(ctx context.Context, library, personID string) (found bool, version int64, err error)
	Templates(ctx context.Context, library string) ([]Template, error)
	LibraryVersion(ctx context.Context, library string) (int64, error)
}

// Enrolment is one person's faces, replacing any enrolled before.
type Enrolment struct {
	Library   string
	PersonID  string
	PhoneTail string
	Vectors   [][]float32 // 1..MaxTemplates templates, one per good photo
	CreatedAt time.Time
}

// rowID names one template in an index; PersonIDs never contain the separator.
func rowID(person string, seq int) string { return person + "\x00" + strconv.Itoa(seq) }

func personOf(row string) string {
	p, _, _ := strings.Cut(row, "\x00")
	return p
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
	rows       map[string]map[string]int // library → person → templates indexed
	version    map[string]int64          // library → the store version the index holds
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
	return &Libraries{store: store, dim: dim, idx: map[string]Searcher{}, rows: map[string]map[string]int{},
		version: map[string]int64{}, approxFrom: ApproximateFrom}
}

// ForModel makes the libraries keep to one model's templates: enrolments are
// tagged with it, and templates of another model (enrolled before the operator
// switched packs) are not loaded, since their scores mean nothing to this one.
func (l *Libraries) ForModel(model string) *Libraries {
	l.model = model
	return l
}

// index returns a library's index, loading it the first time and again whenever
// the store's version of it moved past the one the index holds (one indexed read
// per call).
func (l *Libraries) index(ctx context.Context, library string) (Searcher, error) {
	v, err := l.store.LibraryVersion(ctx, library)
	if err != nil {
		return nil, fmt.Errorf("face library %s version: %w", library, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if x, ok := l.idx[library]; ok && l.version[library] >= v {
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
	rows := map[string]int{}
	for _, t := range ts {
		if len(t.Vector) == l.dim && (l.model == "" || t.Model == l.model) {
			x.Put(rowID(t.PersonID, t.Seq), t.PhoneTail, t.Vector)
			rows[t.PersonID] = max(rows[t.PersonID], t.Seq+1)
		}
	}
	l.idx[library] = tune(x)
	l.rows[library] = rows
	l.version[library] = v
	return l.idx[library], nil
}

// Enrol stores a person's templates (replacing every earlier one) and indexes them.
func (l *Libraries) Enrol(ctx context.Context, e Enrolment) error {
	if len(e.Vectors) == 0 || len(e.Vectors) > MaxTemplates {
		return fmt.Errorf("face: an enrolment has 1 to %d templates, not %d", MaxTemplates, len(e.Vectors))
	}
	if e.PersonID == "" || strings.ContainsRune(e.PersonID, 0) {
		return fmt.Errorf("face: person id %q is empty or holds a NUL", e.PersonID)
	}
	ts := make([]Template, len(e.Vectors))
	for i, v := range e.Vectors {
		if len(v) != l.dim {
			return fmt.Errorf("face: template has %d dimensions, the library %d", len(v), l.dim)
		}
		ts[i] = Template{Library: e.Library, PersonID: e.PersonID, Seq: i, PhoneTail: e.PhoneTail, Model: l.model,
			Vector: Normalize(append([]float32(nil), v...)), CreatedAt: e.CreatedAt}
	}
	if _, err := l.index(ctx, e.Library); err != nil {
		return err
	}
	v, err := l.store.ReplaceTemplates(ctx, e.Library, e.PersonID, ts)
	if err != nil {
		return err
	}
	// Under the lock, so that a switch to the graph cannot lose a concurrent enrolment.
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(e.Library, v)
	x := l.idx[e.Library]
	l.removeRows(x, e.Library, e.PersonID)
	for _, t := range ts {
		x.Put(rowID(t.PersonID, t.Seq), t.PhoneTail, t.Vector)
	}
	l.rows[e.Library][e.PersonID] = len(ts)
	l.idx[e.Library] = tune(grow(x, l.approxFrom))
	return nil
}

// removeRows drops a person's templates from an index; l.mu is held.
func (l *Libraries) removeRows(x Searcher, library, person string) {
	for seq := range l.rows[library][person] {
		x.Remove(rowID(person, seq))
	}
	delete(l.rows[library], person)
}

// Vectors returns copies of a person's indexed templates (for evaluations).
func (l *Libraries) Vectors(ctx context.Context, library, personID string) [][]float32 {
	ts, err := l.store.Templates(ctx, library)
	if err != nil {
		return nil
	}
	var out [][]float32
	for _, t := range ts {
		if t.PersonID == personID && (l.model == "" || t.Model == l.model) {
			out = append(out, t.Vector)
		}
	}
	return out
}

// PersonStore is a Store that also reads some people's templates without the rest
// of the library.
type PersonStore interface {
	PersonTemplates(ctx context.Context, library string, persons []string) ([]Template, error)
}

// VectorsOf returns copies of the templates of several people (for syncing a
// library elsewhere), reading only theirs when the store can.
func (l *Libraries) VectorsOf(ctx context.Context, library string, persons []string) (map[string][][]float32, error) {
	var ts []Template
	var err error
	if ps, ok := l.store.(PersonStore); ok {
		ts, err = ps.PersonTemplates(ctx, library, persons)
	} else {
		ts, err = l.store.Templates(ctx, library)
	}
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(persons))
	for _, p := range persons {
		want[p] = true
	}
	out := map[string][][]float32{}
	for _, t := range ts {
		if want[t.PersonID] && (l.model == "" || t.Model == l.model) {
			out[t.PersonID] = append(out[t.PersonID], t.Vector)
		}
	}
	return out, nil
}

// Delete removes a person from a library.
func (l *Libraries) Delete(ctx context.Context, library, personID string) (bool, error) {
	if _, err := l.index(ctx, library); err != nil {
		return false, err
	}
	ok, v, err := l.store.DeleteTemplate(ctx, library, personID)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.advance(library, v)
	}
	l.removeRows(l.idx[library], library, personID)
	return ok, nil
}

// advance records that this process made the library's change to version v, and
// applies it to the index itself: when v follows the version the index holds, the
// index stays current; when another change came between, the next search reloads.
// l.mu is held.
func (l *Libraries) advance(library string, v int64) {
	if l.version[library] == v-1 {
		l.version[library] = v
		return
	}
	l.version[library] = -1 // below any version: reload at the next use
}

// Identify searches a library and applies the rule.
func (l *Libraries) Identify(ctx context.Context, library string, probe []float32, r Rule) (Identification, error) {
	x, err := l.index(ctx, library)
	if err != nil {
		return Identification{}, err
	}
	q := Normalize(append([]float32(nil), probe...))
	return r.Decide(byPerson(x.Search(q, searchK*MaxTemplates), searchK)), nil
}

// searchK is how many people a decision looks at.
const searchK = 8

// byPerson keeps each person's best template, best first, at most k people: a
// person is as alike as their most alike photo.
func byPerson(rows []Candidate, k int) []Candidate {
	seen := map[string]bool{}
	out := make([]Candidate, 0, k)
	for _, c := range rows {
		c.PersonID = personOf(c.PersonID)
		if seen[c.PersonID] {
			continue
		}
		seen[c.PersonID] = true
		out = append(out, c)
		if len(out) == k {
			break
		}
	}
	return out
}

// MemoryStore keeps templates in memory: for evaluations and tests that need no
// durability. Vectors are copied in and out.
type MemoryStore struct {
	mu       sync.Mutex
	ts       map[string][]Template // library/person → templates
	versions map[string]int64
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{ts: map[string][]Template{}, versions: map[string]int64{}}
}

// ReplaceTemplates implements Store.
func (m *MemoryStore) ReplaceTemplates(_ context.Context, library, personID string, ts []Template) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions[library]++
	cp := make([]Template, len(ts))
	for i, t := range ts {
		t.Vector = append([]float32(nil), t.Vector...)
		cp[i] = t
	}
	m.ts[library+"\x00"+personID] = cp
	return m.versions[library], nil
}

// DeleteTemplate implements Store.
func (m *MemoryStore) DeleteTemplate(_ context.Context, library, personID string) (bool, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.ts[library+"\x00"+personID]
	if ok {
		delete(m.ts, library+"\x00"+personID)
		m.versions[library]++
	}
	return ok, m.versions[library], nil
}

// LibraryVersion implements Store.
func (m *MemoryStore) LibraryVersion(_ context.Context, library string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versions[library], nil
}

// Templates implements Store.
func (m *MemoryStore) Templates(_ context.Context, library string) ([]Template, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Template
	for _, ts := range m.ts {
		for _, t := range ts {
			if t.Library == library {
				t.Vector = append([]float32(nil), t.Vector...)
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PersonID != out[j].PersonID {
			return out[i].PersonID < out[j].PersonID
		}
		return out[i].Seq < out[j].Seq
	})
	return out, nil
}
