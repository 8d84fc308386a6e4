package platform_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// shop is one merchant with an unmodified gopay client (certificate loaded) and a
// terminal that holds authinfo, as a merchant server and its kiosk would be.
type shop struct {
	b        *bundle
	cr       tenant.Credentials
	c        *wechat.Client
	authinfo string
	clock    clock.Clock
}

func newShop(t *testing.T, b *bundle, c clock.Clock) *shop {
	t.Helper()
	if c == nil {
		c = clock.Real{}
	}
	cr := b.merchant(t, tenant.NewMerchant{})
	s := &shop{b: b, cr: cr, c: gopayClient(t, b.URL, cr, true), clock: c}
	res := s.post(t, "/face/get_wxpayface_authinfo", s.authinfoBody(t, "KIOSK-1", ""), wechat.SignType_MD5)
	if res.GetString("return_code") != "SUCCESS" || res.GetString("authinfo") == "" || res.GetString("expires_in") != "3600" {
		t.Fatalf("authinfo: %v", res)
	}
	s.authinfo = res.GetString("authinfo")
	return s
}

func (s *shop) authinfoBody(t *testing.T, deviceID, rawdata string) gopay.BodyMap {
	t.Helper()
	if rawdata == "" {
		id, _ := device.NewIdentity()
		rawdata, _ = device.MakeRawdata(id, s.clock.Now())
	}
	bm := make(gopay.BodyMap)
	bm.Set("store_id", "STORE-001").Set("store_name", "南山店").Set("device_id", deviceID).Set("rawdata", rawdata).
		Set("now", strconv.FormatInt(s.clock.Now().Unix(), 10)).Set("version", "1")
	return bm
}

