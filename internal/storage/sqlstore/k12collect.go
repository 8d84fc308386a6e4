package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
)

var _ k12.CollectionStore = (*DB)(nil)

const collectionCols = `collection_id, organization_id, user_id, state, photo_sealed, template_sealed, requested_at, uploaded_at, confirmed_at`

// SaveCollection implements k12.CollectionStore: the photo and template are sealed to
// the collection.
func (db *DB) SaveCollection(ctx context.Context, c k12.Collection) error {
	var photo, tpl []byte
	if len(c.Photo) > 0 {
		photo = db.sealer.Seal(purpose("k12collection", c.ID, "photo"), c.Photo)
	}
	if len(c.Template) > 0 {
		b, _ := json.Marshal(c.Template)
		tpl = db.sealer.Seal(purpose("k12collection", c.ID, "template"), b)
	}
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO k12_collections (`+collectionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (collection_id) DO UPDATE SET state = excluded.state, photo_sealed = excluded.photo_sealed,
			template_sealed = excluded.template_sealed, uploaded_at = excluded.uploaded_at, confirmed_at = excluded.confirmed_at`,
			c.ID, c.OrgID, c.UserID, c.State, photo, tpl, micros(c.RequestedAt), optMicros(c.UploadedAt), optMicros(c.ConfirmedAt))
		if err != nil || c.State != k12.CollectionComplete {
			return err
		}
		return tx.touchK12(ctx, c.OrgID, c.UserID) // the confirmed face replaced the old one
	})
}

func (db *DB) scanCollection(s scanner) (k12.Collection, error) {
	var (
		c                  k12.Collection
		photo, tpl         []byte
		req                int64
		uploaded, confirmd sql.NullInt64
	)
	if err := s.Scan(&c.ID, &c.OrgID, &c.UserID, &c.State, &photo, &tpl, &req, &uploaded, &confirmd); err != nil {
		return c, err
	}
	c.RequestedAt = fromMicros(req)
	if uploaded.Valid {
		c.UploadedAt = fromMicros(uploaded.Int64)
	}
	if confirmd.Valid {
		c.ConfirmedAt = fromMicros(confirmd.Int64)
	}
	if len(photo) > 0 {
		pt, err := db.sealer.Open(purpose("k12collection", c.ID, "photo"), photo)
		if err != nil {
			return c, errcode.Wrap(errcode.Internal, err, "collection %s: the photo does not open", c.ID)
		}
		c.Photo = pt
	}
	if len(tpl) > 0 {
		pt, err := db.sealer.Open(purpose("k12collection", c.ID, "template"), tpl)
		if err != nil {
			return c, errcode.Wrap(errcode.Internal, err, "collection %s: the template does not open", c.ID)
		}
		if err := json.Unmarshal(pt, &c.Template); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (db *DB) oneCollection(ctx context.Context, where string, args ...any) (k12.Collection, bool, error) {
	c, err := db.scanCollection(db.row(ctx, `SELECT `+collectionCols+` FROM k12_collections WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// Collection implements k12.CollectionStore.
func (db *DB) Collection(ctx context.Context, id string) (k12.Collection, bool, error) {
	return db.oneCollection(ctx, `collection_id = ?`, id)
}

// OpenCollection implements k12.CollectionStore.
func (db *DB) OpenCollection(ctx context.Context, userID string) (k12.Collection, bool, error) {
	return db.oneCollection(ctx, `user_id = ? AND state <> ? ORDER BY requested_at DESC LIMIT 1`, userID, k12.CollectionComplete)
}

// Collections implements k12.CollectionStore.
func (db *DB) Collections(ctx context.Context, orgID string, offset, limit int) ([]k12.Collection, int, error) {
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM k12_collections WHERE organization_id = ?`, orgID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+collectionCols+` FROM k12_collections WHERE organization_id = ?
		ORDER BY requested_at DESC, collection_id LIMIT ? OFFSET ?`, orgID, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []k12.Collection
	for rows.Next() {
		c, err := db.scanCollection(rows)
		if err != nil {
			return nil, 0, err
		}
		c.Photo, c.Template = nil, nil // a listing carries no biometrics
		out = append(out, c)
	}
	return out, total, rows.Err()
}

// ContractedUsersOfPayer implements k12.ContractStore.
func (db *DB) ContractedUsersOfPayer(ctx context.Context, payerID string) ([]k12.User, error) {
	ids, err := db.strings(ctx, `SELECT user_id FROM k12_users WHERE payer_id = ? AND contract_state = ?`, payerID, k12.Contracted)
	if err != nil {
		return nil, err
	}
	var out []k12.User
	for _, id := range ids {
		u, ok, err := db.scanUser(db.row(ctx, `SELECT `+userCols+` FROM k12_users WHERE user_id = ?`, id))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, u)
		}
	}
	return out, nil
}
