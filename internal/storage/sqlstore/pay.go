package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
)

var (
	_ pay.Tx    = (*Tx)(nil)
	_ pay.Store = (*DB)(nil)
)

// InPayTx implements pay.Store.
func (db *DB) InPayTx(ctx context.Context, fn func(pay.Tx) error) error {
	return db.InTx(ctx, func(tx *Tx) error { return fn(tx) })
}

const orderCols = `owner_mch_id, out_trade_no, transaction_id, mch_id, sub_mch_id, appid, sub_appid, api, trade_type,
	payer_id, openid, sub_openid, total_fee, fee_type, body, attach, device_info, credential_hash, request_digest,
	state, state_desc, refunded_fee, refund_count, created_at, paid_at, decide_by, updated_at, funding, debt_state, repayment_id`

// orderRow holds the orderCols of one row, every one nullable, so that a LEFT JOIN
// that found no order scans too.
type orderRow struct {
	owner, no, txID, mch, subMch, app, subApp, api, tradeType, payer, openID, subOpenID sql.NullString
	feeType, body, attach, device, cred, digest, state, stateDesc                       sql.NullString
	funding, debtState, repayment                                                       sql.NullString
	fee, refunded, refunds, created, paid, decide, updated                              sql.NullInt64
}

func (r *orderRow) dest() []any {
	return []any{&r.owner, &r.no, &r.txID, &r.mch, &r.subMch, &r.app, &r.subApp, &r.api, &r.tradeType,
		&r.payer, &r.openID, &r.subOpenID, &r.fee, &r.feeType, &r.body, &r.attach, &r.device, &r.cred,
		&r.digest, &r.state, &r.stateDesc, &r.refunded, &r.refunds, &r.created, &r.paid, &r.decide, &r.updated,
		&r.funding, &r.debtState, &r.repayment}
}

// order is the row's order; found=false, and the zero Order, when the join found none.
func (r *orderRow) order() (o pay.Order, found bool) {
	if !r.owner.Valid {
		return o, false
	}
	o = pay.Order{OwnerMchID: r.owner.String, OutTradeNo: r.no.String, TransactionID: r.txID.String, MchID: r.mch.String,
		SubMchID: r.subMch.String, AppID: r.app.String, SubAppID: r.subApp.String, API: r.api.String, TradeType: r.tradeType.String,
		PayerID: r.payer.String, OpenID: r.openID.String, SubOpenID: r.subOpenID.String, TotalFee: r.fee.Int64, FeeType: r.feeType.String,
		Body: r.body.String, Attach: r.attach.String, DeviceInfo: r.device.String, CredentialHash: r.cred.String,
		RequestDigest: r.digest.String, State: r.state.String, StateDesc: r.stateDesc.String, RefundedFee: r.refunded.Int64,
		RefundCount: r.refunds.Int64, CreatedAt: fromMicros(r.created.Int64), UpdatedAt: fromMicros(r.updated.Int64),
		Funding: r.funding.String, DebtState: r.debtState.String, RepaymentID: r.repayment.String}
	if r.paid.Valid {
		o.PaidAt = fromMicros(r.paid.Int64)
	}
	if r.decide.Valid {
		o.DecideBy = fromMicros(r.decide.Int64)
	}
	return o, true
}

func scanOrder(s scanner) (pay.Order, error) {
	var r orderRow
	err := s.Scan(r.dest()...)
	o, _ := r.order()
	return o, err
}

func optMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func (t *Tx) oneOrder(ctx context.Context, where string, args ...any) (pay.Order, bool, error) {
	o, err := scanOrder(t.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE `+where+t.db.d.forUpdate(), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	return o, err == nil, err
}

// Order implements pay.Tx.
func (t *Tx) Order(ctx context.Context, owner, outTradeNo string) (pay.Order, bool, error) {
	return t.oneOrder(ctx, `owner_mch_id = ? AND out_trade_no = ?`, owner, outTradeNo)
}

// FindOrder implements pay.Store.
func (db *DB) FindOrder(ctx context.Context, owner, outTradeNo, transactionID string) (pay.Order, bool, error) {
	q, key := sqlOrderByNo, outTradeNo
	if transactionID != "" {
		q, key = sqlOrderByTxID, transactionID
	}
	o, err := scanOrder(db.row(ctx, q, owner, key))
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	return o, err == nil, err
}

// OrderByTransactionID implements pay.Tx.
func (t *Tx) OrderByTransactionID(ctx context.Context, owner, transactionID string) (pay.Order, bool, error) {
	return t.oneOrder(ctx, `owner_mch_id = ? AND transaction_id = ?`, owner, transactionID)
}

const sqlInsertOrder = `INSERT INTO orders (` + orderCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func orderArgs(o pay.Order) []any {
	return []any{o.OwnerMchID, o.OutTradeNo, o.TransactionID, o.MchID, o.SubMchID, o.AppID, o.SubAppID, o.API, o.TradeType,
		o.PayerID, o.OpenID, o.SubOpenID, o.TotalFee, o.FeeType, o.Body, o.Attach, o.DeviceInfo, o.CredentialHash, o.RequestDigest,
		o.State, o.StateDesc, o.RefundedFee, o.RefundCount, micros(o.CreatedAt), optMicros(o.PaidAt), optMicros(o.DecideBy), micros(o.UpdatedAt),
		o.Funding, o.DebtState, o.RepaymentID}
}

// InsertOrder implements pay.Tx.
func (t *Tx) InsertOrder(ctx context.Context, o pay.Order) error {
	_, err := t.Exec(ctx, sqlInsertOrder, orderArgs(o)...)
	if t.db.d.isUnique(err) {
		return pay.ErrDuplicate
	}
	return err
}

// UpdateOrder implements pay.Tx: the mutable part of an order.
func (t *Tx) UpdateOrder(ctx context.Context, o pay.Order) error {
	_, err := t.Exec(ctx, `UPDATE orders SET state = ?, state_desc = ?, refunded_fee = ?, refund_count = ?, paid_at = ?, decide_by = ?, updated_at = ?,
		debt_state = ?, repayment_id = ? WHERE owner_mch_id = ? AND out_trade_no = ?`,
		o.State, o.StateDesc, o.RefundedFee, o.RefundCount, optMicros(o.PaidAt), optMicros(o.DecideBy), micros(o.UpdatedAt),
		o.DebtState, o.RepaymentID, o.OwnerMchID, o.OutTradeNo)
	return err
}

const credentialCols = `code_hash, kind, payer_id, mch_id, appid, device_id, authinfo_hash, expires_at, used_by, created_at`

// merchantState is the statement of MerchantState with the order found by orderKey (a
// column of orders); it takes (mchID, api, codeHash, owner, the order's key, mchID).
func merchantState(orderKey string) string {
	return `SELECT m.test_clock, m.password_threshold,
	CASE WHEN EXISTS (SELECT 1 FROM fault_rules WHERE mch_id = ? AND api = ? AND remaining > 0) THEN 1 ELSE 0 END,
	` + prefixed("c.", credentialCols) + `, ` + prefixed("o.", orderCols) + `
	FROM merchants m
	LEFT JOIN pay_credentials c ON c.code_hash = ?
	LEFT JOIN orders o ON o.owner_mch_id = ? AND o.` + orderKey + ` = ?
	WHERE m.mch_id = ?`
}

// codeAndOrder reads a code and an order of its owner (by orderKey), each when it
// exists, with the merchant's state known (MerchantState's cache); it takes
// (codeHash, owner, the order's key).
func codeAndOrder(orderKey string) string {
	return `SELECT ` + prefixed("c.", credentialCols) + `, ` + prefixed("o.", orderCols) + `
	FROM (SELECT 1 AS one) x
	LEFT JOIN pay_credentials c ON c.code_hash = ?
	LEFT JOIN orders o ON o.owner_mch_id = ? AND o.` + orderKey + ` = ?`
}

// Empty keys match no row, at the cost of an index probe each: two statement texts
// serve every request whose merchant is not cached, two the charges of the others
// (their queries read the order alone, as FindOrder does).
var (
	sqlMerchantStateByNo   = merchantState("out_trade_no")
	sqlMerchantStateByTxID = merchantState("transaction_id")
	sqlCodeAndOrderByNo    = codeAndOrder("out_trade_no")
	sqlCodeAndOrderByTxID  = codeAndOrder("transaction_id")
	sqlOrderByNo           = `SELECT ` + orderCols + ` FROM orders WHERE owner_mch_id = ? AND out_trade_no = ?`
	sqlOrderByTxID         = `SELECT ` + orderCols + ` FROM orders WHERE owner_mch_id = ? AND transaction_id = ?`
)

// credentialRow holds the credentialCols of one row, every one nullable, so that a
// LEFT JOIN that found no credential scans too.
type credentialRow struct {
	hash, kind, payer, mch, app, dev, ai, used sql.NullString
	exp, created                               sql.NullInt64
}

func (r *credentialRow) dest() []any {
	return []any{&r.hash, &r.kind, &r.payer, &r.mch, &r.app, &r.dev, &r.ai, &r.exp, &r.used, &r.created}
}

// credential is the row's credential; found=false, and the zero Credential, when the
// join found none.
func (r *credentialRow) credential() (c pay.Credential, found bool) {
	if !r.hash.Valid {
		return c, false
	}
	return pay.Credential{Hash: r.hash.String, Kind: r.kind.String, PayerID: r.payer.String, MchID: r.mch.String, AppID: r.app.String,
		DeviceID: r.dev.String, AuthInfoHash: r.ai.String, ExpiresAt: fromMicros(r.exp.Int64), UsedBy: r.used.String,
		CreatedAt: fromMicros(r.created.Int64)}, true
}

func scanCredential(s scanner) (pay.Credential, error) {
	var r credentialRow
	err := s.Scan(r.dest()...)
	c, _ := r.credential()
	return c, err
}

// Credential implements pay.Tx.
func (t *Tx) Credential(ctx context.Context, hash string) (pay.Credential, bool, error) {
	c, err := scanCredential(t.QueryRow(ctx, `SELECT `+credentialCols+` FROM pay_credentials WHERE code_hash = ?`+t.db.d.forUpdate(), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// sqlClaim takes (usedBy, hash); it changes no row when the code is unknown or used.
const sqlClaim = `UPDATE pay_credentials SET used_by = ? WHERE code_hash = ? AND used_by IS NULL`

// claimMany is sqlClaim for n codes in one statement, in the PostgreSQL pipeline.
func claimMany(n int) string {
	return guardedMany(`WITH v (used_by, code_hash) AS (VALUES `+tuples(n, "CAST(? AS TEXT), CAST(? AS TEXT)")+`),
	changed AS (UPDATE pay_credentials c SET used_by = v.used_by FROM v
		WHERE c.code_hash IN (`+keyParams(n, 2, 2)+`) AND c.code_hash = v.code_hash AND c.used_by IS NULL RETURNING 1)`, n)
}

// ApplyPayment implements pay.Store: the interactive charge's writes, each guarded.
func (db *DB) ApplyPayment(ctx context.Context, p pay.Payment) error {
	db.codes.drop(p.CodeHash) // used or not, a miss only costs a read
	err := db.applyGuarded(ctx, paymentSteps(db.d, p))
	if errors.Is(err, errGuard) {
		return pay.ErrNotApplied
	}
	return err
}

func paymentSteps(d dialect, p pay.Payment) []step {
	tr := p.Transfer
	return []step{
		{q: sqlClaim, args: []any{p.UsedBy, p.CodeHash}, one: true, many: claimMany, key: 1},
		{q: sqlInsertOrder, args: orderArgs(p.Order), row: true},
		{q: sqlDebit, args: []any{tr.Amount, int64(0), tr.Debit, tr.Amount}, one: true, many: debitMany, key: 2},
		{q: sqlInsertTransfer, args: transferArgs(tr), row: true},
		creditLaterStep(d, tr),
	}
}

// ClaimCredential implements pay.Tx: one conditional update, which also locks the row.
func (t *Tx) ClaimCredential(ctx context.Context, hash, usedBy string) (pay.Credential, bool, error) {
	t.db.codes.drop(hash)
	c, err := scanCredential(t.QueryRow(ctx, sqlClaim+` RETURNING `+credentialCols, usedBy, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// InsertCredential implements pay.Tx.
func (t *Tx) InsertCredential(ctx context.Context, c pay.Credential) error {
	_, err := t.Exec(ctx, `INSERT INTO pay_credentials (code_hash, kind, payer_id, mch_id, appid, device_id, authinfo_hash, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.Kind, c.PayerID, nullString(c.MchID), nullString(c.AppID), nullString(c.DeviceID), nullString(c.AuthInfoHash),
		micros(c.ExpiresAt), micros(c.CreatedAt))
	if err == nil {
		t.minted = append(t.minted, asStored(c))
	}
	return err
}

// Payer implements pay.Tx; the phone is sealed at rest.
func (t *Tx) Payer(ctx context.Context, payerID string) (pay.Payer, bool, error) {
	var (
		p            pay.Payer
		sealed, card []byte
		tail         sql.NullString
		created      int64
	)
	err := t.QueryRow(ctx, `SELECT payer_id, phone_sealed, phone_tail, created_at, card_sealed FROM payers WHERE payer_id = ?`, payerID).
		Scan(&p.PayerID, &sealed, &tail, &created, &card)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	if len(sealed) > 0 {
		phone, err := t.db.sealer.Open(purpose("payer", p.PayerID, "phone"), sealed)
		if err != nil {
			return p, false, err
		}
		p.Phone = string(phone)
	}
	if len(card) > 0 {
		c, err := t.db.sealer.Open(purpose("payer", p.PayerID, "card"), card)
		if err != nil {
			return p, false, err
		}
		p.Card = string(c)
	}
	p.PhoneTail, p.CreatedAt = tail.String, fromMicros(created)
	return p, true, nil
}

// InsertPayer implements pay.Tx.
func (t *Tx) InsertPayer(ctx context.Context, p pay.Payer) error {
	var sealed any
	if p.Phone != "" {
		sealed = t.db.sealer.Seal(purpose("payer", p.PayerID, "phone"), []byte(p.Phone))
	}
	_, err := t.Exec(ctx, `INSERT INTO payers (payer_id, phone_sealed, phone_tail, created_at) VALUES (?, ?, ?, ?)`,
		p.PayerID, sealed, nullString(p.PhoneTail), micros(p.CreatedAt))
	if t.db.d.isUnique(err) {
		return pay.ErrDuplicate
	}
	return err
}

// SetPayerCard implements pay.Tx: the card number is sealed to the payer's row.
func (t *Tx) SetPayerCard(ctx context.Context, payerID, card string) error {
	var sealed any
	if card != "" {
		sealed = t.db.sealer.Seal(purpose("payer", payerID, "card"), []byte(card))
	}
	res, err := t.Exec(ctx, `UPDATE payers SET card_sealed = ? WHERE payer_id = ?`, sealed, payerID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errcode.E(errcode.NotFound, "payer %s does not exist", payerID)
	}
	return nil
}

const refundCols = `refund_id, owner_mch_id, out_refund_no, out_trade_no, refund_fee, total_fee, status, refund_account, refund_desc, request_digest, created_at, success_at`

func scanRefund(s scanner) (pay.Refund, error) {
	var (
		r       pay.Refund
		created int64
		success sql.NullInt64
	)
	err := s.Scan(&r.RefundID, &r.OwnerMchID, &r.OutRefundNo, &r.OutTradeNo, &r.RefundFee, &r.TotalFee, &r.Status, &r.RefundAccount,
		&r.RefundDesc, &r.RequestDigest, &created, &success)
	r.CreatedAt = fromMicros(created)
	if success.Valid {
		r.SuccessAt = fromMicros(success.Int64)
	}
	return r, err
}

func (t *Tx) oneRefund(ctx context.Context, where string, args ...any) (pay.Refund, bool, error) {
	r, err := scanRefund(t.QueryRow(ctx, `SELECT `+refundCols+` FROM refunds WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// Refund implements pay.Tx.
func (t *Tx) Refund(ctx context.Context, owner, outRefundNo string) (pay.Refund, bool, error) {
	return t.oneRefund(ctx, `owner_mch_id = ? AND out_refund_no = ?`, owner, outRefundNo)
}

// RefundByID implements pay.Tx.
func (t *Tx) RefundByID(ctx context.Context, owner, refundID string) (pay.Refund, bool, error) {
	return t.oneRefund(ctx, `owner_mch_id = ? AND refund_id = ?`, owner, refundID)
}

// RefundsOfOrder implements pay.Tx.
func (t *Tx) RefundsOfOrder(ctx context.Context, owner, outTradeNo string) ([]pay.Refund, error) {
	rows, err := t.Query(ctx, `SELECT `+refundCols+` FROM refunds WHERE owner_mch_id = ? AND out_trade_no = ? ORDER BY created_at, refund_id`, owner, outTradeNo)
	if err != nil {
		return nil, err
	}
	return collectRefunds(rows)
}

func collectRefunds(rows *sql.Rows) ([]pay.Refund, error) {
	defer rows.Close()
	var out []pay.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// InsertRefund implements pay.Tx.
func (t *Tx) InsertRefund(ctx context.Context, r pay.Refund) error {
	_, err := t.Exec(ctx, `INSERT INTO refunds (`+refundCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RefundID, r.OwnerMchID, r.OutRefundNo, r.OutTradeNo, r.RefundFee, r.TotalFee, r.Status, r.RefundAccount, r.RefundDesc,
		r.RequestDigest, micros(r.CreatedAt), optMicros(r.SuccessAt))
	if t.db.d.isUnique(err) {
		return pay.ErrDuplicate
	}
	return err
}

// UpsertStore implements pay.Tx.
func (t *Tx) UpsertStore(ctx context.Context, mchID, storeID, storeName string, at time.Time) error {
	_, err := t.Exec(ctx, `INSERT INTO stores (mch_id, store_id, store_name, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mch_id, store_id) DO UPDATE SET store_name = excluded.store_name`, mchID, storeID, storeName, micros(at))
	return err
}

// Device implements pay.Tx.
func (t *Tx) Device(ctx context.Context, mchID, deviceID string) (pay.Device, bool, error) {
	var (
		d             pay.Device
		created, seen int64
	)
	err := t.QueryRow(ctx, `SELECT mch_id, device_id, sdk_device_id, device_key, store_id, created_at, last_seen_at FROM devices
		WHERE mch_id = ? AND device_id = ?`+t.db.d.forUpdate(), mchID, deviceID).
		Scan(&d.MchID, &d.DeviceID, &d.SDKDeviceID, &d.DeviceKey, &d.StoreID, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	d.CreatedAt, d.LastSeenAt = fromMicros(created), fromMicros(seen)
	return d, err == nil, err
}

// PutDevice implements pay.Tx.
func (t *Tx) PutDevice(ctx context.Context, d pay.Device) error {
	_, err := t.Exec(ctx, `INSERT INTO devices (mch_id, device_id, sdk_device_id, device_key, store_id, created_at, last_seen_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (mch_id, device_id) DO UPDATE SET device_key = excluded.device_key, store_id = excluded.store_id, last_seen_at = excluded.last_seen_at`,
		d.MchID, d.DeviceID, d.SDKDeviceID, d.DeviceKey, d.StoreID, micros(d.CreatedAt), micros(d.LastSeenAt))
	return err
}

// TakeFault implements pay.Tx: the oldest live rule for (mch, api), decremented.
func (t *Tx) TakeFault(ctx context.Context, mchID, api string) (pay.Fault, bool, error) {
	var (
		f              pay.Fault
		delay, created int64
	)
	err := t.QueryRow(ctx, `SELECT id, mch_id, api, err_code, delay_ms, remaining, created_at FROM fault_rules
		WHERE mch_id = ? AND api = ? AND remaining > 0 ORDER BY created_at, id LIMIT 1`+t.db.d.forUpdate(), mchID, api).
		Scan(&f.ID, &f.MchID, &f.API, &f.ErrCode, &delay, &f.Remaining, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return f, false, nil
	}
	if err != nil {
		return f, false, err
	}
	f.Delay, f.CreatedAt = time.Duration(delay)*time.Millisecond, fromMicros(created)
	if _, err = t.Exec(ctx, `UPDATE fault_rules SET remaining = remaining - 1 WHERE id = ?`, f.ID); err != nil {
		return f, false, err
	}
	if f.Remaining == 1 { // its last use: the cached "a rule waits" may no longer hold
		err = t.merchantChanged(ctx, mchID)
	}
	return f, err == nil, err
}

// HasFault implements pay.Store.
func (db *DB) HasFault(ctx context.Context, mchID, api string) (bool, error) {
	var n int64
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM fault_rules WHERE mch_id = ? AND api = ? AND remaining > 0`, mchID, api).Scan(&n)
	return n > 0, err
}

// stateEntry is what the merchant cache keeps of a merchant for MerchantState.
type stateEntry struct {
	clock     sql.NullInt64
	threshold int64
}

func (e stateEntry) fill(st *pay.MerchantState) {
	st.Found, st.PasswordThreshold = true, e.threshold
	if e.clock.Valid {
		st.TestClock, st.OnTestClock = fromMicros(e.clock.Int64), true
	}
}

// faultKey names the cache entry that says whether a fault rule waits for (mchID, api).
func faultKey(mchID, api string) cacheKey { return cacheKey{keyFault, mchID + "\x00" + api} }

// MerchantState implements pay.Store. The merchant's part (test clock, password
// threshold, a waiting fault rule) comes from the merchant cache when it holds it:
// the writes that change it say so (merchantChanged). Then only what also names is
// read, from its own table: every table a statement touches costs PostgreSQL a lock
// and an executor node, and the four-table read cost it twice the order's alone.
func (db *DB) MerchantState(ctx context.Context, mchID, api string, also pay.Also) (pay.MerchantState, error) {
	var st pay.MerchantState
	gen, cached := db.cachedState(mchID, api, &st)
	if cached {
		return st, db.readAlso(ctx, &st, also)
	}
	var (
		e     stateEntry
		fault int64
		code  credentialRow
		order orderRow
	)
	q, key := sqlMerchantStateByNo, also.OutTradeNo
	if also.TransactionID != "" {
		q, key = sqlMerchantStateByTxID, also.TransactionID
	}
	if also.CodeHash != "" {
		db.codes.misses.Add(1)
	}
	dest := append(append([]any{&e.clock, &e.threshold, &fault}, code.dest()...), order.dest()...)
	err := db.row(ctx, q, mchID, api, also.CodeHash, also.Owner, key, mchID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	e.fill(&st)
	st.FaultLive = fault == 1
	st.Code, st.CodeFound = code.credential()
	st.Order, st.OrderFound = order.order()
	if c := db.merchants; c != nil {
		c.put(gen, cacheKey{keyState, mchID}, mchID, e)
		c.put(gen, faultKey(mchID, api), mchID, st.FaultLive)
	}
	return st, nil
}

// cachedState fills st from the cache when it holds the merchant's state and knows
// whether a fault rule waits for api; otherwise it returns the generation a read must
// quote to store what it reads.
func (db *DB) cachedState(mchID, api string, st *pay.MerchantState) (gen uint64, ok bool) {
	c := db.merchants
	if c == nil {
		return 0, false
	}
	v, gen, ok := c.get(cacheKey{keyState, mchID})
	if !ok {
		return gen, false
	}
	live, _, ok := c.get(faultKey(mchID, api))
	if !ok {
		return gen, false
	}
	v.(stateEntry).fill(st)
	st.FaultLive = live.(bool)
	return gen, true
}

// readAlso reads what also names, with the merchant's state already known.
func (db *DB) readAlso(ctx context.Context, st *pay.MerchantState, also pay.Also) (err error) {
	switch {
	case also.CodeHash != "" && also.OutTradeNo == "" && also.TransactionID == "" && db.cachedCode(st, also.CodeHash):
	case also.CodeHash != "":
		db.codes.misses.Add(1)
		var (
			code  credentialRow
			order orderRow
		)
		q, key := sqlCodeAndOrderByNo, also.OutTradeNo
		if also.TransactionID != "" {
			q, key = sqlCodeAndOrderByTxID, also.TransactionID
		}
		if err := db.row(ctx, q, also.CodeHash, also.Owner, key).Scan(append(code.dest(), order.dest()...)...); err != nil {
			return err
		}
		st.Code, st.CodeFound = code.credential()
		st.Order, st.OrderFound = order.order()
	case also.OutTradeNo != "" || also.TransactionID != "":
		st.Order, st.OrderFound, err = db.FindOrder(ctx, also.Owner, also.OutTradeNo, also.TransactionID)
	}
	return err
}

// cachedCode fills st's code from the codes this process minted, when it holds it.
func (db *DB) cachedCode(st *pay.MerchantState, hash string) bool {
	c, ok := db.codes.get(hash)
	if ok {
		st.Code, st.CodeFound = c, true
		db.codes.hits.Add(1)
	}
	return ok
}

// CodeLookups counts the reads of a charge's state that found its code among those
// this process minted (cached) and those that read it from the database (read), since
// the store opened.
func (db *DB) CodeLookups() (cached, read int64) {
	return db.codes.hits.Load(), db.codes.misses.Load()
}

// InsertFault implements pay.Tx.
func (t *Tx) InsertFault(ctx context.Context, f pay.Fault) error {
	if _, err := t.Exec(ctx, `INSERT INTO fault_rules (id, mch_id, api, err_code, delay_ms, remaining, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.MchID, f.API, f.ErrCode, f.Delay.Milliseconds(), f.Remaining, micros(f.CreatedAt)); err != nil {
		return err
	}
	return t.merchantChanged(ctx, f.MchID) // the cached state says whether a rule waits
}

// PasswordThreshold implements pay.Tx.
func (t *Tx) PasswordThreshold(ctx context.Context, mchID string) (int64, error) {
	var v int64
	err := t.QueryRow(ctx, `SELECT password_threshold FROM merchants WHERE mch_id = ?`, mchID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return v, err
}

// SetPasswordThreshold implements pay.Tx.
func (t *Tx) SetPasswordThreshold(ctx context.Context, mchID string, fen int64) error {
	res, err := t.Exec(ctx, `UPDATE merchants SET password_threshold = ? WHERE mch_id = ?`, fen, mchID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return t.merchantChanged(ctx, mchID) // the cached state holds the threshold
}

// BillMode implements pay.Tx.
func (t *Tx) BillMode(ctx context.Context, mchID string) (string, error) {
	var v string
	err := t.QueryRow(ctx, `SELECT bill_mode FROM merchants WHERE mch_id = ?`, mchID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return v, err
}

// SetBillMode implements pay.Tx.
func (t *Tx) SetBillMode(ctx context.Context, mchID, mode string) error {
	res, err := t.Exec(ctx, `UPDATE merchants SET bill_mode = ? WHERE mch_id = ?`, mode, mchID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return nil
}

const sqlOrdersPaidBetween = `SELECT ` + orderCols + ` FROM orders WHERE owner_mch_id = ? AND paid_at >= ? AND paid_at < ? ORDER BY paid_at, out_trade_no`

// OrdersPaidBetween implements pay.Store: an owner's orders paid in [from, to).
func (db *DB) OrdersPaidBetween(ctx context.Context, owner string, from, to time.Time) ([]pay.Order, error) {
	rows, err := db.query(ctx, sqlOrdersPaidBetween, owner, micros(from), micros(to))
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

// RefundsCreatedBetween implements pay.Store.
func (db *DB) RefundsCreatedBetween(ctx context.Context, owner string, from, to time.Time) ([]pay.Refund, error) {
	rows, err := db.query(ctx, `SELECT `+refundCols+` FROM refunds WHERE owner_mch_id = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, refund_id`,
		owner, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	return collectRefunds(rows)
}