// post sends bm through gopay's generic call and checks the answer's signature the
// way gopay does.
func (s *shop) post(t *testing.T, path string, bm gopay.BodyMap, signType string) gopay.BodyMap {
	t.Helper()
	bm.Set("nonce_str", v2wire.NonceStr()).Set("sign_type", signType)
	raw, err := s.c.PostWeChatAPISelf(context.Background(), bm, path, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	res := make(gopay.BodyMap)
	if err := xml.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.GetString("return_code") == "SUCCESS" {
		if ok, _ := wechat.VerifySign(s.cr.APIKey, signType, res); !ok {
			t.Fatalf("%s: answer sign does not verify: %s", path, raw)
		}
	}
	return res
}

func (s *shop) payer(t *testing.T, balance int64) string {
	t.Helper()
	return storagetest.Must(s.b.P.Pay.CreatePayer(context.Background(), balance, "")).PayerID
}

func (s *shop) faceCode(t *testing.T, payerID string) pay.MintedCode {
	t.Helper()
	return storagetest.Must(s.b.P.Pay.MintFaceCode(context.Background(), s.authinfo, payerID))
}

func (s *shop) balance(t *testing.T, payerID string) int64 {
	t.Helper()
	return storagetest.Must(s.b.P.Pay.Payer(context.Background(), payerID)).Balance
}

func (s *shop) facepay(t *testing.T, outTradeNo string, fee int, code string) gopay.BodyMap {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("body", "午餐").Set("out_trade_no", outTradeNo).Set("total_fee", fee).Set("fee_type", "CNY").
		Set("spbill_create_ip", "10.0.0.7").Set("face_code", code).Set("device_info", "KIOSK-1")
	return s.post(t, "/pay/facepay", bm, wechat.SignType_HMAC_SHA256)
}

func (s *shop) micropay(t *testing.T, outTradeNo string, fee int, code string) *wechat.MicropayResponse {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("body", "午餐").Set("out_trade_no", outTradeNo).Set("total_fee", fee).
		Set("spbill_create_ip", "10.0.0.7").Set("auth_code", code)
	rsp, err := s.c.Micropay(context.Background(), bm)
	if err != nil {
		t.Fatalf("micropay: %v", err)
	}
	if rsp.ReturnCode != "SUCCESS" {
		t.Fatalf("micropay refused: %s", rsp.ReturnMsg)
	}
	if ok, err := wechat.VerifySign(s.cr.APIKey, wechat.SignType_MD5, rsp); !ok {
		t.Fatalf("gopay's typed micropay answer does not verify (%v): %+v", err, rsp)
	}
	return rsp
}

func (s *shop) query(t *testing.T, outTradeNo string) gopay.BodyMap {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", outTradeNo)
	_, res, err := s.c.QueryOrder(context.Background(), bm)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := wechat.VerifySign(s.cr.APIKey, wechat.SignType_MD5, res); !ok {
		t.Fatal("orderquery answer does not verify")
	}
	return res
}

func (s *shop) refund(t *testing.T, outTradeNo, outRefundNo string, total, fee int) (*wechat.RefundResponse, gopay.BodyMap) {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", outTradeNo).Set("out_refund_no", outRefundNo).
		Set("total_fee", total).Set("refund_fee", fee)
	rsp, res, err := s.c.Refund(context.Background(), bm)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := wechat.VerifySign(s.cr.APIKey, wechat.SignType_MD5, res); !ok {
		t.Fatal("refund answer does not verify")
	}
	return rsp, res
}

func (s *shop) reverse(t *testing.T, outTradeNo string) *wechat.ReverseResponse {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", outTradeNo)
	rsp, err := s.c.Reverse(context.Background(), bm)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := wechat.VerifySign(s.cr.APIKey, wechat.SignType_MD5, rsp); !ok {
		t.Fatalf("typed reverse answer does not verify (%v): %+v", err, rsp)
	}
	return rsp
}

func (s *shop) closeOrder(t *testing.T, outTradeNo string) *wechat.CloseOrderResponse {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", outTradeNo)
	rsp, err := s.c.CloseOrder(context.Background(), bm)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := wechat.VerifySign(s.cr.APIKey, wechat.SignType_MD5, rsp); !ok {
		t.Fatalf("typed closeorder answer does not verify (%v): %+v", err, rsp)
	}
	return rsp
}

func mustAudit(t *testing.T, b *bundle) {
	t.Helper()
	a := storagetest.Must(b.P.DB.AuditLedger(context.Background()))
	if !a.Balanced() {
		t.Fatalf("ledger does not balance: %+v", a)
	}
}

func TestFacePayFlowWithRefunds(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		s := newShop(t, b, nil)
		p := s.payer(t, 10000)
		fc := s.faceCode(t, p)
		res := s.facepay(t, "F-1", 1000, fc.FaceCode)
		if res.GetString("result_code") != "SUCCESS" || res.GetString("openid") != fc.OpenID || res.GetString("total_fee") != "1000" ||
			len(res.GetString("transaction_id")) != 28 || len(res.GetString("time_end")) != 14 || res.GetString("trade_type") != "FACEPAY" {
			t.Fatalf("facepay: %v", res)
		}
		if got := s.balance(t, p); got != 9000 {
			t.Fatalf("payer balance %d after paying 1000 of 10000", got)
		}
		q := s.query(t, "F-1")
		if q.GetString("trade_state") != "SUCCESS" || q.GetString("transaction_id") != res.GetString("transaction_id") || q.GetString("openid") != fc.OpenID {
			t.Fatalf("orderquery: %v", q)
		}
		fq := s.post(t, "/pay/facepayquery", gopay.BodyMap{"transaction_id": res.GetString("transaction_id")}, wechat.SignType_MD5)
		if fq.GetString("trade_state") != "SUCCESS" || fq.GetString("out_trade_no") != "F-1" {
			t.Fatalf("facepayquery by transaction_id: %v", fq)
		}
		// The openid is stable per appid and differs for another appid.
		other := storagetest.Must(b.P.Tenants.BindAppID(context.Background(), s.cr.MchID, ""))
		if b.P.Pay.OpenID(s.cr.AppID, p) != fc.OpenID || b.P.Pay.OpenID(other, p) == fc.OpenID {
			t.Fatal("openid is not stable per appid and distinct across appids")
		}

		r1, _ := s.refund(t, "F-1", "R-1", 1000, 300)
		if r1.ResultCode != "SUCCESS" || r1.RefundFee != "300" || r1.RefundId == "" {
			t.Fatalf("refund 300: %+v", r1)
		}
		again, _ := s.refund(t, "F-1", "R-1", 1000, 300)
		if again.RefundId != r1.RefundId {
			t.Fatalf("repeated out_refund_no made a second refund: %s vs %s", again.RefundId, r1.RefundId)
		}
		if mism, _ := s.refund(t, "F-1", "R-1", 1000, 301); mism.ErrCode != "REFUND_FEE_MISMATCH" {
			t.Fatalf("same out_refund_no, other amount: %+v", mism)
		}
		if wrongTotal, _ := s.refund(t, "F-1", "R-X", 999, 1); wrongTotal.ErrCode != "PARAM_ERROR" {
			t.Fatalf("total_fee not the order's: %+v", wrongTotal)
		}
		if r2, _ := s.refund(t, "F-1", "R-2", 1000, 700); r2.ResultCode != "SUCCESS" {
			t.Fatalf("refund of the rest: %+v", r2)
		}
		if over, _ := s.refund(t, "F-1", "R-3", 1000, 1); over.ErrCode != "ERROR" {
			t.Fatalf("refund beyond the paid amount: %+v", over)
		}
		if got := s.balance(t, p); got != 10000 {
			t.Fatalf("payer balance %d after full refund", got)
		}
		rq := s.post(t, "/pay/refundquery", gopay.BodyMap{"out_trade_no": "F-1"}, wechat.SignType_MD5)
		if rq.GetString("refund_count") != "2" || rq.GetString("out_refund_no_0") != "R-1" || rq.GetString("refund_fee_1") != "700" ||
			rq.GetString("refund_status_0") != "SUCCESS" || rq.GetString("refund_recv_accout_0") == "" {
			t.Fatalf("refundquery: %v", rq)
		}
		if one := s.post(t, "/pay/refundquery", gopay.BodyMap{"refund_id": r1.RefundId}, wechat.SignType_MD5); one.GetString("out_refund_no_0") != "R-1" || one.GetString("refund_count") != "1" {
			t.Fatalf("refundquery by refund_id: %v", one)
		}
		// Another merchant asking for this refund by its refund_id hears it does not exist.
		if theirs := newShop(t, b, nil).post(t, "/pay/refundquery", gopay.BodyMap{"refund_id": r1.RefundId}, wechat.SignType_MD5); theirs.GetString("err_code") != "REFUNDNOTEXIST" {
			t.Fatalf("another merchant's refundquery by refund_id: %v", theirs)
		}
		if none := s.post(t, "/pay/refundquery", gopay.BodyMap{"out_refund_no": "R-404"}, wechat.SignType_MD5); none.GetString("err_code") != "REFUNDNOTEXIST" {
			t.Fatalf("unknown refund: %v", none)
		}
		if q := s.query(t, "F-1"); q.GetString("trade_state") != "REFUND" {
			t.Fatalf("after refunds: %v", q)
		}
		mustAudit(t, b)
	})
}

