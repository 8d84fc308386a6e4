package v2http

import (
	"context"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// FoundationAPIs are the v2 APIs that exist before any order can: queries and refunds
// can only find nothing yet, and answer so in the protocol's own terms. The payment
// issue replaces them with the order store's answers.
func FoundationAPIs() []API {
	noOrder := func(ctx context.Context, r *Request) (*v2wire.Message, error) {
		return nil, errcode.E(errcode.NotFound, "order does not exist")
	}
	noRefund := func(ctx context.Context, r *Request) (*v2wire.Message, error) {
		return nil, errcode.E(errcode.NotFound, "refund does not exist")
	}
	return []API{
		{Path: "/pay/orderquery", OneOf: [][]string{{"transaction_id", "out_trade_no"}}, NotFound: "ORDERNOTEXIST", Handle: noOrder},
		{Path: "/secapi/pay/refund", Secure: true, Required: []string{"out_refund_no", "total_fee", "refund_fee"},
			OneOf: [][]string{{"transaction_id", "out_trade_no"}}, NotFound: "ORDERNOTEXIST", Handle: noOrder},
		{Path: "/pay/refundquery", OneOf: [][]string{{"refund_id", "out_refund_no", "transaction_id", "out_trade_no"}}, NotFound: "REFUNDNOTEXIST", Handle: noRefund},
	}
}
