package platform_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

func (b *bundle) sdkHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	return platformtest.SDKHTTPClient(t, b.URL, b.CAPool)
}

const certificatesURL = "https://api.mch.weixin.qq.com/v3/certificates"

func TestWechatpayGoCertificateMode(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		cr := b.merchant(t, tenant.NewMerchant{})
		key, err := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// The SDK's own bootstrap: download without validation, decrypt, then every later
		// answer must validate against the certificates it decrypted.
		boot, err := core.NewClient(ctx, option.WithMerchantCredential(cr.MchID, cr.MerchantSerialNo, key),
			option.WithoutValidator(), option.WithHTTPClient(b.sdkHTTPClient(t)))
		if err != nil {
			t.Fatal(err)
		}
		d, err := downloader.NewCertificateDownloaderWithClient(ctx, boot, cr.APIv3Key)
		if err != nil {
			t.Fatalf("SDK downloader: %v", err)
		}
		if err := d.DownloadCertificates(ctx); err != nil {
			t.Fatalf("second download, validated with the downloaded certificates: %v", err)
		}
		got := d.ExportAll(ctx)
		if len(got) != 2 || got[cr.PlatformSerialNo] != cr.PlatformCertPEM {
			t.Fatalf("downloaded %d certificates; the current one matches merchant create: %v", len(got), got[cr.PlatformSerialNo] == cr.PlatformCertPEM)
		}
		for _, s := range cr.PlatformCertSerials {
			if _, ok := got[s]; !ok {
				t.Fatalf("certificate %s (valid, for rotation) was not served", s)
			}
		}
		if d.GetNewestSerial(ctx) != cr.PlatformSerialNo {
			t.Fatalf("newest serial %s, want %s", d.GetNewestSerial(ctx), cr.PlatformSerialNo)
		}

		// A client configured with the platform certificate from merchant create.
		cert, _ := utils.LoadCertificate(cr.PlatformCertPEM)
		c, err := core.NewClient(ctx, option.WithMerchantCredential(cr.MchID, cr.MerchantSerialNo, key),
			option.WithWechatPayCertificate([]*x509.Certificate{cert}), option.WithHTTPClient(b.sdkHTTPClient(t)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Get(ctx, certificatesURL)
		if err != nil {
			t.Fatalf("validated GET: %v", err)
		}
		if s := res.Response.Header.Get("Wechatpay-Serial"); s != cr.PlatformSerialNo {
			t.Fatalf("answer signed by %s, want the configured certificate %s", s, cr.PlatformSerialNo)
		}
		if res.Response.Header.Get("Request-ID") == "" {
			t.Fatal("no Request-ID")
		}
		// A client that trusts only another merchant's platform certificate must refuse.
		other := b.merchant(t, tenant.NewMerchant{})
		otherCert, _ := utils.LoadCertificate(other.PlatformCertPEM)
		wrong, _ := core.NewClient(ctx, option.WithMerchantCredential(cr.MchID, cr.MerchantSerialNo, key),
			option.WithWechatPayCertificate([]*x509.Certificate{otherCert}), option.WithHTTPClient(b.sdkHTTPClient(t)))
		if _, err := wrong.Get(ctx, certificatesURL); err == nil {
			t.Fatal("the SDK accepted an answer it cannot have verified")
		}
	})
}

func TestWechatpayGoPublicKeyMode(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		cr := b.merchant(t, tenant.NewMerchant{PlatformMode: tenant.PublicKeyMode})
		key, _ := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
		pub, err := utils.LoadPublicKey(cr.PlatformPublicKeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c, err := core.NewClient(ctx, option.WithWechatPayPublicKeyAuthCipher(cr.MchID, cr.MerchantSerialNo, key, cr.PlatformPublicKeyID, pub),
			option.WithHTTPClient(b.sdkHTTPClient(t)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Get(ctx, certificatesURL)
		if err != nil {
			t.Fatalf("public-key mode GET /v3/certificates: %v", err)
		}
		if s := res.Response.Header.Get("Wechatpay-Serial"); s != cr.PlatformPublicKeyID {
			t.Fatalf("signed by %s, want %s", s, cr.PlatformPublicKeyID)
		}
		var body v3wire.CertificatesResponse
		if err := core.UnMarshalResponse(res.Response, &body); err != nil {
			t.Fatal(err)
		}
		if len(body.Data) != 2 {
			t.Fatalf("%d certificates", len(body.Data))
		}
		for _, item := range body.Data {
			pemText, err := utils.DecryptAES256GCM(cr.APIv3Key, item.EncryptCertificate.AssociatedData, item.EncryptCertificate.Nonce, item.EncryptCertificate.Ciphertext)
			if err != nil {
				t.Fatalf("SDK cannot decrypt certificate %s: %v", item.SerialNo, err)
			}
			cert, err := utils.LoadCertificate(pemText)
			if err != nil || utils.GetCertificateSerialNumber(*cert) != item.SerialNo {
				t.Fatalf("decrypted certificate %s: %v", item.SerialNo, err)
			}
		}
	})
}

// v3Do sends a request with a hand-made Authorization header.
func v3Do(t *testing.T, b *bundle, method, path string, body []byte, auth string) (int, v3wire.ErrorBody, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, b.URL+path, strings.NewReader(string(body)))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := b.httpsClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e v3wire.ErrorBody
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e, resp.Header
}

