package platform_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

const k12Base = "https://api.mch.weixin.qq.com/v3/offlinefacemch"

// k12Client is an unmodified wechatpay-go client of a service provider in
// public-key mode, sent to the platform.
func k12Client(t *testing.T, b *bundle, cr tenant.Credentials) *core.Client {
	t.Helper()
	return platformtest.WechatpayGo(t, b.URL, b.CAPool, cr)
}

// k12CertClient is the same in certificate mode, with the platform certificate of
// merchant create (never downloaded from the real host).
func k12CertClient(t *testing.T, b *bundle, cr tenant.Credentials) *core.Client {
	t.Helper()
	key, err := utils.LoadPrivateKey(cr.MerchantPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := utils.LoadCertificate(cr.PlatformCertPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.NewClient(context.Background(), option.WithMerchantCredential(cr.MchID, cr.MerchantSerialNo, key),
		option.WithWechatPayCertificate([]*x509.Certificate{cert}), option.WithHTTPClient(b.sdkHTTPClient(t)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decodeResult(t *testing.T, r *core.APIResult, v any) {
	t.Helper()
	if err := json.NewDecoder(r.Response.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func wantAPIError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var e *core.APIError
	if !errors.As(err, &e) || e.StatusCode != status || e.Code != code {
		t.Fatalf("%s: %v, want %d %s", what, err, status, code)
	}
}

// TestK12OrganisationsTokensAndUsers drives the first K12 endpoints with wechatpay-go
// on both backends: organisation lookup by id and by name, tokens (which create the
// user), the user query, and the PATCH with RSA-OAEP name and phone; another service
// provider's calls look exactly like calls for things that do not exist.
func TestK12OrganisationsTokensAndUsers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		sp := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		other := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		org := storagetest.Must(b.P.K12.NewOrganisation(ctx, sp.MchID, "", "南山中兴小学部"))
		c, o := k12Client(t, b, sp), k12Client(t, b, other)

		var got map[string]string
		r, err := c.Get(ctx, k12Base+"/organizations?organization_id="+org.ID)
		if err != nil {
			t.Fatal(err)
		}
		decodeResult(t, r, &got)
		if got["organization_id"] != org.ID || got["organization_name"] != "南山中兴小学部" {
			t.Fatalf("organisation by id: %v", got)
		}
		r, err = c.Get(ctx, k12Base+"/organizations?organization_name="+url.QueryEscape("南山中兴小学部"))
		if err != nil {
			t.Fatal(err)
		}
		decodeResult(t, r, &got)
		if got["organization_id"] != org.ID {
			t.Fatalf("organisation by name: %v", got)
		}
		_, err = o.Get(ctx, k12Base+"/organizations?organization_id="+org.ID)
		wantAPIError(t, "another service provider's organisation", err, 404, "RESOURCE_NOT_EXISTS")
		_, err = c.Get(ctx, k12Base+"/organizations?organization_id=8000000000")
		wantAPIError(t, "an organisation that does not exist", err, 404, "RESOURCE_NOT_EXISTS")
		_, err = c.Get(ctx, k12Base+"/organizations")
		wantAPIError(t, "neither id nor name", err, 400, "PARAM_ERROR")

		tokenBody := func(orgID, out string) map[string]any {
			return map[string]any{"scene": "WEBSESSION", "web_init_data": map[string]string{"out_user_id": out, "organization_id": orgID}}
		}
		r, err = c.Post(ctx, k12Base+"/tokens", tokenBody(org.ID, "stu-000123"))
		if err != nil {
			t.Fatal(err)
		}
		decodeResult(t, r, &got)
		if len(got["token"]) < 20 {
			t.Fatalf("token: %v", got)
		}
		_, err = c.Post(ctx, k12Base+"/tokens", tokenBody(org.ID, "abc12"))
		wantAPIError(t, "an out_user_id of 5 characters", err, 400, "PARAM_ERROR")
		_, err = o.Post(ctx, k12Base+"/tokens", tokenBody(org.ID, "stu-000999"))
		wantAPIError(t, "a token for another service provider's school", err, 404, "RESOURCE_NOT_EXISTS")

		userURL := k12Base + "/organizations/" + org.ID + "/users/out-user-id/stu-000123"
		var u map[string]any
		r, err = c.Get(ctx, userURL)
		if err != nil {
			t.Fatal(err)
		}
		decodeResult(t, r, &u)
		if u["user_id"] == "" || u["contract_state"] != "NOT_CONTRACTED" || u["status"] != "NORMAL" || u["user_type"] != "STUDENT" || u["face_image_ok"] != false {
			t.Fatalf("new user: %v", u)
		}
		_, err = o.Get(ctx, userURL)
		wantAPIError(t, "another service provider's user", err, 404, "RESOURCE_NOT_EXISTS")
		_, err = c.Get(ctx, k12Base+"/organizations/"+org.ID+"/users/out-user-id/stu-nobody1")
		wantAPIError(t, "a user that does not exist", err, 404, "RESOURCE_NOT_EXISTS")

		// PATCH: name and phone encrypted to the platform key the Wechatpay-Serial names.
		pub, _ := utils.LoadPublicKey(sp.PlatformPublicKeyPEM)
		name, _ := utils.EncryptOAEPWithPublicKey("张小明", pub)
		phone, _ := utils.EncryptOAEPWithPublicKey("13812345678", pub)
		patch := func(cl *core.Client, serial string, body map[string]any) (*core.APIResult, error) {
			h := http.Header{}
			if serial != "" {
				h.Set("Wechatpay-Serial", serial)
			}
			return cl.Request(ctx, http.MethodPatch, userURL, h, nil, body, "application/json")
		}
		r, err = patch(c, sp.PlatformPublicKeyID, map[string]any{"user_name": name, "phone": phone, "user_type": "STUFF",
			"staff_info": map[string]string{"occupation": "厨师"}, "status": "DISABLED"})
		if err != nil || r.Response.StatusCode != 204 {
			t.Fatalf("patch: %v", err)
		}
		r, _ = c.Get(ctx, userURL)
		decodeResult(t, r, &u)
		staff, _ := u["staff_info"].(map[string]any)
		if u["user_name"] != "张小明" || u["user_type"] != "STAFF" || u["status"] != "DISABLED" || staff["occupation"] != "厨师" {
			t.Fatalf("after patch: %v", u)
		}
		// The SDK always names its own key; a client that names another is refused.
		body, _ := json.Marshal(map[string]any{"user_name": name})
		path := "/v3/offlinefacemch/organizations/" + org.ID + "/users/out-user-id/stu-000123"
		a := v3wire.Authorization{MchID: sp.MchID, NonceStr: v3wire.NonceStr(), Timestamp: strconv.FormatInt(time.Now().Unix(), 10), SerialNo: sp.MerchantSerialNo}
		key, _ := utils.LoadPrivateKey(sp.MerchantPrivateKeyPEM)
		a.Signature, _ = v3wire.SignSHA256RSA(key, v3wire.RequestMessage(http.MethodPatch, path, a.Timestamp, a.NonceStr, body))
		req, _ := http.NewRequest(http.MethodPatch, b.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", a.String())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Wechatpay-Serial", "PUB_KEY_ID_0114232134912410000000000000000000")
		resp, err := b.httpsClient(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb v3wire.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != 400 || eb.Code != "PARAM_ERROR" {
			t.Fatalf("an encrypted field under a serial naming no key: %d %+v", resp.StatusCode, eb)
		}
		_, err = patch(c, sp.PlatformPublicKeyID, map[string]any{"user_name": "not-encrypted"})
		wantAPIError(t, "a field that does not decrypt", err, 400, "PARAM_ERROR")
		bad, _ := utils.EncryptOAEPWithPublicKey("12345", pub)
		_, err = patch(c, sp.PlatformPublicKeyID, map[string]any{"phone": bad})
		wantAPIError(t, "a phone that is not a mobile number", err, 400, "PARAM_ERROR")
		_, err = patch(c, sp.PlatformPublicKeyID, map[string]any{"status": "NOMAL"})
		wantAPIError(t, "an unknown status", err, 400, "PARAM_ERROR")
		_, err = patch(o, other.PlatformPublicKeyID, map[string]any{"status": "NORMAL"})
		wantAPIError(t, "another service provider's PATCH", err, 404, "RESOURCE_NOT_EXISTS")

		// Personal fields are sealed at rest and never logged.
		rows, err := b.P.DB.SQL().QueryContext(ctx, `SELECT name_sealed, phone_sealed FROM k12_users`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n, ph []byte
			if err := rows.Scan(&n, &ph); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(n, []byte("张小明")) || bytes.Contains(ph, []byte("13812345678")) {
				t.Fatal("a personal field is stored in clear")
			}
		}
		if logs := b.Logs.String(); bytes.Contains([]byte(logs), []byte("13812345678")) || bytes.Contains([]byte(logs), []byte("张小明")) {
			t.Fatal("a personal field is in the logs")
		}
	})
}

// TestK12ContractsAndWebhooks signs a user (as the signing page does), checks the
// FACEPAY.USER_STATE_CHANGE webhook with wechatpay-go's notify handler, queries the
// contract, terminates it through the API (another webhook), and signs again with a
// fresh token: a new contract_id. On both backends.
func TestK12ContractsAndWebhooks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		sp := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider, PlatformMode: tenant.PublicKeyMode})
		other := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		events := webhookSink(t, b, sp)
		org := storagetest.Must(b.P.K12.NewOrganisation(ctx, sp.MchID, "", "一中"))
		c, o := k12Client(t, b, sp), k12Client(t, b, other)
		tokenOf := func() string {
			r, err := c.Post(ctx, k12Base+"/tokens", map[string]any{"web_init_data": map[string]string{"out_user_id": "stu-777777", "organization_id": org.ID}})
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]string
			decodeResult(t, r, &v)
			return v["token"]
		}
		tok := tokenOf()
		payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, 5000, "13900001111")).PayerID
		u, ct, err := b.P.K12.Sign(ctx, tok, payer)
		if err != nil {
			t.Fatal(err)
		}
		e := events.wait(t, "FACEPAY.USER_STATE_CHANGE", "contract_state", "CONTRACTED")
		if e["contract_id"] != ct.ContractID || e["user_id"] != u.UserID ||
			e["out_user_id"] != "stu-777777" || e["organization_id"] != org.ID || e["mch_id"] != sp.MchID || e["contract_state"] != "CONTRACTED" ||
			e["openid"] != b.P.Pay.OpenID(sp.AppID, payer) || e["appid"] != sp.AppID || e["notify_create_time"] == "" {
			t.Fatalf("signing webhook: %v", e)
		}
		if _, _, err := b.P.K12.Sign(ctx, tok, payer); err == nil {
			t.Fatal("a signed user's token signed again")
		}
		var cv map[string]string
		r, err := c.Get(ctx, "https://api.mch.weixin.qq.com/v3/offlineface/contracts/"+ct.ContractID)
		if err != nil {
			t.Fatal(err)
		}
		decodeResult(t, r, &cv)
		if cv["contract_state"] != "CONTRACTED" || cv["mchid"] != sp.MchID || cv["user_id"] != u.UserID || cv["contract_mode"] != "LIMIT_NONE" ||
			cv["contract_signed_time"] == "" || cv["contract_terminated_time"] != "" || cv["openid"] != e["openid"] {
			t.Fatalf("contract query: %v", cv)
		}
		_, err = o.Get(ctx, "https://api.mch.weixin.qq.com/v3/offlineface/contracts/"+ct.ContractID)
		wantAPIError(t, "another service provider's contract", err, 404, "RESOURCE_NOT_EXISTS")

		terminate := k12Base + "/organizations/" + org.ID + "/users/user-id/" + u.UserID + "/terminate-contract"
		_, err = o.Post(ctx, terminate, nil)
		wantAPIError(t, "another service provider's termination", err, 404, "RESOURCE_NOT_EXISTS")
		r, err = c.Post(ctx, terminate, nil)
		if err != nil || r.Response.StatusCode != 204 {
			t.Fatalf("terminate: %v", err)
		}
		if e := events.wait(t, "FACEPAY.USER_STATE_CHANGE", "contract_state", "TERMINATED"); e["contract_id"] != ct.ContractID {
			t.Fatalf("termination webhook: %v", e)
		}
		r, _ = c.Get(ctx, "https://api.mch.weixin.qq.com/v3/offlineface/contracts/"+ct.ContractID)
		decodeResult(t, r, &cv)
		if cv["contract_state"] != "TERMINATED" || cv["contract_terminated_time"] == "" {
			t.Fatalf("terminated contract: %v", cv)
		}
		_, err = c.Post(ctx, terminate, nil)
		wantAPIError(t, "terminating twice", err, 400, "INVALID_REQUEST")
		// Re-signing with a fresh token makes a new contract.
		_, again, err := b.P.K12.Sign(ctx, tokenOf(), payer)
		if err != nil || again.ContractID == ct.ContractID {
			t.Fatalf("re-sign: %+v %v", again, err)
		}
		if e := events.wait(t, "FACEPAY.USER_STATE_CHANGE", "contract_id", again.ContractID); e["contract_state"] != "CONTRACTED" {
			t.Fatalf("re-signing webhook: %v", e)
		}
	})
}

