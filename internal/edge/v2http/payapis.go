package v2http

import (
	"context"
	"strconv"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// PayAPIs are the face-payment APIs served by the payment domain.
func PayAPIs(svc *pay.Service) []API {
	h := payHandlers{svc: svc}
	orderRef := [][]string{{"transaction_id", "out_trade_no"}}
	return []API{
		{Path: "/face/get_wxpayface_authinfo", NoResultCode: true,
			Required: []string{"store_id", "store_name", "device_id", "rawdata", "now", "version", "sign_type"}, Handle: h.authinfo},
		{Path: "/pay/facepay", SignTypes: []v2wire.SignType{v2wire.SignHMACSHA256},
			Required: []string{"body", "out_trade_no", "total_fee", "fee_type", "spbill_create_ip", "face_code"}, Handle: h.charge(pay.APIFacePay)},
		{Path: "/pay/micropay", Required: []string{"body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code"}, Handle: h.charge(pay.APIMicroPay)},
		{Path: "/pay/orderquery", OneOf: orderRef, NotFound: "ORDERNOTEXIST", Handle: h.query("orderquery")},
		{Path: "/pay/facepayquery", OneOf: orderRef, NotFound: "ORDERNOTEXIST", Handle: h.query("facepayquery")},
		{Path: "/secapi/pay/reverse", Secure: true, Required: []string{"out_trade_no"}, NotFound: "ORDERNOTEXIST", Handle: h.reverse("reverse")},
		{Path: "/secapi/pay/facepayreverse", Secure: true, Required: []string{"out_trade_no"}, NotFound: "ORDERNOTEXIST", Handle: h.reverse("facepayreverse")},
		{Path: "/pay/closeorder", Required: []string{"out_trade_no"}, NotFound: "ORDERNOTEXIST", Handle: h.close},
		{Path: "/secapi/pay/refund", Secure: true, Required: []string{"out_refund_no", "total_fee", "refund_fee"}, OneOf: orderRef,
			NotFound: "ORDERNOTEXIST", Handle: h.refund},
		{Path: "/pay/refundquery", OneOf: [][]string{{"refund_id", "out_refund_no", "transaction_id", "out_trade_no"}},
			NotFound: "REFUNDNOTEXIST", Handle: h.refundQuery},
	}
}

type payHandlers struct{ svc *pay.Service }

var beijing = time.FixedZone("CST", 8*3600)

func compact(t time.Time) string { return t.In(beijing).Format("20060102150405") }

func (h payHandlers) authinfo(ctx context.Context, r *Request) (*v2wire.Message, error) {
	m := r.Msg
	res, err := h.svc.AuthInfo(ctx, pay.AuthInfoRequest{
		MchID: m.Get("mch_id"), SubMchID: m.Get("sub_mch_id"), AppID: m.Get("appid"), SubAppID: m.Get("sub_appid"),
		StoreID: m.Get("store_id"), StoreName: m.Get("store_name"), DeviceID: m.Get("device_id"),
		Attach: m.Get("attach"), Rawdata: m.Get("rawdata"), Now: m.Get("now"), Version: m.Get("version"),
	})
	if err != nil {
		return nil, err
	}
	out := v2wire.NewMessage()
	out.Set("authinfo", res.AuthInfo)
	out.SetInt("expires_in", res.ExpiresIn)
	return out, nil
}

func (h payHandlers) charge(api string) HandlerFunc {
	return func(ctx context.Context, r *Request) (*v2wire.Message, error) {
		m := r.Msg
		code := m.Get("auth_code")
		if api == pay.APIFacePay {
			code = m.Get("face_code")
		}
		o, err := h.svc.Charge(ctx, pay.ChargeRequest{
			API: api, MchID: m.Get("mch_id"), SubMchID: m.Get("sub_mch_id"), AppID: m.Get("appid"), SubAppID: m.Get("sub_appid"),
			OutTradeNo: m.Get("out_trade_no"), Body: m.Get("body"), Attach: m.Get("attach"), DeviceInfo: m.Get("device_info"),
			FeeType: m.Get("fee_type"), ClientIP: m.Get("spbill_create_ip"), TotalFee: m.Get("total_fee"), Code: code, OpenID: m.Get("openid"),
		})
		if err != nil {
			return nil, err
		}
		out := v2wire.NewMessage()
		setIf(out, "device_info", o.DeviceInfo)
		out.Set("trade_type", o.TradeType)
		out.Set("fee_type", o.FeeType)
		out.SetInt("total_fee", o.TotalFee)
		out.Set("transaction_id", o.TransactionID)
		out.Set("out_trade_no", o.OutTradeNo)
		setIf(out, "attach", o.Attach)
		setPaid(out, o)
		return out, nil
	}
}

func ref(r *Request) pay.OrderRef {
	m := r.Msg
	return pay.OrderRef{MchID: m.Get("mch_id"), SubMchID: m.Get("sub_mch_id"), TransactionID: m.Get("transaction_id"), OutTradeNo: m.Get("out_trade_no")}
}

func (h payHandlers) query(api string) HandlerFunc {
	return func(ctx context.Context, r *Request) (*v2wire.Message, error) {
		o, err := h.svc.Query(ctx, api, ref(r))
		if err != nil {
			return nil, err
		}
		out := v2wire.NewMessage()
		setIf(out, "device_info", o.DeviceInfo)
		out.Set("trade_state", o.State)
		out.Set("trade_state_desc", o.StateDesc)
		out.Set("out_trade_no", o.OutTradeNo)
		out.Set("transaction_id", o.TransactionID)
		out.SetInt("total_fee", o.TotalFee)
		out.Set("fee_type", o.FeeType)
		out.Set("trade_type", o.TradeType)
		setIf(out, "attach", o.Attach)
		if o.State == pay.StateSuccess || o.State == pay.StateRefund {
			setPaid(out, o)
		}
		if api == "facepayquery" {
			out.SetInt("consume_fee", 0)
		}
		return out, nil
	}
}

func (h payHandlers) reverse(api string) HandlerFunc {
	return func(ctx context.Context, r *Request) (*v2wire.Message, error) {
		_, err := h.svc.Reverse(ctx, api, ref(r))
		out := v2wire.NewMessage()
		recall := "N"
		if code := ErrCodeOf(err, ""); err != nil && code == "SYSTEMERROR" {
			recall = "Y" // the outcome is unknown: the merchant must call again
		}
		out.Set("recall", recall)
		return out, err
	}
}

func (h payHandlers) close(ctx context.Context, r *Request) (*v2wire.Message, error) {
	_, err := h.svc.Close(ctx, ref(r))
	return nil, err
}

func (h payHandlers) refund(ctx context.Context, r *Request) (*v2wire.Message, error) {
	m := r.Msg
	rf, o, err := h.svc.Refund(ctx, pay.RefundRequest{OrderRef: ref(r), OutRefundNo: m.Get("out_refund_no"),
		TotalFee: m.Get("total_fee"), RefundFee: m.Get("refund_fee"), RefundDesc: m.Get("refund_desc"), RefundAccount: m.Get("refund_account"),
		NotifyURL: m.Get("notify_url")})
	if err != nil {
		return nil, err
	}
	out := v2wire.NewMessage()
	out.Set("transaction_id", o.TransactionID)
	out.Set("out_trade_no", o.OutTradeNo)
	out.Set("out_refund_no", rf.OutRefundNo)
	out.Set("refund_id", rf.RefundID)
	out.SetInt("refund_fee", rf.RefundFee)
	out.SetInt("total_fee", o.TotalFee)
	out.Set("fee_type", o.FeeType)
	out.SetInt("cash_fee", o.TotalFee)
	out.SetInt("cash_refund_fee", rf.RefundFee)
	return out, nil
}

// refundsPerPage is how many refunds one refundquery answer lists; offset pages on.
const refundsPerPage = 10

func (h payHandlers) refundQuery(ctx context.Context, r *Request) (*v2wire.Message, error) {
	m := r.Msg
	o, refs, err := h.svc.RefundQuery(ctx, pay.RefundQueryRequest{OrderRef: ref(r), RefundID: m.Get("refund_id"), OutRefundNo: m.Get("out_refund_no")})
	if err != nil {
		return nil, err
	}
	offset := 0
	if v := m.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errcode.E(errcode.Invalid, "offset must be a whole number of at least 0")
		}
		offset = n
	}
	total := len(refs)
	if offset > total {
		offset = total
	}
	page := refs[offset:min(total, offset+refundsPerPage)]
	out := v2wire.NewMessage()
	out.SetInt("total_refund_count", int64(total))
	out.Set("transaction_id", o.TransactionID)
	out.Set("out_trade_no", o.OutTradeNo)
	out.SetInt("total_fee", o.TotalFee)
	out.Set("fee_type", o.FeeType)
	out.SetInt("cash_fee", o.TotalFee)
	out.SetInt("refund_count", int64(len(page)))
	for i, rf := range page {
		n := strconv.Itoa(i)
		out.Set("out_refund_no_"+n, rf.OutRefundNo)
		out.Set("refund_id_"+n, rf.RefundID)
		out.Set("refund_channel_"+n, "ORIGINAL")
		out.SetInt("refund_fee_"+n, rf.RefundFee)
		out.SetInt("settlement_refund_fee_"+n, rf.RefundFee)
		out.Set("refund_status_"+n, rf.Status)
		out.Set("refund_account_"+n, rf.RefundAccount)
		out.Set("refund_recv_accout_"+n, "支付用户零钱")
		if !rf.SuccessAt.IsZero() {
			out.Set("refund_success_time_"+n, rf.SuccessAt.In(beijing).Format("2006-01-02 15:04:05"))
		}
	}
	return out, nil
}

// setPaid writes the fields a paid order answers with, all of them ones gopay's typed
// MicropayResponse declares (it checks the sign over those).
func setPaid(out *v2wire.Message, o pay.Order) {
	out.Set("openid", o.OpenID)
	out.Set("is_subscribe", "N")
	if o.SubOpenID != "" {
		out.Set("sub_openid", o.SubOpenID)
		out.Set("sub_is_subscribe", "N")
	}
	out.Set("bank_type", "OTHERS")
	out.Set("cash_fee_type", o.FeeType)
	out.SetInt("cash_fee", o.TotalFee)
	out.Set("time_end", compact(o.PaidAt))
}

func setIf(m *v2wire.Message, name, value string) {
	if value != "" {
		m.Set(name, value)
	}
}
