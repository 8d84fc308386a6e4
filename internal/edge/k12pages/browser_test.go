package k12pages_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/browsertest"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

func photo(name string) string {
	return filepath.Join("..", "..", "face", "eval", "testdata", "deepface-slice", name)
}

// TestParentsPagesInChromium runs the parents' pages in Debian's Chromium with a fake
// camera playing a real photo of the child: the face is collected with the camera
// after consent and the contract signed on the parent's wallet; a re-collection
// refuses a photo without a face with its reason, takes a new photo of the child and
// uses it only after the parent confirms; the repayment page repays the advances.
// Each result is checked in the platform's state. Screenshots go to
// FACEPAY_SCREENSHOTS when set (the README's).
func TestParentsPagesInChromium(t *testing.T) {
	browsertest.Dir(t)
	e := facetest.Engine(t, "")
	p := platformtest.StartWith(t, "sqlite", platform.Config{Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", FaceEngine: e})
	ctx := context.Background()
	sp := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider}))
	sub := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID}))
	if err := p.DB.SetProduction(ctx, sp.MchID); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.SetAdvanceFunding(ctx, sp.MchID, true); err != nil {
		t.Fatal(err)
	}
	caller := k12.Caller{MchID: sp.MchID}
	org := storagetest.Must(p.K12.NewOrganisation(ctx, sp.MchID, sub.MchID, "南山实验学校"))
	const out = "stu-20260901"
	tok := storagetest.Must(p.K12.IssueToken(ctx, caller, org.ID, out))
	name, class := "林小雨", "三年级二班"
	if err := p.K12.PatchUser(ctx, caller, org.ID, out, k12.Patch{Name: &name, ClassName: &class}); err != nil {
		t.Fatal(err)
	}
	payer := storagetest.Must(p.Pay.CreatePayer(ctx, 0, "13800001111")).PayerID
	shots := browsertest.Shots(t)
	y4m := facetest.Y4M(t, e, facetest.File(t, photo("p01/img62.jpg")))
	base := p.Server.HTTPURL() // 127.0.0.1 is a secure context for the camera
	run := func(phase string, env ...string) map[string]any {
		t.Helper()
		res := browsertest.Run(t, filepath.Join("testdata", "browser.cjs"), append(env, "PHASE="+phase, "BASE="+base, "SHOTS="+shots,
			"Y4M="+y4m)...)
		var v map[string]any
		if err := json.Unmarshal(res, &v); err != nil {
			t.Fatalf("%s: %v %s", phase, err, res)
		}
		return v
	}

	signed := run("sign", "TOKEN="+tok, "PAYER="+payer)
	u := storagetest.Must(p.K12.GetUser(ctx, caller, org.ID, out))
	if !u.FaceImageOK || u.ContractState != k12.Contracted || signed["contract"] != u.ContractID {
		t.Fatalf("after the pages: user %+v, pages %v", u, signed)
	}
	ct := storagetest.Must(p.K12.GetContract(ctx, caller, u.ContractID))
	if ct.PayerID != payer || ct.Mode != k12.LimitNone {
		t.Fatalf("contract: %+v", ct)
	}

	made := storagetest.Must(p.K12.RequireRecollection(ctx, org.ID, nil))
	noface := filepath.Join(t.TempDir(), "wall.png")
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 400, 300)))
	if err := os.WriteFile(noface, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	newPhoto, _ := filepath.Abs(photo("p01/img16.jpg"))
	re := run("recollect", "TOKEN="+storagetest.Must(p.K12.IssueToken(ctx, caller, org.ID, out)), "NOFACE="+noface, "NEWPHOTO="+newPhoto)
	col := storagetest.Must(p.K12.GetCollection(ctx, caller, made[0].ID))
	if col.State != k12.CollectionComplete || col.ConfirmedAt.IsZero() || !strings.Contains(re["refused"].(string), "face") {
		t.Fatalf("re-collection: %+v, pages %v", col, re)
	}

	// Two lunches the empty wallet could not pay: advanced, then repaid on the page.
	id, _ := device.NewIdentity()
	raw, _ := device.MakeRawdata(id, time.Now())
	ai, _, err := p.K12.OfflineAuthInfo(ctx, caller, k12.OfflineAuthInfoRequest{SPAppID: sp.AppID, SubMchID: sub.MchID, DeviceID: "CANTEEN-1",
		RawData: raw, OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, fen := range []int64{1250, 980} {
		cred, _ := device.MintOfflineCredential(id.Key, device.OfflineClaims{AuthInfo: ai, UserID: u.UserID, Amount: fen, IssuedAt: time.Now().Unix(), Nonce: randid.Hex(8)})
		d, err := p.K12.Withhold(ctx, caller, k12.DebitRequest{AuthCode: cred, Total: fen, Currency: "CNY", DeviceIP: "10.0.0.2",
			OutTradeNo: "LUNCH" + randid.Digits(8), ProductID: 2, SceneID: 3, Description: "午餐"})
		if err != nil || d.Order.DebtState != "IN_DEBT" {
			t.Fatalf("advance: %+v %v", d.Order, err)
		}
	}
	storagetest.Must(p.Pay.TopUp(ctx, payer, 5000))
	link, _, err := p.K12.RepaymentURL(ctx, caller, org.ID, out, base)
	if err != nil {
		t.Fatal(err)
	}
	paid := run("repay", "REPAY="+link)
	if paid["total"] != "¥22.30" || paid["rows"] != float64(2) {
		t.Fatalf("repayment page: %v", paid)
	}
	if bal := storagetest.Must(p.Pay.Payer(ctx, payer)).Balance; bal != 5000-2230 {
		t.Fatalf("wallet after repaying on the page: %d", bal)
	}
	if d := storagetest.Must(p.K12.OpenDebts(ctx, k12.RepaymentToken(link))); d.Total != 0 {
		t.Fatalf("still owed after the page repaid: %d", d.Total)
	}
	for _, f := range []string{"k12-1-collect.png", "k12-2-sign.png", "k12-3-signed.png", "k12-4-refused.png", "k12-5-recollect-confirm.png",
		"k12-6-repay.png", "k12-7-repaid.png"} {
		if st, err := os.Stat(filepath.Join(shots, f)); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
}
