package sqlstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/openfacepay/openfacepay/internal/face"
)

var _ face.Store = (*DB)(nil)

func facePurpose(library, personID string) string {
	return purpose("face", library+"/"+personID, "vector")
}

// PutTemplate implements face.Store: the vector is sealed, never stored in clear.
func (db *DB) PutTemplate(ctx context.Context, t face.Template) error {
	raw := make([]byte, 4*len(t.Vector))
	for i, v := range t.Vector {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	sealed := db.sealer.Seal(facePurpose(t.Library, t.PersonID), raw)
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO face_templates (library, person_id, phone_tail, model, dim, vector_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (library, person_id) DO UPDATE SET phone_tail = excluded.phone_tail, model = excluded.model, dim = excluded.dim,
			vector_sealed = excluded.vector_sealed, created_at = excluded.created_at`,
			t.Library, t.PersonID, t.PhoneTail, t.Model, len(t.Vector), sealed, micros(t.CreatedAt))
		return err
	})
}

// DeleteTemplate implements face.Store.
func (db *DB) DeleteTemplate(ctx context.Context, library, personID string) (found bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM face_templates WHERE library = ? AND person_id = ?`, library, personID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		found = n == 1
		return err
	})
	return found, err
}

// Templates implements face.Store.
func (db *DB) Templates(ctx context.Context, library string) ([]face.Template, error) {
	rows, err := db.query(ctx, `SELECT person_id, phone_tail, model, dim, vector_sealed, created_at FROM face_templates WHERE library = ? ORDER BY person_id`, library)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []face.Template
	for rows.Next() {
		var (
			t       face.Template
			dim     int
			sealed  []byte
			created int64
		)
		if err := rows.Scan(&t.PersonID, &t.PhoneTail, &t.Model, &dim, &sealed, &created); err != nil {
			return nil, err
		}
		raw, err := db.sealer.Open(facePurpose(library, t.PersonID), sealed)
		if err != nil || len(raw) != 4*dim {
			return nil, fmt.Errorf("face template %s/%s does not open: %v", library, t.PersonID, err)
		}
		t.Vector = make([]float32, dim)
		for i := range t.Vector {
			t.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		t.Library, t.CreatedAt = library, fromMicros(created)
		out = append(out, t)
	}
	return out, rows.Err()
}
