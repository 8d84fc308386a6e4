package platform_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// gopayClient is an unmodified gopay v2 client pointed at the platform: production
// mode with BaseURL set, as the README tells integrators.
func gopayClient(t *testing.T, url string, cr tenant.Credentials, withCert bool) *wechat.Client {
	t.Helper()
	c := wechat.NewClient(cr.AppID, cr.MchID, cr.APIKey, true)
	c.BaseURL = url
	if withCert {
		if err := c.AddCertPemFileContent([]byte(cr.MerchantCertPEM), []byte(cr.MerchantPrivateKeyPEM)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestGopayOrderQuerySignsBothWays(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		cr := b.merchant(t, tenant.NewMerchant{})
		for _, st := range []string{wechat.SignType_MD5, wechat.SignType_HMAC_SHA256} {
			for _, base := range []string{b.URL, b.HTTPURL} {
				c := gopayClient(t, base, cr, false)
				bm := make(gopay.BodyMap)
				bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", "NO-SUCH-ORDER-1").Set("sign_type", st)
				rsp, resBm, err := c.QueryOrder(context.Background(), bm)
				if err != nil {
					t.Fatalf("%s %s: %v", st, base, err)
				}
				if rsp.ReturnCode != "SUCCESS" || rsp.ResultCode != "FAIL" || rsp.ErrCode != "ORDERNOTEXIST" {
					t.Fatalf("%s: answer %+v", st, rsp)
				}
				if rsp.Appid != cr.AppID || rsp.MchId != cr.MchID || rsp.NonceStr == "" {
					t.Fatalf("%s: envelope fields %+v", st, rsp)
				}
				ok, err := wechat.VerifySign(cr.APIKey, st, resBm)
				if err != nil || !ok {
					t.Fatalf("%s: gopay does not verify the answer's sign: %v", st, err)
				}
				wantLen := map[string]int{wechat.SignType_MD5: 32, wechat.SignType_HMAC_SHA256: 64}[st]
				if len(rsp.Sign) != wantLen {
					t.Fatalf("%s: answer signed with a %d-char sign, want the request's algorithm", st, len(rsp.Sign))
				}
				if ok, _ := wechat.VerifySign(otherKey(cr.APIKey), st, resBm); ok {
					t.Fatal("the answer verifies with a wrong key")
				}
			}
		}
	})
}

func TestGopayRefundOverMutualTLS(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		cr := b.merchant(t, tenant.NewMerchant{})
		c := gopayClient(t, b.URL, cr, true)
		bm := make(gopay.BodyMap)
		bm.Set("nonce_str", v2wire.NonceStr()).Set("out_trade_no", "NO-SUCH-ORDER-2").Set("out_refund_no", "R1").
			Set("total_fee", 100).Set("refund_fee", 100).Set("sign_type", wechat.SignType_HMAC_SHA256)
		rsp, resBm, err := c.Refund(context.Background(), bm)
		if err != nil {
			t.Fatal(err)
		}
		if rsp.ReturnCode != "SUCCESS" || rsp.ErrCode != "ORDERNOTEXIST" {
			t.Fatalf("refund with the merchant certificate: %+v", rsp)
		}
		if ok, err := wechat.VerifySign(cr.APIKey, wechat.SignType_HMAC_SHA256, resBm); !ok || err != nil {
			t.Fatalf("refund answer does not verify: %v", err)
		}
		// gopay presents the certificate only on /secapi; each call is a fresh connection.
		for range 3 {
			if rsp, _, err := c.Refund(context.Background(), bm); err != nil || rsp.ErrCode != "ORDERNOTEXIST" {
				t.Fatalf("repeated refund: %+v %v", rsp, err)
			}
		}
	})
}

// rawV2 posts body to path and returns the decoded answer, checking the HTTP layer
// the way gopay does: status 200 and no HTML.
func rawV2(t *testing.T, client *http.Client, method, url, body string) *v2wire.Message {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.Contains(strings.ToLower(string(raw)), "html") {
		t.Fatalf("%s %s: HTTP %d %q", method, url, resp.StatusCode, raw)
	}
	m, err := v2wire.Decode(raw)
	if err != nil {
		t.Fatalf("answer is not v2 XML: %v: %q", err, raw)
	}
	return m
}

func signed(cr tenant.Credentials, key string, st v2wire.SignType, fields map[string]string) string {
	m := v2wire.NewMessage()
	m.Set("appid", cr.AppID)
	m.Set("mch_id", cr.MchID)
	m.Set("nonce_str", v2wire.NonceStr())
	if st != v2wire.SignMD5 {
		m.Set("sign_type", string(st))
	}
	for k, v := range fields {
		if v == "" {
			m.Del(k)
		} else {
			m.Set(k, v)
		}
	}
	v2wire.SignMessage(m, key, st)
	return string(m.Encode())
}

