package v3http_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/edge/v3http"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

func TestStatusTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code   errcode.Code
		status int
		wire   string
	}{
		{errcode.Invalid, 400, "PARAM_ERROR"},
		{errcode.Conflict, 400, "INVALID_REQUEST"},
		{errcode.InsufficientFunds, 400, "INVALID_REQUEST"},
		{errcode.LimitExceeded, 400, "INVALID_REQUEST"},
		{errcode.Unauthenticated, 401, "SIGN_ERROR"},
		{errcode.Forbidden, 403, "NO_AUTH"},
		{errcode.NotFound, 404, "RESOURCE_NOT_EXISTS"},
		{errcode.Unavailable, 503, "SERVICE_UNAVAILABLE"},
		{errcode.Internal, 500, "SYSTEM_ERROR"},
	}
	for _, c := range cases {
		if st, w := v3http.Status(errcode.E(c.code, "x")); st != c.status || w != c.wire {
			t.Errorf("%s -> %d %s, want %d %s", c.code, st, w, c.status, c.wire)
		}
	}
	if st, w := v3http.Status(errors.New("plain")); st != 500 || w != "SYSTEM_ERROR" {
		t.Errorf("untyped error -> %d %s", st, w)
	}
}

// echo is a test API: it decrypts the request's "phone" with the platform key the
// request names and answers it encrypted for the merchant.
type echo struct {
	Phone string `json:"phone"`
}

func TestSensitiveFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		cr := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{}))
		h := v3http.New(v3http.Config{Store: b.DB})
		h.Handle("POST /v3/test/echo", func(ctx context.Context, c *v3http.Call) (int, any, error) {
			var in echo
			if err := c.DecodeJSON(&in); err != nil {
				return 0, nil, err
			}
			phone, err := c.DecryptField(in.Phone)
			if err != nil {
				return 0, nil, err
			}
			enc, err := c.EncryptField(phone)
			return http.StatusOK, echo{Phone: enc}, err
		})
		srv := httptest.NewServer(h)
		defer srv.Close()
		key, _ := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
		platformCert, _ := utils.LoadCertificate(cr.PlatformCertPEM)
		platformPub, _ := utils.LoadPublicKey(cr.PlatformPublicKeyPEM)

		call := func(serial, phoneCipher string) (int, []byte, http.Header) {
			body, _ := json.Marshal(echo{Phone: phoneCipher})
			auth, err := v3wire.SignRequest(key, cr.MchID, cr.MerchantSerialNo, "POST", "/v3/test/echo", body, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", srv.URL+"/v3/test/echo", strings.NewReader(string(body)))
			req.Header.Set("Authorization", auth)
			req.Header.Set("Wechatpay-Serial", serial)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, raw, resp.Header
		}
		// Encrypted by the SDK with the platform certificate, and with the platform public key.
		for _, tc := range []struct {
			serial string
			enc    func() (string, error)
		}{
			{cr.PlatformSerialNo, func() (string, error) { return utils.EncryptOAEPWithCertificate("13800138000", platformCert) }},
			{cr.PlatformPublicKeyID, func() (string, error) { return utils.EncryptOAEPWithPublicKey("13800138000", platformPub) }},
		} {
			ct, err := tc.enc()
			if err != nil {
				t.Fatal(err)
			}
			st, raw, hdr := call(tc.serial, ct)
			if st != 200 {
				t.Fatalf("%s: HTTP %d %s", tc.serial, st, raw)
			}
			if hdr.Get("Wechatpay-Serial") != tc.serial {
				t.Fatalf("answer signed by %s, want the identity the request named (%s)", hdr.Get("Wechatpay-Serial"), tc.serial)
			}
			var out echo
			_ = json.Unmarshal(raw, &out)
			plain, err := utils.DecryptOAEP(out.Phone, key)
			if err != nil || plain != "13800138000" {
				t.Fatalf("merchant decrypts the answer field to %q, %v", plain, err)
			}
			if out.Phone == ct || strings.Contains(string(raw), "13800138000") {
				t.Fatal("the answer carries the field in clear")
			}
		}
		// A field for a key the platform does not hold, or encrypted with another key.
		ct, _ := utils.EncryptOAEPWithCertificate("13800138000", platformCert)
		for _, serial := range []string{"PUB_KEY_ID_0000", cr.PlatformPublicKeyID} {
			st, raw, _ := call(serial, ct)
			var e v3wire.ErrorBody
			_ = json.Unmarshal(raw, &e)
			if st != 400 || e.Code != "PARAM_ERROR" {
				t.Errorf("serial %s: HTTP %d %+v, want 400 PARAM_ERROR", serial, st, e)
			}
		}
		if st, raw, _ := call(cr.PlatformSerialNo, "not base64 at all"); st != 400 {
			t.Errorf("garbage ciphertext: %d %s", st, raw)
		}
	})
}

func TestTimestampWindowFollowsTheClock(t *testing.T) {
	t.Parallel()
	b := storagetest.Open(t, "sqlite")
	ctx := context.Background()
	cr := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{}))
	fake := clock.NewFake(time.Now())
	srv := httptest.NewServer(v3http.New(v3http.Config{Store: b.DB, Clock: fake}))
	defer srv.Close()
	key, _ := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
	get := func() int {
		auth, _ := v3wire.SignRequest(key, cr.MchID, cr.MerchantSerialNo, "GET", "/v3/certificates", nil, time.Now())
		req, _ := http.NewRequest("GET", srv.URL+"/v3/certificates", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(); st != 200 {
		t.Fatalf("in window: %d", st)
	}
	fake.Advance(v3http.Window - time.Second)
	if st := get(); st != 200 {
		t.Fatalf("just inside the window: %d", st)
	}
	fake.Advance(2 * time.Second)
	if st := get(); st != 401 {
		t.Fatalf("just outside the window: %d, want 401", st)
	}
}
