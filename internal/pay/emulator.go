package pay

import (
	"context"
	"github.com/openfacepay/openfacepay/internal/randid"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// FaultAPIs are the API names a fault rule can target.
var FaultAPIs = []string{"authinfo", APIFacePay, "facepayquery", "facepayreverse", APIMicroPay, "orderquery",
	"reverse", "closeorder", "refund", "refundquery", "downloadbill", "member"}

// AddFault makes the next `times` calls of api by mchID answer errCode (when not empty)
// after waiting delay.
func (s *Service) AddFault(ctx context.Context, mchID, api, errCode string, delay time.Duration, times int64) (Fault, error) {
	known := false
	for _, a := range FaultAPIs {
		known = known || a == api
	}
	switch {
	case !known:
		return Fault{}, errcode.E(errcode.Invalid, "unknown api %q; one of %v", api, FaultAPIs)
	case times <= 0:
		return Fault{}, errcode.E(errcode.Invalid, "times must be at least 1")
	case errCode == "" && delay <= 0:
		return Fault{}, errcode.E(errcode.Invalid, "a fault needs an error code, a delay or both")
	case delay < 0 || delay > 5*time.Minute:
		return Fault{}, errcode.E(errcode.Invalid, "delay must be between 0 and 5m")
	}
	f := Fault{ID: "F" + randid.Digits(10), MchID: mchID, API: api, ErrCode: errCode, Delay: delay, Remaining: times, CreatedAt: s.clock.Now()}
	return f, s.store.InPayTx(ctx, func(tx Tx) error { return tx.InsertFault(ctx, f) })
}

// SetPasswordThreshold makes payments of mchID above fen wait for the payer's password
// (USERPAYING); 0 turns it off.
func (s *Service) SetPasswordThreshold(ctx context.Context, mchID string, fen int64) error {
	if fen < 0 {
		return errcode.E(errcode.Invalid, "threshold must be zero or more fen")
	}
	return s.store.InPayTx(ctx, func(tx Tx) error { return tx.SetPasswordThreshold(ctx, mchID, fen) })
}

// Bill modes: when a merchant's bills can be downloaded.
const (
	BillsDaily   = "daily"   // from D+1 10:00 Beijing time, as WeChat serves them
	BillsInstant = "instant" // at once, listing the trades so far (same-day reconciliation tests)
)

// SetBillMode sets when mchID's bills become available.
func (s *Service) SetBillMode(ctx context.Context, mchID, mode string) error {
	if mode != BillsDaily && mode != BillsInstant {
		return errcode.E(errcode.Invalid, "bill mode %q is neither %s nor %s", mode, BillsDaily, BillsInstant)
	}
	return s.store.InPayTx(ctx, func(tx Tx) error { return tx.SetBillMode(ctx, mchID, mode) })
}

// BillsInstantly reports whether mchID's bills are available at once.
func (s *Service) BillsInstantly(ctx context.Context, mchID string) (bool, error) {
	var mode string
	err := s.store.InPayTx(ctx, func(tx Tx) (err error) { mode, err = tx.BillMode(ctx, mchID); return err })
	return mode == BillsInstant, err
}