func TestMicropayIdempotencyAndRefusals(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newShop(t, b, nil)
		p := s.payer(t, 1000)
		code := storagetest.Must(b.P.Pay.MintPayCode(ctx, p))
		first := s.micropay(t, "M-1", 100, code)
		if first.ResultCode != "SUCCESS" || first.TradeType != "MICROPAY" {
			t.Fatalf("micropay with a payment code: %+v", first)
		}
		replay := s.micropay(t, "M-1", 100, code)
		if replay.ResultCode != "SUCCESS" || replay.TransactionId != first.TransactionId || replay.TimeEnd != first.TimeEnd {
			t.Fatalf("the same request again did not return the first result: %+v", replay)
		}
		if got := s.balance(t, p); got != 900 {
			t.Fatalf("balance %d: a retry charged twice", got)
		}
		fresh := storagetest.Must(b.P.Pay.MintPayCode(ctx, p))
		cases := []struct {
			name, out string
			fee       int
			code      string
			want      string
		}{
			{"same order, other amount", "M-1", 101, fresh, "OUT_TRADE_NO_USED"},
			{"same order, a new code", "M-1", 100, fresh, "ORDERPAID"},
			{"a used code", "M-2", 100, code, "AUTH_CODE_ERROR"},
			{"not a code of ours", "M-3", 100, "134567890123456789", "AUTH_CODE_INVALID"},
			{"more than the balance", "M-4", 901, fresh, "NOTENOUGH"},
		}
		for _, c := range cases {
			if rsp := s.micropay(t, c.out, c.fee, c.code); rsp.ResultCode != "FAIL" || rsp.ErrCode != c.want {
				t.Errorf("%s: %s %s, want %s", c.name, rsp.ResultCode, rsp.ErrCode, c.want)
			}
		}
		if got := s.balance(t, p); got != 900 {
			t.Fatalf("a refused charge changed the balance: %d", got)
		}
		if q := s.query(t, "M-4"); q.GetString("err_code") != "ORDERNOTEXIST" {
			t.Fatalf("NOTENOUGH left an order behind: %v", q)
		}
		// The code refused for NOTENOUGH was not consumed: the payer can still use it.
		if ok := s.micropay(t, "M-5", 50, fresh); ok.ResultCode != "SUCCESS" {
			t.Fatalf("code after NOTENOUGH: %+v", ok)
		}
		// A face code through micropay, and another merchant's face code refused.
		fc := s.faceCode(t, p)
		if ok := s.micropay(t, "M-6", 10, fc.FaceCode); ok.ResultCode != "SUCCESS" || ok.Openid != fc.OpenID {
			t.Fatalf("face code via micropay: %+v", ok)
		}
		otherShop := newShop(t, b, nil)
		foreign := otherShop.faceCode(t, p)
		if rsp := s.micropay(t, "M-7", 10, foreign.FaceCode); rsp.ErrCode != "AUTH_CODE_INVALID" {
			t.Fatalf("another merchant's face code: %+v", rsp)
		}
		// facepay takes only HMAC-SHA256 and only face codes.
		if res := s.post(t, "/pay/facepay", gopay.BodyMap{"body": "x", "out_trade_no": "M-8", "total_fee": 1, "fee_type": "CNY",
			"spbill_create_ip": "1.1.1.1", "face_code": s.faceCode(t, p).FaceCode}, wechat.SignType_MD5); res.GetString("return_code") != "FAIL" {
			t.Fatalf("facepay signed with MD5: %v", res)
		}
		if res := s.facepay(t, "M-9", 1, storagetest.Must(b.P.Pay.MintPayCode(ctx, p))); res.GetString("err_code") != "AUTH_CODE_INVALID" {
			t.Fatalf("facepay with a payment code: %v", res)
		}
		// Another merchant cannot see this merchant's order: it does not exist for them.
		if q := otherShop.query(t, "M-1"); q.GetString("err_code") != "ORDERNOTEXIST" {
			t.Fatalf("another merchant's query: %v", q)
		}
		mustAudit(t, b)
	})
}

