package terminal_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/netcut"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

func slice(name string) string {
	return filepath.Join("..", "face", "eval", "testdata", "deepface-slice", name)
}

// TestOfflineKiosk runs the K12 offline SDK of one kiosk against a real platform on
// both backends, with a still camera showing real photos: init needs the platform;
// manualUpdateFaceDatas pulls the school's library; startVerify recognises a student
// from another photo, finishFaceVerify names them, getFacePayCredential signs a
// credential the platform debits; look-alikes are settled by the phone tail; during
// an outage synced students are still recognised and credentials issued (debited
// once the line is back), a student signed during the outage is not; the library
// survives a restart sealed to the device key; a disabled student is refused with
// 271378533.
func TestOfflineKiosk(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			p := platformtest.StartWith(t, backend, platform.Config{Addr: "127.0.0.1:0", FaceEngine: e})
			sp := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider}))
			sub := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID}))
			if err := p.DB.SetProduction(ctx, sp.MchID); err != nil {
				t.Fatal(err)
			}
			caller := k12.Caller{MchID: sp.MchID}
			org := storagetest.Must(p.K12.NewOrganisation(ctx, sp.MchID, sub.MchID, "实验中学"))
			student := func(photo, phone string) k12.User {
				t.Helper()
				out := "stu-" + randid.Digits(8)
				tok := storagetest.Must(p.K12.IssueToken(ctx, caller, org.ID, out))
				if phone != "" {
					if err := p.K12.PatchUser(ctx, caller, org.ID, out, k12.Patch{Phone: &phone}); err != nil {
						t.Fatal(err)
					}
				}
				b, err := os.ReadFile(slice(photo))
				if err != nil {
					t.Fatal(err)
				}
				storagetest.Must(p.K12.Collect(ctx, tok, b, true))
				payer := storagetest.Must(p.Pay.CreatePayer(ctx, 100000, "")).PayerID
				if _, _, err := p.K12.Sign(ctx, tok, payer); err != nil {
					t.Fatal(err)
				}
				return storagetest.Must(p.K12.GetUser(ctx, caller, org.ID, out))
			}
			alice := student("p01/img62.jpg", "")
			twinA := student("p05/img46.jpg", "13900001111")
			twinB := student("p05/img46.jpg", "13900002222") // the same face: a look-alike pair

			target, _ := url.Parse(p.Server.URL())
			line := netcut.New(target, platformtest.TLSConfig(p))
			front := httptest.NewServer(line)
			defer front.Close()

			dir := t.TempDir()
			still := terminal.NewStill(facetest.File(t, slice("p01/img17.jpg")))
			open := func() *terminal.Offline {
				t.Helper()
				k, err := terminal.NewOffline(terminal.OfflineConfig{Config: terminal.Config{DataDir: dir, Platform: front.URL, Engine: e,
					Camera: terminal.NewCamera(still, nil, terminal.DefaultTimeouts), Frames: 2}, OrgID: org.ID, SyncInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			k := open()
			call := func(fn string, params map[string]any) terminal.Answer { return k.Call(ctx, fn, params) }
			line.Cut(true)
			if a := call("initWxpayface", nil); a["return_code"] == "SUCCESS" {
				t.Fatalf("init without the platform: %v", a)
			}
			line.Cut(false)
			if a := call("initWxpayface", nil); a["return_code"] != "SUCCESS" {
				t.Fatalf("init: %v", a)
			}
			raw := call("getWxpayfaceRawdata", nil)["rawdata"].(string)
			ai, _, err := p.K12.OfflineAuthInfo(ctx, caller, k12.OfflineAuthInfoRequest{SPAppID: sp.AppID, SubMchID: sub.MchID,
				DeviceID: "CANTEEN-1", RawData: raw, OrgID: org.ID})
			if err != nil {
				t.Fatal(err)
			}
			common := map[string]any{"appid": sp.AppID, "mch_id": sp.MchID, "sub_mch_id": sub.MchID, "organization_id": org.ID, "authinfo": ai}
			if a := call("preloadSdkEnv", common); a["return_code"] != "SUCCESS" {
				t.Fatalf("preload: %v", a)
			}
			if a := call("manualUpdateFaceDatas", common); a["return_code"] != "SUCCESS" || a["user_count"] != 3 {
				t.Fatalf("manual update: %v", a)
			}
			with := func(extra map[string]any) map[string]any {
				m := map[string]any{}
				for k, v := range common {
					m[k] = v
				}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			pay := func(who k12.User, phone string, fen string) (string, terminal.Answer) {
				t.Helper()
				v := call("startVerify", common)
				if v["return_code"] != "SUCCESS" {
					return "", v
				}
				f := call("finishFaceVerify", with(map[string]any{"user_phone": phone}))
				if f["return_code"] != "SUCCESS" {
					return "", f
				}
				if got := f["user_info"].(map[string]string)["user_id"]; got != who.UserID {
					t.Fatalf("verified %s, want %s", got, who.UserID)
				}
				c := call("getFacePayCredential", with(map[string]any{"user_id": who.UserID, "recog_mode": "0", "total_fee": fen}))
				if c["return_code"] != "SUCCESS" {
					return "", c
				}
				return c["face_token"].(string), v
			}
			debit := func(token string, fen int64) k12.Debit {
				t.Helper()
				d, err := p.K12.Withhold(ctx, caller, k12.DebitRequest{AuthCode: token, Total: fen, Currency: "CNY", DeviceIP: "10.0.0.3",
					OutTradeNo: "OFF" + randid.Digits(10), ProductID: 2, SceneID: 3})
				if err != nil {
					t.Fatal(err)
				}
				return d
			}

			token, v := pay(alice, "", "1200")
			if token == "" || v["need_ext_verify"] != false {
				t.Fatalf("alice at the kiosk: %v", v)
			}
			if d := debit(token, 1200); d.Order.State != "SUCCESS" || d.Record.UserID != alice.UserID {
				t.Fatalf("alice's debit: %+v", d.Order)
			}
			if v := call("startVerify", common); v["return_code"] != "SUCCESS" {
				t.Fatal(v)
			}
			call("finishFaceVerify", common)
			if c := call("getFacePayCredential", with(map[string]any{"user_id": twinA.UserID, "total_fee": "100"})); c["return_code"] == "SUCCESS" {
				t.Fatal("a credential for a user the kiosk did not verify")
			}

			// A look-alike: the phone tail settles it, a wrong tail finds nobody.
			still.Set(facetest.File(t, slice("p05/img43.jpg")))
			if v := call("startVerify", common); v["need_ext_verify"] != true {
				t.Fatalf("a twin: %v", v)
			}
			if f := call("finishFaceVerify", with(map[string]any{"user_phone": "9999"})); f["err_code"] != terminal.ErrCodeNoUser {
				t.Fatalf("a wrong tail: %v", f)
			}
			if token, _ := pay(twinB, "13900002222", "300"); token == "" {
				t.Fatal("twin B by the phone tail")
			}

			// The outage: synced students still pay; one signed meanwhile is unknown.
			line.Cut(true)
			carol := student("p04/img47.jpg", "")
			if a := call("manualUpdateFaceDatas", common); a["return_code"] == "SUCCESS" {
				t.Fatalf("a sync during the outage: %v", a)
			}
			still.Set(facetest.File(t, slice("p01/img16.jpg")))
			offline, _ := pay(alice, "", "800")
			if offline == "" {
				t.Fatal("alice during the outage")
			}
			still.Set(facetest.File(t, slice("p04/img50.jpg")))
			if v := call("startVerify", common); v["err_code"] != terminal.ErrCodeNoUser {
				t.Fatalf("carol, signed during the outage: %v", v)
			}
			line.Cut(false)
			if d := debit(offline, 800); d.Order.State != "SUCCESS" {
				t.Fatalf("the outage's credential: %+v", d.Order)
			}
			if _, err := p.K12.Withhold(ctx, caller, k12.DebitRequest{AuthCode: offline, Total: 800, Currency: "CNY", DeviceIP: "10.0.0.3",
				OutTradeNo: "OFF-REPLAY-1", ProductID: 2, SceneID: 3}); err == nil {
				t.Fatal("a credential was debited twice")
			}
			if a := call("manualUpdateFaceDatas", common); a["user_count"] != 4 {
				t.Fatalf("after the outage: %v", a)
			}
			if token, _ := pay(carol, "", "500"); token == "" {
				t.Fatal("carol after the sync")
			}

			// A restart keeps the library, sealed to the device key.
			call("releaseWxpayface", nil)
			sealed, _ := os.ReadFile(filepath.Join(dir, "k12-library.sealed"))
			if len(sealed) == 0 || bytes.Contains(sealed, []byte(alice.UserID)) {
				t.Fatal("the kiosk's library is missing or readable without the device key")
			}
			k = open()
			if v, n := k.LibraryVersion(); n != 4 || v == 0 {
				t.Fatalf("after a restart: version %d, %d users", v, n)
			}

			// A student disabled is recognised and refused after the next sync.
			call("initWxpayface", nil)
			call("preloadSdkEnv", common)
			disabled := "DISABLED"
			if err := p.K12.PatchUser(ctx, caller, org.ID, alice.OutUserID, k12.Patch{Status: &disabled}); err != nil {
				t.Fatal(err)
			}
			call("manualUpdateFaceDatas", common)
			still.Set(facetest.File(t, slice("p01/img17.jpg")))
			if v := call("startVerify", common); v["err_code"] != terminal.ErrCodeUserAbnormal {
				t.Fatalf("a disabled student: %v", v)
			}
		})
	}
}
