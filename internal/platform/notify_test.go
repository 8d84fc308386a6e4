package platform_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// TestRefundNotificationReachesGopay: a refund with notify_url is announced by the
// running platform's dispatcher, and gopay's own parser and req_info helper read it.
func TestRefundNotificationReachesGopay(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		s := newShop(t, b, nil)
		var (
			mu   sync.Mutex
			got  []*wechat.RefundNotify
			fail = 1 // the first delivery is refused, so a retry happens
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, err := wechat.ParseRefundNotify(r)
			if err != nil {
				t.Errorf("gopay cannot parse the notification: %v", err)
				return
			}
			info, err := wechat.DecryptRefundNotifyReqInfo(req.ReqInfo, s.cr.APIKey)
			if err != nil || req.ReturnCode != "SUCCESS" || req.MchId != s.cr.MchID || req.Appid != s.cr.AppID {
				t.Errorf("notification %+v: %v", req, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, info)
			if fail > 0 {
				fail--
				_, _ = w.Write([]byte("<xml><return_code>FAIL</return_code><return_msg>SUCCESS is not enough</return_msg></xml>"))
				return
			}
			_, _ = w.Write([]byte("<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"))
		}))
		defer srv.Close()
		p := s.payer(t, 1000)
		s.micropay(t, "N-1", 500, storagetest.Must(b.P.Pay.MintPayCode(ctx, p)))
		bm := make(gopay.BodyMap)
		bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", "N-1").Set("out_refund_no", "NR-1").
			Set("total_fee", 500).Set("refund_fee", 200).Set("notify_url", srv.URL+"/refund")
		if rsp, _, err := s.c.Refund(ctx, bm); err != nil || rsp.ResultCode != "SUCCESS" {
			t.Fatalf("refund: %+v %v", rsp, err)
		}
		// The first attempt is immediate; the retry is due 15 s later by the schedule.
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		if len(got) != 1 || got[0].OutRefundNo != "NR-1" || got[0].RefundFee != "200" || got[0].RefundStatus != "SUCCESS" ||
			got[0].OutTradeNo != "N-1" || got[0].SuccessTime == "" {
			t.Fatalf("notifications received: %+v", got)
		}
		mu.Unlock()
		// The receiver answered; the dispatcher records the attempt right after.
		var list []notify.Notification
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if list = storagetest.Must(b.P.DB.Notifications(ctx, notify.Pending, 10)); len(list) == 1 && list[0].Attempts == 1 {
				break
			}
		}
		if len(list) != 1 || list[0].Attempts != 1 {
			t.Fatalf("after a refused delivery: %+v", list)
		}
		n, attempts := storagetest.Must2(b.P.DB.Notification(ctx, list[0].ID))
		if len(attempts) != 1 || attempts[0].HTTPStatus != 200 || !n.NextAt.Equal(attempts[0].DueAt.Add(15*time.Second)) {
			t.Fatalf("attempt %+v, next %v", attempts, n.NextAt)
		}
		// The refused attempt and the waiting notification show on /metrics.
		resp, err := b.httpsClient(nil).Get(b.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`facepay_notify_attempts_total{outcome="failed"} 1`, "facepay_notify_queue_depth 1", "facepay_notify_lateness_seconds_count 1"} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		// A refund without notify_url writes nothing to the outbox.
		s.refund(t, "N-1", "NR-2", 500, 100)
		if all := storagetest.Must(b.P.DB.Notifications(ctx, "", 10)); len(all) != 1 {
			t.Fatalf("%d notifications", len(all))
		}
	})
}
