package sqlstore

import (
	"context"
	"errors"
	"time"
)

// RememberNonce implements tenant.Store. Rows older than notBefore no longer guard
// anything (the timestamp window refuses such requests first), so they are reused and
// pruned instead of growing without end. The one statement is a guarded write: it
// changes a row exactly when the nonce is fresh, so on PostgreSQL the nonces of many
// signed requests share the pipeline's commits (guarded.go) instead of one each.
func (db *DB) RememberNonce(ctx context.Context, mchID, nonce string, at, notBefore time.Time) (fresh bool, err error) {
	err = db.applyGuarded(ctx, []step{{q: `INSERT INTO v3_nonces (mch_id, nonce, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (mch_id, nonce) DO UPDATE SET seen_at = excluded.seen_at WHERE v3_nonces.seen_at < ?`,
		args: []any{mchID, nonce, micros(at), micros(notBefore)}, one: true}})
	if errors.Is(err, errGuard) {
		return false, nil
	}
	return err == nil, err
}

// PruneNonces deletes nonces seen before t and returns how many went.
func (db *DB) PruneNonces(ctx context.Context, before time.Time) (n int64, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM v3_nonces WHERE seen_at < ?`, micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
