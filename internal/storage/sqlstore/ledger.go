package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
)

var _ ledger.Store = (*Tx)(nil)

// InLedgerTx implements ledger.TxRunner.
func (db *DB) InLedgerTx(ctx context.Context, fn func(ledger.Store) error) error {
	return db.InTx(ctx, func(tx *Tx) error { return fn(tx) })
}

const accountCols = `id, kind, may_go_negative, balance, pending_debits, pending_credits, created_at`

func scanAccount(s scanner) (ledger.Account, error) {
	var (
		a       ledger.Account
		kind    string
		neg     int64
		created int64
	)
	err := s.Scan(&a.ID, &kind, &neg, &a.Balance, &a.PendingDebits, &a.PendingCredits, &created)
	a.Kind, a.MayGoNegative, a.CreatedAt = ledger.Kind(kind), neg == 1, fromMicros(created)
	return a, err
}

// InsertAccount implements ledger.Store.
func (t *Tx) InsertAccount(ctx context.Context, a ledger.Account) (ledger.Account, error) {
	if _, err := t.Exec(ctx, `INSERT INTO ledger_accounts (id, kind, may_go_negative, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		a.ID, string(a.Kind), boolInt(a.MayGoNegative), micros(a.CreatedAt)); err != nil {
		return ledger.Account{}, err
	}
	return t.Account(ctx, a.ID)
}

// Account implements ledger.Store.
func (t *Tx) Account(ctx context.Context, id string) (ledger.Account, error) {
	a, err := scanAccount(t.QueryRow(ctx, `SELECT `+accountCols+` FROM ledger_accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, errcode.E(errcode.NotFound, "account %s does not exist", id)
	}
	return a, err
}

// LockAccounts implements ledger.Store: rows are locked in id order, so two transfers
// over the same pair of accounts cannot deadlock.
func (t *Tx) LockAccounts(ctx context.Context, ids ...string) (map[string]ledger.Account, error) {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `SELECT ` + accountCols + ` FROM ledger_accounts WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) ORDER BY id` + t.db.d.forUpdate()
	rows, err := t.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]ledger.Account, len(ids))
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out[a.ID] = a
	}
	return out, rows.Err()
}

// UpdateAccount implements ledger.Store.
func (t *Tx) UpdateAccount(ctx context.Context, a ledger.Account) error {
	_, err := t.Exec(ctx, `UPDATE ledger_accounts SET balance = ?, pending_debits = ?, pending_credits = ? WHERE id = ?`,
		a.Balance, a.PendingDebits, a.PendingCredits, a.ID)
	return err
}

// Debit implements ledger.Store: one conditional update, which locks the row.
func (t *Tx) Debit(ctx context.Context, id string, amount int64, pending bool) (bool, error) {
	posted, held := amount, int64(0)
	if pending {
		posted, held = 0, amount
	}
	res, err := t.Exec(ctx, `UPDATE ledger_accounts SET balance = balance - ?, pending_debits = pending_debits + ?
		WHERE id = ? AND (may_go_negative = 1 OR balance - pending_debits >= ?)`, posted, held, id, amount)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Credit implements ledger.Store.
func (t *Tx) Credit(ctx context.Context, id string, amount int64, pending bool) (bool, error) {
	posted, held := amount, int64(0)
	if pending {
		posted, held = 0, amount
	}
	res, err := t.Exec(ctx, `UPDATE ledger_accounts SET balance = balance + ?, pending_credits = pending_credits + ? WHERE id = ?`, posted, held, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// TransferByKey implements ledger.Store; the row stays locked until the transaction ends.
func (t *Tx) TransferByKey(ctx context.Context, key string) (ledger.Transfer, bool, error) {
	var (
		tr               ledger.Transfer
		state            string
		twoPhase         int64
		created, updated int64
	)
	err := t.QueryRow(ctx, `SELECT idem_key, debit_account, credit_account, amount, code, two_phase, state, created_at, updated_at
		FROM ledger_transfers WHERE idem_key = ?`+t.db.d.forUpdate(), key).
		Scan(&tr.Key, &tr.Debit, &tr.Credit, &tr.Amount, &tr.Code, &twoPhase, &state, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return tr, false, nil
	}
	if err != nil {
		return tr, false, err
	}
	tr.TwoPhase, tr.State, tr.CreatedAt, tr.UpdatedAt = twoPhase == 1, ledger.State(state), fromMicros(created), fromMicros(updated)
	return tr, true, nil
}

// InsertTransfer implements ledger.Store.
func (t *Tx) InsertTransfer(ctx context.Context, tr ledger.Transfer) error {
	_, err := t.Exec(ctx, `INSERT INTO ledger_transfers (idem_key, debit_account, credit_account, amount, code, two_phase, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tr.Key, tr.Debit, tr.Credit, tr.Amount, tr.Code, boolInt(tr.TwoPhase), string(tr.State), micros(tr.CreatedAt), micros(tr.UpdatedAt))
	switch {
	case t.db.d.isUnique(err):
		return ledger.ErrDuplicateKey
	case t.db.d.isForeignKey(err): // the debit account was just debited, so the credit one is missing
		return errcode.E(errcode.NotFound, "account %s does not exist", tr.Credit)
	}
	return err
}

// UpdateTransferState implements ledger.Store.
func (t *Tx) UpdateTransferState(ctx context.Context, key string, s ledger.State, at time.Time) error {
	_, err := t.Exec(ctx, `UPDATE ledger_transfers SET state = ?, updated_at = ? WHERE idem_key = ?`, string(s), micros(at), key)
	return err
}

// AuditLedger implements ledger.Auditor: it recomputes every account from its transfers.
func (db *DB) AuditLedger(ctx context.Context) (ledger.Audit, error) {
	var a ledger.Audit
	err := db.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(balance), 0), COALESCE(SUM(pending_debits), 0), COALESCE(SUM(pending_credits), 0),
		COALESCE(SUM(CASE WHEN may_go_negative = 0 AND balance - pending_debits < 0 THEN 1 ELSE 0 END), 0) FROM ledger_accounts`).
		Scan(&a.Accounts, &a.SumBalance, &a.SumPendingDebits, &a.SumPendingCredits, &a.Negative)
	if err != nil {
		return a, err
	}
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM ledger_transfers`).Scan(&a.Transfers); err != nil {
		return a, err
	}
	rows, err := db.query(ctx, `
		SELECT acc.id FROM ledger_accounts acc
		LEFT JOIN (
			SELECT id, SUM(posted) AS posted, SUM(pend_d) AS pend_d, SUM(pend_c) AS pend_c FROM (
				SELECT credit_account AS id, CASE WHEN state = 'posted' THEN amount ELSE 0 END AS posted, 0 AS pend_d,
				       CASE WHEN state = 'pending' THEN amount ELSE 0 END AS pend_c FROM ledger_transfers
				UNION ALL
				SELECT debit_account, CASE WHEN state = 'posted' THEN -amount ELSE 0 END, CASE WHEN state = 'pending' THEN amount ELSE 0 END, 0
				FROM ledger_transfers
			) legs GROUP BY id
		) sums ON sums.id = acc.id
		WHERE acc.balance <> COALESCE(sums.posted, 0) OR acc.pending_debits <> COALESCE(sums.pend_d, 0) OR acc.pending_credits <> COALESCE(sums.pend_c, 0)
		ORDER BY acc.id`)
	if err != nil {
		return a, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return a, err
		}
		a.Mismatched = append(a.Mismatched, id)
	}
	return a, rows.Err()
}
