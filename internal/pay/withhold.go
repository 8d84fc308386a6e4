package pay

import (
	"context"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
)

// Funding sources and debt states of an order. The debt states are OpenFacePay's:
// WeChat Pay documents a debt_state field for K12 debits but publishes no values.
const (
	FundingWallet  = "wallet"
	FundingAdvance = "advance"

	NoDebt = "NO_DEBT"
	InDebt = "IN_DEBT"
	Repaid = "REPAID"
)

// APIWithhold names orders made by a contract debit (K12 offlineface/transactions).
const APIWithhold = "withhold"

// advanceAccount pays advances; payers' repayments refill it. It may go negative:
// its balance is minus what payers owe the platform.
const advanceAccount = "advance:platform"

// Withholding is a contract debit the caller (the K12 domain) has already judged:
// FailWith, when set, records the order as PAYERROR with that description and moves
// no money; otherwise the payer's wallet pays, or — when it cannot and MayAdvance —
// the platform advances the money and the payer owes it.
type Withholding struct {
	Owner, MchID, SubMchID, AppID, SubAppID string
	OutTradeNo, PayerID, Body, Attach       string
	DeviceInfo, CredentialHash, Digest      string
	Fee                                     int64
	MayAdvance                              bool
	FailWith                                string
}

// WithholdInTx makes the order of a contract debit inside the caller's transaction.
// An order that could not be paid is returned with State PAYERROR and NotEnough set
// when the reason was the wallet's balance.
func (s *Service) WithholdInTx(ctx context.Context, tx Tx, w Withholding, now time.Time) (o Order, notEnough bool, err error) {
	o = s.withholdOrder(w, now)
	if w.FailWith != "" {
		o.State, o.StateDesc = StatePayError, w.FailWith
		return o, false, tx.InsertOrder(ctx, o)
	}
	if _, err := ledger.Open(ctx, tx, now, settlementAccount(w.Owner), ledger.Settlement, false); err != nil {
		return Order{}, false, err
	}
	paid := func(funding, debt string) error {
		o.State, o.StateDesc, o.PaidAt, o.Funding, o.DebtState = StateSuccess, withheldDesc, now, funding, debt
		return tx.InsertOrder(ctx, o)
	}
	// The transfer's key is the order's: a concurrent twin fails on it and is run again as a replay.
	_, err = ledger.Apply(ctx, tx, now, ledger.Request{Key: payKey(w.Owner, w.OutTradeNo), Debit: walletAccount(w.PayerID),
		Credit: settlementAccount(w.Owner), Amount: w.Fee, Code: "withhold", DeferCredit: true})
	switch {
	case err == nil:
		return o, false, paid(FundingWallet, NoDebt)
	case !errcode.Is(err, errcode.InsufficientFunds):
		return Order{}, false, err
	case !w.MayAdvance:
		o.State, o.StateDesc = StatePayError, "余额不足"
		return o, true, tx.InsertOrder(ctx, o)
	}
	if _, err := ledger.Open(ctx, tx, now, advanceAccount, ledger.Advance, true); err != nil {
		return Order{}, false, err
	}
	if _, err := ledger.Apply(ctx, tx, now, ledger.Request{Key: payKey(w.Owner, w.OutTradeNo), Debit: advanceAccount,
		Credit: settlementAccount(w.Owner), Amount: w.Fee, Code: "advance", DeferCredit: true}); err != nil {
		return Order{}, false, err
	}
	return o, false, paid(FundingAdvance, InDebt)
}

// withholdOrder is the order of w before it is judged.
func (s *Service) withholdOrder(w Withholding, now time.Time) Order {
	o := Order{
		OwnerMchID: w.Owner, OutTradeNo: w.OutTradeNo, TransactionID: transactionID(now), MchID: w.MchID, SubMchID: w.SubMchID,
		AppID: w.AppID, SubAppID: w.SubAppID, API: APIWithhold, TradeType: "AUTH", PayerID: w.PayerID,
		TotalFee: w.Fee, FeeType: "CNY", Body: w.Body, Attach: w.Attach, DeviceInfo: w.DeviceInfo,
		CredentialHash: w.CredentialHash, RequestDigest: w.Digest, CreatedAt: now, UpdatedAt: now,
	}
	if w.PayerID != "" {
		o.OpenID = s.OpenID(w.AppID, w.PayerID)
		if w.SubAppID != "" {
			o.SubOpenID = s.OpenID(w.SubAppID, w.PayerID)
		}
	}
	return o
}

// PlanWithhold is the paid order and the transfer of a contract debit that its
// wallet pays, for a caller that decided it outside any transaction and writes both
// as guarded writes (the wallet's debit guarded by its balance). ok=false while the
// owner's settlement account is not known to exist: the interactive path opens it.
func (s *Service) PlanWithhold(w Withholding, now time.Time) (o Order, t ledger.Transfer, ok bool) {
	if _, known := s.opened.Load(w.Owner); !known {
		return Order{}, ledger.Transfer{}, false
	}
	o = s.withholdOrder(w, now)
	o.State, o.StateDesc, o.PaidAt, o.Funding, o.DebtState = StateSuccess, withheldDesc, now, FundingWallet, NoDebt
	t = ledger.Transfer{Key: payKey(w.Owner, w.OutTradeNo), Debit: walletAccount(w.PayerID), Credit: settlementAccount(w.Owner),
		Amount: w.Fee, Code: "withhold", State: ledger.Posted, CreatedAt: now, UpdatedAt: now}
	return o, t, true
}

// SettlementOpened notes, after a commit, that the owner's settlement account exists.
func (s *Service) SettlementOpened(owner string) { s.opened.Store(owner, true) }

const withheldDesc = "扣款成功"

// Owed is what an order's payer still owes the platform for it.
func (o Order) Owed() int64 {
	if o.DebtState != InDebt {
		return 0
	}
	return o.TotalFee - o.RefundedFee
}

// RepayInTx pays every order's open debt from the payer's wallet in one transfer and
// marks them repaid by repaymentID. It refuses, changing nothing, when the wallet
// cannot cover the sum.
func (s *Service) RepayInTx(ctx context.Context, tx Tx, payerID, repaymentID string, orders []Order, now time.Time) (int64, error) {
	var sum int64
	for _, o := range orders {
		sum += o.Owed()
	}
	if sum == 0 {
		return 0, errcode.E(errcode.Conflict, "there is no debt to repay")
	}
	if _, err := ledger.Open(ctx, tx, now, advanceAccount, ledger.Advance, true); err != nil {
		return 0, err
	}
	_, err := ledger.Apply(ctx, tx, now, ledger.Request{Key: "repay:" + repaymentID, Debit: walletAccount(payerID),
		Credit: advanceAccount, Amount: sum, Code: "repay"})
	if errcode.Is(err, errcode.InsufficientFunds) {
		return 0, errcode.E(errcode.InsufficientFunds, "the wallet cannot cover the debt of %d fen; top it up first", sum)
	}
	if err != nil {
		return 0, err
	}
	for _, o := range orders {
		if o.DebtState != InDebt {
			continue
		}
		o.DebtState, o.RepaymentID, o.UpdatedAt = Repaid, repaymentID, now
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return 0, err
		}
	}
	return sum, nil
}
