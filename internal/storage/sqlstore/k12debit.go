package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pay"
)

var (
	_ k12.DebitStore = (*DB)(nil)
	_ k12.DebitTx    = (*Tx)(nil)
)

// InDebitTx implements k12.DebitStore.
func (db *DB) InDebitTx(ctx context.Context, fn func(k12.DebitTx) error) error {
	return db.InTx(ctx, func(tx *Tx) error { return fn(tx) })
}

// Settings implements k12.DebitStore.
func (db *DB) Settings(ctx context.Context, mchID string) (k12.Settings, error) {
	var s k12.Settings
	var prod, adv int64
	err := db.row(ctx, `SELECT production, advance_funding, k12_payment_limit, k12_daily_limit FROM merchants WHERE mch_id = ?`, mchID).
		Scan(&prod, &adv, &s.PaymentLimit, &s.DailyLimit)
	if errors.Is(err, sql.ErrNoRows) {
		return s, errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	s.Production, s.AdvanceFunding = prod == 1, adv == 1
	return s, err
}

func (db *DB) updateMerchant(ctx context.Context, mchID, set string, args ...any) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE merchants SET `+set+` WHERE mch_id = ?`, append(args, mchID)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
		}
		return nil
	})
}

// SetAdvanceFunding implements k12.DebitStore.
func (db *DB) SetAdvanceFunding(ctx context.Context, mchID string, on bool) error {
	return db.updateMerchant(ctx, mchID, `advance_funding = ?`, boolInt(on))
}

// SetLimits implements k12.DebitStore.
func (db *DB) SetLimits(ctx context.Context, mchID string, perDebit, perDay int64) error {
	return db.updateMerchant(ctx, mchID, `k12_payment_limit = ?, k12_daily_limit = ?`, perDebit, perDay)
}

// SetRisk implements k12.DebitStore.
func (db *DB) SetRisk(ctx context.Context, orgID, hours string, devices []string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE k12_organizations SET risk_hours = ?, risk_devices = ? WHERE organization_id = ?`,
			hours, strings.Join(devices, ","), orgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errcode.E(errcode.NotFound, "organisation %s does not exist", orgID)
		}
		return nil
	})
}

// LockUser implements k12.DebitTx: it moves the user's debit sequence on, which
// locks the row and makes every guarded debit decided before it go the interactive way.
func (t *Tx) LockUser(ctx context.Context, userID string) (k12.User, bool, error) {
	return t.db.scanUser(t.QueryRow(ctx, `UPDATE k12_users SET debit_seq = debit_seq + 1 WHERE user_id = ? RETURNING `+userCols, userID))
}

const debitCols = `owner_mch_id, out_trade_no, sp_mch_id, sp_appid, organization_id, user_id, contract_id, device_id, day, total_fee,
	counted, error_type, business_product_id, business_scene_id, device_ip, goods_tag, profit_sharing, credential_hash, request_digest, created_at`

func scanDebit(s scanner) (k12.DebitRecord, error) {
	var (
		d                    k12.DebitRecord
		counted, ps, created int64
	)
	err := s.Scan(&d.Owner, &d.OutTradeNo, &d.SPMchID, &d.SPAppID, &d.OrgID, &d.UserID, &d.ContractID, &d.DeviceID, &d.Day, &d.Total,
		&counted, &d.ErrorType, &d.ProductID, &d.SceneID, &d.DeviceIP, &d.GoodsTag, &ps, &d.CredentialHash, &d.Digest, &created)
	d.Counted, d.ProfitSharing, d.CreatedAt = counted == 1, ps == 1, fromMicros(created)
	return d, err
}

// DebitRecord implements k12.DebitTx.
func (t *Tx) DebitRecord(ctx context.Context, owner, outTradeNo string) (k12.DebitRecord, bool, error) {
	d, err := scanDebit(t.QueryRow(ctx, `SELECT `+debitCols+` FROM k12_debits WHERE owner_mch_id = ? AND out_trade_no = ?`, owner, outTradeNo))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	return d, err == nil, err
}

const sqlInsertDebit = `INSERT INTO k12_debits (` + debitCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func debitArgs(d k12.DebitRecord) []any {
	return []any{d.Owner, d.OutTradeNo, d.SPMchID, d.SPAppID, d.OrgID, d.UserID, d.ContractID, d.DeviceID, d.Day, d.Total, boolInt(d.Counted),
		d.ErrorType, d.ProductID, d.SceneID, d.DeviceIP, d.GoodsTag, boolInt(d.ProfitSharing), d.CredentialHash, d.Digest, micros(d.CreatedAt)}
}