func TestReverseAndClose(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newShop(t, b, nil)
		p := s.payer(t, 1000)
		s.micropay(t, "V-1", 400, storagetest.Must(b.P.Pay.MintPayCode(ctx, p)))
		if rsp := s.reverse(t, "V-1"); rsp.ResultCode != "SUCCESS" || rsp.Recall != "N" {
			t.Fatalf("reverse of a paid order: %+v", rsp)
		}
		if rsp := s.reverse(t, "V-1"); rsp.ResultCode != "SUCCESS" || rsp.Recall != "N" {
			t.Fatalf("reverse again: %+v", rsp)
		}
		if q := s.query(t, "V-1"); q.GetString("trade_state") != "REVOKED" {
			t.Fatalf("after reverse: %v", q)
		}
		if got := s.balance(t, p); got != 1000 {
			t.Fatalf("reverse did not return the money: %d", got)
		}
		if rsp := s.micropay(t, "V-1", 400, storagetest.Must(b.P.Pay.MintPayCode(ctx, p))); rsp.ErrCode != "ORDERREVERSED" {
			t.Fatalf("paying a reversed order: %+v", rsp)
		}
		if rsp := s.reverse(t, "V-404"); rsp.ErrCode != "ORDERNOTEXIST" {
			t.Fatalf("reverse of nothing: %+v", rsp)
		}
		fr := s.post(t, "/secapi/pay/facepayreverse", gopay.BodyMap{"out_trade_no": "V-1"}, wechat.SignType_MD5)
		if fr.GetString("return_code") != "FAIL" {
			t.Fatalf("facepayreverse without the certificate (gopay's generic call sends none): %v", fr)
		}

		storagetest.Must(0, b.P.Pay.SetPasswordThreshold(ctx, s.cr.MchID, 500))
		if rsp := s.micropay(t, "C-1", 600, storagetest.Must(b.P.Pay.MintPayCode(ctx, p))); rsp.ErrCode != "USERPAYING" {
			t.Fatalf("above the threshold: %+v", rsp)
		}
		if rsp := s.closeOrder(t, "C-1"); rsp.ResultCode != "SUCCESS" {
			t.Fatalf("close a waiting order: %+v", rsp)
		}
		if rsp := s.closeOrder(t, "C-1"); rsp.ErrCode != "ORDERCLOSED" {
			t.Fatalf("close again: %+v", rsp)
		}
		s.micropay(t, "C-2", 100, storagetest.Must(b.P.Pay.MintPayCode(ctx, p)))
		if rsp := s.closeOrder(t, "C-2"); rsp.ErrCode != "ORDERPAID" {
			t.Fatalf("close a paid order: %+v", rsp)
		}
		if v := storagetest.Must(b.P.Pay.Payer(ctx, p)); v.Balance != 900 || v.Held != 0 {
			t.Fatalf("after close and a paid order: %+v", v)
		}
		mustAudit(t, b)
	})
}

