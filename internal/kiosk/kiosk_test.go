package kiosk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/recognition"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/faceid"
	"github.com/openfacepay/openfacepay/internal/kiosk"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

func photo(name string) string {
	return filepath.Join("..", "face", "eval", "testdata", "deepface-slice", name)
}

// world is a platform, a merchant with its gopay client (the merchant server's
// calls) and a kiosk agent with a still camera, all real.
type world struct {
	p     *platform.Platform
	cr    tenant.Credentials
	gp    *wechat.Client
	kiosk *httptest.Server
	sdk   *terminal.SDK
}

func newWorld(t *testing.T, backend string, liveness bool) *world {
	t.Helper()
	e := facetest.Engine(t, "")
	p := platformtest.Start(t, backend)
	cr, _ := platformtest.Merchant(t, p)
	gp := wechat.NewClient(cr.AppID, cr.MchID, cr.APIKey, true)
	gp.BaseURL = p.Server.URL()
	still := terminal.NewStill(nil)
	cam := terminal.NewCamera(still, nil, terminal.DefaultTimeouts)
	sdk, err := terminal.New(terminal.Config{DataDir: t.TempDir(), Platform: p.Server.URL(), CAPool: p.CA.Pool(),
		Engine: e, Camera: cam, Liveness: liveness, Frames: 6})
	if err != nil {
		t.Fatal(err)
	}
	agent := kiosk.New(kiosk.Config{SDK: sdk, Camera: cam, Still: still, Liveness: liveness, PhoneWait: 10 * time.Second})
	sdk.SetPrompter(agent)
	srv := httptest.NewServer(agent)
	t.Cleanup(srv.Close)
	return &world{p: p, cr: cr, gp: gp, kiosk: srv, sdk: sdk}
}

// call posts to the kiosk's local API and decodes the JSON answer.
func (w *world) call(t *testing.T, path string, params any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(params)
	resp, err := http.Post(w.kiosk.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func (w *world) see(t *testing.T, name string) {
	t.Helper()
	w.seeFile(t, photo(name))
}

func (w *world) seeFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, w.kiosk.URL+"/kiosk/camera", bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /kiosk/camera: %v %v", resp, err)
	}
	resp.Body.Close()
}

// v2 is the merchant server's call through gopay, the answer parsed.
func (w *world) v2(t *testing.T, path string, bm gopay.BodyMap) gopay.BodyMap {
	t.Helper()
	bm.Set("nonce_str", v2wire.NonceStr()).Set("sign_type", wechat.SignType_HMAC_SHA256)
	raw, err := w.gp.PostWeChatAPISelf(context.Background(), bm, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := make(gopay.BodyMap)
	if err := xml.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// authinfo is the merchant server's exchange of the kiosk's rawdata.
func (w *world) authinfo(t *testing.T) string {
	t.Helper()
	raw := w.call(t, "/wxpayface/getWxpayfaceRawdata", map[string]any{})
	if raw["return_code"] != "SUCCESS" {
		t.Fatalf("rawdata: %v", raw)
	}
	bm := make(gopay.BodyMap)
	bm.Set("store_id", "STORE-001").Set("store_name", "一号店").Set("device_id", "KIOSK-1").Set("rawdata", raw["rawdata"]).
		Set("now", strconv.FormatInt(time.Now().Unix(), 10)).Set("version", "1")
	res := w.v2(t, "/face/get_wxpayface_authinfo", bm)
	if res.GetString("authinfo") == "" {
		t.Fatalf("authinfo: %v", res)
	}
	return res.GetString("authinfo")
}

func (w *world) enrol(t *testing.T, phone, tail string, photos ...string) string {
	t.Helper()
	ctx := context.Background()
	id := storagetest.Must(w.p.Pay.CreatePayer(ctx, 10000, phone)).PayerID
	rec := recognition.New(facetest.Engine(t, ""), w.p.DB, time.Now)
	var imgs []*vision.Image
	for _, p := range photos {
		imgs = append(imgs, facetest.File(t, photo(p)))
	}
	storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, id, tail, imgs...))
	return id
}