func TestV2RefusalsAreProtocolAnswers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		cr := b.merchant(t, tenant.NewMerchant{})
		other := b.merchant(t, tenant.NewMerchant{})
		cl := b.httpsClient(nil)
		q := b.URL + "/pay/orderquery"
		order := map[string]string{"out_trade_no": "T1"}
		with := func(extra map[string]string) map[string]string {
			m := map[string]string{"out_trade_no": "T1"}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		cases := []struct {
			name, method, url, body, code string
		}{
			{"GET", http.MethodGet, q, "", "REQUIRE_POST_METHOD"},
			{"empty body", http.MethodPost, q, "", "POST_DATA_EMPTY"},
			{"malformed XML", http.MethodPost, q, "<xml><appid>wx", "XML_FORMAT_ERROR"},
			{"not UTF-8", http.MethodPost, q, "<xml><body>\xff\xfe</body></xml>", "NOT_UTF8"},
			{"XXE", http.MethodPost, q, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><appid>&e;</appid></xml>`, "XML_FORMAT_ERROR"},
			{"missing mch_id", http.MethodPost, q, signed(cr, cr.APIKey, v2wire.SignMD5, with(map[string]string{"mch_id": ""})), "LACK_PARAMS"},
			{"missing out_trade_no", http.MethodPost, q, signed(cr, cr.APIKey, v2wire.SignMD5, nil), "LACK_PARAMS"},
			{"bad sign_type", http.MethodPost, q, strings.Replace(signed(cr, cr.APIKey, v2wire.SignMD5, order), "<xml>", "<xml><sign_type>SHA1</sign_type>", 1), "PARAM_ERROR"},
			{"wrong key", http.MethodPost, q, signed(cr, other.APIKey, v2wire.SignMD5, order), "SIGNERROR"},
			{"wrong algorithm", http.MethodPost, q, strings.Replace(signed(cr, cr.APIKey, v2wire.SignHMACSHA256, order), "HMAC-SHA256", "MD5", 1), "SIGNERROR"},
			{"field added after signing", http.MethodPost, q, strings.Replace(signed(cr, cr.APIKey, v2wire.SignMD5, order), "<xml>", "<xml><attach>x</attach>", 1), "SIGNERROR"},
			{"unknown mch_id", http.MethodPost, q, signed(cr, cr.APIKey, v2wire.SignMD5, with(map[string]string{"mch_id": "1999999999"})), "MCHID_NOT_EXIST"},
			{"foreign appid", http.MethodPost, q, signed(cr, cr.APIKey, v2wire.SignMD5, with(map[string]string{"appid": other.AppID})), "APPID_MCHID_NOT_MATCH"},
			{"another merchant's sub", http.MethodPost, q, signed(cr, cr.APIKey, v2wire.SignMD5, with(map[string]string{"sub_mch_id": other.MchID})), "MCHID_NOT_EXIST"},
			{"unknown API", http.MethodPost, b.URL + "/pay/nothing", signed(cr, cr.APIKey, v2wire.SignMD5, order), "INVALID_REQUEST"},
		}
		for _, c := range cases {
			m := rawV2(t, cl, c.method, c.url, c.body)
			if m.Get("return_code") != "FAIL" || !strings.HasPrefix(m.Get("return_msg"), c.code+": ") {
				t.Errorf("%s: return_code=%s return_msg=%q, want FAIL with %s", c.name, m.Get("return_code"), m.Get("return_msg"), c.code)
			}
			if m.Has("sign") || m.Has("result_code") {
				t.Errorf("%s: a refusal carries business fields", c.name)
			}
		}
		if m := rawV2(t, cl, http.MethodPost, q, signed(cr, cr.APIKey, v2wire.SignMD5, order)); m.Get("err_code") != "ORDERNOTEXIST" || !v2wire.Verify(m, cr.APIKey, v2wire.SignMD5) {
			t.Fatalf("control request: %v", m.Names())
		}
	})
}

func TestSecapiRequiresTheMerchantsCertificate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		cr := b.merchant(t, tenant.NewMerchant{})
		other := b.merchant(t, tenant.NewMerchant{})
		body := signed(cr, cr.APIKey, v2wire.SignMD5, map[string]string{"out_trade_no": "T1", "out_refund_no": "R1", "total_fee": "1", "refund_fee": "1"})
		own := mustPair(t, cr)
		foreign := mustPair(t, other)
		selfSigned := selfSignedPair(t)
		cases := []struct {
			name   string
			client *http.Client
			url    string
			want   string
		}{
			{"no certificate", b.httpsClient(nil), b.URL, "CERT_ERROR"},
			{"another merchant's certificate", b.httpsClient(&foreign), b.URL, "CERT_ERROR"},
			{"a certificate the CA did not issue", b.httpsClient(&selfSigned), b.URL, "CERT_ERROR"},
			{"plain HTTP", &http.Client{}, b.HTTPURL, "CERT_ERROR"},
		}
		for _, c := range cases {
			m := rawV2(t, c.client, http.MethodPost, c.url+"/secapi/pay/refund", body)
			if m.Get("return_code") != "FAIL" || !strings.HasPrefix(m.Get("return_msg"), c.want) {
				t.Errorf("%s: %s %q", c.name, m.Get("return_code"), m.Get("return_msg"))
			}
		}
		m := rawV2(t, b.httpsClient(&own), http.MethodPost, b.URL+"/secapi/pay/refund", body)
		if m.Get("return_code") != "SUCCESS" || m.Get("err_code") != "ORDERNOTEXIST" {
			t.Fatalf("own certificate: %s %q %s", m.Get("return_code"), m.Get("return_msg"), m.Get("err_code"))
		}
	})
}

func mustPair(t *testing.T, cr tenant.Credentials) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair([]byte(cr.MerchantCertPEM), []byte(cr.MerchantPrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