func TestPasswordWaitQueryThenReverseLoop(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			fake := clock.NewFake(time.Now())
			b := setupClock(t, backend, fake)
			s := newShop(t, b, fake)
			p := s.payer(t, 1000)
			storagetest.Must(0, b.P.Pay.SetPasswordThreshold(ctx, s.cr.MchID, 100))
			pc := func() string { return storagetest.Must(b.P.Pay.MintPayCode(ctx, p)) }

			// Confirmed by the payer.
			if rsp := s.micropay(t, "U-1", 300, pc()); rsp.ErrCode != "USERPAYING" {
				t.Fatalf("micropay above threshold: %+v", rsp)
			}
			if q := s.query(t, "U-1"); q.GetString("trade_state") != "USERPAYING" {
				t.Fatalf("query while waiting: %v", q)
			}
			if v := storagetest.Must(b.P.Pay.Payer(ctx, p)); v.Balance != 700 || v.Held != 300 {
				t.Fatalf("a waiting payment holds the amount: %+v", v)
			}
			storagetest.Must(b.P.Pay.ConfirmPassword(ctx, pay.OrderRef{MchID: s.cr.MchID, OutTradeNo: "U-1"}, true))
			if q := s.query(t, "U-1"); q.GetString("trade_state") != "SUCCESS" || q.GetString("time_end") == "" {
				t.Fatalf("after the payer confirmed: %v", q)
			}

			// Never confirmed: the wait times out on the clock, the merchant reverses.
			s.micropay(t, "U-2", 200, pc())
			fake.Advance(pay.PasswordTimeout - time.Second)
			if q := s.query(t, "U-2"); q.GetString("trade_state") != "USERPAYING" {
				t.Fatalf("before the timeout: %v", q)
			}
			fake.Advance(2 * time.Second)
			if q := s.query(t, "U-2"); q.GetString("trade_state") != "PAYERROR" {
				t.Fatalf("after the timeout: %v", q)
			}
			if rsp := s.reverse(t, "U-2"); rsp.ResultCode != "SUCCESS" {
				t.Fatalf("reverse after PAYERROR: %+v", rsp)
			}
			// Reversed while waiting.
			s.micropay(t, "U-3", 150, pc())
			if rsp := s.reverse(t, "U-3"); rsp.ResultCode != "SUCCESS" {
				t.Fatalf("reverse while waiting: %+v", rsp)
			}
			if v := storagetest.Must(b.P.Pay.Payer(ctx, p)); v.Balance != 700 || v.Held != 0 {
				t.Fatalf("only U-1 is paid: %+v", v)
			}

			// Codes and authinfo expire on the clock.
			late := pc()
			fake.Advance(pay.PayCodeTTL)
			if rsp := s.micropay(t, "U-4", 10, late); rsp.ErrCode != "AUTHCODEEXPIRE" {
				t.Fatalf("expired payment code: %+v", rsp)
			}
			fc := s.faceCode(t, p)
			fake.Advance(pay.FaceCodeTTL)
			if rsp := s.facepay(t, "U-5", 10, fc.FaceCode); rsp.GetString("err_code") != "AUTHCODEEXPIRE" {
				t.Fatalf("expired face code: %v", rsp)
			}
			fake.Advance(pay.AuthInfoTTL)
			if _, err := b.P.Pay.MintFaceCode(ctx, s.authinfo, p); err == nil {
				t.Fatal("a face code was minted on expired authinfo")
			}
			mustAudit(t, b)
		})
	}
}

