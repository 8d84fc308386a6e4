package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/openfacepay/openfacepay/internal/k12"
)

var _ k12.SyncStore = (*DB)(nil)

// touchK12 writes a change of a school's user into the school's sync log, inside the
// change's transaction, so a kiosk can never miss a committed change.
func (t *Tx) touchK12(ctx context.Context, orgID, userID string) error {
	var v int64
	if err := t.QueryRow(ctx, `INSERT INTO k12_sync_versions (organization_id, version) VALUES (?, 1)
		ON CONFLICT (organization_id) DO UPDATE SET version = k12_sync_versions.version + 1 RETURNING version`, orgID).Scan(&v); err != nil {
		return err
	}
	_, err := t.Exec(ctx, `INSERT INTO k12_sync_log (organization_id, version, user_id) VALUES (?, ?, ?)`, orgID, v, userID)
	return err
}

// SyncVersion implements k12.SyncStore.
func (db *DB) SyncVersion(ctx context.Context, orgID string) (int64, error) {
	var v int64
	err := db.row(ctx, `SELECT version FROM k12_sync_versions WHERE organization_id = ?`, orgID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (db *DB) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ChangedSince implements k12.SyncStore.
func (db *DB) ChangedSince(ctx context.Context, orgID string, since, upTo int64) ([]string, error) {
	return db.strings(ctx, `SELECT DISTINCT user_id FROM k12_sync_log WHERE organization_id = ? AND version > ? AND version <= ?`, orgID, since, upTo)
}

// LibraryUsers implements k12.SyncStore.
func (db *DB) LibraryUsers(ctx context.Context, orgID string) ([]string, error) {
	return db.strings(ctx, `SELECT user_id FROM k12_users WHERE organization_id = ? AND contract_state = ? AND face_image_ok = 1 ORDER BY user_id`,
		orgID, k12.Contracted)
}
