package platform

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// K12Faces is the face side of the parents' collection pages: the enrolment gates
// and templates of the pack, and each organisation's face library. The engine opens
// on the first photo, so a platform whose parents never collect never loads models.
type K12Faces struct {
	pack  modelpack.Pack
	libs  *face.Libraries
	now   func() time.Time
	once  sync.Once
	e     *engine.Engine
	err   error
	owned bool // the engine was opened here, so Close closes it
}

var _ k12.Faces = (*K12Faces)(nil)

// NewK12Faces builds the collection faces of pack over db; e, when not nil, is an
// engine of that pack already open (tests and admin commands share theirs).
func NewK12Faces(db *sqlstore.DB, pack string, e *engine.Engine, now func() time.Time) (*K12Faces, error) {
	pk, ok := modelpack.Find(pack)
	if !ok {
		return nil, fmt.Errorf("no face model pack %q", pack)
	}
	f := &K12Faces{pack: pk, libs: face.NewLibraries(db, pk.Dim).ForModel(pk.Model()), now: now, e: e}
	if e != nil {
		f.once.Do(func() {})
	}
	return f, nil
}

func (f *K12Faces) engine() (*engine.Engine, error) {
	f.once.Do(func() {
		f.e, f.err = engine.Open(engine.Config{Pack: f.pack.Name})
		f.owned = f.err == nil
		if f.err != nil {
			f.err = fmt.Errorf("face models of pack %s are not installed here (run facepay models): %w", f.pack.Name, f.err)
		}
	})
	return f.e, f.err
}

// Template implements k12.Faces: the photo's one face, through the enrolment gates.
func (f *K12Faces) Template(_ context.Context, photo []byte) ([]float32, error) {
	e, err := f.engine()
	if err != nil {
		return nil, err
	}
	img, err := vision.Decode(bytes.NewReader(photo))
	if err != nil {
		return nil, fmt.Errorf("not a JPEG, PNG or WebP photo: %w", err)
	}
	fc, err := e.Enrol(img)
	if err != nil {
		return nil, err
	}
	return fc.Embedding, nil
}

// Enrol implements k12.Faces.
func (f *K12Faces) Enrol(ctx context.Context, library, personID string, templates [][]float32) error {
	return f.libs.Enrol(ctx, face.Enrolment{Library: library, PersonID: personID, Vectors: templates, CreatedAt: f.now()})
}

// Templates implements k12.Faces.
func (f *K12Faces) Templates(ctx context.Context, library string, personIDs []string) (map[string][][]float32, error) {
	return f.libs.VectorsOf(ctx, library, personIDs)
}

// Model implements k12.Faces.
func (f *K12Faces) Model() string { return f.pack.Model() }

// Close closes an engine opened here.
func (f *K12Faces) Close() error {
	if f.owned && f.e != nil {
		return f.e.Close()
	}
	return nil
}
