package k12

import (
	"context"
	"encoding/json"
	"time"

	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/randid"
)

// Webhooks of debits, debts and user status. WeChat Pay says these outcomes are
// pushed to the service provider but publishes no event names or payloads; these
// are OpenFacePay's. They travel in the v3 envelope, encrypted with the service
// provider's APIv3 key, on the same retry schedule as every notification. A debit's
// resource is the debit's query answer (§3.11); a user's is the user status below.
const (
	EventDebitSuccess  = "FACEPAY.TRANSACTION_SUCCESS"  // the wallet paid
	EventDebitAdvanced = "FACEPAY.TRANSACTION_ADVANCED" // the platform advanced the money: debt_state IN_DEBT
	EventDebitFailed   = "FACEPAY.TRANSACTION_FAILED"   // PAYERROR, error_type says why
	EventDebtRepaid    = "FACEPAY.DEBT_REPAID"          // a repayment paid the user's open debts
	EventUserDisabled  = "FACEPAY.USER_DISABLED"        // the platform disabled the user (unpaid advances)
	EventUserEnabled   = "FACEPAY.USER_ENABLED"         // repaying lifted the platform's disabling
)

var summaries = map[string]string{
	EventUserStateChange: "用户签约状态变更",
	EventDebitSuccess:    "扣款成功",
	EventDebitAdvanced:   "扣款失败，已垫资",
	EventDebitFailed:     "扣款失败",
	EventDebtRepaid:      "欠款已还清",
	EventUserDisabled:    "用户已被禁用",
	EventUserEnabled:     "用户已恢复",
}

func debitEvent(d Debit) string {
	switch {
	case d.Order.State != pay.StatePayError && d.Order.Funding == pay.FundingAdvance:
		return EventDebitAdvanced
	case d.Order.State == pay.StatePayError:
		return EventDebitFailed
	}
	return EventDebitSuccess
}

// outbox is where a change's webhooks go, in the change's own transaction.
type outbox interface {
	InsertNotification(ctx context.Context, n notify.Notification) error
}

// queue writes a webhook to the service provider into the outbox of tx; nothing when
// it has no notify URL.
func (s *Service) queue(ctx context.Context, tx outbox, url, spMchID, event string, resource any, now time.Time) error {
	if url == "" {
		return nil
	}
	return tx.InsertNotification(ctx, *newEvent(url, spMchID, event, resource, now))
}

func newEvent(url, spMchID, event string, resource any, now time.Time) *notify.Notification {
	res, _ := json.Marshal(resource)
	payload, _ := json.Marshal(notify.V3Event{ResourceType: "encrypt-resource", Summary: summaries[event], AssociatedData: "facepay",
		OriginalType: "facepay", Resource: res})
	return &notify.Notification{ID: "K" + now.In(beijing).Format("20060102") + randid.Digits(16), MchID: spMchID, Format: notify.FormatV3,
		EventType: event, URL: url, Payload: payload, State: notify.Pending, NextAt: now, CreatedAt: now}
}

// UserStatus is the resource of the user-status webhooks.
type UserStatus struct {
	UserID           string `json:"user_id"`
	OutUserID        string `json:"out_user_id"`
	OrganizationID   string `json:"organization_id"`
	Status           string `json:"status"`
	ContractState    string `json:"contract_state"`
	ContractID       string `json:"contract_id,omitempty"`
	Reason           string `json:"reason"` // DEBT: unpaid advances; REPAID: the debts were repaid
	NotifyCreateTime string `json:"notify_create_time"`
}

func userStatusView(u User, reason string) UserStatus {
	return UserStatus{UserID: u.UserID, OutUserID: u.OutUserID, OrganizationID: u.OrgID, Status: u.Status, ContractState: u.ContractState,
		ContractID: u.ContractID, Reason: reason, NotifyCreateTime: u.UpdatedAt.In(beijing).Format(time.RFC3339)}
}

// DebitView is a debit as offlineface/transactions and its query answer it (§3.11),
// and as the debit webhooks carry it.
type DebitView struct {
	SPAppID  string `json:"sp_appid"`
	SPMchID  string `json:"sp_mchid"`
	SubAppID string `json:"sub_appid,omitempty"`
	SubMchID string `json:"sub_mchid"`
	Payer    *struct {
		SPOpenID  string `json:"sp_openid,omitempty"`
		SubOpenID string `json:"sub_openid,omitempty"`
	} `json:"payer,omitempty"`
	Amount struct {
		Total       int64  `json:"total"`
		Currency    string `json:"currency"`
		PayTotal    int64  `json:"pay_total"`
		PayCurrency string `json:"pay_currency"`
	} `json:"amount"`
	SceneInfo struct {
		DeviceIP string `json:"device_ip"`
	} `json:"scene_info"`
	BankType               string `json:"bank_type,omitempty"`
	TradeType              string `json:"trade_type"`
	TradeState             string `json:"trade_state"`
	TradeStateDescription  string `json:"trade_state_description"`
	ErrorType              string `json:"error_type,omitempty"`
	DebtState              string `json:"debt_state"`
	Description            string `json:"description,omitempty"`
	Attach                 string `json:"attach,omitempty"`
	SuccessTime            string `json:"success_time,omitempty"`
	TransactionID          string `json:"transaction_id"`
	RepaymentTransactionID string `json:"repayment_transaction_id,omitempty"`
	OutTradeNo             string `json:"out_trade_no"`
	// Ours: which user and organisation, so the service provider's books need no lookup.
	UserID         string `json:"user_id"`
	OrganizationID string `json:"organization_id"`
}

// View renders the debit.
func (d Debit) View() DebitView {
	o := d.Order
	v := DebitView{SPAppID: o.AppID, SPMchID: o.MchID, SubAppID: o.SubAppID, SubMchID: o.SubMchID, TradeType: o.TradeType,
		TradeState: o.State, TradeStateDescription: o.StateDesc, ErrorType: d.Record.ErrorType, DebtState: o.DebtState,
		Description: o.Body, Attach: o.Attach, TransactionID: o.TransactionID, RepaymentTransactionID: o.RepaymentID,
		OutTradeNo: o.OutTradeNo, UserID: d.Record.UserID, OrganizationID: d.Record.OrgID}
	if v.DebtState == "" {
		v.DebtState = pay.NoDebt
	}
	if o.OpenID != "" {
		v.Payer = &struct {
			SPOpenID  string `json:"sp_openid,omitempty"`
			SubOpenID string `json:"sub_openid,omitempty"`
		}{o.OpenID, o.SubOpenID}
	}
	v.Amount.Total, v.Amount.Currency, v.Amount.PayCurrency = o.TotalFee, "CNY", "CNY"
	v.SceneInfo.DeviceIP = d.Record.DeviceIP
	if o.State != pay.StatePayError {
		v.Amount.PayTotal, v.BankType = o.TotalFee, "OTHERS"
		v.SuccessTime = o.PaidAt.In(beijing).Format(time.RFC3339)
	}
	return v
}
