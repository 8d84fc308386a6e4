package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/notify"
)

var (
	_ notify.Store  = (*DB)(nil)
	_ notify.Outbox = (*Tx)(nil)
)

const notificationCols = `id, mch_id, format, event_type, url, payload, state, attempts, next_at, created_at, finished_at`

func scanNotification(s scanner) (notify.Notification, error) {
	var (
		n             notify.Notification
		next, created int64
		finished      sql.NullInt64
	)
	err := s.Scan(&n.ID, &n.MchID, &n.Format, &n.EventType, &n.URL, &n.Payload, &n.State, &n.Attempts, &next, &created, &finished)
	n.NextAt, n.CreatedAt = fromMicros(next), fromMicros(created)
	if finished.Valid {
		n.FinishedAt = fromMicros(finished.Int64)
	}
	return n, err
}

// InsertNotification implements notify.Outbox: inside the caller's transaction.
func (t *Tx) InsertNotification(ctx context.Context, n notify.Notification) error {
	_, err := t.Exec(ctx, sqlInsertNotification, notificationArgs(n)...)
	return err
}

const sqlInsertNotification = `INSERT INTO notifications (id, mch_id, format, event_type, url, payload, state, next_at, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func notificationArgs(n notify.Notification) []any {
	return []any{n.ID, n.MchID, n.Format, n.EventType, n.URL, n.Payload, notify.Pending, micros(n.NextAt), micros(n.CreatedAt)}
}

// sqlClockHorizon is the latest test clock of any merchant (0 when none is on one).
const sqlClockHorizon = `SELECT COALESCE(MAX(test_clock), 0) FROM merchants`

// sqlClaimDue leases up to a limit of the notifications due, soonest first; it takes
// (lease_until, owner, the clock horizon, now, now, limit) and is closed by the
// dialect's SKIP LOCKED and a parenthesis.
const sqlClaimDue = `UPDATE notifications SET lease_until = ?, lease_owner = ? WHERE id IN (
			SELECT id FROM notifications WHERE state = 'pending' AND next_at <= ? AND lease_until <= ?
			AND next_at <= COALESCE((SELECT test_clock FROM merchants m WHERE m.mch_id = notifications.mch_id), ?)
			ORDER BY next_at LIMIT ?`

// Claim implements notify.Store. On PostgreSQL, rows other instances are claiming
// right now are skipped (SKIP LOCKED); SQLite's single writer serialises claims. A
// merchant on a test clock has its notifications come due by that clock.
func (db *DB) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (out []notify.Notification, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		out = out[:0]
		// Nothing is due later than the latest clock any merchant is on. Said as a
		// bound on next_at, it ends the index scan there: without it the scan went
		// through every pending notification (those waiting hours for their next
		// retry too), checking each one's merchant clock, on every poll.
		var horizon int64
		if err := tx.QueryRow(ctx, sqlClockHorizon).Scan(&horizon); err != nil {
			return err
		}
		horizon = max(horizon, micros(now))
		rows, err := tx.Query(ctx, sqlClaimDue+db.d.skipLocked()+`)
			RETURNING `+notificationCols, micros(now.Add(lease)), owner, horizon, micros(now), micros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// Record implements notify.Store.
func (db *DB) Record(ctx context.Context, owner string, n notify.Notification, a notify.Attempt) (held bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		var finished any
		if !n.FinishedAt.IsZero() {
			finished = micros(n.FinishedAt)
		}
		res, err := tx.Exec(ctx, `UPDATE notifications SET state = ?, attempts = ?, next_at = ?, finished_at = ?, lease_until = 0, lease_owner = ''
			WHERE id = ? AND lease_owner = ?`, n.State, n.Attempts, micros(n.NextAt), finished, n.ID, owner)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			held = false
			return nil
		}
		held = true
		_, err = tx.Exec(ctx, `INSERT INTO notification_attempts (notification_id, n, due_at, started_at, http_status, latency_us, answer_head, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, n.ID, a.N, micros(a.DueAt), micros(a.StartedAt), a.HTTPStatus, a.Latency.Microseconds(), a.AnswerHead, a.Error)
		return err
	})
	return held, err
}

// Notifications implements notify.Store: newest first; state "" lists all.
func (db *DB) Notifications(ctx context.Context, state string, limit int) ([]notify.Notification, error) {
	rows, err := db.query(ctx, `SELECT `+notificationCols+` FROM notifications WHERE (? = '' OR state = ?) ORDER BY created_at DESC, id LIMIT ?`, state, state, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []notify.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Notification implements notify.Store.
func (db *DB) Notification(ctx context.Context, id string) (notify.Notification, []notify.Attempt, error) {
	n, err := scanNotification(db.row(ctx, `SELECT `+notificationCols+` FROM notifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, nil, errcode.E(errcode.NotFound, "notification %s does not exist", id)
	}
	if err != nil {
		return n, nil, err
	}
	rows, err := db.query(ctx, `SELECT n, due_at, started_at, http_status, latency_us, answer_head, error FROM notification_attempts
		WHERE notification_id = ? ORDER BY n`, id)
	if err != nil {
		return n, nil, err
	}
	defer rows.Close()
	var out []notify.Attempt
	for rows.Next() {
		var (
			a                 notify.Attempt
			due, started, lat int64
		)
		if err := rows.Scan(&a.N, &due, &started, &a.HTTPStatus, &lat, &a.AnswerHead, &a.Error); err != nil {
			return n, nil, err
		}
		a.DueAt, a.StartedAt, a.Latency = fromMicros(due), fromMicros(started), time.Duration(lat)*time.Microsecond
		out = append(out, a)
	}
	return n, out, rows.Err()
}

// Requeue implements notify.Store.
func (db *DB) Requeue(ctx context.Context, id string, now time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE notifications SET state = 'pending', next_at = ?, finished_at = NULL, lease_until = 0, lease_owner = '' WHERE id = ?`, micros(now), id)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return errcode.E(errcode.NotFound, "notification %s does not exist", id)
		}
		return nil
	})
}

// CountNotifications implements notify.Depth.
func (db *DB) CountNotifications(ctx context.Context, state string) (n int64, err error) {
	err = db.queryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE state = ?`, state).Scan(&n)
	return n, err
}