// TestK12Presign: a designated-card presign with its RSA-OAEP identity and card
// fields gives a presign_token; signing with it makes a LIMIT_BANK_CARD contract whose
// card came from the merchant; bad fields are 400 PARAM_ERROR and change nothing.
func TestK12Presign(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		sp := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		other := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		org := storagetest.Must(b.P.K12.NewOrganisation(ctx, sp.MchID, "", "二中"))
		c, o := k12Client(t, b, sp), k12Client(t, b, other)
		pub, _ := utils.LoadPublicKey(sp.PlatformPublicKeyPEM)
		enc := func(s string) string {
			ct, err := utils.EncryptOAEPWithPublicKey(s, pub)
			if err != nil {
				t.Fatal(err)
			}
			return ct
		}
		body := func(mode, card, id string) map[string]any {
			m := map[string]any{"business_name": "K12食堂", "contract_mode": mode,
				"facepay_user": map[string]any{"out_user_id": "stu-888888", "organization_id": org.ID, "identification_name": "李小红",
					"identification": map[string]string{"identification_type": "IDCARD", "identification_number": enc(id)}, "phone": enc("13700001111")}}
			if card != "" {
				m["limit_bank_card"] = map[string]any{"bank_card_number": enc(card), "identification_name": enc("李大红"),
					"identification": map[string]string{"identification_type": "IDCARD", "identification_number": enc("110101198001010011")},
					"phone":          enc("13700002222"), "bank_type": "ICBC_DEBIT"}
			}
			return m
		}
		const presignURL = "https://api.mch.weixin.qq.com/v3/offlineface/contracts/presign"
		r, err := c.Post(ctx, presignURL, body("LIMIT_BANK_CARD", "6222020200112233445", "110101201201010022"))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		decodeResult(t, r, &got)
		if got["presign_token"] == "" {
			t.Fatalf("presign: %v", got)
		}
		for name, bad := range map[string]map[string]any{
			"an ID number of 7":                  body("LIMIT_NONE", "", "1234567"),
			"LIMIT_BANK_CARD without a card":     body("LIMIT_BANK_CARD", "", "110101201201010022"),
			"an unknown contract_mode":           body("ANY_CARD", "", "110101201201010022"),
			"a card number that is not a number": body("PRIORITY_BANK_CARD", "62220202-0011", "110101201201010022"),
		} {
			_, err := c.Post(ctx, presignURL, bad)
			wantAPIError(t, name, err, 400, "PARAM_ERROR")
		}
		plain := body("LIMIT_NONE", "", "110101201201010022")
		plain["facepay_user"].(map[string]any)["phone"] = "13700001111" // not encrypted
		_, err = c.Post(ctx, presignURL, plain)
		wantAPIError(t, "a phone not encrypted", err, 400, "PARAM_ERROR")
		_, err = o.Post(ctx, presignURL, map[string]any{"business_name": "K12食堂",
			"facepay_user": map[string]any{"out_user_id": "stu-888888", "organization_id": org.ID}})
		wantAPIError(t, "another service provider's school", err, 404, "RESOURCE_NOT_EXISTS")

		payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, 100, "")).PayerID
		_, ct, err := b.P.K12.Sign(ctx, got["presign_token"], payer)
		if err != nil {
			t.Fatal(err)
		}
		var cv map[string]string
		r, _ = c.Get(ctx, "https://api.mch.weixin.qq.com/v3/offlineface/contracts/"+ct.ContractID)
		decodeResult(t, r, &cv)
		if cv["contract_mode"] != "LIMIT_BANK_CARD" || cv["contract_bank_card_from"] != "MERCHANT_LIMITED_BANK_CARD" {
			t.Fatalf("contract of a designated-card presign: %v", cv)
		}
		for _, q := range []string{`SELECT card_sealed FROM k12_tokens`, `SELECT identity_sealed FROM k12_tokens`, `SELECT card_sealed FROM k12_contracts`} {
			rows, err := b.P.DB.SQL().QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v []byte
				_ = rows.Scan(&v)
				for _, secret := range []string{"6222020200112233445", "110101201201010022", "13700002222"} {
					if bytes.Contains(v, []byte(secret)) {
						t.Fatalf("%s holds %s in clear", q, secret)
					}
				}
			}
			rows.Close()
		}
	})
}

