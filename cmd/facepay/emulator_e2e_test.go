package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// storeArgs are the --data (and, for PostgreSQL, --db) flags of a fresh store.
func storeArgs(t *testing.T, backend string) []string {
	t.Helper()
	store := []string{"--data", t.TempDir()}
	if backend == "postgres" {
		store = append(store, "--db", storagetest.PostgresSchema(t))
	}
	return store
}

// startServe runs `facepay serve` on store and returns its URL.
func startServe(t *testing.T, logs *lockedBuffer, store []string) string {
	t.Helper()
	serve := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, store...)...)
	serve.Stderr = logs
	stdout, _ := serve.StdoutPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	return readURL(t, stdout, logs)
}

// readURL reads serve's first line and drains the rest.
func readURL(t *testing.T, stdout io.Reader, logs *lockedBuffer) string {
	t.Helper()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "OpenFacePay listening on ") {
		t.Fatalf("serve: %q %s", lines.Text(), logs.String())
	}
	url := strings.Fields(strings.TrimPrefix(lines.Text(), "OpenFacePay listening on "))[0]
	go func() {
		for lines.Scan() {
		}
	}()
	return url
}

func runJSON(t *testing.T, logs *lockedBuffer, v any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(run(t, logs, args...)), v); err != nil {
		t.Fatalf("facepay %s: %v", strings.Join(args, " "), err)
	}
}

// v2call is a signed v2 call through unmodified gopay whose answer must verify.
type v2call func(path string, bm gopay.BodyMap, signType string) gopay.BodyMap

// serveMerchant creates a merchant in a fresh store, starts `facepay serve` on it
// and returns the store flags, the log buffer, the credentials and a gopay caller.
func serveMerchant(t *testing.T, backend string) ([]string, *lockedBuffer, tenant.Credentials, v2call) {
	t.Helper()
	store, logs, cr, call, _ := serveMerchantAt(t, backend)
	return store, logs, cr, call
}

