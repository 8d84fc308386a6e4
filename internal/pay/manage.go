package pay

import (
	"context"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
)

// OrderRef names an order of a merchant: by transaction_id when given (it wins), else
// by out_trade_no.
type OrderRef struct {
	MchID, SubMchID           string
	TransactionID, OutTradeNo string
}

func (r OrderRef) owner() string {
	if r.SubMchID != "" {
		return r.SubMchID
	}
	return r.MchID
}

// find loads and locks the order; another merchant's order does not exist.
func (s *Service) find(ctx context.Context, tx Tx, r OrderRef) (Order, error) {
	var (
		o     Order
		found bool
		err   error
	)
	if r.TransactionID != "" {
		o, found, err = tx.OrderByTransactionID(ctx, r.owner(), r.TransactionID)
	} else {
		o, found, err = tx.Order(ctx, r.owner(), r.OutTradeNo)
	}
	if err != nil {
		return Order{}, err
	}
	if err := r.found(o, found); err != nil {
		return Order{}, err
	}
	return o, nil
}

// found refuses an order that was not found, or that a reference naming both its
// numbers does not match; another merchant's order does not exist either.
func (r OrderRef) found(o Order, found bool) error {
	if !found || (r.OutTradeNo != "" && r.TransactionID != "" && o.OutTradeNo != r.OutTradeNo) {
		return fail(errcode.NotFound, ErrNoSuchOrder, "order does not exist")
	}
	return nil
}

// withOrder runs change on an order, in one transaction, after any fault rule for api
// (none when api is empty) and after settling a timed-out password wait; a nil change
// only reads.
func (s *Service) withOrder(ctx context.Context, api string, r OrderRef, change func(tx Tx, o *Order, now time.Time) error) (Order, error) {
	st, err := s.begin(ctx, r.MchID, api, Also{}) // outside the transaction, as in Charge
	if err != nil {
		return Order{}, err
	}
	return s.withOrderAt(ctx, st.now, r, change)
}

// withOrderAt is withOrder once the merchant's state has been read (and its fault
// rule served) at now.
func (s *Service) withOrderAt(ctx context.Context, now time.Time, r OrderRef, change func(tx Tx, o *Order, now time.Time) error) (Order, error) {
	var o Order
	err := s.run(ctx, func(tx Tx) (err error) {
		if o, err = s.find(ctx, tx, r); err != nil {
			return err
		}
		if err := s.settleExpired(ctx, tx, &o, now); err != nil || change == nil {
			return err
		}
		return change(tx, &o, now)
	})
	return o, err
}

// Query returns an order as it stands now (a payer's password wait that timed out is
// settled first).
//
// It reads outside any write transaction: a query is the request a merchant repeats
// most, and on SQLite a write transaction would queue it behind the payments. Only an
// order whose password wait has run out is settled, in a write transaction.
func (s *Service) Query(ctx context.Context, api string, r OrderRef) (Order, error) {
	st, err := s.begin(ctx, r.MchID, api, Also{Owner: r.owner(), OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID})
	if err != nil {
		return Order{}, err
	}
	o, found := st.Order, st.OrderFound
	if st.FaultLive { // a fault rule was served, perhaps with a delay: read the order as it is now
		if o, found, err = s.store.FindOrder(ctx, r.owner(), r.OutTradeNo, r.TransactionID); err != nil {
			return Order{}, err
		}
	}
	if err := r.found(o, found); err != nil {
		return Order{}, err
	}
	if o.State == StateUserPaying && !st.now.Before(o.DecideBy) {
		return s.withOrderAt(ctx, st.now, r, nil)
	}
	return o, nil
}

// ConfirmPassword ends a payer's password wait: paid, or refused by the payer. It is
// the emulator's stand-in for the payer's phone.
func (s *Service) ConfirmPassword(ctx context.Context, r OrderRef, paid bool) (Order, error) {
	return s.withOrder(ctx, "", r, func(tx Tx, o *Order, now time.Time) error {
		if o.State != StateUserPaying {
			return errcode.E(errcode.Conflict, "order %s is %s, not waiting for a password", o.OutTradeNo, o.State)
		}
		return s.endWaiting(ctx, tx, o, now, paid)
	})
}

// Reverse undoes a face or payment-code order: a wait is cancelled, a payment returns
// to the payer; either way the order ends REVOKED. Repeating it is harmless.
func (s *Service) Reverse(ctx context.Context, api string, r OrderRef) (Order, error) {
	return s.withOrder(ctx, api, r, func(tx Tx, o *Order, now time.Time) error {
		key := payKey(o.OwnerMchID, o.OutTradeNo)
		switch o.State {
		case StateRevoked:
			return nil
		case StateRefund:
			return fail(errcode.Conflict, ErrOrderHasRefunds, "the order has refunds; refund the rest instead of reversing")
		case StateUserPaying:
			if _, err := ledger.Void(ctx, tx, now, key); err != nil {
				return err
			}
		case StateSuccess:
			if now.Sub(o.PaidAt) > ReverseWindow {
				return fail(errcode.Conflict, ErrReverseExpired, "the order is older than 7 days; refund it instead")
			}
			if _, err := ledger.Apply(ctx, tx, now, ledger.Request{Key: "reverse:" + o.OwnerMchID + "/" + o.OutTradeNo,
				Debit: settlementAccount(o.OwnerMchID), Credit: walletAccount(o.PayerID), Amount: o.TotalFee, Code: "reverse", FoldDebit: true}); err != nil {
				return err
			}
		}
		o.State, o.StateDesc, o.DecideBy, o.UpdatedAt = StateRevoked, "已撤销", time.Time{}, now
		return tx.UpdateOrder(ctx, *o)
	})
}

// Close closes an unpaid order so it can never be paid.
func (s *Service) Close(ctx context.Context, r OrderRef) (Order, error) {
	return s.withOrder(ctx, "closeorder", r, func(tx Tx, o *Order, now time.Time) error {
		switch o.State {
		case StateSuccess, StateRefund:
			return fail(errcode.Conflict, ErrOrderPaid, "the order is paid and cannot be closed")
		case StateClosed:
			return fail(errcode.Conflict, ErrOrderClosed, "the order is already closed")
		case StateRevoked:
			return fail(errcode.Conflict, ErrOrderReversed, "the order was reversed")
		case StateUserPaying:
			if _, err := ledger.Void(ctx, tx, now, payKey(o.OwnerMchID, o.OutTradeNo)); err != nil {
				return err
			}
		}
		o.State, o.StateDesc, o.DecideBy, o.UpdatedAt = StateClosed, "已关闭", time.Time{}, now
		return tx.UpdateOrder(ctx, *o)
	})
}