func TestAuthInfoRefusals(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		s := newShop(t, b, nil)
		id, _ := device.NewIdentity()
		good, _ := device.MakeRawdata(id, time.Now())
		mod := func(f func(bm gopay.BodyMap)) gopay.BodyMap {
			bm := s.authinfoBody(t, "KIOSK-9", good)
			f(bm)
			return bm
		}
		cases := map[string]gopay.BodyMap{
			"malformed rawdata": mod(func(bm gopay.BodyMap) { bm.Set("rawdata", good[:len(good)-4]+"0000") }),
			"now 10 min off":    mod(func(bm gopay.BodyMap) { bm.Set("now", strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)) }),
			"now not 10 digits": mod(func(bm gopay.BodyMap) { bm.Set("now", "17000") }),
			"version 2":         mod(func(bm gopay.BodyMap) { bm.Set("version", "2") }),
			"no store_id":       mod(func(bm gopay.BodyMap) { bm.Remove("store_id") }),
			"attach not JSON":   mod(func(bm gopay.BodyMap) { bm.Set("attach", "{") }),
			"terminal taken":    s.authinfoBody(t, "KIOSK-1", ""), // KIOSK-1 is bound to newShop's terminal
		}
		for name, bm := range cases {
			if res := s.post(t, "/face/get_wxpayface_authinfo", bm, wechat.SignType_MD5); res.GetString("return_code") != "FAIL" || res.GetString("authinfo") != "" {
				t.Errorf("%s: %v", name, res)
			}
		}
		// The same terminal may ask again (authinfo is refreshed about hourly).
		if res := s.post(t, "/face/get_wxpayface_authinfo", s.authinfoBody(t, "KIOSK-9", good), wechat.SignType_HMAC_SHA256); res.GetString("return_code") != "SUCCESS" {
			t.Fatalf("a valid request: %v", res)
		}
		if res := s.post(t, "/face/get_wxpayface_authinfo", s.authinfoBody(t, "KIOSK-9", good), wechat.SignType_MD5); res.GetString("return_code") != "SUCCESS" {
			t.Fatalf("the same terminal again: %v", res)
		}
	})
}

