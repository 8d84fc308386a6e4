package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// logicalAccountCols reads an account's balance with its deferred credits.
const logicalAccountCols = `a.id AS id, a.kind AS kind, a.may_go_negative AS may_go_negative,
	a.balance + COALESCE((SELECT SUM(d.amount) FROM ledger_deferred d WHERE d.account_id = a.id), 0) AS balance,
	a.pending_debits AS pending_debits, a.pending_credits AS pending_credits, a.created_at AS created_at`

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
	a, err := scanAccount(t.QueryRow(ctx, `SELECT `+logicalAccountCols+` FROM ledger_accounts a WHERE a.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, errcode.E(errcode.NotFound, "account %s does not exist", id)
	}
	return a, err
}

// LockAccounts implements ledger.Store: rows are locked in id order, so two transfers
// over the same pair of accounts cannot deadlock. Deferred credits are folded first, so
// the balances read are the rows' own and may be written back whole (UpdateAccount).
func (t *Tx) LockAccounts(ctx context.Context, ids ...string) (map[string]ledger.Account, error) {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	for _, id := range ids {
		if err := t.Fold(ctx, id); err != nil {
			return nil, err
		}
	}
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

// The writes of a transfer, shared by the ledger's interactive path and the guarded
// writes of a decided payment (guarded.go).
const (
	// sqlDebit takes (posted, held, id, amount); it changes no row when the account
	// may not go negative and does not cover amount.
	sqlDebit = `UPDATE ledger_accounts SET balance = balance - ?, pending_debits = pending_debits + ?
		WHERE id = ? AND (may_go_negative = 1 OR balance - pending_debits >= ?)`
	sqlInsertTransfer = `INSERT INTO ledger_transfers (idem_key, debit_account, credit_account, amount, code, two_phase, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlCreditLater = `INSERT INTO ledger_deferred (transfer_key, account_id, amount) VALUES (?, ?, ?)`
	// sqlCredit takes (posted, held, id).
	sqlCredit = `UPDATE ledger_accounts SET balance = balance + ?, pending_credits = pending_credits + ? WHERE id = ?`
)

// creditLaterStep is transfer tr's deferred credit as a guarded write's step. In the
// PostgreSQL pipeline the deferred credits of one batch to one account go as one row,
// their total, under the first transfer's key: each such row costs PostgreSQL an index
// entry per index and two foreign-key checks, and a balance only ever reads their sum.
// A backend that does not defer credits (SQLite) credits the account at once.
func creditLaterStep(d dialect, tr ledger.Transfer) step {
	if !d.defersCredits() {
		return step{q: sqlCredit, args: []any{tr.Amount, int64(0), tr.Credit}, one: true}
	}
	return step{q: sqlCreditLater, args: []any{tr.Key, tr.Credit, tr.Amount}, row: true, sum: true, key: 1}
}

// debitMany is sqlDebit for n accounts in one statement, in the PostgreSQL pipeline.
func debitMany(n int) string {
	return guardedMany(`WITH v (posted, held, id, need) AS (VALUES `+tuples(n, "CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT)")+`),
	changed AS (UPDATE ledger_accounts a SET balance = a.balance - v.posted, pending_debits = a.pending_debits + v.held FROM v
		WHERE a.id IN (`+keyParams(n, 4, 3)+`) AND a.id = v.id AND (a.may_go_negative = 1 OR a.balance - a.pending_debits >= v.need) RETURNING 1)`, n)
}

func transferArgs(tr ledger.Transfer) []any {
	return []any{tr.Key, tr.Debit, tr.Credit, tr.Amount, tr.Code, boolInt(tr.TwoPhase), string(tr.State), micros(tr.CreatedAt), micros(tr.UpdatedAt)}
}

// Debit implements ledger.Store: one conditional update, which locks the row.
func (t *Tx) Debit(ctx context.Context, id string, amount int64, pending bool) (bool, error) {
	posted, held := amount, int64(0)
	if pending {
		posted, held = 0, amount
	}
	res, err := t.Exec(ctx, sqlDebit, posted, held, id, amount)
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
	res, err := t.Exec(ctx, sqlCredit, posted, held, id)
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
	_, err := t.Exec(ctx, sqlInsertTransfer, transferArgs(tr)...)
	switch {
	case t.db.d.isUnique(err):
		return ledger.ErrDuplicateKey
	case t.db.d.isForeignKey(err): // the debit account was just debited, so the credit one is missing
		return errcode.E(errcode.NotFound, "account %s does not exist", tr.Credit)
	}
	return err
}

// CreditLater implements ledger.Store; a backend that does not defer credits
// (dialect.defersCredits) credits the account now, which its balance reads the same.
func (t *Tx) CreditLater(ctx context.Context, key, id string, amount int64) error {
	if !t.db.d.defersCredits() {
		if ok, err := t.Credit(ctx, id, amount, false); err != nil || ok {
			return err
		}
		return errcode.E(errcode.NotFound, "account %s does not exist", id)
	}
	_, err := t.Exec(ctx, sqlCreditLater, key, id, amount)
	if t.db.d.isUnique(err) {
		return ledger.ErrDuplicateKey
	}
	return err
}

// Fold implements ledger.Store. The rows are deleted and summed in one statement, so a
// fold running at the same time in another transaction cannot count them twice.
func (t *Tx) Fold(ctx context.Context, id string) error {
	rows, err := t.Query(ctx, `DELETE FROM ledger_deferred WHERE account_id = ? RETURNING amount`, id)
	if err != nil {
		return err
	}
	var sum, n int64
	for rows.Next() {
		var a int64
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return err
		}
		sum, n = sum+a, n+1
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil || n == 0 {
		return err
	}
	_, err = t.Exec(ctx, `UPDATE ledger_accounts SET balance = balance + ? WHERE id = ?`, sum, id)
	return err
}

// FoldDeferred folds every account's deferred credits, each account in a transaction
// of its own, and returns how many accounts it folded.
func (db *DB) FoldDeferred(ctx context.Context) (int, error) {
	rows, err := db.query(ctx, `SELECT DISTINCT account_id FROM ledger_deferred`)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := db.InTx(ctx, func(tx *Tx) error { return tx.Fold(ctx, id) }); err != nil {
			return i, fmt.Errorf("fold %s: %w", id, err)
		}
	}
	return len(ids), nil
}

// UpdateTransferState implements ledger.Store.
func (t *Tx) UpdateTransferState(ctx context.Context, key string, s ledger.State, at time.Time) error {
	_, err := t.Exec(ctx, `UPDATE ledger_transfers SET state = ?, updated_at = ? WHERE idem_key = ?`, string(s), micros(at), key)
	return err
}

// AuditLedger implements ledger.Auditor: it recomputes every account from its transfers.
func (db *DB) AuditLedger(ctx context.Context) (ledger.Audit, error) {
	var a ledger.Audit
	// Balances are read with their deferred credits (logical), as Account reads them.
	err := db.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(balance), 0), COALESCE(SUM(pending_debits), 0), COALESCE(SUM(pending_credits), 0),
		COALESCE(SUM(CASE WHEN may_go_negative = 0 AND balance - pending_debits < 0 THEN 1 ELSE 0 END), 0)
		FROM (SELECT `+logicalAccountCols+` FROM ledger_accounts a) acc`).
		Scan(&a.Accounts, &a.SumBalance, &a.SumPendingDebits, &a.SumPendingCredits, &a.Negative)
	if err != nil {
		return a, err
	}
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM ledger_transfers`).Scan(&a.Transfers); err != nil {
		return a, err
	}
	rows, err := db.query(ctx, `
		SELECT acc.id FROM (SELECT `+logicalAccountCols+` FROM ledger_accounts a) acc
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