// InsertDebit implements k12.DebitTx.
func (t *Tx) InsertDebit(ctx context.Context, d k12.DebitRecord) error {
	_, err := t.Exec(ctx, sqlInsertDebit, debitArgs(d)...)
	if t.db.d.isUnique(err) {
		return pay.ErrDuplicate
	}
	return err
}

// sqlCountedSum sums the counted debits among the rows a statement selects. Counting
// in the sum rather than with `counted = 1` in the WHERE clause keeps the partial
// credential index (whose predicate is counted = 1) out of the planner's choices: a
// generic plan made while k12_debits was small took it for the day's sum, and then
// every debit filtered all counted debits of the platform; the student's refused
// debits are few.
const sqlCountedSum = `COALESCE(SUM(CASE WHEN counted = 1 THEN total_fee ELSE 0 END), 0)`

// sqlDebitRead reads, in one statement and so one snapshot, a service provider's K12
// settings, webhook URL and test clock; one of its organisations; a user, its contract
// and what its counted debits took on a day; whether a counted debit used a credential
// and whether an out_trade_no names a debit.
var sqlDebitRead = `SELECT m.production, m.advance_funding, m.k12_payment_limit, m.k12_daily_limit, m.notify_url, m.test_clock, ` +
	prefixed("o.", orgCols) + `, ` + prefixed("u.", userCols) + `, COALESCE(u.debit_seq, 0), ` + prefixed("c.", contractCols) + `,
	(SELECT ` + sqlCountedSum + ` FROM k12_debits WHERE user_id = u.user_id AND day = ?),
	CASE WHEN EXISTS (SELECT 1 FROM k12_debits WHERE credential_hash = ? AND counted = 1) THEN 1 ELSE 0 END,
	CASE WHEN EXISTS (SELECT 1 FROM k12_debits WHERE owner_mch_id = ? AND out_trade_no = ?) THEN 1 ELSE 0 END
	FROM merchants m
	LEFT JOIN k12_organizations o ON o.organization_id = ? AND o.sp_mch_id = m.mch_id
	LEFT JOIN k12_users u ON u.user_id = ?
	LEFT JOIN k12_contracts c ON c.contract_id = u.contract_id
	WHERE m.mch_id = ?`

// DebitRead implements k12.DebitStore.
func (db *DB) DebitRead(ctx context.Context, spMchID, orgID string, k k12.DebitKey) (dc k12.DebitContext, st k12.DebitState, err error) {
	var (
		prod, adv, credUsed, otn int64
		clock                    sql.NullInt64
		org                      orgRow
		u                        userRow
		c                        contractRow
	)
	dest := append([]any{&prod, &adv, &dc.Settings.PaymentLimit, &dc.Settings.DailyLimit, &dc.NotifyURL, &clock}, org.dest()...)
	dest = append(append(append(dest, u.dest()...), &st.Seq), c.dest()...)
	dest = append(dest, &st.Spent, &credUsed, &otn)
	err = db.row(ctx, sqlDebitRead, k.Day, k.CredentialHash, k.Owner, k.OutTradeNo, orgID, k.UserID, spMchID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return dc, st, errcode.E(errcode.NotFound, "merchant %s does not exist", spMchID)
	}
	if err != nil {
		return dc, st, err
	}
	dc.Settings.Production, dc.Settings.AdvanceFunding = prod == 1, adv == 1
	dc.TestClock, dc.OnTestClock = fromMicros(clock.Int64), clock.Valid
	dc.Org, dc.OrgFound = org.org()
	if st.User, st.Found, err = db.user(&u); err != nil {
		return dc, st, err
	}
	if st.Contract, st.ContractFound, err = db.contract(&c); err != nil {
		return dc, st, err
	}
	st.Day, st.CredentialUsed, st.OrderTaken = k.Day, credUsed == 1, otn == 1
	return dc, st, nil
}

// sqlAdvanceUser is the guard of a debit decided outside a transaction: the user's
// sequence is the one read, so nothing that locked the user committed since, and the
// user is still enabled under the contract the decision saw.
const sqlAdvanceUser = `UPDATE k12_users SET debit_seq = debit_seq + 1
	WHERE user_id = ? AND debit_seq = ? AND status = ? AND contract_state = ? AND contract_id = ?`