// TestK12OfflineAuthInfo: a service provider gets a 36-hour device credential for a
// kiosk of its school, binding the organisation and the device key of the rawdata;
// a foreign school, a sub-merchant of someone else, an appid not bound, and bad
// raw_data are refused.
func TestK12OfflineAuthInfo(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		sp := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		sub := b.merchant(t, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID})
		other := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		foreignSub := b.merchant(t, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: other.MchID})
		org := storagetest.Must(b.P.K12.NewOrganisation(ctx, sp.MchID, sub.MchID, "三中"))
		c, o := k12Client(t, b, sp), k12Client(t, b, other)
		id, _ := device.NewIdentity()
		raw, _ := device.MakeRawdata(id, time.Now())
		body := func(mod func(m map[string]string)) map[string]string {
			m := map[string]string{"sp_appid": sp.AppID, "sub_mchid": sub.MchID, "device_id": "CANTEEN-1", "raw_data": raw, "organization_id": org.ID}
			if mod != nil {
				mod(m)
			}
			return m
		}
		const u = "https://api.mch.weixin.qq.com/v3/offlineface/authinfo"
		r, err := c.Post(ctx, u, body(nil))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		decodeResult(t, r, &got)
		a, err := b.P.Pay.OpenAuthInfo(ctx, got["authinfo"])
		if err != nil {
			t.Fatal(err)
		}
		if a.OrgID != org.ID || a.MchID != sp.MchID || a.SubMchID != sub.MchID || a.DeviceID != "CANTEEN-1" || a.SDKDeviceID != id.ID ||
			a.ExpiresAt-a.IssuedAt != 36*3600 {
			t.Fatalf("offline authinfo binds %+v", a)
		}
		for name, c := range map[string]struct {
			mod    func(m map[string]string)
			status int
			code   string
		}{
			"no raw_data":               {func(m map[string]string) { delete(m, "raw_data") }, 400, "PARAM_ERROR"},
			"forged raw_data":           {func(m map[string]string) { m["raw_data"] = "RD1" + strings.Repeat("00", 150) }, 400, "PARAM_ERROR"},
			"a sub-merchant of another": {func(m map[string]string) { m["sub_mchid"] = foreignSub.MchID }, 400, "PARAM_ERROR"},
			"an appid not bound":        {func(m map[string]string) { m["sp_appid"] = other.AppID }, 400, "PARAM_ERROR"},
			"an organisation not there": {func(m map[string]string) { m["organization_id"] = "8000000001" }, 404, "RESOURCE_NOT_EXISTS"},
		} {
			_, err := k12Client(t, b, sp).Post(ctx, u, body(c.mod))
			wantAPIError(t, name, err, c.status, c.code)
		}
		_, err = o.Post(ctx, u, body(func(m map[string]string) { m["sp_appid"] = other.AppID }))
		wantAPIError(t, "another service provider's school", err, 404, "RESOURCE_NOT_EXISTS")
	})
}