// serveMerchantAt is serveMerchant that also returns serve's URL.
func serveMerchantAt(t *testing.T, backend string) ([]string, *lockedBuffer, tenant.Credentials, v2call, string) {
	t.Helper()
	store := storeArgs(t, backend)
	logs := &lockedBuffer{}
	var cr tenant.Credentials
	runJSON(t, logs, &cr, append([]string{"admin", "merchant", "create", "--json"}, store...)...)
	url := startServe(t, logs, store)
	c := wechat.NewClient(cr.AppID, cr.MchID, cr.APIKey, true)
	c.BaseURL = url
	call := func(path string, bm gopay.BodyMap, signType string) gopay.BodyMap {
		t.Helper()
		bm.Set("nonce_str", v2wire.NonceStr()).Set("sign_type", signType)
		raw, err := c.PostWeChatAPISelf(context.Background(), bm, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := make(gopay.BodyMap)
		_ = xml.Unmarshal(raw, &res)
		if ok, _ := wechat.VerifySign(cr.APIKey, signType, res); !ok {
			t.Fatalf("%s answer does not verify: %s", path, raw)
		}
		return res
	}
	return store, logs, cr, call, url
}

// TestEmulatorFlowThroughTheBinary is the README's payment walk-through: every step a
// separate `facepay admin` process against the store that `facepay serve` is serving,
// and the merchant server's calls through unmodified gopay.
func TestEmulatorFlowThroughTheBinary(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			store, logs, cr, call := serveMerchant(t, backend)

			var rd struct {
				DeviceID string `json:"device_id"`
				Rawdata  string `json:"rawdata"`
			}
			runJSON(t, logs, &rd, append([]string{"admin", "rawdata", "--json"}, store...)...)
			ai := call("/face/get_wxpayface_authinfo", gopay.BodyMap{"store_id": "S1", "store_name": "一号店", "device_id": "POS-1",
				"rawdata": rd.Rawdata, "now": strconv.FormatInt(time.Now().Unix(), 10), "version": "1"}, wechat.SignType_MD5)
			if ai.GetString("authinfo") == "" {
				t.Fatalf("authinfo: %v", ai)
			}
			var payer struct {
				PayerID string `json:"payer_id"`
				Balance int64  `json:"balance"`
			}
			runJSON(t, logs, &payer, append([]string{"admin", "payer", "create", "--balance", "5000", "--phone", "13800138000", "--json"}, store...)...)
			var fc struct {
				FaceCode string `json:"face_code"`
				OpenID   string `json:"openid"`
			}
			runJSON(t, logs, &fc, append([]string{"admin", "face-code", "--authinfo", ai.GetString("authinfo"), "--payer", payer.PayerID, "--json"}, store...)...)
			paid := call("/pay/facepay", gopay.BodyMap{"body": "早餐", "out_trade_no": "E2E-PAY-1", "total_fee": 800, "fee_type": "CNY",
				"spbill_create_ip": "127.0.0.1", "face_code": fc.FaceCode}, wechat.SignType_HMAC_SHA256)
			if paid.GetString("result_code") != "SUCCESS" || paid.GetString("openid") != fc.OpenID {
				t.Fatalf("facepay: %v", paid)
			}
			runJSON(t, logs, &payer, append([]string{"admin", "payer", "show", "--payer", payer.PayerID, "--json"}, store...)...)
			if payer.Balance != 4200 {
				t.Fatalf("balance after paying 800 of 5000: %d", payer.Balance)
			}

			// The password wait, resolved by the payer through the admin command.
			run(t, logs, append([]string{"admin", "merchant", "set-password-threshold", "--mch", cr.MchID, "--fen", "1000"}, store...)...)
			var code struct {
				PayCode string `json:"pay_code"`
			}
			runJSON(t, logs, &code, append([]string{"admin", "pay-code", "--payer", payer.PayerID, "--json"}, store...)...)
			wait := call("/pay/micropay", gopay.BodyMap{"body": "午餐", "out_trade_no": "E2E-PAY-2", "total_fee": 2000,
				"spbill_create_ip": "127.0.0.1", "auth_code": code.PayCode}, wechat.SignType_MD5)
			if wait.GetString("err_code") != "USERPAYING" {
				t.Fatalf("above the threshold: %v", wait)
			}
			var confirmed struct {
				TradeState string `json:"trade_state"`
			}
			runJSON(t, logs, &confirmed, append([]string{"admin", "order", "confirm", "--mch", cr.MchID, "--out-trade-no", "E2E-PAY-2", "--json"}, store...)...)
			if q := call("/pay/orderquery", gopay.BodyMap{"out_trade_no": "E2E-PAY-2"}, wechat.SignType_MD5); q.GetString("trade_state") != "SUCCESS" || confirmed.TradeState != "SUCCESS" {
				t.Fatalf("after confirm: %v", q)
			}

			// A fault rule added while serving applies to the next call only.
			run(t, logs, append([]string{"admin", "fault", "add", "--mch", cr.MchID, "--api", "orderquery", "--error", "SYSTEMERROR", "--times", "1"}, store...)...)
			if q := call("/pay/orderquery", gopay.BodyMap{"out_trade_no": "E2E-PAY-1"}, wechat.SignType_MD5); q.GetString("err_code") != "SYSTEMERROR" {
				t.Fatalf("faulted query: %v", q)
			}
			if q := call("/pay/orderquery", gopay.BodyMap{"out_trade_no": "E2E-PAY-1"}, wechat.SignType_MD5); q.GetString("trade_state") != "SUCCESS" {
				t.Fatalf("query after the fault: %v", q)
			}
			// A test clock set by a separate process is what the running server uses.
			run(t, logs, append([]string{"admin", "clock", "create", "--mch", cr.MchID}, store...)...)
			var clk struct {
				Now string `json:"now"`
			}
			runJSON(t, logs, &clk, append([]string{"admin", "clock", "advance", "--mch", cr.MchID, "2h", "--json"}, store...)...)
			if at, err := time.Parse(time.RFC3339, clk.Now); err != nil || at.Sub(time.Now()) < 110*time.Minute {
				t.Fatalf("clock after advance 2h: %q %v", clk.Now, err)
			}
			if _, err := exec.Command(binary, append([]string{"admin", "face-code", "--authinfo", ai.GetString("authinfo"), "--payer", payer.PayerID}, store...)...).Output(); err == nil {
				t.Fatal("authinfo still valid 2 h later on the merchant's test clock")
			}
			if out := run(t, logs, append([]string{"admin", "ledger", "audit"}, store...)...); !strings.Contains(out, "balanced: true") {
				t.Fatalf("audit: %s", out)
			}
			for _, secret := range []string{cr.APIKey, "13800138000", fc.FaceCode, ai.GetString("authinfo")} {
				if strings.Contains(logs.String(), secret) {
					t.Fatal("a secret, a code or a phone number appears in the logs")
				}
			}
		})
	}
}
