package k12pages_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/browsertest"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

// TestK12SeedSequenceInChromium is the K12 product's whole seed sequence on each
// backend, the parents' part in Debian's Chromium: a school created; three students'
// faces taken with a fake camera playing each child's photo and their contracts signed
// on the pages; an offline kiosk recognising a child from another photo; the debit
// through the service provider's server; an empty wallet's lunch advance-funded; the
// debt repaid on the repayment page in the browser; a refund of the first lunch.
func TestK12SeedSequenceInChromium(t *testing.T) {
	browsertest.Dir(t)
	e := facetest.Engine(t, "")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			p := platformtest.StartWith(t, backend, platform.Config{Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", FaceEngine: e})
			sp := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider, PlatformMode: tenant.PublicKeyMode}))
			sub := storagetest.Must(p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID}))
			for _, err := range []error{p.DB.SetProduction(ctx, sp.MchID), p.DB.SetAdvanceFunding(ctx, sp.MchID, true)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			caller := k12.Caller{MchID: sp.MchID}
			org := storagetest.Must(p.K12.NewOrganisation(ctx, sp.MchID, sub.MchID, "种子小学"))

			type kid struct {
				out, name, photo, probe string
				balance                 int64
				payer                   string
			}
			kids := []*kid{{out: "stu-seed-01", name: "周一", photo: "p01/img62.jpg", probe: "p01/img17.jpg", balance: 5000},
				{out: "stu-seed-02", name: "吴二", photo: "p02/img12.jpg", probe: "p02/img53.jpg", balance: 5000},
				{out: "stu-seed-03", name: "郑三", photo: "p06/img29.jpg", probe: "p06/img30.jpg", balance: 0}}
			var list []map[string]string
			for _, k := range kids {
				tok := storagetest.Must(p.K12.IssueToken(ctx, caller, org.ID, k.out))
				name := k.name
				if err := p.K12.PatchUser(ctx, caller, org.ID, k.out, k12.Patch{Name: &name}); err != nil {
					t.Fatal(err)
				}
				k.payer = storagetest.Must(p.Pay.CreatePayer(ctx, k.balance, "")).PayerID
				list = append(list, map[string]string{"token": tok, "payer": k.payer, "y4m": facetest.Y4M(t, e, facetest.File(t, photo(k.photo)))})
			}
			studentsJSON, _ := json.Marshal(list)
			res := browsertest.Run(t, filepath.Join("testdata", "browser.cjs"), "PHASE=seed", "BASE="+p.Server.HTTPURL(), "STUDENTS="+string(studentsJSON))
			var seeded struct {
				Contracts []string `json:"contracts"`
			}
			if err := json.Unmarshal(res, &seeded); err != nil || len(seeded.Contracts) != 3 {
				t.Fatalf("the browser signed %v: %s", err, res)
			}
			users := map[string]k12.User{}
			for i, k := range kids {
				u := storagetest.Must(p.K12.GetUser(ctx, caller, org.ID, k.out))
				if !u.FaceImageOK || u.ContractState != k12.Contracted || u.ContractID != seeded.Contracts[i] {
					t.Fatalf("%s after the pages: %+v", k.name, u)
				}
				users[k.out] = u
			}

			// The service provider's server and the canteen's offline kiosk.
			var v3 merchant.V3Credentials
			raw, _ := json.Marshal(sp)
			_ = json.Unmarshal(raw, &v3)
			client := storagetest.Must(merchant.NewV3Client(p.Server.URL(), v3, 10*time.Second))
			spk := storagetest.Must(merchant.NewK12(merchant.K12Config{Client: client, SubMchID: sub.MchID, OrgID: org.ID}))
			still := terminal.NewStill(facetest.File(t, photo(kids[0].probe)))
			kiosk := storagetest.Must(terminal.NewOffline(terminal.OfflineConfig{Config: terminal.Config{DataDir: t.TempDir(),
				Platform: p.Server.URL(), CAPool: p.CA.Pool(), Engine: e, Camera: terminal.NewCamera(still, nil, terminal.DefaultTimeouts), Frames: 2},
				OrgID: org.ID, SyncInterval: -1}))
			call := func(fn string, params map[string]any) terminal.Answer { return kiosk.Call(ctx, fn, params) }
			call("initWxpayface", nil)
			ai, _, _, err := spk.AuthInfo(ctx, "CANTEEN-1", call("getWxpayfaceRawdata", nil)["rawdata"].(string))
			if err != nil {
				t.Fatal(err)
			}
			common := map[string]any{"appid": sp.AppID, "mch_id": sp.MchID, "sub_mch_id": sub.MchID, "organization_id": org.ID, "authinfo": ai}
			if a := call("manualUpdateFaceDatas", common); a["user_count"] != 3 {
				t.Fatalf("the kiosk's library: %v", a)
			}
			lunch := func(k *kid, fen int64) merchant.Debit {
				t.Helper()
				still.Set(facetest.File(t, photo(k.probe)))
				if v := call("startVerify", common); v["return_code"] != "SUCCESS" {
					t.Fatalf("startVerify %s: %v", k.name, v)
				}
				f := call("finishFaceVerify", common)
				if f["user_info"].(map[string]string)["user_id"] != users[k.out].UserID {
					t.Fatalf("the kiosk took %s for %v", k.name, f)
				}
				c := call("getFacePayCredential", map[string]any{"user_id": users[k.out].UserID, "total_fee": strconv.FormatInt(fen, 10)})
				d, err := spk.Submit(ctx, merchant.Debit{AuthCode: c["face_token"].(string), UserID: users[k.out].UserID, Fen: fen})
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			first := lunch(kids[0], 1300)
			if first.State != merchant.Done || first.TradeState != "SUCCESS" {
				t.Fatalf("the first lunch: %+v", first)
			}
			advanced := lunch(kids[2], 900)
			if advanced.TradeState != "SUCCESS" || advanced.DebtState != "IN_DEBT" {
				t.Fatalf("the empty wallet's lunch: %+v", advanced)
			}

			// The family repays on the repayment page, in the browser.
			storagetest.Must(p.Pay.TopUp(ctx, kids[2].payer, 2000))
			link, _, err := p.K12.RepaymentURL(ctx, caller, org.ID, kids[2].out, p.Server.HTTPURL())
			if err != nil {
				t.Fatal(err)
			}
			res = browsertest.Run(t, filepath.Join("testdata", "browser.cjs"), "PHASE=repay", "REPAY="+link, "SHOTS="+t.TempDir(),
				"Y4M="+list[0]["y4m"])
			var repaid map[string]any
			_ = json.Unmarshal(res, &repaid)
			if repaid["total"] != "¥9.00" || !strings.Contains(repaid["repaid"].(string), "Repaid") {
				t.Fatalf("the repayment page: %s", res)
			}
			if bal := storagetest.Must(p.Pay.Payer(ctx, kids[2].payer)).Balance; bal != 2000-900 {
				t.Fatalf("the family's wallet after repaying: %d", bal)
			}

			// The school refunds the first lunch through v3.
			var refund map[string]any
			if err := client.Do(ctx, http.MethodPost, "/v3/refund/domestic/refunds", map[string]any{"sub_mchid": sub.MchID,
				"out_trade_no": first.OutTradeNo, "out_refund_no": "SEED-R1", "amount": map[string]any{"refund": 1300, "total": 1300, "currency": "CNY"}},
				&refund); err != nil || refund["status"] != "SUCCESS" {
				t.Fatalf("refund: %v %v", refund, err)
			}
			if bal := storagetest.Must(p.Pay.Payer(ctx, kids[0].payer)).Balance; bal != 5000 {
				t.Fatalf("the first family's wallet after the refund: %d", bal)
			}
			if a := storagetest.Must(p.DB.AuditLedger(ctx)); !a.Balanced() {
				t.Fatalf("ledger: %+v", a)
			}
		})
	}
}
