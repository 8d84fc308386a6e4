package kiosk_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/browsertest"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/kiosk"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

// TestKioskPageInChromium runs the kiosk page in Debian's Chromium with a fake camera
// made from real photographs, the kiosk app's logic being the APICloud module's calls
// through /wxFacePay.js and the reference merchant server: a payment (the page shows
// the amount, then "Paid"; the wallet is down by exactly the amount), the member card,
// a stranger refused, and a look-alike settled on the page's keypad. Screenshots of
// each step go to FACEPAY_SCREENSHOTS when it is set (the README's).
func TestKioskPageInChromium(t *testing.T) {
	browsertest.Dir(t)
	e := facetest.Engine(t, "")
	p := platformtest.Start(t, "sqlite")
	cr, creds := platformtest.Merchant(t, p)
	// A short client timeout and query plan: the first payment's answer is lost (a
	// fault rule delays it past the timeout) and the merchant server settles it.
	mc, err := merchant.NewClient(p.Server.URL(), creds, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ms := httptest.NewServer(merchant.New(merchant.Config{Client: mc, QueryPlan: []time.Duration{time.Second, time.Second, time.Second}}).Handler())
	defer ms.Close()
	storagetest.Must(p.Members.Enable(context.Background(), cr.MchID, "STORE-001"))

	page := kiosk.NewPageCamera(5 * time.Second)
	cam := terminal.NewCamera(page, nil, terminal.DefaultTimeouts)
	sdk, err := terminal.New(terminal.Config{DataDir: t.TempDir(), Platform: p.Server.URL(), CAPool: p.CA.Pool(), Engine: e, Camera: cam, Frames: 3})
	if err != nil {
		t.Fatal(err)
	}
	agent := kiosk.New(kiosk.Config{SDK: sdk, Camera: cam, Page: page, PhoneWait: 20 * time.Second})
	sdk.SetPrompter(agent)
	ks := httptest.NewServer(agent)
	defer ks.Close()
	// A second kiosk with liveness on, shown the same still picture.
	livePage := kiosk.NewPageCamera(5 * time.Second)
	liveCam := terminal.NewCamera(livePage, nil, terminal.DefaultTimeouts)
	liveSDK, err := terminal.New(terminal.Config{DataDir: t.TempDir(), Platform: p.Server.URL(), CAPool: p.CA.Pool(), Engine: e,
		Camera: liveCam, Frames: 6, Liveness: true})
	if err != nil {
		t.Fatal(err)
	}
	liveAgent := kiosk.New(kiosk.Config{SDK: liveSDK, Camera: liveCam, Page: livePage, Liveness: true})
	liveSDK.SetPrompter(liveAgent)
	live := httptest.NewServer(liveAgent)
	defer live.Close()
	storagetest.Must(p.Pay.AddFault(context.Background(), cr.MchID, "facepay", "", 1500*time.Millisecond, 1))

	w := &world{p: p, cr: cr}
	alice := w.enrol(t, "13800001111", "1111", "p01/img62.jpg", "p01/img16.jpg")
	twin1 := w.enrol(t, "13900001111", "1111", "p05/img46.jpg", "p05/img44.jpg")
	twin2 := w.enrol(t, "13900002222", "2222", "p05/img46.jpg", "p05/img44.jpg")

	shots := browsertest.Shots(t)
	cfg, _ := json.Marshal(map[string]string{"merchant": ms.URL, "appid": cr.AppID, "mch_id": cr.MchID, "twin_tail": "2222"})
	out := browsertest.Run(t, filepath.Join("testdata", "browser.cjs"), "KIOSK="+ks.URL, "KIOSK_LIVE="+live.URL,
		"SHOTS="+shots, "CFG="+string(cfg),
		"Y4M_PAYER="+facetest.Y4M(t, e, facetest.File(t, photo("p01/img17.jpg"))),
		"Y4M_STRANGER="+facetest.Y4M(t, e, facetest.File(t, photo("p03/img5.jpg"))),
		"Y4M_TWIN="+facetest.Y4M(t, e, facetest.File(t, photo("p05/img43.jpg"))))
	type cb struct {
		Ret map[string]any    `json:"ret"`
		Err map[string]string `json:"err"`
	}
	var res struct {
		Pay struct {
			Init, Code, Result cb
			Pay                map[string]any
		}
		Member   struct{ User, Member cb }
		Stranger struct {
			Code cb
		}
		Twin struct {
			Code cb
			Pay  map[string]any
		}
		Liveness struct {
			Code cb
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Pay.Code.Ret["status"] != true || res.Pay.Pay["state"] != "SUCCESS" || res.Pay.Result.Ret["status"] != true {
		t.Fatalf("pay flow: %+v", res.Pay)
	}
	if q, _ := res.Pay.Pay["queries"].(float64); q == 0 {
		t.Fatalf("the lost answer was not settled by orderquery: %+v", res.Pay.Pay)
	}
	if res.Liveness.Code.Ret["status"] != false || res.Liveness.Code.Err["errorCode"] != "271378527" {
		t.Fatalf("a still picture with liveness on: %+v", res.Liveness)
	}
	if got := w.balance(t, alice); got != 10000-1234 {
		t.Fatalf("alice's balance %d, want %d", got, 10000-1234)
	}
	if res.Member.User.Ret["status"] != true || res.Member.Member.Ret["status"] != true || res.Member.Member.Ret["member_no"] == "" {
		t.Fatalf("member flow: %+v", res.Member)
	}
	if res.Stranger.Code.Ret["status"] != false || res.Stranger.Code.Err["errorCode"] != "271378595" {
		t.Fatalf("stranger: %+v", res.Stranger)
	}
	if res.Twin.Code.Ret["telephone_used"] != float64(1) || res.Twin.Pay["state"] != "SUCCESS" {
		t.Fatalf("look-alike: %+v", res.Twin)
	}
	if w.balance(t, twin2) != 10000-300 || w.balance(t, twin1) != 10000 {
		t.Fatalf("look-alike charged twin1 %d, twin2 %d", w.balance(t, twin1), w.balance(t, twin2))
	}
	for _, f := range []string{"kiosk-1-welcome.png", "kiosk-2-amount-and-face.png", "kiosk-3-paid.png", "kiosk-4-member-card.png", "kiosk-5-stranger.png", "kiosk-6-phone-tail.png", "kiosk-7-liveness-refused.png"} {
		if st, err := os.Stat(filepath.Join(shots, f)); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
}
