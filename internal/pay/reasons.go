package pay

import (
	"errors"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// Reasons a payment call fails, beyond the generic codes. Each edge maps them to its
// protocol's err_code in its one table; the domain never spells wire codes.
var (
	ErrCodeInvalid     = errors.New("not a payment code or face_code of this platform")
	ErrCodeUsed        = errors.New("the code was already used")
	ErrCodeExpired     = errors.New("the code has expired")
	ErrOrderPaid       = errors.New("the order is already paid")
	ErrOrderNoUsed     = errors.New("out_trade_no was used with other content")
	ErrBuyerMismatch   = errors.New("the order belongs to another payer")
	ErrOrderClosed     = errors.New("the order is closed")
	ErrOrderReversed   = errors.New("the order was reversed")
	ErrUserPaying      = errors.New("the payer is entering the password")
	ErrPayFailed       = errors.New("the payment failed")
	ErrNotEnough       = errors.New("balance is not enough")
	ErrReverseExpired  = errors.New("the order is past the reverse window")
	ErrRefundExpired   = errors.New("the order is past the refund window")
	ErrRefundMismatch  = errors.New("out_refund_no was used with another amount")
	ErrRefundExceeds   = errors.New("refund exceeds what is refundable")
	ErrOrderNotReady   = errors.New("the order is still being paid")
	ErrNoSuchOrder     = errors.New("order does not exist")
	ErrNoSuchRefund    = errors.New("refund does not exist")
	ErrOrderHasRefunds = errors.New("the order has refunds")
)

// FaultError is an emulator fault: the call answers Code without being processed.
type FaultError struct{ Code string }

func (e *FaultError) Error() string { return "emulated fault " + e.Code }

func fail(code errcode.Code, reason error, msg string) error {
	return errcode.Wrap(code, reason, "%s", msg)
}