func (w *world) balance(t *testing.T, payer string) int64 {
	t.Helper()
	return storagetest.Must(w.p.Pay.Payer(context.Background(), payer)).Balance
}

// TestKioskPaysAndAnswersInBothShapes is a kiosk app's whole day through the local
// API, on both backends: the call-order codes, rawdata → authinfo (the merchant
// server, through gopay) → getWxpayfaceCode on a real photo → facepay charges the
// right wallet; user info and the member card in the APICloud shape; a stranger; a
// look-alike settled on the phone keypad; bad input; release.
func TestKioskPaysAndAnswersInBothShapes(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, backend, false)
			if a := w.call(t, "/wxpayface/getWxpayfaceRawdata", map[string]any{}); a["err_code"] != float64(terminal.ErrCodeNotInit) {
				t.Fatalf("rawdata before init: %v", a)
			}
			if a := w.call(t, "/wxpayface/initWxpayface", map[string]any{"perform_mode": "LOW_PERFORM"}); a["return_code"] != "SUCCESS" {
				t.Fatalf("init: %v", a)
			}
			authinfo := w.authinfo(t)
			alice := w.enrol(t, "13800001111", "1111", "p01/img62.jpg", "p01/img16.jpg")
			common := map[string]any{"appid": w.cr.AppID, "mch_id": w.cr.MchID, "store_id": "STORE-001", "authinfo": authinfo}
			with := func(extra map[string]any) map[string]any {
				out := map[string]any{}
				for k, v := range common {
					out[k] = v
				}
				for k, v := range extra {
					out[k] = v
				}
				return out
			}

			w.see(t, "p01/img17.jpg")
			code := w.call(t, "/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-1", "total_fee": "880"}))
			if code["return_code"] != "SUCCESS" || code["face_code"] == "" || code["telephone_used"] != float64(0) {
				t.Fatalf("getWxpayfaceCode: %v", code)
			}
			bm := make(gopay.BodyMap)
			bm.Set("body", "午餐").Set("out_trade_no", "K-1").Set("total_fee", 880).Set("fee_type", "CNY").Set("spbill_create_ip", "10.0.0.7").
				Set("face_code", code["face_code"]).Set("openid", code["openid"])
			if res := w.v2(t, "/pay/facepay", bm); res.GetString("result_code") != "SUCCESS" {
				t.Fatalf("facepay: %v", res)
			}
			if got := w.balance(t, alice); got != 10000-880 {
				t.Fatalf("balance %d, want %d", got, 10000-880)
			}
			if a := w.call(t, "/wxpayface/updateWxpayfacePayResult", with(map[string]any{"payresult": "SUCCESS"})); a["return_code"] != "SUCCESS" {
				t.Fatalf("updateWxpayfacePayResult: %v", a)
			}

			// The APICloud shape: user info, then the member card (not configured, then configured).
			u := w.call(t, "/wxFacePay/getWxpayfaceUserInfo", with(map[string]any{"face_authtype": "FACEID-ONCE", "ask_unionid": "1"}))
			if u["status"] != true || u["openid"] != code["openid"] || u["token"] == nil {
				t.Fatalf("APICloud getWxpayfaceUserInfo: %v", u)
			}
			m := w.call(t, "/wxFacePay/activateWxpayfaceMember", with(map[string]any{"openid": u["openid"]}))
			if e, _ := m["err"].(map[string]any); m["status"] != false || e["errorCode"] != "NOT_CONFIG_MEMBER_ERROR" || e["msg"] == "" {
				t.Fatalf("member card not configured: %v", m)
			}
			storagetest.Must(w.p.Members.Enable(context.Background(), w.cr.MchID, "STORE-001"))
			if m := w.call(t, "/wxFacePay/activateWxpayfaceMember", with(map[string]any{"openid": u["openid"]})); m["status"] != true || m["member_no"] == "" {
				t.Fatalf("member card: %v", m)
			}

			// A stranger: no match, in both shapes.
			w.see(t, "p03/img5.jpg")
			if a := w.call(t, "/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-2", "total_fee": "100"})); a["return_code"] != "ERROR" || a["err_code"] != float64(terminal.ErrCodeNoUser) || a["face_code"] != nil {
				t.Fatalf("stranger: %v", a)
			}
			if a := w.call(t, "/wxFacePay/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-2", "total_fee": "100"})); a["status"] != false || a["err"].(map[string]any)["errorCode"] != "271378595" {
				t.Fatalf("stranger in the APICloud shape: %v", a)
			}

			// A look-alike: the kiosk asks for the phone tail and the keypad answers it.
			twin := w.enrol(t, "13900003333", "3333", "p01/img62.jpg", "p01/img16.jpg")
			w.see(t, "p01/img17.jpg")
			go func() {
				for i := 0; i < 200; i++ {
					time.Sleep(25 * time.Millisecond)
					resp, err := http.Post(w.kiosk.URL+"/kiosk/phone", "application/json", bytes.NewReader([]byte(`{"tail":"3333"}`)))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							return
						}
					}
				}
			}()
			tw := w.call(t, "/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-3", "total_fee": "100"}))
			if tw["return_code"] != "SUCCESS" || tw["telephone_used"] != float64(1) || tw["openid"] != w.p.Pay.OpenID(w.cr.AppID, twin) {
				t.Fatalf("look-alike settled on the keypad: %v", tw)
			}

			// Bad input changes nothing and answers the SDK's shape.
			for name, c := range map[string]struct {
				path   string
				params map[string]any
				want   string
			}{
				"unknown function":    {"/wxpayface/getWxpayfaceMoney", map[string]any{}, "PARAM_ERROR"},
				"no authinfo":         {"/wxpayface/getWxpayfaceCode", map[string]any{"appid": w.cr.AppID, "mch_id": w.cr.MchID, "store_id": "S", "face_authtype": "FACEPAY"}, "PARAM_ERROR"},
				"a boolean for a fee": {"/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-4", "total_fee": true}), "PARAM_ERROR"},
				"a negative fee":      {"/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-4", "total_fee": "-5"}), "PARAM_ERROR"},
				"a wrong authtype":    {"/wxpayface/getWxpayfaceUserInfo", with(map[string]any{"face_authtype": "FACEPAY"}), "PARAM_ERROR"},
				"a proxy type of 9":   {"/wxpayface/initWxpayface", map[string]any{"proxy_type": 9, "ip": "127.0.0.1", "port": "1"}, "PARAM_ERROR"},
				"a port that is text": {"/wxpayface/initWxpayface", map[string]any{"proxy_type": 1, "ip": "127.0.0.1", "port": "eighty"}, "PARAM_ERROR"},
				"a forged authinfo":   {"/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-4", "total_fee": "1", "authinfo": "AI1DEADBEEF"}), "FACEPAY_NOT_AUTH"},
			} {
				if a := w.call(t, c.path, c.params); a["return_code"] != c.want {
					t.Errorf("%s: %v, want %s", name, a, c.want)
				}
			}
			resp, err := http.Post(w.kiosk.URL+"/wxpayface/initWxpayface", "application/json", bytes.NewReader([]byte("[1,2")))
			if err != nil {
				t.Fatal(err)
			}
			var bad map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&bad)
			resp.Body.Close()
			if bad["return_code"] != "PARAM_ERROR" {
				t.Fatalf("a body that is not JSON: %v", bad)
			}
			if got := w.balance(t, alice); got != 10000-880 {
				t.Fatalf("bad input moved money: balance %d", got)
			}

			// Release: the next call must init again.
			if a := w.call(t, "/wxFacePay/releaseWxpayface", map[string]any{}); a["status"] != true {
				t.Fatalf("release: %v", a)
			}
			if a := w.call(t, "/wxpayface/getWxpayfaceCode", with(map[string]any{"face_authtype": "FACEPAY", "out_trade_no": "K-5", "total_fee": "1"})); a["err_code"] != float64(terminal.ErrCodeNotInit) {
				t.Fatalf("after release: %v", a)
			}
		})
	}
}

