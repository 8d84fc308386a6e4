package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
)

// Secret returns the platform secret called name (32 random bytes made on first use
// and sealed at rest), the same for every process on this store.
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	k := "secret/" + name
	var sealed []byte
	err := db.queryRow(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		if err := db.InTx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`, k, db.sealer.Seal(purpose("meta", k, "v"), fresh))
			return err
		}); err != nil {
			return nil, err
		}
		err = db.queryRow(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&sealed)
	}
	if err != nil {
		return nil, err
	}
	return db.sealer.Open(purpose("meta", k, "v"), sealed)
}

// Sealer is the store's sealer, for domain services that seal tokens of their own.
func (db *DB) Sealer() interface {
	Seal(string, []byte) []byte
	Open(string, []byte) ([]byte, error)
} {
	return db.sealer
}
