package bench

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// An anchor makes a figure of `facepay bench pay` a ratio from one run: the same
// machine, at the same moment, doing only the part of a request that cannot be
// avoided. The protocol ceiling is a server doing the v2 wire work of an orderquery —
// TLS, decoding the XML, checking the HMAC-SHA256 sign with the merchant's key, and a
// signed answer — with no store and no domain, driven by the same client as the
// platform.

// protocolCeiling serves the v2 wire work on 127.0.0.1 with cert; stop ends it.
func protocolCeiling(cr tenant.Credentials, cert tls.Certificate) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ans := v2wire.NewMessage()
		m, err := v2wire.Decode(body)
		switch {
		case err != nil:
			ans.Set("return_code", "FAIL")
			ans.Set("return_msg", "malformed")
		case !v2wire.Verify(m, cr.APIKey, v2wire.SignType(m.Get("sign_type"))):
			ans.Set("return_code", "FAIL")
			ans.Set("return_msg", "SIGNERROR")
		default:
			ans.Set("return_code", "SUCCESS")
			ans.Set("return_msg", "OK")
			ans.Set("appid", m.Get("appid"))
			ans.Set("mch_id", m.Get("mch_id"))
			ans.Set("nonce_str", v2wire.NonceStr())
			ans.Set("result_code", "FAIL")
			ans.Set("err_code", "ORDERNOTEXIST")
			ans.Set("err_code_des", "order does not exist")
			v2wire.SignMessage(ans, cr.APIKey, v2wire.SignHMACSHA256)
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(ans.Encode())
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return "https://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
