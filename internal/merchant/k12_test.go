package merchant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/kiosk"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/netcut"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

func slicePhoto(name string) string {
	return filepath.Join("..", "face", "eval", "testdata", "deepface-slice", name)
}

func postJSON(t *testing.T, u string, in any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestK12OutageEndToEnd is a school through an outage, on both backends: the kiosk
// agent in offline mode (its local API), the service provider's server (this
// package) and the platform, the school's line to the platform cut for a while. The
// kiosk keeps recognising synced students and issuing credentials; the server keeps
// them on disk (across its restart) and debits each exactly once when the line is
// back, refusing a replayed credential; a student the platform disables after
// unpaid advances is reported by webhook and refused by the kiosk after its sync.
func TestK12OutageEndToEnd(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			p := platformtest.StartWith(t, backend, platform.Config{Addr: "127.0.0.1:0", FaceEngine: e})
			sp := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider, PlatformMode: tenant.PublicKeyMode}))
			sub := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID}))
			for _, err := range []error{p.DB.SetProduction(ctx, sp.MchID), p.DB.SetAdvanceFunding(ctx, sp.MchID, true)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			caller := k12.Caller{MchID: sp.MchID}
			org := storagetest.Must(p.K12.NewOrganisation(ctx, sp.MchID, sub.MchID, "外国语学校"))
			student := func(photo string, balance int64) (k12.User, string) {
				t.Helper()
				out := "stu-" + randid.Digits(8)
				tok := storagetest.Must(p.K12.IssueToken(ctx, caller, org.ID, out))
				b, _ := os.ReadFile(slicePhoto(photo))
				storagetest.Must(p.K12.Collect(ctx, tok, b, true))
				payer := storagetest.Must(p.Pay.CreatePayer(ctx, balance, "")).PayerID
				if _, _, err := p.K12.Sign(ctx, tok, payer); err != nil {
					t.Fatal(err)
				}
				return storagetest.Must(p.K12.GetUser(ctx, caller, org.ID, out)), payer
			}
			alice, alicePayer := student("p01/img62.jpg", 10000)
			bob, _ := student("p02/img12.jpg", 0)

			target, _ := url.Parse(p.Server.URL())
			cut := netcut.New(target, platformtest.TLSConfig(p))
			front := httptest.NewServer(cut)
			defer front.Close()

			// The service provider's server, its webhooks and its queue on disk.
			queue := filepath.Join(t.TempDir(), "k12-queue.json")
			var v3 merchant.V3Credentials
			raw, _ := json.Marshal(sp)
			_ = json.Unmarshal(raw, &v3)
			client, err := merchant.NewV3Client(front.URL, v3, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			startServer := func() (*merchant.K12, *httptest.Server) {
				k, err := merchant.NewK12(merchant.K12Config{Client: client, SubMchID: sub.MchID, OrgID: org.ID, QueueFile: queue, Retry: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				return k, httptest.NewServer(merchant.New(merchant.Config{K12: k}).Handler())
			}
			spk, server := startServer()
			if err := p.DB.SetNotifyURL(ctx, sp.MchID, server.URL+"/merchant/k12/notify"); err != nil {
				t.Fatal(err)
			}

			// The canteen kiosk, offline build, behind its local API.
			still := terminal.NewStill(facetest.File(t, slicePhoto("p01/img17.jpg")))
			cam := terminal.NewCamera(still, nil, terminal.DefaultTimeouts)
			sdk, err := terminal.NewOffline(terminal.OfflineConfig{Config: terminal.Config{DataDir: t.TempDir(), Platform: front.URL, Engine: e,
				Camera: cam, Frames: 2}, OrgID: org.ID, SyncInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			agent := kiosk.New(kiosk.Config{SDK: sdk, Camera: cam, Still: still})
			sdk.SetPrompter(agent)
			ks := httptest.NewServer(agent)
			defer ks.Close()
			sdkCall := func(fn string, params map[string]any) map[string]any {
				_, out := postJSON(t, ks.URL+"/wxpayface/"+fn, params)
				return out
			}
			if a := sdkCall("initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
				t.Fatalf("init: %v", a)
			}
			// The APICloud shape serves the offline SDK too.
			if _, a := postJSON(t, ks.URL+"/wxFacePay/getSdkInfo", map[string]any{}); a["status"] != true || a["sdk_version"] != terminal.OfflineSDKVersion {
				t.Fatalf("getSdkInfo in the APICloud shape: %v", a)
			}
			rd := sdkCall("getWxpayfaceRawdata", map[string]any{})
			_, ai := postJSON(t, server.URL+"/merchant/k12/authinfo", map[string]any{"device_id": "CANTEEN-1", "raw_data": rd["rawdata"]})
			common := map[string]any{"appid": sp.AppID, "mch_id": sp.MchID, "sub_mch_id": sub.MchID, "organization_id": org.ID, "authinfo": ai["authinfo"]}
			if a := sdkCall("manualUpdateFaceDatas", common); a["return_code"] != "SUCCESS" || a["user_count"] != float64(2) {
				t.Fatalf("sync: %v", a)
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
			// lunch is the app's flow at the till: verify, finish, credential.
			lunch := func(photo string, who k12.User, fen string) string {
				t.Helper()
				still.Set(facetest.File(t, slicePhoto(photo)))
				if v := sdkCall("startVerify", common); v["return_code"] != "SUCCESS" {
					t.Fatalf("startVerify %s: %v", photo, v)
				}
				f := sdkCall("finishFaceVerify", common)
				if u, _ := f["user_info"].(map[string]any); u == nil || u["user_id"] != who.UserID {
					t.Fatalf("finishFaceVerify %s: %v", photo, f)
				}
				c := sdkCall("getFacePayCredential", with(map[string]any{"user_id": who.UserID, "recog_mode": "0", "total_fee": fen}))
				if c["return_code"] != "SUCCESS" {
					t.Fatalf("credential: %v", c)
				}
				return c["face_token"].(string)
			}
			submit := func(token string, who k12.User, fen int64) (int, map[string]any) {
				return postJSON(t, server.URL+"/merchant/k12/debits", map[string]any{"face_token": token, "user_id": who.UserID, "total_fee": fen})
			}

			if st, d := submit(lunch("p01/img17.jpg", alice, "1500"), alice, 1500); st != 200 || d["trade_state"] != "SUCCESS" {
				t.Fatalf("a debit with the line up: %d %v", st, d)
			}

			// The outage.
			cut.Cut(true)
			issued := []struct {
				token string
				who   k12.User
				fen   int64
			}{
				{lunch("p01/img16.jpg", alice, "1200"), alice, 1200},
				{lunch("p01/img62.jpg", alice, "800"), alice, 800},
				{lunch("p02/img53.jpg", bob, "600"), bob, 600},
			}
			for _, c := range issued {
				if st, d := submit(c.token, c.who, c.fen); st != http.StatusAccepted || d["state"] != merchant.Queued {
					t.Fatalf("a credential during the outage: %d %v", st, d)
				}
			}
			if st, _ := submit(issued[0].token, alice, 1200); st != http.StatusAccepted { // a replay under a new out_trade_no
				t.Fatalf("a replay during the outage: %d", st)
			}
			server.Close() // the server restarts during the outage; its queue is on disk
			_ = spk.Close()
			spk, server = startServer()
			defer server.Close()
			if err := p.DB.SetNotifyURL(ctx, sp.MchID, server.URL+"/merchant/k12/notify"); err != nil {
				t.Fatal(err)
			}
			if left := spk.Flush(ctx); left != 4 {
				t.Fatalf("during the outage %d debits wait, want 4", left)
			}

			cut.Cut(false)
			if left := spk.Flush(ctx); left != 0 {
				t.Fatalf("after the outage %d debits still wait", left)
			}
			done, refused := 0, 0
			for _, d := range spk.Debits() {
				switch d.State {
				case merchant.Done:
					done++
				case merchant.Refused:
					refused++
				}
			}
			if done != 4 || refused != 1 { // the first debit, three from the outage; the replay
				t.Fatalf("debits after the outage: %d done, %d refused: %+v", done, refused, spk.Debits())
			}
			if bal := storagetest.Must(p.Pay.Payer(ctx, alicePayer)).Balance; bal != 10000-1500-1200-800 {
				t.Fatalf("alice's wallet: %d", bal)
			}
			if spk.Flush(ctx) != 0 {
				t.Fatal("a second flush found work")
			}

			// Bob's wallet is empty: advances until the platform disables him.
			for i := range 3 {
				st, d := submit(lunch("p02/img55.jpg", bob, "500"), bob, 500)
				if i < 2 && (st != 200 || d["debt_state"] != "IN_DEBT") {
					t.Fatalf("bob's advance %d: %d %v", i, st, d)
				}
				if i == 2 && d["error_type"] != "NOT_ENOUGH" {
					t.Fatalf("bob's fourth failure: %d %v", st, d)
				}
			}
			deadline := time.Now().Add(15 * time.Second)
			for len(spk.Blocked()) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if b := spk.Blocked(); len(b) != 1 || b[0] != bob.UserID {
				t.Fatalf("the server's blocked students: %v (events %v)", b, spk.Events())
			}
			sdkCall("manualUpdateFaceDatas", common)
			still.Set(facetest.File(t, slicePhoto("p02/img53.jpg")))
			if v := sdkCall("startVerify", common); v["err_code"] != float64(terminal.ErrCodeUserAbnormal) {
				t.Fatalf("bob after he was disabled: %v", v)
			}
			if a := storagetest.Must(p.DB.AuditLedger(ctx)); !a.Balanced() {
				t.Fatalf("ledger: %+v", a)
			}
		})
	}
}

// TestK12AuthInfoRefresh: the service provider's server fetches a kiosk's offline
// authinfo, holds it an hour, fetches a new one after that, and while the platform is
// unreachable keeps serving the one it holds until its 36 hours are over.
func TestK12AuthInfoRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := platformtest.Start(t, "sqlite")
	sp := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider, PlatformMode: tenant.PublicKeyMode}))
	sub := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID}))
	org := storagetest.Must(p.K12.NewOrganisation(ctx, sp.MchID, sub.MchID, "一小"))
	target, _ := url.Parse(p.Server.URL())
	cut := netcut.New(target, platformtest.TLSConfig(p))
	front := httptest.NewServer(cut)
	defer front.Close()
	var v3 merchant.V3Credentials
	raw, _ := json.Marshal(sp)
	_ = json.Unmarshal(raw, &v3)
	client := storagetest.Must(merchant.NewV3Client(front.URL, v3, 5*time.Second))
	now := time.Now()
	k := storagetest.Must(merchant.NewK12(merchant.K12Config{Client: client, SubMchID: sub.MchID, OrgID: org.ID, Now: func() time.Time { return now }}))
	id, _ := device.NewIdentity()
	rd, _ := device.MakeRawdata(id, time.Now())

	first, _, cached, err := k.AuthInfo(ctx, "CANTEEN-1", rd)
	if err != nil || cached {
		t.Fatalf("first fetch: cached %v, %v", cached, err)
	}
	now = now.Add(59 * time.Minute)
	if again, _, cached, _ := k.AuthInfo(ctx, "CANTEEN-1", rd); again != first || !cached {
		t.Fatal("within the hour the held authinfo is not served")
	}
	now = now.Add(2 * time.Minute)
	second, _, cached, err := k.AuthInfo(ctx, "CANTEEN-1", rd)
	if err != nil || cached || second == first {
		t.Fatalf("after an hour: a new authinfo was not fetched (cached %v, %v)", cached, err)
	}
	cut.Cut(true)
	now = now.Add(20 * time.Hour)
	if held, _, cached, err := k.AuthInfo(ctx, "CANTEEN-1", rd); err != nil || !cached || held != second {
		t.Fatalf("during an outage the valid authinfo is not served: %v", err)
	}
	now = now.Add(17 * time.Hour)
	if _, _, _, err := k.AuthInfo(ctx, "CANTEEN-1", rd); err == nil {
		t.Fatal("an authinfo past its 36 hours was served")
	}
}
