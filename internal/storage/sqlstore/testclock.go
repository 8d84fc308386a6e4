package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// TestClock returns the merchant's test clock, or false when it lives on the real clock.
func (db *DB) TestClock(ctx context.Context, mchID string) (time.Time, bool, error) {
	var v sql.NullInt64
	err := db.row(ctx, `SELECT test_clock FROM merchants WHERE mch_id = ?`, mchID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !v.Valid) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return fromMicros(v.Int64), true, nil
}

// SetTestClock puts a merchant on a test clock at t (or moves it there). Production
// merchants are refused, and a test clock never moves backwards.
func (db *DB) SetTestClock(ctx context.Context, mchID string, t time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error {
		var (
			production int64
			cur        sql.NullInt64
		)
		err := tx.QueryRow(ctx, `SELECT production, test_clock FROM merchants WHERE mch_id = ?`, mchID).Scan(&production, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
		}
		if err != nil {
			return err
		}
		if production == 1 {
			return errcode.E(errcode.Forbidden, "merchant %s is a production merchant: it always uses the real clock", mchID)
		}
		if cur.Valid && micros(t) < cur.Int64 {
			return errcode.E(errcode.Invalid, "a test clock only moves forward (it is at %s)", fromMicros(cur.Int64).Format(time.RFC3339))
		}
		if _, err = tx.Exec(ctx, `UPDATE merchants SET test_clock = ? WHERE mch_id = ?`, micros(t), mchID); err != nil {
			return err
		}
		return tx.merchantChanged(ctx, mchID) // the cached state (MerchantState) holds the clock
	})
}

// ClearTestClock returns a merchant to the real clock.
func (db *DB) ClearTestClock(ctx context.Context, mchID string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE merchants SET test_clock = NULL WHERE mch_id = ?`, mchID); err != nil {
			return err
		}
		return tx.merchantChanged(ctx, mchID)
	})
}

// SetProduction marks a merchant as production: no test clock, ever.
func (db *DB) SetProduction(ctx context.Context, mchID string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE merchants SET production = 1, test_clock = NULL WHERE mch_id = ?`, mchID); err != nil {
			return err
		}
		return tx.merchantChanged(ctx, mchID)
	})
}

// IsProduction reports whether a merchant was made a production merchant.
func (db *DB) IsProduction(ctx context.Context, mchID string) (bool, error) {
	var production int64
	err := db.row(ctx, `SELECT production FROM merchants WHERE mch_id = ?`, mchID).Scan(&production)
	if errors.Is(err, sql.ErrNoRows) {
		return false, errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return production == 1, err
}
