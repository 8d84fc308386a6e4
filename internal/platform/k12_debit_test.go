package platform_test

import (
	"context"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	wxnotify "github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

const offlineBase = "https://api.mch.weixin.qq.com/v3/offlineface"

// school is a service provider with one school, a kiosk holding an offline authinfo,
// and the wechatpay-go client of the service provider's server.
type school struct {
	b        *bundle
	sp, sub  tenant.Credentials
	org      k12.Organisation
	c        *core.Client
	kiosk    device.Identity
	authinfo string
	seq      atomic.Int64
}

func newSchool(t *testing.T, b *bundle, production bool) *school {
	t.Helper()
	return newSchoolIn(t, b, production, tenant.PublicKeyMode)
}

// newSchoolIn is newSchool whose service provider verifies the platform in mode
// (public key, or certificate).
func newSchoolIn(t *testing.T, b *bundle, production bool, mode tenant.PlatformMode) *school {
	t.Helper()
	ctx := context.Background()
	s := &school{b: b}
	s.sp = b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider, PlatformMode: mode})
	s.sub = b.merchant(t, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: s.sp.MchID})
	if production {
		if err := b.P.DB.SetProduction(ctx, s.sp.MchID); err != nil {
			t.Fatal(err)
		}
	}
	s.org = storagetest.Must(b.P.K12.NewOrganisation(ctx, s.sp.MchID, s.sub.MchID, "实验小学"+randid.Digits(4)))
	s.c = k12Client(t, b, s.sp)
	if mode == tenant.CertificateMode {
		s.c = k12CertClient(t, b, s.sp)
	}
	s.kiosk, _ = device.NewIdentity()
	raw, _ := device.MakeRawdata(s.kiosk, time.Now())
	r, err := s.c.Post(ctx, offlineBase+"/authinfo", map[string]string{"sp_appid": s.sp.AppID, "sub_mchid": s.sub.MchID,
		"device_id": "CANTEEN-1", "raw_data": raw, "organization_id": s.org.ID})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	decodeResult(t, r, &v)
	s.authinfo = v["authinfo"]
	return s
}