func TestFaultRuleThenRetry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newShop(t, b, nil)
		p := s.payer(t, 1000)
		storagetest.Must(b.P.Pay.AddFault(ctx, s.cr.MchID, "micropay", "SYSTEMERROR", 0, 1))
		code := storagetest.Must(b.P.Pay.MintPayCode(ctx, p))
		if rsp := s.micropay(t, "E-1", 100, code); rsp.ErrCode != "SYSTEMERROR" {
			t.Fatalf("faulted call: %+v", rsp)
		}
		if q := s.query(t, "E-1"); q.GetString("err_code") != "ORDERNOTEXIST" {
			t.Fatalf("the faulted call was processed: %v", q)
		}
		if rsp := s.micropay(t, "E-1", 100, code); rsp.ResultCode != "SUCCESS" {
			t.Fatalf("the retry after one fault: %+v", rsp)
		}
		storagetest.Must(b.P.Pay.AddFault(ctx, s.cr.MchID, "orderquery", "", 300*time.Millisecond, 1))
		start := time.Now()
		if q := s.query(t, "E-1"); q.GetString("trade_state") != "SUCCESS" || time.Since(start) < 300*time.Millisecond {
			t.Fatalf("delayed query: %v after %v", q.GetString("trade_state"), time.Since(start))
		}
	})
}

// paidOnce is a shop whose payer, holding balance fen, has paid it 1 fen: the first
// payment opens the merchant's settlement account, so the charges that follow may take
// the decided path and race inside one batch as well as across batches.
func paidOnce(t *testing.T, b *bundle, balance int64) (*shop, string) {
	t.Helper()
	s := newShop(t, b, nil)
	p := s.payer(t, balance)
	if rsp := s.facepay(t, "FIRST", 1, s.faceCode(t, p).FaceCode); rsp.GetString("result_code") != "SUCCESS" {
		t.Fatalf("first payment: %v", rsp)
	}
	return s, p
}

func TestConcurrentIdenticalFacePayChargesOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		s, p := paidOnce(t, b, 5000)
		fc := s.faceCode(t, p)
		var wg sync.WaitGroup
		ids := make([]string, 50)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bm := make(gopay.BodyMap)
				bm.Set("body", "午餐").Set("out_trade_no", "CC-1").Set("total_fee", 1234).Set("fee_type", "CNY").
					Set("spbill_create_ip", "10.0.0.7").Set("face_code", fc.FaceCode).Set("nonce_str", fmt.Sprint("N", i)).Set("sign_type", wechat.SignType_HMAC_SHA256)
				raw, err := s.c.PostWeChatAPISelf(context.Background(), bm, "/pay/facepay", nil)
				if err != nil {
					t.Error(err)
					return
				}
				res := make(gopay.BodyMap)
				_ = xml.Unmarshal(raw, &res)
				if res.GetString("result_code") != "SUCCESS" {
					t.Errorf("request %d: %v", i, res)
				}
				ids[i] = res.GetString("transaction_id")
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("two transaction ids: %s and %s", ids[0], id)
			}
		}
		if got := s.balance(t, p); got != 5000-1-1234 {
			t.Fatalf("balance %d after 50 identical charges of 1234 from 4999", got)
		}
		mustAudit(t, b)
	})
}

