package main_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// v3Client is an unmodified wechatpay-go client of cr (public-key mode) sent to serve.
func v3Client(t *testing.T, serveURL string, cr tenant.Credentials) *core.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cr.TLSCAPEM))
	return platformtest.WechatpayGo(t, serveURL, pool, cr)
}

func v3Post(t *testing.T, c *core.Client, path string, body any) map[string]any {
	t.Helper()
	r, err := c.Post(context.Background(), "https://api.mch.weixin.qq.com"+path, body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	var v map[string]any
	if err := json.NewDecoder(r.Response.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestK12ThroughTheBinary is the README's K12 walk-through: every emulator step a
// separate `facepay admin` process (org create, set-risk, rawdata, parent sign,
// credential, parent repay, payer top-up, set-advance-funding) against the store
// `facepay serve` serves, and the service provider's server speaking v3 through
// unmodified wechatpay-go.
func TestK12ThroughTheBinary(t *testing.T) {
	t.Parallel()
	facetest.Engine(t, os.Getenv("FACEPAY_PACK")) // the collection step needs the models
	photo, _ := filepath.Abs(filepath.Join("..", "..", "internal", "face", "eval", "testdata", "deepface-slice", "p04", "img47.jpg"))
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			store := storeArgs(t, backend)
			logs := &lockedBuffer{}
			admin := func(v any, args ...string) {
				t.Helper()
				runJSON(t, logs, v, append(append([]string{"admin"}, args...), append(store, "--json")...)...)
			}
			var sp, sub tenant.Credentials
			admin(&sp, "merchant", "create", "--kind", "service_provider", "--platform-mode", "public_key", "--production")
			admin(&sub, "merchant", "create", "--kind", "sub_merchant", "--sp", sp.MchID)
			run(t, logs, append([]string{"admin", "merchant", "set-advance-funding", "--mch", sp.MchID, "on"}, store...)...)
			serveURL := startServe(t, logs, store)
			c := v3Client(t, serveURL, sp)

			var org map[string]string
			admin(&org, "k12", "org", "create", "--sp", sp.MchID, "--sub", sub.MchID, "--name", "二中食堂")
			run(t, logs, append([]string{"admin", "k12", "org", "set-risk", "--org", org["organization_id"], "--hours", "00:00-24:00",
				"--devices", "CANTEEN-1"}, store...)...)
			var rd map[string]string
			admin(&rd, "rawdata")
			ai := v3Post(t, c, "/v3/offlineface/authinfo", map[string]string{"sp_appid": sp.AppID, "sub_mchid": sub.MchID,
				"device_id": "CANTEEN-1", "raw_data": rd["rawdata"], "organization_id": org["organization_id"]})
			tok := v3Post(t, c, "/v3/offlinefacemch/tokens", map[string]any{"scene": "WEBSESSION",
				"web_init_data": map[string]string{"out_user_id": "stu-20260901", "organization_id": org["organization_id"]}})
			var collected map[string]string
			admin(&collected, "k12", "parent", "collect", "--token", tok["token"].(string), "--photo", photo)
			if collected["collection_state"] != "COMPLETE" {
				t.Fatalf("collect: %v", collected)
			}
			var signed map[string]string
			admin(&signed, "k12", "parent", "sign", "--token", tok["token"].(string), "--balance", "1000")
			var made map[string][]string
			admin(&made, "k12", "recollect", "--org", org["organization_id"])
			r, err := c.Get(context.Background(), "https://api.mch.weixin.qq.com/v3/offlineface/face-collections?organization_id="+org["organization_id"])
			if err != nil {
				t.Fatal(err)
			}
			var list struct {
				FaceCollections []map[string]string `json:"face_collections"`
			}
			_ = json.NewDecoder(r.Response.Body).Decode(&list)
			if len(made["collection_ids"]) != 1 || len(list.FaceCollections) != 1 || list.FaceCollections[0]["user_id"] != signed["user_id"] {
				t.Fatalf("re-collection: %v %v", made, list)
			}

			debit := func(fen int64, out string) map[string]any {
				t.Helper()
				var cred map[string]string
				admin(&cred, "k12", "credential", "--authinfo", ai["authinfo"].(string), "--user-id", signed["user_id"], "--amount", strconv.FormatInt(fen, 10))
				return v3Post(t, c, "/v3/offlineface/transactions", map[string]any{"auth_code": cred["auth_code"], "sp_mchid": sp.MchID,
					"sub_mchid": sub.MchID, "amount": map[string]any{"total": fen, "currency": "CNY"}, "scene_info": map[string]string{"device_ip": "10.1.1.2"},
					"out_trade_no": out, "business": map[string]int{"business_product_id": 2, "business_scene_id": 3}})
			}
			if d := debit(800, "E2E-LUNCH-1"); d["trade_state"] != "SUCCESS" || d["debt_state"] != "NO_DEBT" {
				t.Fatalf("a paid debit: %v", d)
			}
			if d := debit(500, "E2E-LUNCH-2"); d["trade_state"] != "SUCCESS" || d["debt_state"] != "IN_DEBT" {
				t.Fatalf("an advanced debit: %v", d)
			}
			link := v3Post(t, c, "/v3/offlineface/repayment-url", map[string]string{"out_user_id": "stu-20260901", "organization_id": org["organization_id"]})
			repay := append([]string{"admin", "k12", "parent", "repay", "--url", link["repayment_url"].(string), "--json"}, store...)
			if out, err := exec.Command(binary, repay...).CombinedOutput(); err == nil || !strings.Contains(string(out), "top it up") {
				t.Fatalf("repaying 500 from a wallet of 200: %v %s", err, out)
			}
			var topped map[string]any
			admin(&topped, "payer", "top-up", "--payer", signed["payer_id"], "--fen", "300")
			var rp map[string]any
			runJSON(t, logs, &rp, repay...)
			if rp["amount"] != float64(500) || rp["debts"] != float64(1) {
				t.Fatalf("repay: %v", rp)
			}
			r, err = c.Get(context.Background(), "https://api.mch.weixin.qq.com/v3/offlineface/transactions/out-trade-no/E2E-LUNCH-2?sp_mchid="+
				sp.MchID+"&sub_mchid="+sub.MchID+"&business_product_id=2")
			if err != nil {
				t.Fatal(err)
			}
			var q map[string]any
			_ = json.NewDecoder(r.Response.Body).Decode(&q)
			if q["debt_state"] != "REPAID" || q["repayment_transaction_id"] != rp["repayment_transaction_id"] {
				t.Fatalf("the repaid debit: %v", q)
			}
			var payer map[string]any
			admin(&payer, "payer", "show", "--payer", signed["payer_id"])
			if payer["balance"] != float64(1000-800+300-500) {
				t.Fatalf("wallet at the end: %v", payer)
			}

			// The canteen's kiosk: `facepay kiosk --mode offline` on the school's library.
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, []byte(sp.TLSCAPEM), 0o600); err != nil {
				t.Fatal(err)
			}
			probe, _ := filepath.Abs(filepath.Join("..", "..", "internal", "face", "eval", "testdata", "deepface-slice", "p04", "img50.jpg"))
			var stderr lockedBuffer
			first := startProcess(t, &stderr, "kiosk", "--mode", "offline", "--org", org["organization_id"], "--platform", serveURL, "--ca", ca,
				"--data", t.TempDir(), "--addr", "127.0.0.1:0", "--camera", "still:"+probe, "--liveness", "off", "--sync-interval", "1h")
			if !strings.HasPrefix(first, "kiosk agent on ") {
				t.Fatalf("offline kiosk: %q %s", first, stderr.String())
			}
			local := strings.Fields(strings.TrimPrefix(first, "kiosk agent on "))[0]
			sdk := func(fn string, p map[string]any) map[string]any { return postJSON(t, local+"/wxpayface/"+fn, p) }
			if a := sdk("initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
				t.Fatalf("offline kiosk init: %v", a)
			}
			kai := v3Post(t, c, "/v3/offlineface/authinfo", map[string]string{"sp_appid": sp.AppID, "sub_mchid": sub.MchID,
				"device_id": "CANTEEN-2", "raw_data": sdk("getWxpayfaceRawdata", map[string]any{})["rawdata"].(string), "organization_id": org["organization_id"]})
			common := map[string]any{"appid": sp.AppID, "mch_id": sp.MchID, "sub_mch_id": sub.MchID, "organization_id": org["organization_id"], "authinfo": kai["authinfo"]}
			if a := sdk("manualUpdateFaceDatas", common); a["return_code"] != "SUCCESS" || a["user_count"] != float64(1) {
				t.Fatalf("offline kiosk library: %v %s", a, stderr.String())
			}
			if v := sdk("startVerify", common); v["return_code"] != "SUCCESS" {
				t.Fatalf("startVerify: %v", v)
			}
			if f := sdk("finishFaceVerify", common); f["user_info"].(map[string]any)["user_id"] != signed["user_id"] {
				t.Fatalf("finishFaceVerify: %v", f)
			}
			common["user_id"], common["total_fee"], common["recog_mode"] = signed["user_id"], "200", "0"
			token := sdk("getFacePayCredential", common)["face_token"]
			offlineDebit := func(out string) map[string]any {
				return v3Post(t, c, "/v3/offlineface/transactions", map[string]any{"auth_code": token, "sp_mchid": sp.MchID, "sub_mchid": sub.MchID,
					"amount": map[string]any{"total": 200, "currency": "CNY"}, "scene_info": map[string]string{"device_ip": "10.1.1.3"},
					"out_trade_no": out, "business": map[string]int{"business_product_id": 2, "business_scene_id": 3}})
			}
			// The school's risk rule allows only CANTEEN-1: the new kiosk is refused, the
			// credential stays good, and once allowed the same credential pays.
			if d := offlineDebit("E2E-OFFLINE-1"); d["error_type"] != "RISK_CONTROL" {
				t.Fatalf("a kiosk the risk rule does not allow: %v", d)
			}
			run(t, logs, append([]string{"admin", "k12", "org", "set-risk", "--org", org["organization_id"], "--devices", "CANTEEN-1,CANTEEN-2"}, store...)...)
			if d := offlineDebit("E2E-OFFLINE-2"); d["trade_state"] != "SUCCESS" {
				t.Fatalf("the offline kiosk's credential: %v", d)
			}
		})
	}
}
