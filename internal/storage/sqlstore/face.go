package sqlstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/openfacepay/openfacepay/internal/face"
)

var _ face.Store = (*DB)(nil)

// facePurpose binds a sealed vector to its row, so that no template can be moved
// to another person; seq 0 keeps the purpose templates had before there were several.
func facePurpose(library, personID string, seq int) string {
	if seq == 0 {
		return purpose("face", library+"/"+personID, "vector")
	}
	return purpose("face", fmt.Sprintf("%s/%s#%d", library, personID, seq), "vector")
}

// ReplaceTemplates implements face.Store: the vectors are sealed, never stored in clear.
func (db *DB) ReplaceTemplates(ctx context.Context, library, personID string, ts []face.Template) error {
	sealed := make([][]byte, len(ts))
	for k, t := range ts {
		if t.Library != library || t.PersonID != personID || t.Seq != k {
			return fmt.Errorf("face template %d of %s/%s is %s/%s#%d", k, library, personID, t.Library, t.PersonID, t.Seq)
		}
		raw := make([]byte, 4*len(t.Vector))
		for i, v := range t.Vector {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		sealed[k] = db.sealer.Seal(facePurpose(library, personID, k), raw)
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM face_templates WHERE library = ? AND person_id = ?`, library, personID); err != nil {
			return err
		}
		for k, t := range ts {
			if _, err := tx.Exec(ctx, `INSERT INTO face_templates (library, person_id, seq, phone_tail, model, dim, vector_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				library, personID, k, t.PhoneTail, t.Model, len(t.Vector), sealed[k], micros(t.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
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
		found = n > 0
		return err
	})
	return found, err
}

// Templates implements face.Store.
func (db *DB) Templates(ctx context.Context, library string) ([]face.Template, error) {
	rows, err := db.query(ctx, `SELECT person_id, seq, phone_tail, model, dim, vector_sealed, created_at FROM face_templates WHERE library = ? ORDER BY person_id, seq`, library)
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
		if err := rows.Scan(&t.PersonID, &t.Seq, &t.PhoneTail, &t.Model, &dim, &sealed, &created); err != nil {
			return nil, err
		}
		raw, err := db.sealer.Open(facePurpose(library, t.PersonID, t.Seq), sealed)
		if err != nil || len(raw) != 4*dim {
			return nil, fmt.Errorf("face template %s/%s#%d does not open: %v", library, t.PersonID, t.Seq, err)
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
