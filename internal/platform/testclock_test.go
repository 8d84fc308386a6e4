package platform_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// TestMerchantTestClock puts one merchant of a running platform on a test clock:
// its face codes and authinfo expire by that clock, and its notifications follow the
// whole schedule as the clock is advanced, while the server runs on real time.
func TestMerchantTestClock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		t0 := time.Now().Truncate(time.Second)
		cr := b.merchant(t, tenant.NewMerchant{})
		if err := b.P.DB.SetTestClock(ctx, cr.MchID, t0); err != nil {
			t.Fatal(err)
		}
		tc := clockOf{db: b, mch: cr.MchID}
		s := &shop{b: b, cr: cr, c: gopayClient(t, b.URL, cr, true), clock: tc}
		res := s.post(t, "/face/get_wxpayface_authinfo", s.authinfoBody(t, "K1", ""), wechat.SignType_MD5)
		s.authinfo = res.GetString("authinfo")
		p := s.payer(t, 1000)

		fc := s.faceCode(t, p)
		advance(t, b, cr.MchID, pay.FaceCodeTTL)
		if r := s.facepay(t, "TC-1", 10, fc.FaceCode); r.GetString("err_code") != "AUTHCODEEXPIRE" {
			t.Fatalf("face code after 2 min on the test clock: %v", r)
		}
		s.facepay(t, "TC-2", 100, s.faceCode(t, p).FaceCode)

		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
		defer srv.Close()
		bm := make(gopay.BodyMap)
		bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", "TC-2").Set("out_refund_no", "TCR").
			Set("total_fee", 100).Set("refund_fee", 10).Set("notify_url", srv.URL)
		if rsp, _, err := s.c.Refund(ctx, bm); err != nil || rsp.ResultCode != "SUCCESS" {
			t.Fatalf("refund: %+v %v", rsp, err)
		}
		id := storagetest.Must(b.P.DB.Notifications(ctx, "", 1))[0].ID
		attempts := func(n int) []notify.Attempt {
			t.Helper()
			var as []notify.Attempt
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if _, as = storagetest.Must2(b.P.DB.Notification(ctx, id)); len(as) >= n {
					return as
				}
			}
			t.Fatalf("%d attempts, want %d", len(as), n)
			return nil
		}
		first := attempts(1)[0]
		time.Sleep(500 * time.Millisecond) // real time passes; the merchant's clock does not
		if as := attempts(1); len(as) != 1 {
			t.Fatalf("%d attempts while the test clock stood still", len(as))
		}
		advance(t, b, cr.MchID, 15*time.Second)
		attempts(2)
		advance(t, b, cr.MchID, 25*time.Hour) // everything still due comes, in order
		as := attempts(notify.MaxAttempts)
		due := first.DueAt
		for k, a := range as {
			if !a.DueAt.Equal(due) {
				t.Fatalf("attempt %d due %v, want %v", k+1, a.DueAt, due)
			}
			if k < len(notify.Gaps) {
				due = due.Add(notify.Gaps[k])
			}
		}
		if n, _ := storagetest.Must2(b.P.DB.Notification(ctx, id)); n.State != notify.Dead {
			t.Fatalf("after the schedule: %s", n.State)
		}
		if _, err := b.P.Pay.MintFaceCode(ctx, s.authinfo, p); err == nil {
			t.Fatal("authinfo outlived 25 h on the test clock")
		}
		// A merchant server sends its real `now`, whatever its test clock says: that
		// is checked against real time, and the test clock's time is refused.
		real := s.authinfoBody(t, "K2", "")
		real.Set("now", strconv.FormatInt(time.Now().Unix(), 10))
		if r := s.post(t, "/face/get_wxpayface_authinfo", real, wechat.SignType_MD5); r.GetString("authinfo") == "" {
			t.Fatalf("authinfo with the real now, 25 h into the test clock: %v", r)
		}
		if r := s.post(t, "/face/get_wxpayface_authinfo", s.authinfoBody(t, "K3", ""), wechat.SignType_MD5); r.GetString("authinfo") != "" {
			t.Fatalf("authinfo with the test clock's now (25 h ahead of real time) was accepted: %v", r)
		}

		prod := b.merchant(t, tenant.NewMerchant{})
		if err := b.P.DB.SetProduction(ctx, prod.MchID); err != nil {
			t.Fatal(err)
		}
		if err := b.P.DB.SetTestClock(ctx, prod.MchID, t0); !errcode.Is(err, errcode.Forbidden) {
			t.Fatalf("a production merchant on a test clock: %v", err)
		}
	})
}

// clockOf reads a merchant's test clock from the store, as the platform does.
type clockOf struct {
	db  *bundle
	mch string
}

func (c clockOf) Now() time.Time {
	t, ok, err := c.db.P.DB.TestClock(context.Background(), c.mch)
	if err != nil || !ok {
		return time.Now()
	}
	return t
}

func advance(t *testing.T, b *bundle, mch string, d time.Duration) {
	t.Helper()
	now, _, err := b.P.DB.TestClock(context.Background(), mch)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.P.DB.SetTestClock(context.Background(), mch, now.Add(d)); err != nil {
		t.Fatal(err)
	}
}
