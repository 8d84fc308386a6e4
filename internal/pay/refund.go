package pay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/openfacepay/openfacepay/internal/randid"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/notify"
)

// RefundRequest is the business content of refund.
type RefundRequest struct {
	OrderRef
	OutRefundNo   string
	TotalFee      string
	RefundFee     string
	RefundDesc    string
	RefundAccount string
	NotifyURL     string // where the refund result notification goes; none when empty
	V3            bool   // the refund came through v3: its notification is a v3 REFUND.SUCCESS event
	AppID         string // echoed in the notification
	SubAppID      string
}

var outRefundNoRE = regexp.MustCompile(`^[A-Za-z0-9_\-*@|]{1,64}$`)

func (r RefundRequest) digest() string {
	h := sha256.New()
	for _, f := range []string{r.TransactionID, r.OutTradeNo, r.TotalFee, r.RefundFee} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Refund returns money from a paid order to its payer. The same out_refund_no again
// returns the first refund; partial refunds add up to at most the paid amount.
func (s *Service) Refund(ctx context.Context, r RefundRequest) (Refund, Order, error) {
	if !outRefundNoRE.MatchString(r.OutRefundNo) {
		return Refund{}, Order{}, errcode.E(errcode.Invalid, "out_refund_no must be 1 to 64 letters, digits or _-*@|")
	}
	total, err1 := strconv.ParseInt(r.TotalFee, 10, 64)
	fee, err2 := strconv.ParseInt(r.RefundFee, 10, 64)
	if err1 != nil || err2 != nil || total <= 0 || fee <= 0 {
		return Refund{}, Order{}, errcode.E(errcode.Invalid, "total_fee and refund_fee must be positive whole numbers of fen")
	}
	if utf8.RuneCountInString(r.RefundDesc) > 80 {
		return Refund{}, Order{}, errcode.E(errcode.Invalid, "refund_desc is limited to 80 characters")
	}
	if r.RefundAccount == "" {
		r.RefundAccount = "REFUND_SOURCE_UNSETTLED_FUNDS"
	} else if r.RefundAccount != "REFUND_SOURCE_UNSETTLED_FUNDS" && r.RefundAccount != "REFUND_SOURCE_RECHARGE_FUNDS" {
		return Refund{}, Order{}, errcode.E(errcode.Invalid, "refund_account must be REFUND_SOURCE_UNSETTLED_FUNDS or REFUND_SOURCE_RECHARGE_FUNDS")
	}
	if r.NotifyURL != "" {
		if u, err := url.Parse(r.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(r.NotifyURL) > 256 {
			return Refund{}, Order{}, errcode.E(errcode.Invalid, "notify_url must be an http or https URL of at most 256 characters")
		}
	}
	st, err := s.begin(ctx, r.MchID, "refund", Also{}) // outside the transaction, as in Charge
	if err != nil {
		return Refund{}, Order{}, err
	}
	var (
		ref Refund
		o   Order
	)
	now := st.now
	err = s.run(ctx, func(tx Tx) (err error) {
		ref, o, err = s.refund(ctx, tx, r, total, fee, now)
		return err
	})
	return ref, o, err
}

func (s *Service) refund(ctx context.Context, tx Tx, r RefundRequest, total, fee int64, now time.Time) (Refund, Order, error) {
	owner, digest := r.owner(), r.digest()
	if prev, found, err := tx.Refund(ctx, owner, r.OutRefundNo); err != nil {
		return Refund{}, Order{}, err
	} else if found {
		o, _, err := tx.Order(ctx, owner, prev.OutTradeNo)
		if err != nil {
			return Refund{}, Order{}, err
		}
		if prev.RequestDigest != digest && (prev.RefundFee != fee || prev.TotalFee != total) {
			return Refund{}, Order{}, fail(errcode.Conflict, ErrRefundMismatch, "out_refund_no was used with another amount")
		}
		if prev.RequestDigest != digest {
			return Refund{}, Order{}, errcode.E(errcode.Conflict, "out_refund_no was used for another order")
		}
		return prev, o, nil
	}
	o, err := s.find(ctx, tx, r.OrderRef)
	if err != nil {
		return Refund{}, Order{}, err
	}
	if err := s.settleExpired(ctx, tx, &o, now); err != nil {
		return Refund{}, Order{}, err
	}
	switch {
	case o.State == StateUserPaying:
		return Refund{}, Order{}, fail(errcode.Unavailable, ErrOrderNotReady, "the order is still waiting for the payer's password")
	case o.State != StateSuccess && o.State != StateRefund:
		return Refund{}, Order{}, errcode.E(errcode.Conflict, "the order is %s; only paid orders can be refunded", o.State)
	case total != o.TotalFee:
		return Refund{}, Order{}, errcode.E(errcode.Invalid, "total_fee %d does not match the order's %d", total, o.TotalFee)
	case now.Sub(o.PaidAt) > RefundWindow:
		return Refund{}, Order{}, fail(errcode.Conflict, ErrRefundExpired, "the order is older than one year")
	case o.RefundCount >= MaxRefundsPerOrd:
		return Refund{}, Order{}, fail(errcode.LimitExceeded, ErrRefundExceeds, "an order takes at most 50 refunds")
	case fee > o.TotalFee-o.RefundedFee:
		return Refund{}, Order{}, fail(errcode.Conflict, ErrRefundExceeds, "refund_fee exceeds the refundable "+strconv.FormatInt(o.TotalFee-o.RefundedFee, 10)+" fen")
	}
	ref := Refund{RefundID: refundID(now), OwnerMchID: owner, OutRefundNo: r.OutRefundNo, OutTradeNo: o.OutTradeNo,
		RefundFee: fee, TotalFee: total, Status: "SUCCESS", RefundAccount: r.RefundAccount, RefundDesc: r.RefundDesc,
		RequestDigest: digest, CreatedAt: now, SuccessAt: now}
	// A refund of an advance the payer has not repaid goes back to the advance and
	// lowers the debt (cancelling it when refunded in full); any other refund goes to
	// the payer's wallet.
	credit := walletAccount(o.PayerID)
	if o.DebtState == InDebt {
		credit = advanceAccount
	}
	_, err = ledger.Apply(ctx, tx, now, ledger.Request{Key: "refund:" + owner + "/" + r.OutRefundNo,
		Debit: settlementAccount(owner), Credit: credit, Amount: fee, Code: "refund", FoldDebit: true})
	if errcode.Is(err, errcode.InsufficientFunds) {
		return Refund{}, Order{}, fail(errcode.InsufficientFunds, ErrNotEnough, "the merchant's refundable balance is not enough")
	}
	if err != nil {
		return Refund{}, Order{}, err
	}
	if err := tx.InsertRefund(ctx, ref); err != nil {
		return Refund{}, Order{}, err
	}
	o.RefundedFee += fee
	o.RefundCount++
	if o.DebtState == InDebt && o.RefundedFee == o.TotalFee {
		o.DebtState = NoDebt
	}
	o.State, o.StateDesc, o.UpdatedAt = StateRefund, "转入退款", now
	if err := tx.UpdateOrder(ctx, o); err != nil {
		return Refund{}, Order{}, err
	}
	if r.NotifyURL != "" {
		n := refundNotification(r, ref, o, now)
		if r.V3 {
			n = refundNotificationV3(r, ref, o, now)
		}
		if err := tx.InsertNotification(ctx, n); err != nil {
			return Refund{}, Order{}, err
		}
	}
	return ref, o, nil
}

// refundNotification is the v2 refund result notification, written in the refund's
// own transaction so it is sent if and only if the refund happened.
func refundNotification(r RefundRequest, ref Refund, o Order, now time.Time) notify.Notification {
	var p notify.V2Refund
	add := func(list *[]notify.Field, name, value string) {
		if value != "" {
			*list = append(*list, notify.Field{Name: name, Value: value})
		}
	}
	add(&p.Outer, "appid", o.AppID)
	add(&p.Outer, "mch_id", o.MchID)
	add(&p.Outer, "sub_appid", o.SubAppID)
	add(&p.Outer, "sub_mch_id", o.SubMchID)
	fen := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, f := range []notify.Field{
		{Name: "out_refund_no", Value: ref.OutRefundNo}, {Name: "out_trade_no", Value: o.OutTradeNo},
		{Name: "refund_account", Value: ref.RefundAccount}, {Name: "refund_fee", Value: fen(ref.RefundFee)},
		{Name: "refund_id", Value: ref.RefundID}, {Name: "refund_recv_accout", Value: "支付用户零钱"},
		{Name: "refund_request_source", Value: "API"}, {Name: "refund_status", Value: ref.Status},
		{Name: "settlement_refund_fee", Value: fen(ref.RefundFee)}, {Name: "settlement_total_fee", Value: fen(o.TotalFee)},
		{Name: "success_time", Value: ref.SuccessAt.In(beijing).Format("2006-01-02 15:04:05")},
		{Name: "total_fee", Value: fen(o.TotalFee)}, {Name: "transaction_id", Value: o.TransactionID},
		{Name: "cash_refund_fee", Value: fen(ref.RefundFee)},
	} {
		add(&p.ReqInfo, f.Name, f.Value)
	}
	payload, _ := json.Marshal(p)
	return notify.Notification{ID: "N" + now.In(beijing).Format("20060102") + randid.Digits(18), MchID: o.MchID,
		Format: notify.FormatV2Refund, EventType: "REFUND." + ref.Status, URL: r.NotifyURL, Payload: payload, NextAt: now, CreatedAt: now}
}

// RefundV3 is the resource of a v3 refund notification, as wechatpay-go's
// refunddomestic notification model reads it.
type RefundV3 struct {
	MchID               string `json:"mchid"`
	SPMchID             string `json:"sp_mchid,omitempty"`
	SubMchID            string `json:"sub_mchid,omitempty"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

func refundNotificationV3(r RefundRequest, ref Refund, o Order, now time.Time) notify.Notification {
	v := RefundV3{MchID: o.MchID, OutTradeNo: o.OutTradeNo, TransactionID: o.TransactionID, OutRefundNo: ref.OutRefundNo,
		RefundID: ref.RefundID, RefundStatus: ref.Status, SuccessTime: ref.SuccessAt.In(beijing).Format(time.RFC3339),
		UserReceivedAccount: "支付用户零钱"}
	if o.SubMchID != "" {
		v.MchID, v.SPMchID, v.SubMchID = "", o.MchID, o.SubMchID
	}
	v.Amount.Total, v.Amount.Refund, v.Amount.PayerTotal, v.Amount.PayerRefund = o.TotalFee, ref.RefundFee, o.TotalFee, ref.RefundFee
	res, _ := json.Marshal(v)
	payload, _ := json.Marshal(notify.V3Event{ResourceType: "encrypt-resource", Summary: "退款成功", AssociatedData: "refund",
		OriginalType: "refund", Resource: res})
	return notify.Notification{ID: "N" + now.In(beijing).Format("20060102") + randid.Digits(18), MchID: o.MchID,
		Format: notify.FormatV3, EventType: "REFUND." + ref.Status, URL: r.NotifyURL, Payload: payload, NextAt: now, CreatedAt: now}
}

// RefundQueryRequest names refunds: by refund_id, out_refund_no, transaction_id or
// out_trade_no, in that order of precedence.
type RefundQueryRequest struct {
	OrderRef
	RefundID, OutRefundNo string
}

// RefundQuery returns the order and the refunds asked for (one, or all of the order).
func (s *Service) RefundQuery(ctx context.Context, r RefundQueryRequest) (Order, []Refund, error) {
	if err := s.fault(ctx, r.MchID, "refundquery"); err != nil {
		return Order{}, nil, err
	}
	var (
		o    Order
		refs []Refund
	)
	err := s.run(ctx, func(tx Tx) error {
		owner := r.owner()
		notFound := fail(errcode.NotFound, ErrNoSuchRefund, "refund does not exist")
		var one Refund
		var found bool
		var err error
		switch {
		case r.RefundID != "":
			one, found, err = tx.RefundByID(ctx, owner, r.RefundID)
		case r.OutRefundNo != "":
			one, found, err = tx.Refund(ctx, owner, r.OutRefundNo)
		default:
			if o, err = s.find(ctx, tx, r.OrderRef); err != nil {
				return notFound
			}
			if refs, err = tx.RefundsOfOrder(ctx, owner, o.OutTradeNo); err != nil {
				return err
			}
			if len(refs) == 0 {
				return notFound
			}
			return nil
		}
		if err != nil {
			return err
		}
		if !found {
			return notFound
		}
		refs = []Refund{one}
		o, _, err = tx.Order(ctx, owner, one.OutTradeNo)
		return err
	})
	return o, refs, err
}

// refundID is 29 digits: 5030, the Beijing date, 17 random digits.
func refundID(now time.Time) string {
	return "5030" + now.In(beijing).Format("20060102") + randid.Digits(17)
}
