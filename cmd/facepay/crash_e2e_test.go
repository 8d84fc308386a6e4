package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// TestNotificationsSurviveSIGKILL kills the server with SIGKILL while refund
// notifications are being delivered, starts it again on the same store, and counts
// every notification delivered at least once.
func TestNotificationsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	const refunds = 40
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			store := storeArgs(t, backend)
			logs := &lockedBuffer{}
			var cr tenant.Credentials
			runJSON(t, logs, &cr, append([]string{"admin", "merchant", "create", "--json"}, store...)...)
			var (
				mu       sync.Mutex
				seen     = map[string]int{}
				arrivals int
				hold     = make(chan struct{}) // closed after the kill: until then no delivery is answered
			)
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				info, ok := readRefundNotify(w, r, cr.APIKey)
				if !ok {
					return
				}
				mu.Lock()
				seen[info.OutRefundNo]++
				arrivals++
				mu.Unlock()
				<-hold // in flight at the kill: received here, never acknowledged to the platform
				_, _ = w.Write([]byte("<xml><return_code>SUCCESS</return_code></xml>"))
			}))
			defer recv.Close()
			defer func() {
				select {
				case <-hold:
				default:
					close(hold)
				}
			}()
			count := func() (distinct, total int) {
				mu.Lock()
				defer mu.Unlock()
				return len(seen), arrivals
			}

			serve := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--notify-lease", "2s"}, store...)...)
			url := startCmd(t, serve, logs)
			var payer struct {
				PayerID string `json:"payer_id"`
			}
			runJSON(t, logs, &payer, append([]string{"admin", "payer", "create", "--balance", "100000", "--json"}, store...)...)
			c := wechat.NewClient(cr.AppID, cr.MchID, cr.APIKey, true)
			c.BaseURL = url
			if err := c.AddCertPemFileContent([]byte(cr.MerchantCertPEM), []byte(cr.MerchantPrivateKeyPEM)); err != nil {
				t.Fatal(err)
			}
			for i := range refunds {
				payAndRefund(t, c, logs, store, payer.PayerID, fmt.Sprint("K-", i), recv.URL)
			}
			// Kill while deliveries are in flight: the receiver holds every answer.
			waitFor(t, func() bool { d, _ := count(); return d >= 5 })
			if err := serve.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = serve.Wait()
			close(hold)
			atKill, _ := count()
			var pendingAtKill []json.RawMessage
			runJSON(t, logs, &pendingAtKill, append([]string{"admin", "notify", "list", "--state", "pending", "--json"}, store...)...)
			if len(pendingAtKill) != refunds {
				t.Fatalf("%d notifications pending after the kill, want all %d (none was acknowledged)", len(pendingAtKill), refunds)
			}
			restart := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--notify-lease", "2s"}, store...)...)
			startCmd(t, restart, logs)
			waitFor(t, func() bool { d, _ := count(); return d == refunds })
			// Everything acknowledged: the ones in flight at the kill were delivered again
			// once their lease ran out.
			var pending []json.RawMessage
			waitFor(t, func() bool {
				pending = nil
				runJSON(t, logs, &pending, append([]string{"admin", "notify", "list", "--state", "pending", "--json"}, store...)...)
				return len(pending) == 0
			})
			distinct, total := count()
			t.Logf("%s: %d refund notifications; %d in flight (received, unacknowledged) at SIGKILL; after restart %d distinct delivered, %d deliveries in all (%d duplicates)",
				backend, refunds, atKill, distinct, total, total-distinct)
			if distinct != refunds || total-distinct < atKill {
				t.Fatalf("the %d notifications in flight at the kill were not all delivered again", atKill)
			}
		})
	}
}

// startCmd starts a prepared serve command and returns its URL.
func startCmd(t *testing.T, serve *exec.Cmd, logs *lockedBuffer) string {
	t.Helper()
	serve.Stderr = logs
	stdout, _ := serve.StdoutPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	return readURL(t, stdout, logs)
}

