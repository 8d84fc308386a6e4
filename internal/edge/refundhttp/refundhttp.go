// Package refundhttp serves the v3 domestic refund API (/v3/refund/domestic/refunds)
// on the v3 edge, over the same refund domain as the v2 refund: K12 integrators speak
// v3, and their debits are refunded here. Fields are those of wechatpay-go's
// services/refunddomestic models.
package refundhttp

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/openfacepay/openfacepay/internal/edge/v3http"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// Tenants tells whose sub-merchant a merchant is.
type Tenants interface {
	Merchant(ctx context.Context, mchID string) (tenant.Merchant, error)
}

// Register adds the refund APIs to the v3 handler.
func Register(h *v3http.Handler, svc *pay.Service, tenants Tenants) {
	a := api{svc: svc, tenants: tenants}
	h.Handle("POST /v3/refund/domestic/refunds", a.create)
	h.Handle("GET /v3/refund/domestic/refunds/{out_refund_no}", a.query)
}

type api struct {
	svc     *pay.Service
	tenants Tenants
}

type createRequest struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	OutRefundNo   string `json:"out_refund_no"`
	Reason        string `json:"reason"`
	NotifyURL     string `json:"notify_url"`
	FundsAccount  string `json:"funds_account"`
	Amount        *struct {
		Refund   *int64 `json:"refund"`
		Total    *int64 `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// ref names the order for the caller; a sub-merchant that is not the caller's
// answers like an order that does not exist.
func (a api) ref(ctx context.Context, c *v3http.Call, sub, transactionID, outTradeNo string) (pay.OrderRef, error) {
	r := pay.OrderRef{MchID: c.Merchant.MchID, SubMchID: sub, TransactionID: transactionID, OutTradeNo: outTradeNo}
	if sub == "" {
		return r, nil
	}
	m, err := a.tenants.Merchant(ctx, sub)
	if errcode.Is(err, errcode.NotFound) || (err == nil && m.ParentMchID != c.Merchant.MchID) {
		return r, errcode.E(errcode.NotFound, "the order does not exist")
	}
	return r, err
}

func (a api) create(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r createRequest
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	switch {
	case r.OutRefundNo == "":
		return 0, nil, errcode.E(errcode.Invalid, "out_refund_no is required")
	case r.TransactionID == "" && r.OutTradeNo == "":
		return 0, nil, errcode.E(errcode.Invalid, "transaction_id or out_trade_no is required")
	case r.Amount == nil || r.Amount.Refund == nil || r.Amount.Total == nil:
		return 0, nil, errcode.E(errcode.Invalid, "amount.refund and amount.total are required")
	case r.Amount.Currency != "CNY":
		return 0, nil, errcode.E(errcode.Invalid, "amount.currency must be CNY")
	}
	account := "REFUND_SOURCE_UNSETTLED_FUNDS"
	switch r.FundsAccount {
	case "":
	case "AVAILABLE":
		account = "REFUND_SOURCE_RECHARGE_FUNDS"
	default:
		return 0, nil, errcode.E(errcode.Invalid, "funds_account must be AVAILABLE when given")
	}
	ref, err := a.ref(ctx, c, r.SubMchID, r.TransactionID, r.OutTradeNo)
	if err != nil {
		return 0, nil, err
	}
	rf, o, err := a.svc.Refund(ctx, pay.RefundRequest{OrderRef: ref, OutRefundNo: r.OutRefundNo, TotalFee: strconv.FormatInt(*r.Amount.Total, 10),
		RefundFee: strconv.FormatInt(*r.Amount.Refund, 10), RefundDesc: r.Reason, RefundAccount: account, NotifyURL: r.NotifyURL, V3: true})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, view(rf, o), nil
}

func (a api) query(ctx context.Context, c *v3http.Call) (int, any, error) {
	ref, err := a.ref(ctx, c, c.Request.URL.Query().Get("sub_mchid"), "", "")
	if err != nil {
		return 0, nil, errcode.E(errcode.NotFound, "the refund does not exist")
	}
	o, refs, err := a.svc.RefundQuery(ctx, pay.RefundQueryRequest{OrderRef: ref, OutRefundNo: c.Request.PathValue("out_refund_no")})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, view(refs[0], o), nil
}

// refundView is refunddomestic.Refund.
type refundView struct {
	RefundID            string `json:"refund_id"`
	OutRefundNo         string `json:"out_refund_no"`
	TransactionID       string `json:"transaction_id"`
	OutTradeNo          string `json:"out_trade_no"`
	Channel             string `json:"channel"`
	UserReceivedAccount string `json:"user_received_account"`
	SuccessTime         string `json:"success_time,omitempty"`
	CreateTime          string `json:"create_time"`
	Status              string `json:"status"`
	FundsAccount        string `json:"funds_account"`
	Amount              struct {
		Total            int64  `json:"total"`
		Refund           int64  `json:"refund"`
		PayerTotal       int64  `json:"payer_total"`
		PayerRefund      int64  `json:"payer_refund"`
		SettlementRefund int64  `json:"settlement_refund"`
		SettlementTotal  int64  `json:"settlement_total"`
		DiscountRefund   int64  `json:"discount_refund"`
		Currency         string `json:"currency"`
	} `json:"amount"`
}

var beijing = time.FixedZone("CST", 8*3600)

func view(r pay.Refund, o pay.Order) refundView {
	v := refundView{RefundID: r.RefundID, OutRefundNo: r.OutRefundNo, TransactionID: o.TransactionID, OutTradeNo: o.OutTradeNo,
		Channel: "ORIGINAL", UserReceivedAccount: "支付用户零钱", CreateTime: r.CreatedAt.In(beijing).Format(time.RFC3339),
		Status: r.Status, FundsAccount: "UNSETTLED"}
	if r.RefundAccount == "REFUND_SOURCE_RECHARGE_FUNDS" {
		v.FundsAccount = "AVAILABLE"
	}
	if !r.SuccessAt.IsZero() {
		v.SuccessTime = r.SuccessAt.In(beijing).Format(time.RFC3339)
	}
	v.Amount.Total, v.Amount.Refund, v.Amount.PayerTotal, v.Amount.PayerRefund = o.TotalFee, r.RefundFee, o.TotalFee, r.RefundFee
	v.Amount.SettlementRefund, v.Amount.SettlementTotal, v.Amount.Currency = r.RefundFee, o.TotalFee, "CNY"
	return v
}
