// Package merchant is the reference merchant server (商户server) of the face
// payment sequences, as an integrator would write one: it exchanges a kiosk's
// rawdata for authinfo and caches it, charges with facepay, settles answers that
// are unknown or lost with the documented orderquery/reverse loop, refunds, and
// serves a kiosk the few calls it needs. It is a client of the platform's v2 API
// through the project's own wire code (v2wire), never the platform's handlers.
package merchant

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// Credentials are what `facepay admin merchant create --json` prints.
type Credentials struct {
	MchID          string `json:"mch_id"`
	AppID          string `json:"appid"`
	APIKey         string `json:"api_key"`
	MerchantCert   string `json:"merchant_cert_pem"`
	MerchantKey    string `json:"merchant_private_key_pem"`
	TLSCAPEM       string `json:"tls_ca_pem"`
	SubMchID       string `json:"-"`
	PlatformSerial string `json:"platform_serial_no"`
}

// FromTenant takes the credentials as the platform made them (in-process callers:
// tests, benchmarks, the demo).
func FromTenant(cr tenant.Credentials) Credentials {
	return Credentials{MchID: cr.MchID, AppID: cr.AppID, APIKey: cr.APIKey, MerchantCert: cr.MerchantCertPEM,
		MerchantKey: cr.MerchantPrivateKeyPEM, TLSCAPEM: cr.TLSCAPEM, PlatformSerial: cr.PlatformSerialNo}
}

// Client is a v2 client: it signs with HMAC-SHA256, sends XML, checks the
// answer's signature, and presents the merchant certificate on /secapi.
type Client struct {
	Base  string
	Creds Credentials
	plain *http.Client
	mtls  *http.Client
}

// NewClient builds a client; timeout bounds each call (an answer later than that
// is lost, and the pay loop then asks what became of the order).
func NewClient(base string, cr Credentials, timeout time.Duration) (*Client, error) {
	pool := x509.NewCertPool()
	if cr.TLSCAPEM != "" && !pool.AppendCertsFromPEM([]byte(cr.TLSCAPEM)) {
		return nil, errors.New("tls_ca_pem holds no certificate")
	}
	cert, err := tls.X509KeyPair([]byte(cr.MerchantCert), []byte(cr.MerchantKey))
	if err != nil {
		return nil, fmt.Errorf("merchant certificate and key: %w", err)
	}
	mk := func(certs []tls.Certificate) *http.Client {
		return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
	}
	return &Client{Base: base, Creds: cr, plain: mk(nil), mtls: mk([]tls.Certificate{cert})}, nil
}

// ErrUnknown is an answer that never came, or came without a verifiable result:
// whether the call took effect is unknown.
var ErrUnknown = errors.New("the platform's answer was lost")

// Call sends fields to path and returns the verified answer. A transport failure
// or an answer that does not verify is ErrUnknown.
func (c *Client) Call(ctx context.Context, path string, fields map[string]string) (*v2wire.Message, error) {
	m := v2wire.NewMessage()
	m.Set("appid", c.Creds.AppID)
	m.Set("mch_id", c.Creds.MchID)
	if c.Creds.SubMchID != "" {
		m.Set("sub_mch_id", c.Creds.SubMchID)
	}
	for k, v := range fields {
		m.Set(k, v)
	}
	m.Set("nonce_str", v2wire.NonceStr())
	m.Set("sign_type", string(v2wire.SignHMACSHA256))
	v2wire.SignMessage(m, c.Creds.APIKey, v2wire.SignHMACSHA256)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(m.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	hc := c.plain
	if len(path) > 8 && path[:8] == "/secapi/" {
		hc = c.mtls
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnknown, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnknown, path, err)
	}
	ans, err := v2wire.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s answered HTTP %d without v2 XML", ErrUnknown, path, resp.StatusCode)
	}
	if ans.Get("return_code") == "SUCCESS" && !v2wire.Verify(ans, c.Creds.APIKey, v2wire.SignHMACSHA256) {
		return nil, fmt.Errorf("%w: %s: the answer's signature does not verify", ErrUnknown, path)
	}
	return ans, nil
}
