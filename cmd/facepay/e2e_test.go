package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "facepay-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "facepay")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build facepay: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's stderr while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func run(t *testing.T, stderr *lockedBuffer, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("facepay %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String()
}

// TestBinaryEndToEnd runs what the README tells a new user to run: merchant create,
// serve, a client call, an admin command while serving, SIGTERM.
func TestBinaryEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			store := storeArgs(t, backend)
			logs := &lockedBuffer{}
			var cr tenant.Credentials
			if err := json.Unmarshal([]byte(run(t, logs, append([]string{"admin", "merchant", "create", "--json"}, store...)...)), &cr); err != nil {
				t.Fatal(err)
			}
			for name, v := range map[string]string{"mch_id": cr.MchID, "appid": cr.AppID, "api_key": cr.APIKey, "apiv3_key": cr.APIv3Key,
				"merchant_serial_no": cr.MerchantSerialNo, "merchant_private_key_pem": cr.MerchantPrivateKeyPEM, "merchant_cert_pem": cr.MerchantCertPEM,
				"platform_serial_no": cr.PlatformSerialNo, "platform_cert_pem": cr.PlatformCertPEM, "platform_public_key_id": cr.PlatformPublicKeyID,
				"platform_public_key_pem": cr.PlatformPublicKeyPEM, "tls_ca_pem": cr.TLSCAPEM} {
				if v == "" {
					t.Errorf("merchant create --json has no %s", name)
				}
			}

			serve := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, store...)...)
			serve.Stderr = logs
			stdout, _ := serve.StdoutPipe()
			if err := serve.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- serve.Wait() }()
			t.Cleanup(func() { _ = serve.Process.Kill() })
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				t.Fatalf("serve printed nothing: %s", logs.String())
			}
			first := lines.Text()
			const prefix = "OpenFacePay listening on "
			if !strings.HasPrefix(first, prefix) {
				t.Fatalf("first line %q", first)
			}
			url := strings.Fields(strings.TrimPrefix(first, prefix))[0]
			if !lines.Scan() || !strings.Contains(lines.Text(), "admin merchant create") {
				t.Fatalf("serve does not say what to do next: %q", lines.Text())
			}
			go func() {
				for lines.Scan() {
				}
			}()

			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM([]byte(cr.TLSCAPEM))
			https := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			resp, err := https.Get(url + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("healthz over HTTPS verified against tls_ca_pem: %v %v", resp, err)
			}
			resp.Body.Close()

			query := func(c tenant.Credentials) {
				t.Helper()
				cl := wechat.NewClient(c.AppID, c.MchID, c.APIKey, true)
				cl.BaseURL = url
				bm := make(gopay.BodyMap)
				bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", "E2E-1").Set("sign_type", wechat.SignType_HMAC_SHA256)
				rsp, resBm, err := cl.QueryOrder(context.Background(), bm)
				if err != nil || rsp.ErrCode != "ORDERNOTEXIST" {
					t.Fatalf("gopay orderquery: %+v %v", rsp, err)
				}
				if ok, _ := wechat.VerifySign(c.APIKey, wechat.SignType_HMAC_SHA256, resBm); !ok {
					t.Fatal("answer does not verify")
				}
			}
			query(cr)
			// An admin command while serve runs on the same store, used at once by the server.
			var second tenant.Credentials
			if err := json.Unmarshal([]byte(run(t, logs, append([]string{"admin", "merchant", "create", "--json", "--kind", "service_provider"}, store...)...)), &second); err != nil {
				t.Fatal(err)
			}
			query(second)
			var listed []map[string]any
			if err := json.Unmarshal([]byte(run(t, logs, append([]string{"admin", "merchant", "list", "--json"}, store...)...)), &listed); err != nil || len(listed) != 2 {
				t.Fatalf("merchant list: %v %v", listed, err)
			}
			if out := run(t, logs, append([]string{"admin", "ledger", "audit"}, store...)...); !strings.Contains(out, "balanced: true") {
				t.Fatalf("ledger audit: %s", out)
			}

			if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("serve after SIGTERM: %v\n%s", err, logs.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop after SIGTERM")
			}

			all := logs.String()
			if !strings.Contains(all, `"msg":"request"`) || !strings.Contains(all, `"msg":"shutting down"`) {
				t.Fatalf("expected JSON request and shutdown logs, got:\n%s", all)
			}
			for _, c := range []tenant.Credentials{cr, second} {
				for _, secret := range []string{c.APIKey, c.APIv3Key, "PRIVATE KEY"} {
					if strings.Contains(all, secret) {
						t.Fatalf("a secret appears in the logs")
					}
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(all), "\n") {
				if !json.Valid([]byte(line)) {
					t.Fatalf("log line is not JSON: %q", line)
				}
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"admin", "--help"}, {"admin", "merchant", "--help"},
		{"admin", "merchant", "create", "--help"}, {"admin", "merchant", "list", "--help"},
		{"admin", "merchant", "set-platform-mode", "--help"}, {"admin", "appid", "bind", "--help"},
		{"admin", "ca", "--help"}, {"admin", "ledger", "audit", "--help"},
		{"admin", "payer", "create", "--help"}, {"admin", "payer", "show", "--help"}, {"admin", "rawdata", "--help"},
		{"admin", "face-code", "--help"}, {"admin", "pay-code", "--help"}, {"admin", "fault", "add", "--help"},
		{"admin", "order", "confirm", "--help"}, {"admin", "merchant", "set-password-threshold", "--help"},
		{"admin", "merchant", "set-bill-mode", "--help"}, {"bench", "face-eval", "--help"}, {"admin", "member", "enable", "--help"}, {"kiosk", "--help"}, {"merchant", "--help"}, {"bench", "kiosk", "--help"}, {"admin", "k12", "org", "create", "--help"}, {"admin", "k12", "parent", "sign", "--help"}, {"admin", "merchant", "set-notify-url", "--help"},
		{"admin", "k12", "credential", "--help"}, {"admin", "k12", "org", "set-risk", "--help"}, {"admin", "k12", "parent", "repay", "--help"},
		{"admin", "merchant", "set-advance-funding", "--help"}, {"admin", "merchant", "set-k12-limits", "--help"}, {"admin", "payer", "top-up", "--help"},
		{"admin", "k12", "parent", "collect", "--help"}, {"bench", "memory", "--help"}, {"bench", "scale", "--help"}, {"admin", "k12", "parent", "confirm", "--help"}, {"admin", "k12", "recollect", "--help"}, {"bench", "k12", "--help"}, {"demo", "--help"},
		{"bench", "--help"}, {"bench", "pay", "--help"}, {"bench", "notify", "--help"},
		{"admin", "notify", "list", "--help"}, {"admin", "notify", "show", "--help"}, {"admin", "notify", "retry", "--help"},
		{"admin", "clock", "create", "--help"}, {"admin", "clock", "advance", "--help"}, {"admin", "clock", "show", "--help"},
	} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage:") {
			t.Errorf("facepay %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err := exec.Command(binary, "admin", "merchant", "create", "--data", t.TempDir(), "--kind", "bank").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown merchant kind") {
		t.Errorf("a bad --kind: %v %s", err, out)
	}
}