// MintFaceCodes mints one code per listed payer, in the list's order (the bench mints
// its codes so, in the order it pays with them), and none when a payer is unknown.
func TestMintFaceCodesForPayersInOrder(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newShop(t, b, nil)
		a, c := s.payer(t, 1000), s.payer(t, 1000)
		minted, err := b.P.Pay.MintFaceCodes(ctx, s.authinfo, []string{a, c, a})
		if err != nil || len(minted) != 3 {
			t.Fatalf("minted %d codes: %v", len(minted), err)
		}
		for i, fee := range []int{100, 20, 3} {
			res := s.facepay(t, fmt.Sprint("MINT-", i), fee, minted[i].FaceCode)
			if res.GetString("result_code") != "SUCCESS" || res.GetString("openid") != minted[i].OpenID {
				t.Fatalf("code %d: %v", i, res)
			}
		}
		if minted[0].OpenID != minted[2].OpenID || minted[0].OpenID == minted[1].OpenID {
			t.Fatalf("openids %s %s %s for payers a, c, a", minted[0].OpenID, minted[1].OpenID, minted[2].OpenID)
		}
		if ga, gc := s.balance(t, a), s.balance(t, c); ga != 1000-100-3 || gc != 1000-20 {
			t.Fatalf("balances %d and %d after codes 0 and 2 paid 103 from a and code 1 paid 20 from c", ga, gc)
		}
		if got, err := b.P.Pay.MintFaceCodes(ctx, s.authinfo, []string{a, "PAYER-NONE"}); !errcode.Is(err, errcode.NotFound) || got != nil {
			t.Fatalf("minting for an unknown payer: %v, %d codes", err, len(got))
		}
		mustAudit(t, b)
	})
}

// Thirty charges with thirty order numbers and one face_code: one pays, the others are
// told the code was used, and no order is left behind for them.
func TestConcurrentChargesOfOneCodePayOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		s, p := paidOnce(t, b, 5000)
		fc := s.faceCode(t, p)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			paid    []string
			refused = map[string]int{}
		)
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := fmt.Sprint("OC-", i+1)
				rsp := s.facepay(t, out, 100, fc.FaceCode)
				mu.Lock()
				defer mu.Unlock()
				if rsp.GetString("result_code") == "SUCCESS" {
					paid = append(paid, out)
				} else {
					refused[rsp.GetString("err_code")]++
				}
			}()
		}
		wg.Wait()
		if len(paid) != 1 || len(refused) != 1 || refused["AUTH_CODE_ERROR"] != 29 {
			t.Fatalf("%d of 30 charges with one face_code paid: %v; refusals %v, want 29 AUTH_CODE_ERROR", len(paid), paid, refused)
		}
		if got := s.balance(t, p); got != 5000-1-100 {
			t.Fatalf("balance %d, want %d", got, 5000-1-100)
		}
		for i := range 30 {
			out := fmt.Sprint("OC-", i+1)
			q := s.query(t, out)
			if out == paid[0] && q.GetString("trade_state") != "SUCCESS" || out != paid[0] && q.GetString("err_code") != "ORDERNOTEXIST" {
				t.Fatalf("%s after the race: %v", out, q)
			}
		}
		mustAudit(t, b)
	})
}

func TestReverseRacingPayEndsConsistent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newShop(t, b, nil)
		p := s.payer(t, 100000)
		paid := int64(0)
		for i := range 20 {
			out := fmt.Sprint("RACE-", i)
			code := storagetest.Must(b.P.Pay.MintPayCode(ctx, p))
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); s.micropay(t, out, 100, code) }()
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i%5) * time.Millisecond)
				s.reverse(t, out)
			}()
			wg.Wait()
			switch st := s.query(t, out).GetString("trade_state"); st {
			case "SUCCESS":
				paid += 100
			case "REVOKED", "":
			default:
				t.Fatalf("%s ended %s", out, st)
			}
		}
		if got := s.balance(t, p); got != 100000-paid {
			t.Fatalf("balance %d, want %d: money and order states disagree", got, 100000-paid)
		}
		mustAudit(t, b)
	})
}
