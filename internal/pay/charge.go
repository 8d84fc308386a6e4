package pay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/randid"
)

// The two charge APIs.
const (
	APIFacePay  = "facepay"
	APIMicroPay = "micropay"
)

// ChargeRequest is the business content of facepay or micropay.
type ChargeRequest struct {
	API                              string
	MchID, SubMchID, AppID, SubAppID string
	OutTradeNo, Body, Attach         string
	DeviceInfo, FeeType, ClientIP    string
	TotalFee                         string // as sent; validated here
	Code                             string // face_code, or micropay's auth_code
	OpenID                           string // facepay: what the terminal said
}

func (r ChargeRequest) owner() string {
	if r.SubMchID != "" {
		return r.SubMchID
	}
	return r.MchID
}

var (
	outTradeNoRE = regexp.MustCompile(`^[A-Za-z0-9_\-*@|]{1,32}$`)
	payCodeRE    = regexp.MustCompile(`^1[0-5][0-9]{16}$`)
)

func (r ChargeRequest) validate() (int64, error) {
	inv := func(msg string) (int64, error) { return 0, errcode.E(errcode.Invalid, "%s", msg) }
	if !outTradeNoRE.MatchString(r.OutTradeNo) {
		return inv("out_trade_no must be 1 to 32 letters, digits or _-*@|")
	}
	if r.Body == "" || utf8.RuneCountInString(r.Body) > 128 {
		return inv("body must be 1 to 128 characters")
	}
	fee, err := strconv.ParseInt(r.TotalFee, 10, 64)
	if err != nil || fee <= 0 || fee > 100_000_000_00 {
		return inv("total_fee must be a positive whole number of fen")
	}
	if r.FeeType != "" && r.FeeType != "CNY" {
		return inv("fee_type must be CNY")
	}
	if r.ClientIP == "" || len(r.ClientIP) > 64 {
		return inv("spbill_create_ip must be 1 to 64 characters")
	}
	if utf8.RuneCountInString(r.Attach) > 128 || len(r.DeviceInfo) > 32 {
		return inv("attach is limited to 128 characters and device_info to 32")
	}
	if r.Code == "" || len(r.Code) > 128 {
		return inv("the face_code or auth_code must be 1 to 128 characters")
	}
	return fee, nil
}