// waitFor polls cond for up to a minute: a liveness wait, not a speed assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoInstancesOnPostgres runs two `facepay serve` processes on one PostgreSQL
// store: every notification is delivered, and never two attempts of one at once.
func TestTwoInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	store := []string{"--data", t.TempDir(), "--db", storagetest.PostgresSchema(t)}
	logs := &lockedBuffer{}
	var cr tenant.Credentials
	runJSON(t, logs, &cr, append([]string{"admin", "merchant", "create", "--json"}, store...)...)
	var (
		mu                sync.Mutex
		inFlight, seen    = map[string]int{}, map[string]int{}
		maxInFlight, fail int
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := readRefundNotify(w, r, cr.APIKey)
		if !ok {
			return
		}
		id := info.OutRefundNo
		mu.Lock()
		inFlight[id]++
		seen[id]++
		maxInFlight = max(maxInFlight, inFlight[id])
		refuse := seen[id] == 1 && fail < 10 // some first attempts fail, so retries race too
		if refuse {
			fail++
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight[id]--
		mu.Unlock()
		if refuse {
			w.WriteHeader(500)
			return
		}
		_, _ = w.Write([]byte("<xml><return_code>SUCCESS</return_code></xml>"))
	}))
	defer recv.Close()
	urlA := startCmd(t, exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, store...)...), logs)
	startCmd(t, exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, store...)...), logs)
	var payer struct {
		PayerID string `json:"payer_id"`
	}
	runJSON(t, logs, &payer, append([]string{"admin", "payer", "create", "--balance", "100000", "--json"}, store...)...)
	c := wechat.NewClient(cr.AppID, cr.MchID, cr.APIKey, true)
	c.BaseURL = urlA
	if err := c.AddCertPemFileContent([]byte(cr.MerchantCertPEM), []byte(cr.MerchantPrivateKeyPEM)); err != nil {
		t.Fatal(err)
	}
	const refunds = 30
	for i := range refunds {
		payAndRefund(t, c, logs, store, payer.PayerID, fmt.Sprint("T2-", i), recv.URL)
	}
	// The refused first attempts are retried 15 s later by the schedule.
	var delivered []json.RawMessage
	deadline := time.Now().Add(2 * time.Minute)
	for {
		delivered = nil
		runJSON(t, logs, &delivered, append([]string{"admin", "notify", "list", "--state", "delivered", "--json"}, store...)...)
		if len(delivered) == refunds || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != refunds || len(seen) != refunds || maxInFlight != 1 {
		t.Fatalf("%d delivered, %d distinct seen, at most %d attempts of one notification at once", len(delivered), len(seen), maxInFlight)
	}
	total := 0
	for _, k := range seen {
		total += k
	}
	t.Logf("two instances: %d notifications, %d attempts (%d refused first), never two attempts of one at once", refunds, total, fail)
}

// payAndRefund pays 10 fen with a fresh payment code and refunds it in full, asking for
// a refund notification at notifyURL.
func payAndRefund(t *testing.T, c *wechat.Client, logs *lockedBuffer, store []string, payerID, out, notifyURL string) {
	t.Helper()
	ctx := context.Background()
	var code struct {
		PayCode string `json:"pay_code"`
	}
	runJSON(t, logs, &code, append([]string{"admin", "pay-code", "--payer", payerID, "--json"}, store...)...)
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("body", "x").Set("out_trade_no", out).Set("total_fee", 10).
		Set("spbill_create_ip", "127.0.0.1").Set("auth_code", code.PayCode)
	if rsp, err := c.Micropay(ctx, bm); err != nil || rsp.ResultCode != "SUCCESS" {
		t.Fatalf("micropay: %+v %v", rsp, err)
	}
	rb := make(gopay.BodyMap)
	rb.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", out).Set("out_refund_no", "R"+out).
		Set("total_fee", 10).Set("refund_fee", 10).Set("notify_url", notifyURL)
	if rsp, _, err := c.Refund(ctx, rb); err != nil || rsp.ResultCode != "SUCCESS" {
		t.Fatalf("refund: %+v %v", rsp, err)
	}
}

// readRefundNotify reads a refund notification with gopay's own parser and req_info
// helper; a notification they cannot read is answered 400.
func readRefundNotify(w http.ResponseWriter, r *http.Request, apiKey string) (*wechat.RefundNotify, bool) {
	req, err := wechat.ParseRefundNotify(r)
	if err == nil {
		var info *wechat.RefundNotify
		if info, err = wechat.DecryptRefundNotifyReqInfo(req.ReqInfo, apiKey); err == nil {
			return info, true
		}
	}
	w.WriteHeader(http.StatusBadRequest)
	return nil, false
}
