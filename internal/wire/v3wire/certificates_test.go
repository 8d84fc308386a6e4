package v3wire

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

func TestSerialOf(t *testing.T) {
	t.Parallel()
	key := fixedKey()
	now := time.Now()
	tests := []struct {
		name   string
		serial *big.Int
		want   string
	}{
		{"40 hex digits", mustSerial(t, "3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C8B"), "3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C8B"},
		{"high bit set", mustSerial(t, "80000000000000000000000000000000000000FF"), "80000000000000000000000000000000000000FF"},
		// The magnitude's bytes, so an odd digit count gains a leading zero and
		// leading zero bytes vanish; this is what clients compare.
		{"odd digit count", mustSerial(t, "ABC"), "0ABC"},
		{"leading zero byte", mustSerial(t, "00FF"), "FF"},
		{"one", big.NewInt(1), "01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cert, _ := newCert(t, key, tt.serial, now, now.Add(time.Hour))
			got := SerialOf(cert)
			if got != tt.want {
				t.Fatalf("SerialOf = %s, want %s", got, tt.want)
			}
			if sdk := utils.GetCertificateSerialNumber(*cert); got != sdk {
				t.Fatalf("SerialOf = %s, wechatpay-go says %s", got, sdk)
			}
		})
	}
	if got := SerialOf(nil); got != "" {
		t.Fatalf("SerialOf(nil) = %q", got)
	}
}

