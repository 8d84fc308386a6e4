package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

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

// bumpLibrary raises a library's version inside a change's transaction.
func bumpLibrary(ctx context.Context, tx *Tx, library string) (int64, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO face_library_versions (library, version) VALUES (?, 1)
		ON CONFLICT (library) DO UPDATE SET version = face_library_versions.version + 1`, library); err != nil {
		return 0, err
	}
	var v int64
	err := tx.QueryRow(ctx, `SELECT version FROM face_library_versions WHERE library = ?`, library).Scan(&v)
	return v, err
}

// LibraryVersion implements face.Store: 0 for a library never changed.
func (db *DB) LibraryVersion(ctx context.Context, library string) (int64, error) {
	var v int64
	err := db.row(ctx, `SELECT version FROM face_library_versions WHERE library = ?`, library).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// ReplaceTemplates implements face.Store: the vectors are sealed, never stored in clear.
func (db *DB) ReplaceTemplates(ctx context.Context, library, personID string, ts []face.Template) (version int64, err error) {
	sealed := make([][]byte, len(ts))
	for k, t := range ts {
		if t.Library != library || t.PersonID != personID || t.Seq != k {
			return 0, fmt.Errorf("face template %d of %s/%s is %s/%s#%d", k, library, personID, t.Library, t.PersonID, t.Seq)
		}
		raw := make([]byte, 4*len(t.Vector))
		for i, v := range t.Vector {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		sealed[k] = db.sealer.Seal(facePurpose(library, personID, k), raw)
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM face_templates WHERE library = ? AND person_id = ?`, library, personID); err != nil {
			return err
		}
		for k, t := range ts {
			if _, err := tx.Exec(ctx, `INSERT INTO face_templates (library, person_id, seq, phone_tail, model, dim, vector_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				library, personID, k, t.PhoneTail, t.Model, len(t.Vector), sealed[k], micros(t.CreatedAt)); err != nil {
				return err
			}
		}
		version, err = bumpLibrary(ctx, tx, library)
		return err
	})
	return version, err
}

// DeleteTemplate implements face.Store.
func (db *DB) DeleteTemplate(ctx context.Context, library, personID string) (found bool, version int64, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM face_templates WHERE library = ? AND person_id = ?`, library, personID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if found = n > 0; err != nil || !found {
			return err
		}
		version, err = bumpLibrary(ctx, tx, library)
		return err
	})
	return found, version, err
}

// Templates implements face.Store.
func (db *DB) Templates(ctx context.Context, library string) ([]face.Template, error) {
	return db.templates(ctx, library, `SELECT person_id, seq, phone_tail, model, dim, vector_sealed, created_at FROM face_templates
		WHERE library = ? ORDER BY person_id, seq`, library)
}

var _ face.PersonStore = (*DB)(nil)

// PersonTemplates implements face.PersonStore: the templates of some people only.
func (db *DB) PersonTemplates(ctx context.Context, library string, persons []string) ([]face.Template, error) {
	if len(persons) == 0 {
		return nil, nil
	}
	args := []any{library}
	for _, p := range persons {
		args = append(args, p)
	}
	return db.templates(ctx, library, `SELECT person_id, seq, phone_tail, model, dim, vector_sealed, created_at FROM face_templates
		WHERE library = ? AND person_id IN (?`+strings.Repeat(", ?", len(persons)-1)+`) ORDER BY person_id, seq`, args...)
}

func (db *DB) templates(ctx context.Context, library, q string, args ...any) ([]face.Template, error) {
	rows, err := db.query(ctx, q, args...)
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
