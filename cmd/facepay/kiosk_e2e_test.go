package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
)

// TestKioskThroughTheBinary runs `facepay serve`, `facepay kiosk` and `facepay
// merchant` as separate processes, on both backends: a payer enrolled by a separate
// `admin face enroll` process while serve runs, the kiosk app's calls on the kiosk's
// local API, authinfo and the payment through the merchant server, and the money
// moved; gopay checks the order independently.
func TestKioskThroughTheBinary(t *testing.T) {
	t.Parallel()
	facetest.Engine(t, os.Getenv("FACEPAY_PACK"))
	slice := func(name string) string {
		p, _ := filepath.Abs(filepath.Join("..", "..", "internal", "face", "eval", "testdata", "deepface-slice", name))
		return p
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			store, logs, cr, call, url := serveMerchantAt(t, backend)
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, []byte(cr.TLSCAPEM), 0o600); err != nil {
				t.Fatal(err)
			}
			var payer struct {
				PayerID string `json:"payer_id"`
			}
			runJSON(t, logs, &payer, append([]string{"admin", "payer", "create", "--balance", "5000", "--phone", "13800138000", "--json"}, store...)...)
			run(t, logs, append([]string{"admin", "face", "enroll", "--payer", payer.PayerID, "--photo", slice("p01/img62.jpg"), "--photo", slice("p01/img16.jpg")}, store...)...)

			var stderr lockedBuffer
			first := startProcess(t, &stderr, "kiosk", "--platform", url, "--ca", ca, "--data", t.TempDir(), "--addr", "127.0.0.1:0",
				"--camera", "still:"+slice("p01/img17.jpg"), "--liveness", "off")
			if !strings.HasPrefix(first, "kiosk agent on ") {
				t.Fatalf("kiosk: %q %s", first, stderr.String())
			}
			local := strings.Fields(strings.TrimPrefix(first, "kiosk agent on "))[0]
			sdk := func(fn string, p map[string]any) map[string]any { return postJSON(t, local+"/wxpayface/"+fn, p) }
			if a := sdk("initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
				t.Fatalf("init: %v", a)
			}
			credsFile := filepath.Join(t.TempDir(), "merchant.json")
			credsJSON, _ := json.Marshal(cr)
			if err := os.WriteFile(credsFile, credsJSON, 0o600); err != nil {
				t.Fatal(err)
			}
			first = startProcess(t, &stderr, "merchant", "--platform", url, "--credentials", credsFile, "--addr", "127.0.0.1:0")
			if !strings.Contains(first, " on http://") {
				t.Fatalf("merchant: %q %s", first, stderr.String())
			}
			merchantURL := strings.TrimSuffix(strings.Fields(strings.SplitN(first, " on ", 2)[1])[0], ";")
			post := func(u string, v any) map[string]any { return postJSON(t, u, v) }
			raw := sdk("getWxpayfaceRawdata", map[string]any{})
			ai := post(merchantURL+"/merchant/authinfo", map[string]any{"store_id": "S1", "store_name": "食堂", "device_id": "KIOSK-1", "rawdata": raw["rawdata"]})
			if ai["authinfo"] == nil {
				t.Fatalf("authinfo from the merchant server: %v %s", ai, stderr.String())
			}
			code := sdk("getWxpayfaceCode", map[string]any{"appid": cr.AppID, "mch_id": cr.MchID, "store_id": "S1", "authinfo": ai["authinfo"],
				"face_authtype": "FACEPAY", "out_trade_no": "KB-1", "total_fee": "1500"})
			if code["return_code"] != "SUCCESS" {
				t.Fatalf("getWxpayfaceCode: %v\n%s", code, stderr.String())
			}
			paid := post(merchantURL+"/merchant/pay", map[string]any{"out_trade_no": "KB-1", "total_fee": 1500, "face_code": code["face_code"], "body": "午餐"})
			if paid["state"] != "SUCCESS" {
				t.Fatalf("merchant server pay: %v", paid)
			}
			if q := call("/pay/orderquery", gopay.BodyMap{"out_trade_no": "KB-1"}, wechat.SignType_MD5); q.GetString("trade_state") != "SUCCESS" || q.GetString("total_fee") != "1500" {
				t.Fatalf("orderquery through gopay: %v", q)
			}
			var after struct {
				Balance int64 `json:"balance"`
			}
			runJSON(t, logs, &after, append([]string{"admin", "payer", "show", "--payer", payer.PayerID, "--json"}, store...)...)
			if after.Balance != 5000-1500 {
				t.Fatalf("balance %d, want 3500", after.Balance)
			}
			if !strings.Contains(stderr.String(), "LIVENESS IS OFF") {
				t.Fatalf("no liveness warning at start:\n%s", stderr.String())
			}
			for _, secret := range []string{code["face_code"].(string), "13800138000", ai["authinfo"].(string)} {
				if strings.Contains(stderr.String(), secret) || strings.Contains(logs.String(), secret) {
					t.Fatalf("the logs hold %q", secret)
				}
			}
		})
	}
}

// startProcess runs the binary with args until the test ends and returns the first
// line it prints (where it listens); the rest of its output is drained.
func startProcess(t *testing.T, stderr *lockedBuffer, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stderr = stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	lines.Scan()
	first := lines.Text()
	go func() {
		for lines.Scan() {
		}
	}()
	return first
}

// postJSON posts v as JSON and decodes the JSON answer.
func postJSON(t *testing.T, u string, v any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}
