package platform_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

// TestK12LibrarySync: an offline kiosk pulls its school's face library through the
// terminal API, sealed to its device key: first everything (signed users with a
// face, in pages), then only what changed — a user disabled (kept, marked, so the
// kiosk refuses rather than mistakes them), a contract terminated (removed), a newly
// signed user (added), a re-collected face (replaced) — and nothing when nothing
// changed. The synced templates recognise another photo of the child on the kiosk
// side; an online authinfo gets no library.
func TestK12LibrarySync(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	pk, _ := modelpack.Find("")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, backend, platform.Config{FaceEngine: e})
			ctx := context.Background()
			s := newSchool(t, b, true)
			caller := k12.Caller{MchID: s.sp.MchID}
			enrol := func(out, photo string, sign bool) k12.User {
				t.Helper()
				tok := s.token(t, out)
				storagetest.Must(b.P.K12.Collect(ctx, tok, slicePhoto(t, photo), true))
				if sign {
					payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, 1000, "")).PayerID
					if _, _, err := b.P.K12.Sign(ctx, tok, payer); err != nil {
						t.Fatal(err)
					}
				}
				return storagetest.Must(b.P.K12.GetUser(ctx, caller, s.org.ID, out))
			}
			alice := enrol("stu-sync-01", "p01/img62.jpg", true)
			bob := enrol("stu-sync-02", "p02/img12.jpg", true)
			carol := enrol("stu-sync-03", "p04/img47.jpg", false)
			phone := "13800001111"
			if err := b.P.K12.PatchUser(ctx, caller, s.org.ID, alice.OutUserID, k12.Patch{Phone: &phone}); err != nil {
				t.Fatal(err)
			}
			kiosk := &terminal.Client{Base: b.URL, Identity: s.kiosk, Now: time.Now,
				HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CAPool}}}}

			pages := storagetest.Must(kiosk.OfflineSync(ctx, s.authinfo, s.org.ID, 0, 1))
			if len(pages) != 2 || !pages[0].Full || pages[1].Full || pages[0].Model != pk.Model() {
				t.Fatalf("a full sync in pages of one: %d pages %+v", len(pages), pages)
			}
			lib := map[string]k12.LibraryEntry{}
			for _, p := range pages {
				for _, u := range p.Upserts {
					lib[u.UserID] = u
				}
			}
			if len(lib) != 2 || lib[alice.UserID].PhoneTail != "1111" || lib[alice.UserID].Status != "NORMAL" || len(lib[bob.UserID].Templates) != 1 {
				t.Fatalf("full library: %+v", lib)
			}
			if _, ok := lib[carol.UserID]; ok {
				t.Fatal("an unsigned user is in the library")
			}
			probe := storagetest.Must(e.Probe(facetest.File(t, filepath.Join("..", "face", "eval", "testdata", "deepface-slice", "p01", "img17.jpg"))))
			if score := dot32(probe.Embedding, lib[alice.UserID].Templates[0]); score < pk.Threshold {
				t.Fatalf("another photo of alice scores %.3f against her synced template, threshold %.2f", score, pk.Threshold)
			}
			if score := dot32(probe.Embedding, lib[bob.UserID].Templates[0]); score >= pk.Threshold {
				t.Fatalf("alice's photo matches bob's synced template (%.3f)", score)
			}
			v1 := pages[len(pages)-1].Version
			if none := storagetest.Must(kiosk.OfflineSync(ctx, s.authinfo, s.org.ID, v1, 0)); len(none) != 1 || len(none[0].Upserts)+len(none[0].Removes) != 0 || none[0].Version != v1 {
				t.Fatalf("a sync without changes: %+v", none)
			}

			disabled := "DISABLED"
			if err := b.P.K12.PatchUser(ctx, caller, s.org.ID, alice.OutUserID, k12.Patch{Status: &disabled}); err != nil {
				t.Fatal(err)
			}
			if err := b.P.K12.Terminate(ctx, caller, s.org.ID, bob.UserID); err != nil {
				t.Fatal(err)
			}
			payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, 1000, "")).PayerID
			if _, _, err := b.P.K12.Sign(ctx, s.token(t, carol.OutUserID), payer); err != nil {
				t.Fatal(err)
			}
			d := storagetest.Must(kiosk.OfflineSync(ctx, s.authinfo, s.org.ID, v1, 0))[0]
			up := map[string]k12.LibraryEntry{}
			for _, u := range d.Upserts {
				up[u.UserID] = u
			}
			if d.Full || len(d.Removes) != 1 || d.Removes[0] != bob.UserID || up[alice.UserID].Status != "DISABLED" || len(up[carol.UserID].Templates) != 1 ||
				len(up) != 2 || d.Version <= v1 {
				t.Fatalf("delta after disabling, terminating and signing: %+v", d)
			}

			// A re-collected face reaches the kiosk once confirmed, not before.
			enable := "NORMAL"
			if err := b.P.K12.PatchUser(ctx, caller, s.org.ID, alice.OutUserID, k12.Patch{Status: &enable}); err != nil {
				t.Fatal(err)
			}
			v2 := storagetest.Must(kiosk.OfflineSync(ctx, s.authinfo, s.org.ID, d.Version, 0))[0].Version
			storagetest.Must(b.P.K12.RequireRecollection(ctx, s.org.ID, []string{alice.UserID}))
			tok := s.token(t, alice.OutUserID)
			storagetest.Must(b.P.K12.Collect(ctx, tok, slicePhoto(t, "p01/img16.jpg"), true))
			if d := storagetest.Must(kiosk.OfflineSync(ctx, s.authinfo, s.org.ID, v2, 0))[0]; len(d.Upserts) != 0 {
				t.Fatalf("an unconfirmed photo reached the kiosk: %+v", d)
			}
			storagetest.Must(b.P.K12.ConfirmCollection(ctx, tok))
			d = storagetest.Must(kiosk.OfflineSync(ctx, s.authinfo, s.org.ID, v2, 0))[0]
			if len(d.Upserts) != 1 || d.Upserts[0].UserID != alice.UserID || sameVectors(d.Upserts[0].Templates, lib[alice.UserID].Templates) {
				t.Fatalf("the confirmed face did not reach the kiosk: %+v", d)
			}

			// An online (payment) authinfo is not an offline kiosk's.
			if _, err := kiosk.OfflineSync(ctx, onlineAuthInfo(t, b, s), s.org.ID, 0, 0); err == nil {
				t.Fatal("an online authinfo got a school's library")
			}
		})
	}
}

func dot32(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// onlineAuthInfo is a payment authinfo of the school's sub-merchant for the kiosk.
func onlineAuthInfo(t *testing.T, b *bundle, s *school) string {
	t.Helper()
	raw, _ := device.MakeRawdata(s.kiosk, time.Now())
	a, err := b.P.Pay.AuthInfo(context.Background(), pay.AuthInfoRequest{MchID: s.sp.MchID, SubMchID: s.sub.MchID, AppID: s.sp.AppID,
		StoreID: "CANTEEN", StoreName: "食堂", DeviceID: "CANTEEN-1", Rawdata: raw, Now: strconv.FormatInt(time.Now().Unix(), 10), Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return a.AuthInfo
}