// ApplyDebit implements k12.DebitStore: the guard, then the debit's rows in the
// interactive path's SQL. The out_trade_no and the credential are guarded by their
// unique keys, the wallet by its balance.
func (db *DB) ApplyDebit(ctx context.Context, g k12.GuardedDebit) error {
	tr := g.Transfer
	steps := []step{
		{q: sqlAdvanceUser, args: []any{g.Record.UserID, g.Seq, k12.StatusNormal, k12.Contracted, g.ContractID}, one: true},
		{q: sqlInsertDebit, args: debitArgs(g.Record), row: true},
		{q: sqlInsertOrder, args: orderArgs(g.Order), row: true},
		{q: sqlDebit, args: []any{tr.Amount, int64(0), tr.Debit, tr.Amount}, one: true, many: debitMany, key: 2},
		{q: sqlInsertTransfer, args: transferArgs(tr), row: true},
		creditLaterStep(db.d, tr),
	}
	if n := g.Event; n != nil {
		steps = append(steps, step{q: sqlInsertNotification, args: notificationArgs(*n), row: true})
	}
	err := db.applyGuarded(ctx, steps)
	if errors.Is(err, errGuard) {
		return pay.ErrNotApplied
	}
	return err
}

// CredentialUsed implements k12.DebitTx.
func (t *Tx) CredentialUsed(ctx context.Context, hash string) (owner, outTradeNo string, used bool, err error) {
	err = t.QueryRow(ctx, `SELECT owner_mch_id, out_trade_no FROM k12_debits WHERE credential_hash = ? AND counted = 1`, hash).Scan(&owner, &outTradeNo)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return owner, outTradeNo, err == nil, err
}

// CountedOn implements k12.DebitTx.
func (t *Tx) CountedOn(ctx context.Context, userID, day string) (int64, error) {
	var sum int64
	err := t.QueryRow(ctx, `SELECT `+sqlCountedSum+` FROM k12_debits WHERE user_id = ? AND day = ?`, userID, day).Scan(&sum)
	return sum, err
}

// OpenDebts implements k12.DebitTx. counted is 0 or 1; `<> 0` rather than `= 1`
// keeps the partial credential index out of the plan, as sqlCountedSum does.
func (t *Tx) OpenDebts(ctx context.Context, userID string) ([]pay.Order, error) {
	rows, err := t.Query(ctx, `SELECT `+prefixed("o.", orderCols)+` FROM orders o JOIN k12_debits d
		ON d.owner_mch_id = o.owner_mch_id AND d.out_trade_no = o.out_trade_no
		WHERE d.user_id = ? AND d.counted <> 0 AND o.debt_state = ? ORDER BY o.created_at, o.out_trade_no`+t.db.d.forUpdate(), userID, pay.InDebt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pay.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// prefixed qualifies every column of a list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// SetUserStatus implements k12.DebitTx.
func (t *Tx) SetUserStatus(ctx context.Context, u k12.User) error {
	if _, err := t.Exec(ctx, `UPDATE k12_users SET status = ?, disabled_by = ?, updated_at = ? WHERE user_id = ?`,
		u.Status, u.DisabledBy, micros(u.UpdatedAt), u.UserID); err != nil {
		return err
	}
	return t.touchK12(ctx, u.OrgID, u.UserID)
}

// ContractInTx implements k12.DebitTx.
func (t *Tx) ContractInTx(ctx context.Context, id string) (k12.Contract, bool, error) {
	return t.db.scanContract(t.QueryRow(ctx, `SELECT `+contractCols+` FROM k12_contracts WHERE contract_id = ?`, id))
}

// InsertRepayment implements k12.DebitTx.
func (t *Tx) InsertRepayment(ctx context.Context, r k12.Repayment) error {
	_, err := t.Exec(ctx, `INSERT INTO k12_repayments (repayment_id, user_id, payer_id, amount, debts, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.RepaymentID, r.UserID, r.PayerID, r.Amount, r.Debts, micros(r.CreatedAt))
	return err
}

// DebitByOrder implements k12.DebitStore.
func (db *DB) DebitByOrder(ctx context.Context, owner, outTradeNo string) (d k12.Debit, ok bool, err error) {
	rec, err := scanDebit(db.row(ctx, `SELECT `+debitCols+` FROM k12_debits WHERE owner_mch_id = ? AND out_trade_no = ?`, owner, outTradeNo))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	o, err := scanOrder(db.row(ctx, `SELECT `+orderCols+` FROM orders WHERE owner_mch_id = ? AND out_trade_no = ?`, owner, outTradeNo))
	if err != nil {
		return d, false, err
	}
	return k12.Debit{Order: o, Record: rec}, true, nil
}