// student signs a new student on a new payer's wallet holding balance fen.
func (s *school) student(t *testing.T, balance int64) (userID, payerID string) {
	t.Helper()
	ctx := context.Background()
	r, err := s.c.Post(ctx, k12Base+"/tokens", map[string]any{"web_init_data": map[string]string{
		"out_user_id": "stu-" + randid.Digits(8), "organization_id": s.org.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	decodeResult(t, r, &v)
	payerID = storagetest.Must(s.b.P.Pay.CreatePayer(ctx, balance, "")).PayerID
	u, _, err := s.b.P.K12.Sign(ctx, v["token"], payerID)
	if err != nil {
		t.Fatal(err)
	}
	return u.UserID, payerID
}

// credential is what the kiosk makes when userID pays fen.
func (s *school) credential(t *testing.T, userID string, fen int64) string {
	t.Helper()
	c, err := device.MintOfflineCredential(s.kiosk.Key, device.OfflineClaims{AuthInfo: s.authinfo, UserID: userID, Amount: fen,
		IssuedAt: time.Now().Unix(), Nonce: randid.Hex(8)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *school) debitBody(cred, outTradeNo string, fen int64) map[string]any {
	return map[string]any{"auth_code": cred, "sp_appid": s.sp.AppID, "sp_mchid": s.sp.MchID, "sub_mchid": s.sub.MchID,
		"amount": map[string]any{"total": fen, "currency": "CNY"}, "scene_info": map[string]string{"device_ip": "10.0.0.8"},
		"description": "午餐", "out_trade_no": outTradeNo, "business": map[string]int{"business_product_id": 2, "business_scene_id": 3}}
}

// pay has userID pay fen at the kiosk and the server debit it: the debit's answer.
func (s *school) pay(t *testing.T, userID string, fen int64) debitView {
	t.Helper()
	return s.debit(t, s.debitBody(s.credential(t, userID, fen), "LUNCH"+strconv.FormatInt(s.seq.Add(1), 10)+randid.Digits(6), fen))
}

type debitView struct {
	TradeState    string `json:"trade_state"`
	ErrorType     string `json:"error_type"`
	DebtState     string `json:"debt_state"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	Repayment     string `json:"repayment_transaction_id"`
	UserID        string `json:"user_id"`
	SuccessTime   string `json:"success_time"`
	SubMchID      string `json:"sub_mchid"`
	Payer         struct {
		SPOpenID string `json:"sp_openid"`
	} `json:"payer"`
	Amount struct {
		Total    int64 `json:"total"`
		PayTotal int64 `json:"pay_total"`
	} `json:"amount"`
}

func (s *school) debit(t *testing.T, body map[string]any) debitView {
	t.Helper()
	r, err := s.c.Post(context.Background(), offlineBase+"/transactions", body)
	if err != nil {
		t.Fatal(err)
	}
	var v debitView
	decodeResult(t, r, &v)
	return v
}

func (s *school) balance(t *testing.T, payerID string) int64 {
	t.Helper()
	return storagetest.Must(s.b.P.Pay.Payer(context.Background(), payerID)).Balance
}

func wantOutcome(t *testing.T, what string, v debitView, state, errorType, debt string) {
	t.Helper()
	if v.TradeState != state || v.ErrorType != errorType || v.DebtState != debt {
		t.Fatalf("%s: trade_state %s error_type %q debt_state %s, want %s %q %s", what, v.TradeState, v.ErrorType, v.DebtState, state, errorType, debt)
	}
}

// TestK12Withholding drives offlineface/transactions and its query with wechatpay-go
// on both backends: a debit pays from the contracted wallet; a retry answers the
// first result and moves nothing; other content under the same out_trade_no, a
// second use of a credential, foreign and altered credentials are refused and change
// nothing; limits, risk rules, disabled users, ended contracts and an empty wallet
// answer PAYERROR with their own error_type and move no money.
func TestK12Withholding(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newSchool(t, b, true)
		other := newSchool(t, b, true)
		user, payer := s.student(t, 100000)

		cred := s.credential(t, user, 1500)
		body := s.debitBody(cred, "LUNCH-0001", 1500)
		first := s.debit(t, body)
		wantOutcome(t, "a debit", first, "SUCCESS", "", "NO_DEBT")
		if first.Payer.SPOpenID != b.P.Pay.OpenID(s.sp.AppID, payer) || first.Amount.PayTotal != 1500 || first.SuccessTime == "" ||
			first.UserID != user || first.SubMchID != s.sub.MchID || len(first.TransactionID) != 28 {
			t.Fatalf("debit answer: %+v", first)
		}
		if got := s.balance(t, payer); got != 100000-1500 {
			t.Fatalf("wallet after a debit of 1500: %d", got)
		}
		if again := s.debit(t, body); again != first {
			t.Fatalf("a retry answered %+v, the first %+v", again, first)
		}
		if got := s.balance(t, payer); got != 100000-1500 {
			t.Fatalf("a retry moved money: %d", got)
		}
		changed := s.debitBody(cred, "LUNCH-0001", 1500)
		changed["description"] = "晚餐"
		_, err := s.c.Post(ctx, offlineBase+"/transactions", changed)
		wantAPIError(t, "other content under a used out_trade_no", err, 400, "INVALID_REQUEST")
		_, err = s.c.Post(ctx, offlineBase+"/transactions", s.debitBody(cred, "LUNCH-0002", 1500))
		wantAPIError(t, "a credential used twice", err, 400, "PARAM_ERROR")

		var q debitView
		r, err := s.c.Get(ctx, offlineBase+"/transactions/out-trade-no/LUNCH-0001?sp_mchid="+s.sp.MchID+"&sub_mchid="+s.sub.MchID+"&business_product_id=2")
		if err != nil {
			t.Fatal(err)
		}
		decodeResult(t, r, &q)
		if q != first {
			t.Fatalf("query %+v, debit %+v", q, first)
		}
		_, err = other.c.Get(ctx, offlineBase+"/transactions/out-trade-no/LUNCH-0001?sp_mchid="+other.sp.MchID+"&sub_mchid="+s.sub.MchID+"&business_product_id=2")
		wantAPIError(t, "another service provider's debit", err, 404, "RESOURCE_NOT_EXISTS")
		_, err = s.c.Get(ctx, offlineBase+"/transactions/out-trade-no/LUNCH-9999?sp_mchid="+s.sp.MchID+"&sub_mchid="+s.sub.MchID+"&business_product_id=2")
		wantAPIError(t, "a debit that does not exist", err, 404, "RESOURCE_NOT_EXISTS")

		// Requests that cannot be processed change nothing: the credential stays good.
		fresh := s.credential(t, user, 200)
		for name, mod := range map[string]func(m map[string]any){
			"amount 0":          func(m map[string]any) { m["amount"] = map[string]any{"total": 0, "currency": "CNY"} },
			"a negative amount": func(m map[string]any) { m["amount"] = map[string]any{"total": -200, "currency": "CNY"} },
			"another amount":    func(m map[string]any) { m["amount"] = map[string]any{"total": 201, "currency": "CNY"} },
			"no device_ip":      func(m map[string]any) { delete(m, "scene_info") },
			"an unknown product": func(m map[string]any) {
				m["business"] = map[string]int{"business_product_id": 7, "business_scene_id": 3}
			},
			"an altered credential":    func(m map[string]any) { m["auth_code"] = fresh[:len(fresh)-4] + "AAAA" },
			"another sub_mchid":        func(m map[string]any) { m["sub_mchid"] = other.sub.MchID },
			"an out_trade_no of 5":     func(m map[string]any) { m["out_trade_no"] = "L0001" },
			"a payment code, not ours": func(m map[string]any) { m["auth_code"] = "134567890123456789" },
		} {
			m := s.debitBody(fresh, "LUNCH-0003", 200)
			mod(m)
			_, err := s.c.Post(ctx, offlineBase+"/transactions", m)
			wantAPIError(t, name, err, 400, "PARAM_ERROR")
		}
		_, err = other.c.Post(ctx, offlineBase+"/transactions", other.debitBody(fresh, "LUNCH-0003", 200))
		wantAPIError(t, "another service provider's credential", err, 400, "PARAM_ERROR")
		// Credentials past their lifetime, from the kiosk's future, or for another user.
		mint := func(userID string, at time.Time) string {
			c, _ := device.MintOfflineCredential(s.kiosk.Key, device.OfflineClaims{AuthInfo: s.authinfo, UserID: userID, Amount: 200,
				IssuedAt: at.Unix(), Nonce: randid.Hex(8)})
			return c
		}
		for name, cred := range map[string]string{
			"a credential 25 hours old":          mint(user, time.Now().Add(-25*time.Hour)),
			"a credential from 10 minutes ahead": mint(user, time.Now().Add(10*time.Minute)),
		} {
			_, err := s.c.Post(ctx, offlineBase+"/transactions", s.debitBody(cred, "LUNCH-0004", 200))
			wantAPIError(t, name, err, 400, "PARAM_ERROR")
		}
		// Another kiosk's key cannot sign for this kiosk's authinfo.
		thief, _ := device.NewIdentity()
		forged, _ := device.MintOfflineCredential(thief.Key, device.OfflineClaims{AuthInfo: s.authinfo, UserID: user, Amount: 200,
			IssuedAt: time.Now().Unix(), Nonce: "x"})
		_, err = s.c.Post(ctx, offlineBase+"/transactions", s.debitBody(forged, "LUNCH-0004", 200))
		wantAPIError(t, "a credential signed by another device", err, 400, "PARAM_ERROR")
		wantOutcome(t, "the credential after refusals", s.debit(t, s.debitBody(fresh, "LUNCH-0003", 200)), "SUCCESS", "", "NO_DEBT")

		// Limits (inclusive): 100 CNY a debit, 500 CNY a day, refused debits not counted.
		wantOutcome(t, "10001 fen", s.pay(t, user, 10001), "PAYERROR", "EXCEED_PAYMENT_LIMIT", "NO_DEBT")
		for range 4 {
			wantOutcome(t, "10000 fen", s.pay(t, user, 10000), "SUCCESS", "", "NO_DEBT")
		}
		wantOutcome(t, "to 50000 in the day", s.pay(t, user, 50000-1500-200-40000), "SUCCESS", "", "NO_DEBT")
		wantOutcome(t, "1 fen over the day", s.pay(t, user, 1), "PAYERROR", "EXCEED_DAILY_LIMIT", "NO_DEBT")
		if got := s.balance(t, payer); got != 100000-50000 {
			t.Fatalf("after a day's limit the wallet holds %d", got)
		}

		// An empty wallet without advance funding: PAYERROR, and the credential may
		// be debited again once the wallet holds the money.
		poor, poorPayer := s.student(t, 50)
		cred = s.credential(t, poor, 80)
		wantOutcome(t, "an empty wallet", s.debit(t, s.debitBody(cred, "POOR-0001", 80)), "PAYERROR", "NOT_ENOUGH", "NO_DEBT")
		storagetest.Must(b.P.Pay.TopUp(ctx, poorPayer, 100))
		wantOutcome(t, "after a top-up", s.debit(t, s.debitBody(cred, "POOR-0002", 80)), "SUCCESS", "", "NO_DEBT")
		if got := s.balance(t, poorPayer); got != 70 {
			t.Fatalf("wallet after the failed and the paid debit: %d", got)
		}

		// Risk rules: outside the allowed hours or devices nothing is debited.
		kid, kidPayer := s.student(t, 5000)
		now := time.Now().In(time.FixedZone("CST", 8*3600))
		closed := now.Add(2*time.Hour).Format("15:04") + "-" + now.Add(3*time.Hour).Format("15:04")
		open := now.Add(-time.Hour).Format("15:04") + "-" + now.Add(time.Hour).Format("15:04")
		for _, c := range []struct {
			hours   string
			devices []string
			want    string
		}{{closed, nil, "RISK_CONTROL"}, {"", []string{"CANTEEN-2"}, "RISK_CONTROL"}, {open, []string{"canteen-1"}, ""}, {"", nil, ""}} {
			if err := b.P.K12.SetRisk(ctx, s.org.ID, c.hours, c.devices); err != nil {
				t.Fatal(err)
			}
			v := s.pay(t, kid, 10)
			if v.ErrorType != c.want {
				t.Fatalf("risk hours %q devices %v: %+v", c.hours, c.devices, v)
			}
		}
		if got := s.balance(t, kidPayer); got != 5000-20 {
			t.Fatalf("risk refusals moved money: %d", got)
		}

		// A user the service provider disabled, and a user whose contract ended.
		patch := k12Base + "/organizations/" + s.org.ID + "/users/out-user-id/"
		ku := storagetest.Must(b.P.K12.GetUser(ctx, k12.Caller{MchID: s.sp.MchID}, s.org.ID, outUserOf(t, b, s, kid)))
		if _, err := s.c.Patch(ctx, patch+ku.OutUserID, map[string]string{"status": "DISABLED"}); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "a disabled user", s.pay(t, kid, 10), "PAYERROR", "USER_DISABLED", "NO_DEBT")
		if _, err := s.c.Post(ctx, k12Base+"/organizations/"+s.org.ID+"/users/user-id/"+poor+"/terminate-contract", nil); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "a terminated contract", s.pay(t, poor, 10), "PAYERROR", "CONTRACT_NOT_IN_FORCE", "NO_DEBT")

		// Two students' lunches sent at once under one out_trade_no: one is debited,
		// the other is refused as a conflict, never a server error.
		for round := range 5 {
			a, _ := s.student(t, 1000)
			c, _ := s.student(t, 1000)
			no := "RACE-" + strconv.Itoa(round) + "-" + randid.Digits(6)
			errs := make(chan error, 2)
			for _, u := range []string{a, c} {
				body := s.debitBody(s.credential(t, u, 50), no, 50)
				go func() {
					_, err := s.c.Post(ctx, offlineBase+"/transactions", body)
					errs <- err
				}()
			}
			e1, e2 := <-errs, <-errs
			if (e1 == nil) == (e2 == nil) {
				t.Fatalf("one out_trade_no, two students at once: %v / %v", e1, e2)
			}
			if e1 == nil {
				e1 = e2
			}
			wantAPIError(t, "the second student's lunch under a taken out_trade_no", e1, 400, "INVALID_REQUEST")
		}
		if a := storagetest.Must(b.P.DB.AuditLedger(ctx)); !a.Balanced() {
			t.Fatalf("ledger does not balance: %+v", a)
		}
	})
}

func outUserOf(t *testing.T, b *bundle, s *school, userID string) string {
	t.Helper()
	u, ok, err := b.P.DB.UserByID(context.Background(), s.org.ID, userID)
	if err != nil || !ok {
		t.Fatalf("user %s: %v", userID, err)
	}
	return u.OutUserID
}

// TestK12TestMerchantDay: a test service provider's users pay 1 CNY a Beijing day,
// and the day follows the service provider's test clock across midnight.
func TestK12TestMerchantDay(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newSchool(t, b, false)
		user, _ := s.student(t, 1000)
		cst := time.FixedZone("CST", 8*3600)
		if err := b.P.DB.SetTestClock(ctx, s.sp.MchID, time.Date(2026, 9, 1, 23, 58, 0, 0, cst)); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "60 fen", s.pay(t, user, 60), "SUCCESS", "", "NO_DEBT")
		wantOutcome(t, "40 fen more: 100 in the day", s.pay(t, user, 40), "SUCCESS", "", "NO_DEBT")
		wantOutcome(t, "1 fen over", s.pay(t, user, 1), "PAYERROR", "EXCEED_DAILY_LIMIT", "NO_DEBT")
		if err := b.P.DB.SetTestClock(ctx, s.sp.MchID, time.Date(2026, 9, 2, 0, 1, 0, 0, cst)); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "after Beijing midnight", s.pay(t, user, 100), "SUCCESS", "", "NO_DEBT")

		// Risk hours are Beijing time on the same test clock, and may wrap midnight.
		other, _ := s.student(t, 1000)
		for _, c := range []struct {
			at    time.Time
			hours string
			want  string
		}{
			{time.Date(2026, 9, 2, 0, 1, 0, 0, cst), "06:00-20:00", "RISK_CONTROL"},
			{time.Date(2026, 9, 2, 0, 1, 0, 0, cst), "22:00-06:00", ""},
			{time.Date(2026, 9, 2, 7, 0, 0, 0, cst), "22:00-06:00", "RISK_CONTROL"},
			{time.Date(2026, 9, 2, 7, 0, 0, 0, cst), "06:00-20:00", ""},
			{time.Date(2026, 9, 2, 20, 0, 0, 0, cst), "06:00-20:00", "RISK_CONTROL"},
			{time.Date(2026, 9, 2, 20, 0, 0, 0, cst), "", ""},
		} {
			if err := b.P.DB.SetTestClock(ctx, s.sp.MchID, c.at); err != nil {
				t.Fatal(err)
			}
			if err := b.P.K12.SetRisk(ctx, s.org.ID, c.hours, nil); err != nil {
				t.Fatal(err)
			}
			if v := s.pay(t, other, 10); v.ErrorType != c.want {
				t.Fatalf("at %s with hours %q: %+v", c.at.Format("15:04"), c.hours, v)
			}
		}
		if err := b.P.K12.SetRisk(ctx, s.org.ID, "25:00-06:00", nil); err == nil {
			t.Fatal("hours 25:00-06:00 were taken")
		}
	})
}

// TestK12AdvancesAndRepayment: with advance funding on, an empty wallet's debits are
// advanced three times (IN_DEBT); the fourth failure gets no advance and the platform
// disables the user, who is then refused; a full refund of an unpaid advance cancels
// its debt; the repayment link's repayment pays the open debts from the wallet in one
// transfer, marks them REPAID, and enables the user again. Every step is a v3 webhook
// wechatpay-go verifies.
func TestK12AdvancesAndRepayment(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newSchool(t, b, true)
		if err := b.P.DB.SetAdvanceFunding(ctx, s.sp.MchID, true); err != nil {
			t.Fatal(err)
		}
		events := webhookSink(t, b, s.sp)
		user, payer := s.student(t, 0)
		events.wait(t, k12.EventUserStateChange, "user_id", user)

		var advanced []debitView
		for i := range 3 {
			v := s.pay(t, user, 300)
			wantOutcome(t, "advance "+strconv.Itoa(i+1), v, "SUCCESS", "", "IN_DEBT")
			advanced = append(advanced, v)
			if e := events.wait(t, k12.EventDebitAdvanced, "out_trade_no", v.OutTradeNo); e["debt_state"] != "IN_DEBT" || e["user_id"] != user {
				t.Fatalf("advance webhook: %v", e)
			}
		}
		v := s.pay(t, user, 300)
		wantOutcome(t, "a fourth failure", v, "PAYERROR", "NOT_ENOUGH", "NO_DEBT")
		if e := events.wait(t, k12.EventDebitFailed, "out_trade_no", v.OutTradeNo); e["error_type"] != "NOT_ENOUGH" {
			t.Fatalf("failed debit webhook: %v", e)
		}
		if e := events.wait(t, k12.EventUserDisabled, "user_id", user); e["status"] != "DISABLED" || e["reason"] != "DEBT" {
			t.Fatalf("disabling webhook: %v", e)
		}
		storagetest.Must(b.P.Pay.TopUp(ctx, payer, 5000))
		wantOutcome(t, "a user the platform disabled", s.pay(t, user, 10), "PAYERROR", "USER_DISABLED", "NO_DEBT")

		// A full refund of an unpaid advance cancels that debt.
		_, o, err := b.P.Pay.Refund(ctx, pay.RefundRequest{OrderRef: pay.OrderRef{MchID: s.sp.MchID, SubMchID: s.sub.MchID,
			OutTradeNo: advanced[0].OutTradeNo}, OutRefundNo: "R-" + advanced[0].OutTradeNo, TotalFee: "300", RefundFee: "300"})
		if err != nil || o.DebtState != pay.NoDebt {
			t.Fatalf("refund of an advance: %+v %v", o, err)
		}
		if got := s.balance(t, payer); got != 5000 {
			t.Fatalf("a refunded advance paid the wallet: %d", got)
		}

		ou := outUserOf(t, b, s, user)
		r, err := s.c.Post(ctx, offlineBase+"/repayment-url", map[string]string{"out_user_id": ou, "organization_id": s.org.ID})
		if err != nil {
			t.Fatal(err)
		}
		var link map[string]string
		decodeResult(t, r, &link)
		if link["repayment_url"] == "" || link["expire_at"] == "" {
			t.Fatalf("repayment-url: %v", link)
		}
		_, err = other(t, b).Post(ctx, offlineBase+"/repayment-url", map[string]string{"out_user_id": ou, "organization_id": s.org.ID})
		wantAPIError(t, "another service provider's user", err, 404, "RESOURCE_NOT_EXISTS")
		tok := k12.RepaymentToken(link["repayment_url"])
		debts := storagetest.Must(b.P.K12.OpenDebts(ctx, tok))
		if len(debts.Orders) != 2 || debts.Total != 600 {
			t.Fatalf("open debts: %d orders, %d fen", len(debts.Orders), debts.Total)
		}
		rp, err := b.P.K12.Repay(ctx, tok)
		if err != nil || rp.Amount != 600 || rp.Debts != 2 {
			t.Fatalf("repay: %+v %v", rp, err)
		}
		if got := s.balance(t, payer); got != 5000-600 {
			t.Fatalf("wallet after repaying 600: %d", got)
		}
		if e := events.wait(t, k12.EventDebtRepaid, "repayment_transaction_id", rp.RepaymentID); e["amount"] != float64(600) || e["user_id"] != user {
			t.Fatalf("repaid webhook: %v", e)
		}
		if e := events.wait(t, k12.EventUserEnabled, "user_id", user); e["status"] != "NORMAL" || e["reason"] != "REPAID" {
			t.Fatalf("enabled webhook: %v", e)
		}
		for _, a := range advanced[1:] {
			var q debitView
			r, _ := s.c.Get(ctx, offlineBase+"/transactions/out-trade-no/"+a.OutTradeNo+"?sp_mchid="+s.sp.MchID+"&sub_mchid="+s.sub.MchID+"&business_product_id=2")
			decodeResult(t, r, &q)
			if q.DebtState != "REPAID" || q.Repayment != rp.RepaymentID {
				t.Fatalf("a repaid debit answers %+v", q)
			}
		}
		if _, err := b.P.K12.Repay(ctx, tok); err == nil {
			t.Fatal("repaid twice")
		}
		wantOutcome(t, "after repaying", s.pay(t, user, 100), "SUCCESS", "", "NO_DEBT")

		// A user the service provider disabled by PATCH: no webhook for the PATCH, and
		// repaying does not enable them.
		second, secondPayer := s.student(t, 0)
		events.wait(t, k12.EventUserStateChange, "user_id", second)
		wantOutcome(t, "an advance", s.pay(t, second, 200), "SUCCESS", "", "IN_DEBT")
		events.wait(t, k12.EventDebitAdvanced, "user_id", second)
		secondOut := outUserOf(t, b, s, second)
		if _, err := s.c.Patch(ctx, k12Base+"/organizations/"+s.org.ID+"/users/out-user-id/"+secondOut, map[string]string{"status": "DISABLED"}); err != nil {
			t.Fatal(err)
		}
		storagetest.Must(b.P.Pay.TopUp(ctx, secondPayer, 200))
		link2, _, err := b.P.K12.RepaymentURL(ctx, k12.Caller{MchID: s.sp.MchID}, s.org.ID, secondOut, "http://x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.P.K12.Repay(ctx, k12.RepaymentToken(link2)); err != nil {
			t.Fatal(err)
		}
		events.wait(t, k12.EventDebtRepaid, "user_id", second)
		v = s.pay(t, second, 10)
		wantOutcome(t, "a user the provider disabled, after repaying", v, "PAYERROR", "USER_DISABLED", "NO_DEBT")
		events.wait(t, k12.EventDebitFailed, "out_trade_no", v.OutTradeNo)
		for _, ev := range []string{k12.EventUserDisabled, k12.EventUserEnabled} {
			if events.has(ev, "user_id", second) {
				t.Fatalf("%s was sent for a user the provider disabled", ev)
			}
		}
		if a := storagetest.Must(b.P.DB.AuditLedger(ctx)); !a.Balanced() {
			t.Fatalf("ledger does not balance: %+v", a)
		}
	})
}

func other(t *testing.T, b *bundle) *core.Client {
	return k12Client(t, b, b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider}))
}

// sink holds the webhooks a service provider received, decrypted and verified by
// wechatpay-go's notify handler. Webhooks written in one transaction may arrive in
// any order, so tests wait for the one they expect.
type sink struct {
	mu   sync.Mutex
	got  []map[string]any
	seen chan struct{}
}

func webhookSink(t *testing.T, b *bundle, sp tenant.Credentials) *sink {
	t.Helper()
	pub, _ := utils.LoadPublicKey(sp.PlatformPublicKeyPEM)
	handler, err := wxnotify.NewRSANotifyHandler(sp.APIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(sp.PlatformPublicKeyID, *pub))
	if err != nil {
		t.Fatal(err)
	}
	k := &sink{seen: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		content := map[string]any{}
		req, err := handler.ParseNotifyRequest(r.Context(), r, &content)
		if err != nil {
			t.Errorf("wechatpay-go refuses the webhook: %v", err)
			w.WriteHeader(400)
			return
		}
		content["event_type"] = req.EventType
		k.mu.Lock()
		k.got = append(k.got, content)
		k.mu.Unlock()
		select {
		case k.seen <- struct{}{}:
		default:
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	if err := b.P.DB.SetNotifyURL(context.Background(), sp.MchID, srv.URL); err != nil {
		t.Fatal(err)
	}
	return k
}

// has tells whether a webhook of event whose field key is value has arrived.
func (k *sink) has(event, key string, value any) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.got {
		if e["event_type"] == event && e[key] == value {
			return true
		}
	}
	return false
}

// wait returns (and removes) the first webhook of event whose field key is value.
func (k *sink) wait(t *testing.T, event, key string, value any) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		k.mu.Lock()
		for i, e := range k.got {
			if e["event_type"] == event && e[key] == value {
				k.got = append(k.got[:i], k.got[i+1:]...)
				k.mu.Unlock()
				return e
			}
		}
		k.mu.Unlock()
		select {
		case <-k.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s webhook with %s=%v", event, key, value)
		}
	}
}

// TestK12Refunds: K12 debits, made by a service provider whose wechatpay-go client
// verifies the platform certificate (certificate mode), are refunded through v3
// (wechatpay-go's refunddomestic, with its query) and through v2 (gopay); refunds go back to the wallet and give no
// limit back; another service provider cannot refund a school's debit; a full refund
// of an unpaid advance cancels the debt instead of paying the wallet.
func TestK12Refunds(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newSchoolIn(t, b, false, tenant.CertificateMode)
		user, payer := s.student(t, 1000)
		first := s.pay(t, user, 60)
		second := s.pay(t, user, 40)
		wantOutcome(t, "the day's 100", second, "SUCCESS", "", "NO_DEBT")

		api := refunddomestic.RefundsApiService{Client: s.c}
		resp, _, err := api.Create(ctx, refunddomestic.CreateRequest{SubMchid: core.String(s.sub.MchID), OutTradeNo: core.String(first.OutTradeNo),
			OutRefundNo: core.String("RF-" + first.OutTradeNo), Reason: core.String("菜品售罄"),
			Amount: &refunddomestic.AmountReq{Refund: core.Int64(25), Total: core.Int64(60), Currency: core.String("CNY")}})
		if err != nil {
			t.Fatal(err)
		}
		if *resp.Status != refunddomestic.STATUS_SUCCESS || *resp.Amount.Refund != 25 || *resp.TransactionId != first.TransactionID {
			t.Fatalf("v3 refund: %v", resp)
		}
		got, _, err := api.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("RF-" + first.OutTradeNo),
			SubMchid: core.String(s.sub.MchID)})
		if err != nil || *got.RefundId != *resp.RefundId {
			t.Fatalf("v3 refund query: %v %v", got, err)
		}
		if bal := s.balance(t, payer); bal != 1000-100+25 {
			t.Fatalf("wallet after refunding 25: %d", bal)
		}
		wantOutcome(t, "a refund gives no limit back", s.pay(t, user, 1), "PAYERROR", "EXCEED_DAILY_LIMIT", "NO_DEBT")

		foreign := refunddomestic.RefundsApiService{Client: other(t, b)}
		_, _, err = foreign.Create(ctx, refunddomestic.CreateRequest{SubMchid: core.String(s.sub.MchID), OutTradeNo: core.String(second.OutTradeNo),
			OutRefundNo: core.String("RF-X"), Amount: &refunddomestic.AmountReq{Refund: core.Int64(40), Total: core.Int64(40), Currency: core.String("CNY")}})
		wantAPIError(t, "another service provider's refund", err, 404, "RESOURCE_NOT_EXISTS")
		_, _, err = api.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("RF-NONE"), SubMchid: core.String(s.sub.MchID)})
		wantAPIError(t, "a refund that does not exist", err, 404, "RESOURCE_NOT_EXISTS")

		c := gopayClient(t, b.URL, s.sp, true)
		bm := make(gopay.BodyMap)
		bm.Set("nonce_str", v2wire.NonceStr()).Set("sub_mch_id", s.sub.MchID).Set("out_trade_no", second.OutTradeNo).Set("out_refund_no", "RF2-1").
			Set("total_fee", 40).Set("refund_fee", 40).Set("sign_type", wechat.SignType_HMAC_SHA256)
		if rsp, _, err := c.Refund(ctx, bm); err != nil || rsp.ResultCode != "SUCCESS" {
			t.Fatalf("v2 refund of a K12 debit: %+v %v", rsp, err)
		}
		if bal := s.balance(t, payer); bal != 1000-100+25+40 {
			t.Fatalf("wallet after the v2 refund: %d", bal)
		}

		// An unpaid advance refunded in full: the debt goes, the wallet gets nothing.
		adv := newSchool(t, b, true)
		if err := b.P.DB.SetAdvanceFunding(ctx, adv.sp.MchID, true); err != nil {
			t.Fatal(err)
		}
		debtor, debtorPayer := adv.student(t, 0)
		owed := adv.pay(t, debtor, 300)
		wantOutcome(t, "an advance", owed, "SUCCESS", "", "IN_DEBT")
		advAPI := refunddomestic.RefundsApiService{Client: adv.c}
		_, _, err = advAPI.Create(ctx, refunddomestic.CreateRequest{SubMchid: core.String(adv.sub.MchID),
			TransactionId: core.String(owed.TransactionID), OutRefundNo: core.String("RF-ADV"),
			Amount: &refunddomestic.AmountReq{Refund: core.Int64(300), Total: core.Int64(300), Currency: core.String("CNY")}})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := adv.c.Get(ctx, offlineBase+"/transactions/out-trade-no/"+owed.OutTradeNo+"?sp_mchid="+adv.sp.MchID+"&sub_mchid="+adv.sub.MchID+"&business_product_id=2")
		var q debitView
		decodeResult(t, r, &q)
		if q.DebtState != "NO_DEBT" || q.TradeState != "REFUND" || adv.balance(t, debtorPayer) != 0 {
			t.Fatalf("a refunded advance: %+v, wallet %d", q, adv.balance(t, debtorPayer))
		}
		if a := storagetest.Must(b.P.DB.AuditLedger(ctx)); !a.Balanced() {
			t.Fatalf("ledger does not balance: %+v", a)
		}
	})
}

// TestK12DesignatedCards: a LIMIT_BANK_CARD contract debits only a wallet holding the
// presign's card and is never advanced; a PRIORITY_BANK_CARD contract uses the card
// when the wallet holds it (no advance) and is otherwise downgraded, advanced like
// LIMIT_NONE; a service provider's own limits apply on top of the platform's.
func TestK12DesignatedCards(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newSchool(t, b, true)
		if err := b.P.DB.SetAdvanceFunding(ctx, s.sp.MchID, true); err != nil {
			t.Fatal(err)
		}
		const card = "6222020200112233445"
		signWith := func(mode string, balance int64, payerCard string) (string, string) {
			t.Helper()
			tok, err := b.P.K12.NewPresign(ctx, k12.Caller{MchID: s.sp.MchID}, k12.Presign{BusinessName: "K12食堂", OrgID: s.org.ID,
				OutUserID: "stu-" + randid.Digits(8), Mode: mode, CardNumber: card, CardHolderType: "IDCARD", CardHolderID: "110101198001010011"})
			if err != nil {
				t.Fatal(err)
			}
			payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, balance, "")).PayerID
			if payerCard != "" {
				if err := b.P.Pay.SetCard(ctx, payer, payerCard); err != nil {
					t.Fatal(err)
				}
			}
			u, _, err := b.P.K12.Sign(ctx, tok, payer)
			if err != nil {
				t.Fatal(err)
			}
			return u.UserID, payer
		}
		limited, limitedPayer := signWith(k12.LimitBankCard, 1000, "6222020200119999999")
		wantOutcome(t, "LIMIT_BANK_CARD on a wallet without the card", s.pay(t, limited, 100), "PAYERROR", "BANK_CARD_MISMATCH", "NO_DEBT")
		if err := b.P.Pay.SetCard(ctx, limitedPayer, card); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "LIMIT_BANK_CARD on the card", s.pay(t, limited, 100), "SUCCESS", "", "NO_DEBT")
		wantOutcome(t, "LIMIT_BANK_CARD short of money", s.pay(t, limited, 5000), "PAYERROR", "NOT_ENOUGH", "NO_DEBT")

		onCard, _ := signWith(k12.PriorityBankCard, 0, card)
		wantOutcome(t, "PRIORITY_BANK_CARD on the card, short", s.pay(t, onCard, 100), "PAYERROR", "NOT_ENOUGH", "NO_DEBT")
		downgraded, _ := signWith(k12.PriorityBankCard, 0, "")
		wantOutcome(t, "PRIORITY_BANK_CARD downgraded, short", s.pay(t, downgraded, 100), "SUCCESS", "", "IN_DEBT")

		plain, _ := s.student(t, 100000)
		if err := b.P.DB.SetLimits(ctx, s.sp.MchID, 3000, 5000); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "over the provider's per-debit limit", s.pay(t, plain, 3001), "PAYERROR", "EXCEED_PAYMENT_LIMIT", "NO_DEBT")
		wantOutcome(t, "at the provider's per-debit limit", s.pay(t, plain, 3000), "SUCCESS", "", "NO_DEBT")
		wantOutcome(t, "over the provider's daily limit", s.pay(t, plain, 2001), "PAYERROR", "EXCEED_DAILY_LIMIT", "NO_DEBT")
		if err := b.P.DB.SetLimits(ctx, s.sp.MchID, 20000, 0); err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, "a looser provider limit has no effect", s.pay(t, plain, 10001), "PAYERROR", "EXCEED_PAYMENT_LIMIT", "NO_DEBT")
	})
}
