package v3wire

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

const spec91Body = `{"sp_appid":"wx8b3a1c9d2e4f5a6b","sub_mchid":"1900098765","device_id":"KIOSK-07","raw_data":"Rk9PQkFSMTIz","organization_id":"ORG-2021-0001"}`

func TestSignedMessagesSpecVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     []byte
		want    string
		wantLen int
		sha256  string
	}{
		{
			name:    "9.1 POST request",
			msg:     RequestMessage("POST", "/v3/offlineface/authinfo", "1700000000", "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(spec91Body)),
			want:    "POST\n/v3/offlineface/authinfo\n1700000000\n593BEC0C930BF1AFEB40B4A08C8FB242\n" + spec91Body + "\n",
			wantLen: 216,
			sha256:  "cb29f623a9069482141f03b2c43b92def5e21e9257f80d4d8658500b160611b3",
		},
		{
			name: "9.2 GET request with query and empty body",
			msg: RequestMessage("GET",
				"/v3/offlineface/transactions/out-trade-no/K12-20231115-0001?sp_mchid=1900012345&sub_mchid=1900098765&business_product_id=2",
				"1700000060", "C2F5A6B7D8E9F0A1B2C3D4E5F6A7B8C9", nil),
			want:    "GET\n/v3/offlineface/transactions/out-trade-no/K12-20231115-0001?sp_mchid=1900012345&sub_mchid=1900098765&business_product_id=2\n1700000060\nC2F5A6B7D8E9F0A1B2C3D4E5F6A7B8C9\n\n",
			wantLen: 172,
			sha256:  "129cd9efbdde12fbe16c8e2e05f725b381ea948d3792a1062939a7c222973d76",
		},
		{
			name:    "9.3 response message",
			msg:     ResponseMessage("1700000001", "8f3c2a9e1b7d4c6a5e0f9b8d7c6a5e4f", []byte(`{"authinfo":"demo-authinfo"}`)),
			want:    "1700000001\n8f3c2a9e1b7d4c6a5e0f9b8d7c6a5e4f\n{\"authinfo\":\"demo-authinfo\"}\n",
			wantLen: 73,
			sha256:  "3612412a4d4290c5a194830c84a3eaceed31f62bf9dbeafc6122f7ec768d0201",
		},
		{
			name:    "204 response ends with two newlines",
			msg:     ResponseMessage("1700000001", "N", nil),
			want:    "1700000001\nN\n\n",
			wantLen: 14,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if string(tt.msg) != tt.want {
				t.Fatalf("message = %q, want %q", tt.msg, tt.want)
			}
			if len(tt.msg) != tt.wantLen {
				t.Fatalf("len = %d, want %d", len(tt.msg), tt.wantLen)
			}
			if tt.sha256 != "" {
				sum := sha256.Sum256(tt.msg)
				if got := hex.EncodeToString(sum[:]); got != tt.sha256 {
					t.Fatalf("sha256 = %s, want %s", got, tt.sha256)
				}
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	key := fixedKey()
	msg := RequestMessage("POST", "/v3/offlineface/authinfo", "1700000000", "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(spec91Body))
	sig, err := SignSHA256RSA(key, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 344 {
		t.Fatalf("signature length = %d, want 344", len(sig))
	}
	// PKCS#1 v1.5 is deterministic, so the SDK must produce the very same string.
	sdkSig, err := utils.SignSHA256WithRSA(string(msg), key)
	if err != nil {
		t.Fatal(err)
	}
	if sig != sdkSig {
		t.Fatalf("signature differs from wechatpay-go's:\n ours %s\n sdk  %s", sig, sdkSig)
	}
	if err := VerifySHA256RSA(&key.PublicKey, msg, sig); err != nil {
		t.Fatalf("round trip: %v", err)
	}

	modified := bytes.Clone(msg)
	modified[len(modified)-2] = ' '
	raw, _ := base64.StdEncoding.DecodeString(sig)
	// 256 bytes end in an "XY==" quantum whose last 4 bits are unused; setting one
	// still decodes to the same bytes, so only the canonical check can refuse it.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	y := strings.IndexByte(alphabet, sig[len(sig)-3])
	paddingBits := sig[:len(sig)-3] + string(alphabet[y|1]) + "=="
	if same, _ := base64.StdEncoding.DecodeString(paddingBits); !bytes.Equal(same, raw) || paddingBits == sig {
		t.Fatal("padding-bits case is not a same-bytes variant")
	}
	wrongPub := &otherKey().PublicKey
	tests := []struct {
		name string
		pub  *rsa.PublicKey
		msg  []byte
		sig  string
	}{
		{"wrong key", wrongPub, msg, sig},
		{"modified message", &key.PublicKey, modified, sig},
		{"empty message", &key.PublicKey, nil, sig},
		{"signature probe prefix", &key.PublicKey, msg, SignTestPrefix + sig},
		{"empty signature", &key.PublicKey, msg, ""},
		{"not base64", &key.PublicKey, msg, "!!!" + sig[3:]},
		{"line break inside", &key.PublicKey, msg, sig[:64] + "\n" + sig[64:]},
		{"trailing CRLF", &key.PublicKey, msg, sig + "\r\n"},
		{"missing padding", &key.PublicKey, msg, strings.TrimRight(sig, "=")},
		{"url-safe alphabet", &key.PublicKey, msg, strings.NewReplacer("+", "-", "/", "_").Replace(sig)},
		{"non-zero padding bits", &key.PublicKey, msg, paddingBits},
		{"truncated", &key.PublicKey, msg, base64.StdEncoding.EncodeToString(raw[:255])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySHA256RSA(tt.pub, tt.msg, tt.sig)
			if !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("err = %v, want ErrInvalidSignature", err)
			}
		})
	}

	t.Run("nil keys", func(t *testing.T) {
		t.Parallel()
		if _, err := SignSHA256RSA(nil, msg); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("sign: err = %v", err)
		}
		if err := VerifySHA256RSA(nil, msg, sig); !errors.Is(err, ErrInvalidSignature) || !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("verify: err = %v", err)
		}
	})
}

func TestSignRequest(t *testing.T) {
	t.Parallel()
	key := fixedKey()
	now := time.Unix(1700000000, 999_000_000)
	tests := []struct {
		name, method, uri string
		body              []byte
	}{
		{"post with body", "POST", "/v3/offlineface/authinfo", []byte(spec91Body + "\n")},
		{"get with query", "GET", "/v3/offlineface/transactions/out-trade-no/T1?sp_mchid=1&sub_mchid=2&business_product_id=2", nil},
		{"non-ascii body", "PATCH", "/v3/offlinefacemch/organizations/O/users/out-user-id/U", []byte(`{"user_name":"张三"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := SignRequest(key, "1900012345", "3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C8B", tt.method, tt.uri, tt.body, now)
			if err != nil {
				t.Fatal(err)
			}
			a, err := ParseAuthorization(h)
			if err != nil {
				t.Fatalf("parse %q: %v", h, err)
			}
			if a.String() != h {
				t.Fatalf("re-rendered header differs:\n%s\n%s", a.String(), h)
			}
			if a.MchID != "1900012345" || a.SerialNo != "3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C8B" || a.Timestamp != "1700000000" {
				t.Fatalf("fields = %+v", a)
			}
			if !regexp.MustCompile(`^[0-9A-F]{32}$`).MatchString(a.NonceStr) {
				t.Fatalf("nonce %q is not 32 upper-case hex", a.NonceStr)
			}
			msg := RequestMessage(tt.method, tt.uri, a.Timestamp, a.NonceStr, tt.body)
			if err := VerifySHA256RSA(&key.PublicKey, msg, a.Signature); err != nil {
				t.Fatalf("verify: %v", err)
			}
			// The server must not accept the same signature for another target.
			other := RequestMessage(tt.method, tt.uri+"x", a.Timestamp, a.NonceStr, tt.body)
			if err := VerifySHA256RSA(&key.PublicKey, other, a.Signature); err == nil {
				t.Fatal("signature verified for another URI")
			}
		})
	}
	if _, err := SignRequest(nil, "1", "S", "GET", "/", nil, now); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("nil key: err = %v", err)
	}
}

func TestSignResponseWithSDKValidator(t *testing.T) {
	t.Parallel()
	key := platformKey()
	cert, _ := newCert(t, key, mustSerial(t, "5E3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C"), time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	certVerifier := verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{cert}))
	const pubKeyID = "PUB_KEY_ID_0119000123452025010100000000000001"
	pubVerifier := verifiers.NewSHA256WithRSAPubkeyVerifier(pubKeyID, key.PublicKey)

	body := []byte(`{"authinfo":"demo-authinfo"}`)
	tests := []struct {
		name     string
		verifier auth.Verifier
		signer   *rsa.PrivateKey
		serial   string
		body     []byte
		sent     []byte // body as delivered, if different
		age      time.Duration
		wantOK   bool
	}{
		{name: "certificate mode", verifier: certVerifier, serial: SerialOf(cert), body: body, wantOK: true},
		{name: "certificate mode, 204", verifier: certVerifier, serial: SerialOf(cert), body: nil, wantOK: true},
		{name: "public key mode", verifier: pubVerifier, serial: pubKeyID, body: body, wantOK: true},
		{name: "within the 300 s window", verifier: certVerifier, serial: SerialOf(cert), body: body, age: 290 * time.Second, wantOK: true},
		{name: "stale timestamp", verifier: certVerifier, serial: SerialOf(cert), body: body, age: 10 * time.Minute},
		{name: "body changed in transit", verifier: certVerifier, serial: SerialOf(cert), body: body, sent: []byte(`{"authinfo":"demo-authinfo "}`)},
		{name: "unknown serial", verifier: certVerifier, serial: "00" + SerialOf(cert), body: body},
		{name: "signed by another key", verifier: certVerifier, signer: otherKey(), serial: SerialOf(cert), body: body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			signer := key
			if tt.signer != nil {
				signer = tt.signer
			}
			rh, err := SignResponse(signer, tt.serial, tt.body, time.Now().Add(-tt.age))
			if err != nil {
				t.Fatal(err)
			}
			hdr := http.Header{}
			rh.Apply(hdr)
			sent := tt.body
			if tt.sent != nil {
				sent = tt.sent
			}
			resp := &http.Response{StatusCode: 200, Header: hdr, Body: io.NopCloser(bytes.NewReader(sent))}
			err = validators.NewWechatPayResponseValidator(tt.verifier).Validate(context.Background(), resp)
			if tt.wantOK && err != nil {
				t.Fatalf("wechatpay-go rejected the answer: %v", err)
			}
			if !tt.wantOK && err == nil {
				t.Fatal("wechatpay-go accepted the answer")
			}
		})
	}
}

func TestResponseHeadersApply(t *testing.T) {
	t.Parallel()
	rh, err := SignResponse(fixedKey(), "ABC123", []byte("{}"), time.Unix(1700000001, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rh.Timestamp != "1700000001" || rh.Serial != "ABC123" || len(rh.Nonce) != 32 {
		t.Fatalf("headers = %+v", rh)
	}
	if err := VerifySHA256RSA(&fixedKey().PublicKey, ResponseMessage(rh.Timestamp, rh.Nonce, []byte("{}")), rh.Signature); err != nil {
		t.Fatal(err)
	}
	hdr := http.Header{HeaderSignature: {"stale", "duplicate"}}
	rh.Apply(hdr)
	want := map[string]string{
		"Wechatpay-Timestamp":      rh.Timestamp,
		"Wechatpay-Nonce":          rh.Nonce,
		"Wechatpay-Signature":      rh.Signature,
		"Wechatpay-Serial":         "ABC123",
		"Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
	}
	if len(hdr) != len(want) {
		t.Fatalf("header has %d keys, want %d: %v", len(hdr), len(want), hdr)
	}
	for k, v := range want {
		if got := hdr[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if _, err := SignResponse(nil, "S", nil, time.Now()); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("nil key: err = %v", err)
	}
}

func TestNonceStr(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9A-F]{32}$`)
	seen := make(map[string]bool)
	for i := range 1000 {
		n := NonceStr()
		if !re.MatchString(n) {
			t.Fatalf("nonce %q is not 32 upper-case hex", n)
		}
		if seen[n] {
			t.Fatalf("nonce repeated after %d draws", i)
		}
		seen[n] = true
	}
}