func TestV3AuthenticationRefusals(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		cr := b.merchant(t, tenant.NewMerchant{})
		other := b.merchant(t, tenant.NewMerchant{})
		key, _ := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
		otherKey, _ := utils.LoadPrivateKey(other.MerchantPrivateKeyPEM)
		const path = "/v3/certificates"
		now := time.Now()
		header := func(a v3wire.Authorization, k any) string {
			msg := v3wire.RequestMessage("GET", path, a.Timestamp, a.NonceStr, nil)
			a.Signature, _ = v3wire.SignSHA256RSA(key, msg)
			if k != nil {
				a.Signature, _ = v3wire.SignSHA256RSA(otherKey, msg)
			}
			return a.String()
		}
		base := func() v3wire.Authorization {
			return v3wire.Authorization{MchID: cr.MchID, NonceStr: v3wire.NonceStr(), Timestamp: fmt.Sprint(now.Unix()), SerialNo: cr.MerchantSerialNo}
		}
		replayed := header(base(), nil)
		if st, _, _ := v3Do(t, b, "GET", path, nil, replayed); st != 200 {
			t.Fatalf("control request: %d", st)
		}
		// A serial is a hex number: wechatpay-node-v3 sends it in lower case.
		lower := base()
		lower.SerialNo = strings.ToLower(cr.MerchantSerialNo)
		if st, e, _ := v3Do(t, b, "GET", path, nil, header(lower, nil)); st != 200 {
			t.Fatalf("lower-case serial_no: %d %+v", st, e)
		}
		old, future, unknownMch, foreignSerial := base(), base(), base(), base()
		old.Timestamp = fmt.Sprint(now.Add(-6 * time.Minute).Unix())
		future.Timestamp = fmt.Sprint(now.Add(6 * time.Minute).Unix())
		unknownMch.MchID = "1999999999"
		foreignSerial.SerialNo = other.MerchantSerialNo
		cases := []struct{ name, auth string }{
			{"no header", ""},
			{"garbage", "Bearer abc"},
			{"replayed nonce", replayed},
			{"timestamp 6 minutes old", header(old, nil)},
			{"timestamp 6 minutes ahead", header(future, nil)},
			{"unknown mchid", header(unknownMch, nil)},
			{"another merchant's serial", header(foreignSerial, nil)},
			{"signed with another key", header(base(), otherKey)},
		}
		for _, c := range cases {
			st, e, _ := v3Do(t, b, "GET", path, nil, c.auth)
			if st != http.StatusUnauthorized || e.Code != "SIGN_ERROR" || e.Message == "" {
				t.Errorf("%s: HTTP %d %+v, want 401 SIGN_ERROR", c.name, st, e)
			}
		}
		// A signature over another URL (the query string is signed) does not verify.
		a := base()
		a.Signature, _ = v3wire.SignSHA256RSA(key, v3wire.RequestMessage("GET", path+"?algorithm_type=RSA", a.Timestamp, a.NonceStr, nil))
		if st, e, _ := v3Do(t, b, "GET", path, nil, a.String()); st != 401 || e.Code != "SIGN_ERROR" {
			t.Errorf("signature over another URL: %d %+v", st, e)
		}
		if st, e, _ := v3Do(t, b, "GET", "/v3/nothing/here", nil, header(base(), nil)); st != 404 || e.Code != "RESOURCE_NOT_EXISTS" {
			t.Errorf("unknown v3 path: %d %+v", st, e)
		}
		// The SDK sees a refusal as an APIError with the documented status and code.
		c, _ := core.NewClient(context.Background(), option.WithMerchantCredential(cr.MchID, cr.MerchantSerialNo, otherKey),
			option.WithoutValidator(), option.WithHTTPClient(b.sdkHTTPClient(t)))
		_, err := c.Get(context.Background(), certificatesURL)
		var apiErr *core.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "SIGN_ERROR" {
			t.Fatalf("SDK error: %v", err)
		}
	})
}