// digest names a charge's content, so a retry can be told from a different request.
func (r ChargeRequest) digest() string {
	h := sha256.New()
	for _, f := range []string{r.API, r.AppID, r.SubAppID, r.TotalFee, r.FeeType, r.Body, r.Attach, r.DeviceInfo, r.Code} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Charge takes a payment. It returns the order; a non-nil error with an order means the
// order exists in a state other than paid (USERPAYING, for one).
func (s *Service) Charge(ctx context.Context, r ChargeRequest) (Order, error) {
	fee, err := r.validate()
	if err != nil {
		return Order{}, err
	}
	// A charge that reached the platform completes even if the caller hangs up: the
	// merchant server learns the outcome from orderquery, as WeChat's documents say.
	ctx = context.WithoutCancel(ctx)
	// Read outside the transaction: a query on the pool from inside one could wait for a
	// connection that only transactions waiting on it would free.
	st, err := s.begin(ctx, r.MchID, r.API, Also{CodeHash: HashCode(r.Code)})
	if err != nil {
		return Order{}, err
	}
	threshold := int64(-1) // read in the transaction
	if st.Found && r.owner() == r.MchID {
		threshold = st.PasswordThreshold
	}
	if o, ok, err := s.quickCharge(ctx, r, fee, st, threshold); err != nil || ok {
		return o, err
	}
	var o Order
	err = s.run(ctx, func(tx Tx) (err error) {
		o, err = s.charge(ctx, tx, r, fee, st.now, threshold)
		return err
	})
	if err != nil {
		return o, err
	}
	s.opened.Store(r.owner(), true) // committed: the settlement account exists
	return o, stateError(o)
}

// charge runs in the transaction; threshold is the owner's password threshold, or -1
// when the caller did not read it.
func (s *Service) charge(ctx context.Context, tx Tx, r ChargeRequest, fee int64, now time.Time, threshold int64) (Order, error) {
	owner, digest, key := r.owner(), r.digest(), r.owner()+"/"+r.OutTradeNo
	if o, found, err := tx.Order(ctx, owner, r.OutTradeNo); err != nil || found {
		if err != nil {
			return Order{}, err
		}
		return s.replay(ctx, tx, o, r, fee, digest, now)
	}
	// The common case takes the code in one statement; a refusal below rolls the claim
	// back with everything else.
	cred, claimed, err := tx.ClaimCredential(ctx, HashCode(r.Code), key)
	if err != nil {
		return Order{}, err
	}
	found := claimed
	if !claimed {
		if cred, found, err = tx.Credential(ctx, HashCode(r.Code)); err != nil {
			return Order{}, err
		}
	}
	switch {
	case !found, wrongKind(r, cred):
		return Order{}, fail(errcode.Invalid, ErrCodeInvalid, "not a face_code or payment code of this platform")
	case claimed:
	case cred.UsedBy == key:
		// A concurrent twin of this very request consumed the code and committed first.
		o, _, err := tx.Order(ctx, owner, r.OutTradeNo)
		if err != nil {
			return Order{}, err
		}
		return s.replay(ctx, tx, o, r, fee, digest, now)
	case cred.UsedBy != "":
		return Order{}, fail(errcode.Invalid, ErrCodeUsed, "this code was already used; each code pays once")
	}
	if err := s.usable(r, cred, now); err != nil {
		return Order{}, err
	}
	if threshold < 0 {
		if threshold, err = tx.PasswordThreshold(ctx, owner); err != nil {
			return Order{}, err
		}
	}
	if _, known := s.opened.Load(owner); !known {
		if _, err := ledger.Open(ctx, tx, now, settlementAccount(owner), ledger.Settlement, false); err != nil {
			return Order{}, err
		}
	}
	needPassword := threshold > 0 && fee > threshold
	o := s.newOrder(r, cred, fee, now, digest, needPassword)
	if err := tx.InsertOrder(ctx, o); err != nil {
		return Order{}, err
	}
	// The money moves last, so the merchant's settlement account, which every payment
	// credits, stays locked only until the commit. A refusal rolls everything back.
	_, err = ledger.Apply(ctx, tx, now, ledger.Request{Key: payKey(owner, r.OutTradeNo), Debit: walletAccount(cred.PayerID),
		Credit: settlementAccount(owner), Amount: fee, Code: "pay", Pending: needPassword, Fresh: true, DeferCredit: true})
	if errcode.Is(err, errcode.InsufficientFunds) {
		return Order{}, fail(errcode.InsufficientFunds, ErrNotEnough, "the payer's balance is not enough")
	}
	if err != nil {
		return Order{}, err
	}
	return o, nil
}

// quickCharge takes the common charge (a new out_trade_no, an unused code of this
// merchant, no password, a settlement account known to exist) decided from reads
// outside any transaction and written as one guarded Payment, which the store commits
// together with other payments. ok=false when it is not the common case or a guard
// did not hold by the time of the write: nothing was written, and the interactive
// path decides, from the start, as for any other charge. Refusals are the
// interactive path's, so they read the same whichever path a charge took.
func (s *Service) quickCharge(ctx context.Context, r ChargeRequest, fee int64, st requestState, threshold int64) (o Order, ok bool, err error) {
	owner := r.owner()
	if threshold < 0 || threshold > 0 && fee > threshold {
		return Order{}, false, nil
	}
	if _, known := s.opened.Load(owner); !known {
		return Order{}, false, nil
	}
	cred, now := st.Code, st.now
	if !st.CodeFound || cred.UsedBy != "" || wrongKind(r, cred) || s.usable(r, cred, now) != nil {
		return Order{}, false, nil
	}
	o = s.newOrder(r, cred, fee, now, r.digest(), false)
	err = s.store.ApplyPayment(ctx, Payment{Order: o, CodeHash: cred.Hash, UsedBy: owner + "/" + r.OutTradeNo,
		Transfer: ledger.Transfer{Key: payKey(owner, r.OutTradeNo), Debit: walletAccount(cred.PayerID), Credit: settlementAccount(owner),
			Amount: fee, Code: "pay", State: ledger.Posted, CreatedAt: now, UpdatedAt: now}})
	if errors.Is(err, ErrNotApplied) {
		return Order{}, false, nil
	}
	return o, err == nil, err
}

// wrongKind: facepay takes face codes only; micropay takes either kind.
func wrongKind(r ChargeRequest, cred Credential) bool {
	return r.API == APIFacePay && cred.Kind != FaceCode
}

// usable refuses a code that cannot pay r at now, used or not.
func (s *Service) usable(r ChargeRequest, cred Credential, now time.Time) error {
	switch {
	case cred.Kind == FaceCode && !now.Before(cred.ExpiresAt), cred.Kind == PayCode && !s.clock.Now().Before(cred.ExpiresAt):
		// Face codes follow the merchant's clock (a test clock moves them); payment
		// codes belong to the payer's wallet, which lives on the platform clock.
		return fail(errcode.Invalid, ErrCodeExpired, "this code has expired; ask the payer for a new one")
	case cred.Kind == FaceCode && (cred.MchID != r.owner() || cred.AppID != r.AppID):
		return fail(errcode.Invalid, ErrCodeInvalid, "this face_code was issued to another merchant or appid")
	case r.OpenID != "" && r.OpenID != s.OpenID(r.AppID, cred.PayerID):
		return errcode.E(errcode.Invalid, "openid does not match the face_code")
	}
	return nil
}

// newOrder is the order a charge of r with cred creates.
func (s *Service) newOrder(r ChargeRequest, cred Credential, fee int64, now time.Time, digest string, needPassword bool) Order {
	o := Order{
		OwnerMchID: r.owner(), OutTradeNo: r.OutTradeNo, TransactionID: transactionID(now), MchID: r.MchID, SubMchID: r.SubMchID,
		AppID: r.AppID, SubAppID: r.SubAppID, API: r.API, TradeType: "MICROPAY", PayerID: cred.PayerID, OpenID: s.OpenID(r.AppID, cred.PayerID),
		TotalFee: fee, FeeType: "CNY", Body: r.Body, Attach: r.Attach, DeviceInfo: r.DeviceInfo,
		CredentialHash: cred.Hash, RequestDigest: digest, State: StateSuccess, StateDesc: "支付成功",
		CreatedAt: now, PaidAt: now, UpdatedAt: now,
	}
	if r.API == APIFacePay {
		o.TradeType = "FACEPAY"
	}
	if r.SubAppID != "" {
		o.SubOpenID = s.OpenID(r.SubAppID, cred.PayerID)
	}
	if needPassword {
		o.State, o.StateDesc, o.PaidAt, o.DecideBy = StateUserPaying, "需要用户输入支付密码", time.Time{}, now.Add(PasswordTimeout)
	}
	return o
}

// replay answers a charge whose out_trade_no exists: the first result for the same
// request, the documented refusals for anything else.
func (s *Service) replay(ctx context.Context, tx Tx, o Order, r ChargeRequest, fee int64, digest string, now time.Time) (Order, error) {
	if err := s.settleExpired(ctx, tx, &o, now); err != nil {
		return Order{}, err
	}
	if o.RequestDigest == digest {
		return o, stateError(o)
	}
	if fee != o.TotalFee || r.Body != o.Body || r.API != o.API {
		return Order{}, fail(errcode.Conflict, ErrOrderNoUsed, "out_trade_no was already used for another amount, body or API")
	}
	if cred, found, err := tx.Credential(ctx, HashCode(r.Code)); err != nil {
		return Order{}, err
	} else if found && cred.PayerID != o.PayerID {
		return Order{}, fail(errcode.Conflict, ErrBuyerMismatch, "this order was paid by another payer; use a new out_trade_no")
	}
	if o.State == StateSuccess || o.State == StateRefund {
		return Order{}, fail(errcode.Conflict, ErrOrderPaid, "this out_trade_no is already paid")
	}
	if err := stateError(o); err != nil {
		return Order{}, err
	}
	return Order{}, fail(errcode.Conflict, ErrOrderNoUsed, "out_trade_no was already used")
}

// stateError is what a charge answers for an order in its current state.
func stateError(o Order) error {
	switch o.State {
	case StateUserPaying:
		return fail(errcode.Unavailable, ErrUserPaying, "the payer must enter the password; query the order")
	case StateClosed:
		return fail(errcode.Conflict, ErrOrderClosed, "the order is closed; use a new out_trade_no")
	case StateRevoked:
		return fail(errcode.Conflict, ErrOrderReversed, "the order was reversed; use a new out_trade_no")
	case StatePayError:
		return fail(errcode.Conflict, ErrPayFailed, "the payment failed: "+o.StateDesc)
	}
	return nil
}

// settleExpired ends a USERPAYING order whose payer did not confirm in time.
func (s *Service) settleExpired(ctx context.Context, tx Tx, o *Order, now time.Time) error {
	if o.State != StateUserPaying || now.Before(o.DecideBy) {
		return nil
	}
	return s.endWaiting(ctx, tx, o, now, false)
}

// endWaiting posts or voids a USERPAYING order's hold and records the outcome.
func (s *Service) endWaiting(ctx context.Context, tx Tx, o *Order, now time.Time, paid bool) error {
	key := payKey(o.OwnerMchID, o.OutTradeNo)
	if paid {
		if _, err := ledger.Post(ctx, tx, now, key); err != nil {
			return err
		}
		o.State, o.StateDesc, o.PaidAt = StateSuccess, "支付成功", now
	} else {
		if _, err := ledger.Void(ctx, tx, now, key); err != nil {
			return err
		}
		o.State, o.StateDesc = StatePayError, "用户未输入密码，支付失败"
	}
	o.DecideBy, o.UpdatedAt = time.Time{}, now
	return tx.UpdateOrder(ctx, *o)
}

// run runs fn in one transaction; any error rolls it back. Work fn does on the way
// that must survive a refusal (a timed-out password wait settled) is redone, the same
// way, on the next access.
func (s *Service) run(ctx context.Context, fn func(Tx) error) error { return s.inTx(ctx, fn) }

// inTx runs fn in a transaction, again when a concurrent twin inserted the same key first.
func (s *Service) inTx(ctx context.Context, fn func(Tx) error) error {
	var err error
	for range 3 {
		err = s.store.InPayTx(ctx, fn)
		if !LostRace(err) {
			return err
		}
	}
	return err
}

// LostRace tells whether a transaction failed only because a concurrent twin
// inserted the same business or ledger key first: run again, it sees the twin's
// committed result.
func LostRace(err error) bool {
	return errors.Is(err, ErrDuplicate) || errors.Is(err, ledger.ErrDuplicateKey)
}

// transactionID is 28 digits: 4200, the Beijing date, the time of day (5 digits of
// seconds, 4 of a tenth of a millisecond) and 7 random digits. Numbers made one after
// another sort one after another, so a new order's entry lands on the last page of
// the transaction_id index instead of a random one: a random page per payment was a
// page read and a page written to the log in every commit. The random tail keeps two
// orders of the same tenth of a millisecond (one in ten thousand at 5 000 orders a
// second) apart but for one chance in ten million, and the unique index refuses a
// number made twice, which sends that charge round again with a new one.
func transactionID(now time.Time) string {
	t := now.In(beijing)
	day := t.Hour()*3600 + t.Minute()*60 + t.Second()
	return fmt.Sprintf("4200%s%05d%04d%s", t.Format("20060102"), day, t.Nanosecond()/100_000, randid.Digits(7))
}

var beijing = time.FixedZone("CST", 8*3600)

// requestState is MerchantState with the merchant's clock read.
type requestState struct {
	MerchantState
	now time.Time
}

// begin reads what a request needs of its merchant (mchID, the merchant that signed it)
// and what also names in one statement, and serves a live fault rule for api (none
// when api is empty).
func (s *Service) begin(ctx context.Context, mchID, api string, also Also) (requestState, error) {
	ms, err := s.store.MerchantState(ctx, mchID, api, also)
	if err != nil {
		return requestState{}, err
	}
	st := requestState{MerchantState: ms, now: s.NowWith(ms.TestClock, ms.OnTestClock)}
	if api != "" && ms.FaultLive {
		if err := s.takeFault(ctx, mchID, api); err != nil {
			return st, err
		}
		st.now = s.now(ctx, mchID) // a delay may have passed
	}
	return st, nil
}

// fault consumes the next emulator fault rule for (mch, api), if any.
func (s *Service) fault(ctx context.Context, mchID, api string) error {
	if live, err := s.store.HasFault(ctx, mchID, api); err != nil || !live {
		return err
	}
	return s.takeFault(ctx, mchID, api)
}

// takeFault consumes the next fault rule for (mch, api), if one is still live.
func (s *Service) takeFault(ctx context.Context, mchID, api string) error {
	var f Fault
	var found bool
	err := s.store.InPayTx(ctx, func(tx Tx) (err error) {
		f, found, err = tx.TakeFault(ctx, mchID, api)
		return err
	})
	if err != nil || !found {
		return err
	}
	if f.Delay > 0 {
		// A slow platform: a charge waits it out even when its caller has gone
		// (Charge passes a context the caller cannot cancel); other calls stop.
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	if f.ErrCode != "" {
		return errcode.Wrap(errcode.Unavailable, &FaultError{Code: f.ErrCode}, "emulated fault")
	}
	return nil
}

// CheckFault consumes a fault rule for an API served outside this package's calls
// (downloadbill); a non-nil error means answer with the fault.
func (s *Service) CheckFault(ctx context.Context, mchID, api string) error {
	return s.fault(ctx, mchID, api)
}