// TestKioskLivenessRefusesAStillCamera: with liveness on, a still picture of an
// enrolled person never gets a face_code.
func TestKioskLivenessRefusesAStillCamera(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			livenessRefusesAStill(t, backend)
		})
	}
}

func livenessRefusesAStill(t *testing.T, backend string) {
	w := newWorld(t, backend, true)
	if a := w.call(t, "/wxpayface/initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
		t.Fatalf("init: %v", a)
	}
	authinfo := w.authinfo(t)
	w.enrol(t, "13800001111", "1111", "p01/img62.jpg", "p01/img16.jpg")
	w.see(t, "p01/img17.jpg")
	for _, fn := range []string{"getWxpayfaceCode", "getWxpayfaceUserInfo"} {
		authtype := map[string]string{"getWxpayfaceCode": "FACEPAY", "getWxpayfaceUserInfo": "FACEID-ONCE"}[fn]
		a := w.call(t, "/wxpayface/"+fn, map[string]any{"appid": w.cr.AppID, "mch_id": w.cr.MchID, "store_id": "STORE-001",
			"authinfo": authinfo, "face_authtype": authtype, "out_trade_no": "L-1", "total_fee": "100"})
		if a["return_code"] != "ERROR" || a["err_code"] != float64(terminal.ErrCodeRiskControl) || a["face_code"] != nil || a["openid"] != nil {
			t.Fatalf("%s with a still picture and liveness on: %v", fn, a)
		}
	}
}