func TestNewCertificateItem(t *testing.T) {
	t.Parallel()
	notBefore := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2029, 6, 30, 16, 30, 0, 0, time.UTC)
	cert, certPEM := newCert(t, platformKey(), mustSerial(t, "5E3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C"), notBefore, notAfter)

	item, err := NewCertificateItem(spec94Key, cert, certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if item.SerialNo != utils.GetCertificateSerialNumber(*cert) {
		t.Fatalf("serial_no = %s", item.SerialNo)
	}
	if item.EffectiveTime != "2024-01-01T08:00:00+08:00" || item.ExpireTime != "2029-07-01T00:30:00+08:00" {
		t.Fatalf("times = %s .. %s", item.EffectiveTime, item.ExpireTime)
	}
	ec := item.EncryptCertificate
	if ec.Algorithm != "AEAD_AES_256_GCM" || ec.AssociatedData != "certificate" {
		t.Fatalf("algorithm/aad = %s/%s", ec.Algorithm, ec.AssociatedData)
	}
	if !regexp.MustCompile(`^[0-9A-Za-z]{12}$`).MatchString(ec.Nonce) {
		t.Fatalf("nonce %q is not 12 alphanumerics", ec.Nonce)
	}
	plain, err := utils.DecryptAES256GCM(spec94Key, ec.AssociatedData, ec.Nonce, ec.Ciphertext)
	if err != nil || plain != string(certPEM) {
		t.Fatalf("wechatpay-go decrypt = %q, %v", plain, err)
	}

	t.Run("fresh nonce per item", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{ec.Nonce: true}
		for range 50 {
			again, err := NewCertificateItem(spec94Key, cert, certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if seen[again.EncryptCertificate.Nonce] {
				t.Fatalf("nonce %s reused", again.EncryptCertificate.Nonce)
			}
			seen[again.EncryptCertificate.Nonce] = true
		}
	})

	t.Run("json field names", func(t *testing.T) {
		t.Parallel()
		raw, err := json.Marshal(CertificatesResponse{Data: []CertificateItem{item}})
		if err != nil {
			t.Fatal(err)
		}
		var generic struct {
			Data []map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &generic); err != nil || len(generic.Data) != 1 {
			t.Fatalf("%s: %v", raw, err)
		}
		for _, k := range []string{"serial_no", "effective_time", "expire_time", "encrypt_certificate"} {
			if _, ok := generic.Data[0][k]; !ok {
				t.Fatalf("key %s missing in %s", k, raw)
			}
		}
		var enc map[string]string
		if err := json.Unmarshal(generic.Data[0]["encrypt_certificate"], &enc); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"algorithm", "nonce", "associated_data", "ciphertext"} {
			if enc[k] == "" {
				t.Fatalf("encrypt_certificate.%s missing in %s", k, raw)
			}
		}
		// The SDK decodes these into time.Time.
		var times struct{ EffectiveTime, ExpireTime time.Time }
		if err := json.Unmarshal([]byte(`{"EffectiveTime":"`+item.EffectiveTime+`","ExpireTime":"`+item.ExpireTime+`"}`), &times); err != nil {
			t.Fatal(err)
		}
		if !times.EffectiveTime.Equal(notBefore) || !times.ExpireTime.Equal(notAfter) {
			t.Fatalf("times decode to %v .. %v", times.EffectiveTime, times.ExpireTime)
		}
	})

	t.Run("empty PEM is rendered from the certificate", func(t *testing.T) {
		t.Parallel()
		item, err := NewCertificateItem(spec94Key, cert, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := DecryptAEAD(spec94Key, item.EncryptCertificate.Nonce, CertificateAssociatedData, item.EncryptCertificate.Ciphertext)
		if err != nil || string(plain) != string(certPEM) {
			t.Fatalf("decrypted %q, %v", plain, err)
		}
	})

	other, otherPEM := newCert(t, otherKey(), big.NewInt(7), notBefore, notAfter)
	tests := []struct {
		name    string
		key     string
		cert    *x509.Certificate
		pem     []byte
		wantKey bool
	}{
		{name: "PEM of another certificate", key: spec94Key, cert: cert, pem: otherPEM},
		{name: "certificate of another PEM", key: spec94Key, cert: other, pem: certPEM},
		{name: "not PEM", key: spec94Key, cert: cert, pem: []byte("hello")},
		{name: "key PEM", key: spec94Key, cert: cert, pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: cert.Raw})},
		{name: "nil certificate", key: spec94Key, cert: nil, pem: certPEM},
		{name: "short APIv3 key", key: spec94Key[:31], cert: cert, pem: certPEM, wantKey: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCertificateItem(tt.key, tt.cert, tt.pem)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantKey != errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// rewriteHost points wechatpay-go, which hard-codes the real host, at a test server.
type rewriteHost struct{ target *url.URL }

func (rt rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.target.Scheme, rt.target.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

// TestCertificatesWithSDKDownloader serves /v3/certificates built by this package to
// the real wechatpay-go downloader: it checks our request verification against the
// SDK's signing, our JSON against its models, and our response signature against
// certificates it has just decrypted.
func TestCertificatesWithSDKDownloader(t *testing.T) {
	t.Parallel()
	mchKey := fixedKey()
	now := time.Now()
	oldKey, newKey := otherKey(), platformKey()
	oldCert, oldPEM := newCert(t, oldKey, mustSerial(t, "1111111111111111111111111111111111111111"), now.Add(-48*time.Hour), now.Add(time.Hour))
	newestCert, newestPEM := newCert(t, newKey, mustSerial(t, "2222222222222222222222222222222222222222"), now.Add(-time.Hour), now.Add(48*time.Hour))

	var items []CertificateItem
	for _, c := range []struct {
		cert *x509.Certificate
		pem  []byte
	}{{oldCert, oldPEM}, {newestCert, newestPEM}} {
		item, err := NewCertificateItem(spec94Key, c.cert, c.pem)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item)
	}
	body, err := json.Marshal(CertificatesResponse{Data: items})
	if err != nil {
		t.Fatal(err)
	}

	var tamper atomic.Bool
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		a, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err == nil && a.MchID != testMchID {
			err = errors.New("wrong mchid")
		}
		if err == nil {
			err = VerifySHA256RSA(&mchKey.PublicKey, RequestMessage(r.Method, r.URL.RequestURI(), a.Timestamp, a.NonceStr, nil), a.Signature)
		}
		if err != nil || r.URL.Path != "/v3/certificates" {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(ErrorBody{Code: CodeSignError, Message: "bad request signature"})
			return
		}
		rh, err := SignResponse(newKey, SerialOf(newestCert), body, time.Now())
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if tamper.Load() {
			rh.Signature = SignTestPrefix + rh.Signature
		}
		rh.Apply(w.Header())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)

	ctx := context.Background()
	client, err := core.NewClient(ctx,
		option.WithMerchantCredential(testMchID, testSerial, mchKey),
		option.WithoutValidator(),
		option.WithHTTPClient(&http.Client{Transport: rewriteHost{target}, Timeout: 10 * time.Second}),
	)
	if err != nil {
		t.Fatal(err)
	}
	d, err := downloader.NewCertificateDownloaderWithClient(ctx, client, spec94Key)
	if err != nil {
		t.Fatalf("first download: %v", err)
	}
	for _, c := range []*x509.Certificate{oldCert, newestCert} {
		got, ok := d.Get(ctx, SerialOf(c))
		if !ok || !got.Equal(c) {
			t.Fatalf("downloader lacks certificate %s", SerialOf(c))
		}
		if _, ok := got.PublicKey.(*rsa.PublicKey); !ok {
			t.Fatalf("certificate %s has no RSA key", SerialOf(c))
		}
	}
	if got := d.GetNewestSerial(ctx); got != SerialOf(newestCert) {
		t.Fatalf("newest serial = %s", got)
	}
	// From now on the downloader validates answers with what it downloaded.
	if err := d.DownloadCertificates(ctx); err != nil {
		t.Fatalf("validated download: %v", err)
	}
	tamper.Store(true)
	if err := d.DownloadCertificates(ctx); err == nil {
		t.Fatal("downloader accepted a probe signature")
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("server saw %d requests, want 3", n)
	}
}
