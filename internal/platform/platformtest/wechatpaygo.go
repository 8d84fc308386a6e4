package platformtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/openfacepay/openfacepay/internal/tenant"
)

// rewriteHost sends every request to the platform whatever host the SDK put in the
// URL: the SDK's paths and downloader hard-code WeChat's host, and this transport is
// what the README tells integrators to use.
type rewriteHost struct {
	target *url.URL
	next   http.RoundTripper
}

func (rt rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.target.Scheme, rt.target.Host, rt.target.Host
	return rt.next.RoundTrip(r)
}

// SDKHTTPClient is an HTTP client for wechatpay-go that reaches the platform at base
// (trusting pool) for every URL the SDK builds.
func SDKHTTPClient(t testing.TB, base string, pool *x509.CertPool) *http.Client {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: rewriteHost{target: u,
		next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// WechatpayGo is an unmodified wechatpay-go client of cr in public-key mode, sent to
// the platform at base.
func WechatpayGo(t testing.TB, base string, pool *x509.CertPool, cr tenant.Credentials) *core.Client {
	t.Helper()
	key, err := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := utils.LoadPublicKey(cr.PlatformPublicKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.NewClient(context.Background(), option.WithWechatPayPublicKeyAuthCipher(cr.MchID, cr.MerchantSerialNo, key,
		cr.PlatformPublicKeyID, pub), option.WithHTTPClient(SDKHTTPClient(t, base, pool)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