// TestKioskFaceIDLoop: FACEID-LOOP keeps recognising past faces that match nobody
// until someone enrolled stands in front of the camera, or stopWxpayface ends it.
func TestKioskFaceIDLoop(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite", false)
	if a := w.call(t, "/wxpayface/initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
		t.Fatalf("init: %v", a)
	}
	authinfo := w.authinfo(t)
	w.enrol(t, "13800001111", "1111", "p01/img62.jpg", "p01/img16.jpg")
	params := map[string]any{"appid": w.cr.AppID, "mch_id": w.cr.MchID, "store_id": "STORE-001", "authinfo": authinfo, "face_authtype": "FACEID-LOOP"}
	w.see(t, "p03/img5.jpg") // a stranger first
	got := make(chan map[string]any, 1)
	go func() { got <- w.call(t, "/wxpayface/getWxpayfaceUserInfo", params) }()
	time.Sleep(500 * time.Millisecond)
	select {
	case a := <-got:
		t.Fatalf("FACEID-LOOP ended on a stranger: %v", a)
	default:
	}
	w.see(t, "p01/img17.jpg") // then the enrolled person
	if a := <-got; a["return_code"] != "SUCCESS" || a["openid"] == nil {
		t.Fatalf("FACEID-LOOP: %v", a)
	}
	w.see(t, "p03/img5.jpg")
	go func() { got <- w.call(t, "/wxpayface/getWxpayfaceUserInfo", params) }()
	time.Sleep(300 * time.Millisecond)
	if a := w.call(t, "/wxpayface/stopWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
		t.Fatalf("stop: %v", a)
	}
	if a := <-got; a["return_code"] == "SUCCESS" || a["openid"] != nil {
		t.Fatalf("FACEID-LOOP after stopWxpayface: %v", a)
	}
	// ONCE answers the stranger at once.
	params["face_authtype"] = "FACEID-ONCE"
	if a := w.call(t, "/wxpayface/getWxpayfaceUserInfo", params); a["err_code"] != float64(terminal.ErrCodeNoUser) {
		t.Fatalf("FACEID-ONCE on a stranger: %v", a)
	}
}