// TestMerchantCertificateFiles: --out writes the files WeChat hands a merchant, and
// the .p12 (also in --json) opens with the mch_id as password to the same key and
// certificate as the PEM files.
func TestMerchantCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary, "admin", "merchant", "create", "--data", t.TempDir(), "--json", "--out", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	var cr struct {
		MchID   string `json:"mch_id"`
		CertPEM string `json:"merchant_cert_pem"`
		KeyPEM  string `json:"merchant_private_key_pem"`
		P12     []byte `json:"merchant_cert_p12"`
	}
	if err := json.Unmarshal(out, &cr); err != nil {
		t.Fatal(err)
	}
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if string(file("apiclient_cert.pem")) != cr.CertPEM || string(file("apiclient_key.pem")) != cr.KeyPEM || !bytes.Equal(file("apiclient_cert.p12"), cr.P12) {
		t.Fatal("the files differ from the --json credentials")
	}
	if st, err := os.Stat(filepath.Join(dir, "apiclient_key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	key, cert, err := pkcs12.Decode(cr.P12, cr.MchID)
	if err != nil {
		t.Fatalf("open the .p12 with the mch_id: %v", err)
	}
	pair, err := tls.X509KeyPair([]byte(cr.CertPEM), []byte(cr.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Raw, pair.Certificate[0]) || !key.(*rsa.PrivateKey).Equal(pair.PrivateKey) {
		t.Fatal("the .p12 holds another certificate or key")
	}
	if _, _, err := pkcs12.Decode(cr.P12, "wrong"); err == nil {
		t.Fatal("the .p12 opened with a wrong password")
	}
}
