// Package demo is `facepay demo`: a whole school on one machine, in one command. It
// starts the platform on a temporary SQLite store, a service provider with a school,
// the service provider's server, a canteen kiosk (offline K12 SDK) and a shop kiosk
// (online SDK), both with still cameras showing real photographs, enrols and signs
// students through the parents' pages' API, and walks through the product, printing
// each step; then it keeps everything running for a person to look at.
package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/recognition"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/faceid"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/kiosk"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/netcut"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

// Config sets up the demo.
type Config struct {
	Dir    string // the store and the kiosks' folders
	Engine *engine.Engine
	Photos fs.FS     // one folder per person (p01 … p06), three photos each
	Out    io.Writer // the steps, as they happen
}

// URLs are what a person opens once the demo runs.
type URLs struct {
	Platform, Pages, CanteenKiosk, ShopKiosk, Merchant, Collect, Sign, Repay string
}

// Run sets everything up and walks through the product; the returned stop ends it.
func Run(ctx context.Context, cfg Config) (URLs, func(), error) {
	d := &demo{cfg: cfg, ctx: ctx}
	stop := func() {
		for i := len(d.stops) - 1; i >= 0; i-- {
			d.stops[i]()
		}
	}
	u, err := d.run()
	if err != nil {
		stop()
		return URLs{}, nil, err
	}
	return u, stop, nil
}

type demo struct {
	cfg   Config
	ctx   context.Context
	stops []func()
	n     int

	p        *platform.Platform
	sp, sub  tenant.Credentials
	shop     tenant.Credentials
	org      k12.Organisation
	v3       *merchant.V3Client
	spk      *merchant.K12
	spURL    string
	canteen  *kioskUnder
	line     *netcut.Line
	lineURL  string // the school's way to the platform
	common   map[string]any
	students map[string]*student
}

type student struct {
	name, out, photo, probe, phone string
	userID, payerID                string
	balance                        int64
}

type kioskUnder struct {
	url   string
	still *terminal.Still
}

func (d *demo) say(format string, a ...any) {
	d.n++
	fmt.Fprintf(d.cfg.Out, "%2d. %s\n", d.n, fmt.Sprintf(format, a...))
}

func (d *demo) detail(format string, a ...any) {
	fmt.Fprintf(d.cfg.Out, "      %s\n", fmt.Sprintf(format, a...))
}

func (d *demo) photo(name string) ([]byte, *vision.Image, error) {
	b, err := fs.ReadFile(d.cfg.Photos, name)
	if err != nil {
		return nil, nil, err
	}
	img, err := vision.Decode(bytes.NewReader(b))
	return b, img, err
}

func (d *demo) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	d.stops = append(d.stops, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

func postJSON(u string, in, out any) error {
	b, _ := json.Marshal(in)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: HTTP %d %s", u, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (d *demo) run() (URLs, error) {
	ctx := d.ctx
	var u URLs
	db, err := platform.OpenStore(ctx, platform.StoreConfig{DataDir: d.cfg.Dir})
	if err != nil {
		return u, err
	}
	d.stops = append(d.stops, func() { db.Close() })
	runCtx, cancel := context.WithCancel(ctx)
	d.p, err = platform.New(runCtx, db, platform.Config{Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), FaceEngine: d.cfg.Engine, FacePack: d.cfg.Engine.Pack.Name})
	if err != nil {
		cancel()
		return u, err
	}
	ran := make(chan error, 1)
	go func() { ran <- d.p.Run(runCtx, 5*time.Second) }()
	d.stops = append(d.stops, func() { cancel(); <-ran })
	u.Platform, u.Pages = d.p.Server.URL(), d.p.Server.HTTPURL()
	d.say("platform on %s (parents' pages on %s), SQLite store in %s", u.Platform, u.Pages, d.cfg.Dir)

	if err := d.school(); err != nil {
		return u, err
	}
	if u.Merchant, err = d.spServer(); err != nil {
		return u, err
	}
	if err := d.enrol(&u); err != nil {
		return u, err
	}
	if u.CanteenKiosk, err = d.canteenKiosk(); err != nil {
		return u, err
	}
	if u.ShopKiosk, err = d.onlinePayment(); err != nil {
		return u, err
	}
	for _, step := range []func() error{d.offlineDebit, d.lookAlike, d.outage} {
		if err := step(); err != nil {
			return u, err
		}
	}
	if u.Repay, err = d.advanceAndRepay(); err != nil {
		return u, err
	}
	return u, nil
}

func (d *demo) school() error {
	ctx := d.ctx
	var err error
	if d.sp, err = d.p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider, Name: "校园服务商", PlatformMode: tenant.PublicKeyMode}); err != nil {
		return err
	}
	if d.sub, err = d.p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: d.sp.MchID, Name: "实验小学食堂"}); err != nil {
		return err
	}
	if err := d.p.DB.SetProduction(ctx, d.sp.MchID); err != nil {
		return err
	}
	if err := d.p.DB.SetAdvanceFunding(ctx, d.sp.MchID, true); err != nil {
		return err
	}
	if d.org, err = d.p.K12.NewOrganisation(ctx, d.sp.MchID, d.sub.MchID, "OpenFacePay 实验小学"); err != nil {
		return err
	}
	d.say("service provider %s with school %s (%s), canteen sub-merchant %s; advance funding on", d.sp.MchID, d.org.ID, d.org.Name, d.sub.MchID)
	return nil
}

// spServer is the service provider's server (facepay merchant --k12-org), reaching
// the platform through a line the demo can cut.
func (d *demo) spServer() (string, error) {
	target, _ := url.Parse(d.p.Server.URL())
	d.line = netcut.New(target, tlsTo(d.p))
	lineURL, err := d.serve(d.line)
	if err != nil {
		return "", err
	}
	d.lineURL = lineURL
	var v3 merchant.V3Credentials
	raw, _ := json.Marshal(d.sp)
	_ = json.Unmarshal(raw, &v3)
	if d.v3, err = merchant.NewV3Client(lineURL, v3, 5*time.Second); err != nil {
		return "", err
	}
	if d.spk, err = merchant.NewK12(merchant.K12Config{Client: d.v3, SubMchID: d.sub.MchID, OrgID: d.org.ID,
		QueueFile: path.Join(d.cfg.Dir, "k12-queue.json"), Retry: time.Second}); err != nil {
		return "", err
	}
	loop, stop := context.WithCancel(context.Background())
	go d.spk.Run(loop)
	d.stops = append(d.stops, stop)
	if d.spURL, err = d.serve(merchant.New(merchant.Config{K12: d.spk}).Handler()); err != nil {
		return "", err
	}
	if err := d.p.DB.SetNotifyURL(d.ctx, d.sp.MchID, d.spURL+"/merchant/k12/notify"); err != nil {
		return "", err
	}
	d.say("the service provider's server on %s (webhooks to /merchant/k12/notify)", d.spURL)
	return d.spURL, nil
}

// enrol makes the students: a token from the v3 API, then the photo and the signing
// through the parents' pages' API, as a parent's phone would.
func (d *demo) enrol(u *URLs) error {
	d.students = map[string]*student{
		"ming": {name: "张小明", out: "stu-20260001", photo: "p01/img62.jpg", probe: "p01/img17.jpg", balance: 20000},
		"hong": {name: "李小红", out: "stu-20260002", photo: "p02/img12.jpg", probe: "p02/img53.jpg", balance: 20000},
		"bao1": {name: "王大宝", out: "stu-20260003", photo: "p05/img46.jpg", probe: "p05/img43.jpg", phone: "13900001111", balance: 20000},
		"bao2": {name: "王小宝", out: "stu-20260004", photo: "p05/img46.jpg", probe: "p05/img43.jpg", phone: "13900002222", balance: 20000},
		"gang": {name: "赵小刚", out: "stu-20260005", photo: "p06/img29.jpg", probe: "p06/img30.jpg", balance: 0},
	}
	d.say("enrolling %d students through the parents' pages (%s/k12/collect, /k12/sign)", len(d.students), d.p.Server.HTTPURL())
	d.detail("their photos: six people of serengil/deepface's test set, MIT licence (copyright 2019 Sefik Ilkin Serengil)")
	for _, key := range []string{"ming", "hong", "bao1", "bao2", "gang"} {
		s := d.students[key]
		var tok struct {
			Token string `json:"token"`
		}
		if err := d.v3.Do(d.ctx, http.MethodPost, "/v3/offlinefacemch/tokens", map[string]any{"scene": "WEBSESSION",
			"web_init_data": map[string]string{"out_user_id": s.out, "organization_id": d.org.ID}}, &tok); err != nil {
			return err
		}
		name := s.name
		patch := k12.Patch{Name: &name}
		if s.phone != "" {
			patch.Phone = &s.phone
		}
		if err := d.p.K12.PatchUser(d.ctx, k12.Caller{MchID: d.sp.MchID}, d.org.ID, s.out, patch); err != nil {
			return err
		}
		raw, _, err := d.photo(s.photo)
		if err != nil {
			return err
		}
		pages := d.p.Server.HTTPURL()
		if err := postJSON(pages+"/k12/api/collect", map[string]any{"token": tok.Token, "photo": b64(raw), "consent": true}, nil); err != nil {
			return fmt.Errorf("collect %s: %w", s.name, err)
		}
		payer, err := d.p.Pay.CreatePayer(d.ctx, s.balance, s.phone)
		if err != nil {
			return err
		}
		s.payerID = payer.PayerID
		var signed struct {
			UserID string `json:"user_id"`
		}
		if err := postJSON(pages+"/k12/api/sign", map[string]any{"token": tok.Token, "payer_id": s.payerID}, &signed); err != nil {
			return fmt.Errorf("sign %s: %w", s.name, err)
		}
		s.userID = signed.UserID
		d.detail("%s (%s): face collected, signed on wallet %s holding ¥%.2f", s.name, s.out, s.payerID, float64(s.balance)/100)
		if key == "ming" {
			u.Collect = pages + "/k12/collect?token=" + tok.Token
			u.Sign = pages + "/k12/sign?token=" + tok.Token
		}
	}
	return nil
}

// kiosk serves a kiosk agent of sdk, whose screen it is, and answers its URL.
func (d *demo) kiosk(sdk terminal.Service, cam *terminal.Camera, still *terminal.Still) (string, error) {
	agent := kiosk.New(kiosk.Config{SDK: sdk, Camera: cam, Still: still})
	sdk.SetPrompter(agent)
	return d.serve(agent)
}

func (d *demo) canteenKiosk() (string, error) {
	_, img, err := d.photo(d.students["ming"].probe)
	if err != nil {
		return "", err
	}
	still := terminal.NewStill(img)
	cam := terminal.NewCamera(still, nil, terminal.DefaultTimeouts)
	sdk, err := terminal.NewOffline(terminal.OfflineConfig{Config: terminal.Config{DataDir: path.Join(d.cfg.Dir, "canteen-kiosk"),
		Platform: d.lineURL, Engine: d.cfg.Engine, Camera: cam, Frames: 2}, OrgID: d.org.ID, SyncInterval: 10 * time.Second})
	if err != nil {
		return "", err
	}
	kurl, err := d.kiosk(sdk, cam, still)
	if err != nil {
		return "", err
	}
	d.canteen = &kioskUnder{url: kurl, still: still}
	if a := d.call("initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
		return "", fmt.Errorf("canteen kiosk init: %v", a)
	}
	rd := d.call("getWxpayfaceRawdata", map[string]any{})
	var ai map[string]any
	if err := postJSON(d.spURL+"/merchant/k12/authinfo", map[string]any{"device_id": "CANTEEN-1", "raw_data": rd["rawdata"]}, &ai); err != nil {
		return "", err
	}
	d.common = map[string]any{"appid": d.sp.AppID, "mch_id": d.sp.MchID, "sub_mch_id": d.sub.MchID, "organization_id": d.org.ID, "authinfo": ai["authinfo"]}
	a := d.call("manualUpdateFaceDatas", d.common)
	if a["return_code"] != "SUCCESS" {
		return "", fmt.Errorf("canteen kiosk library: %v", a)
	}
	d.say("canteen kiosk (offline SDK) on %s: authinfo from the service provider's server, face library synced: %v students", kurl, a["user_count"])
	d.detail("liveness is off on both kiosks: their cameras are still photographs, which can never pass it")
	return kurl, nil
}

// call runs an offline SDK function on the canteen kiosk's local API.
func (d *demo) call(fn string, p map[string]any) map[string]any {
	var out map[string]any
	if err := postJSON(d.canteen.url+"/wxpayface/"+fn, p, &out); err != nil {
		return map[string]any{"return_code": "SYSTEMERROR", "return_msg": err.Error()}
	}
	return out
}

func (d *demo) with(extra map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range d.common {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// till is the canteen app at the till: the camera sees probe, the kiosk verifies,
// the phone tail settles a look-alike, the kiosk signs the credential, and the app
// hands it to the service provider's server.
func (d *demo) till(s *student, fen int64) (map[string]any, error) {
	_, img, err := d.photo(s.probe)
	if err != nil {
		return nil, err
	}
	d.canteen.still.Set(img)
	v := d.call("startVerify", d.common)
	if v["return_code"] != "SUCCESS" {
		return nil, fmt.Errorf("startVerify for %s: %v %v", s.name, v["err_code"], v["return_msg"])
	}
	phone := ""
	if v["need_ext_verify"] == true {
		phone = s.phone
		d.detail("the kiosk sees a look-alike and asks for the phone tail: %s types %s", s.name, phone[len(phone)-4:])
	}
	f := d.call("finishFaceVerify", d.with(map[string]any{"user_phone": phone}))
	info, _ := f["user_info"].(map[string]any)
	if f["return_code"] != "SUCCESS" || info["user_id"] != s.userID {
		return nil, fmt.Errorf("finishFaceVerify for %s: %v", s.name, f)
	}
	c := d.call("getFacePayCredential", d.with(map[string]any{"user_id": s.userID, "recog_mode": "0", "total_fee": fmt.Sprint(fen)}))
	if c["return_code"] != "SUCCESS" {
		return nil, fmt.Errorf("credential for %s: %v", s.name, c)
	}
	var debit map[string]any
	err = postJSON(d.spURL+"/merchant/k12/debits", map[string]any{"face_token": c["face_token"], "user_id": s.userID, "total_fee": fen,
		"description": "午餐"}, &debit)
	return debit, err
}

func yuan(fen int64) string { return fmt.Sprintf("¥%.2f", float64(fen)/100) }

func (d *demo) offlineDebit() error {
	s := d.students["ming"]
	r, err := d.till(s, 1500)
	if err != nil {
		return err
	}
	d.say("offline recognition at the canteen: %s recognised from another photo, credential debited: %v %s (%v)", s.name, r["trade_state"],
		yuan(1500), r["transaction_id"])
	return nil
}

func (d *demo) lookAlike() error {
	s := d.students["bao2"]
	r, err := d.till(s, 1200)
	if err != nil {
		return err
	}
	d.say("a look-alike (王大宝 and 王小宝 share a face): settled by the phone tail, %s paid: %v", s.name, r["trade_state"])
	return nil
}

func (d *demo) outage() error {
	d.line.Cut(true)
	d.say("the school's line to the platform is cut")
	s := d.students["hong"]
	r, err := d.till(s, 1800)
	if err != nil {
		d.line.Cut(false)
		return err
	}
	d.detail("%s still recognised offline; the server keeps the credential: %v", s.name, r["state"])
	d.line.Cut(false)
	left := d.spk.Flush(d.ctx)
	var final map[string]any
	for _, x := range d.spk.Debits() {
		if x.OutTradeNo == r["out_trade_no"] {
			b, _ := json.Marshal(x)
			_ = json.Unmarshal(b, &final)
		}
	}
	d.say("the line is back: the waiting debit was sent once: %v %v (%d still waiting)", final["state"], final["trade_state"], left)
	return nil
}

func (d *demo) advanceAndRepay() (string, error) {
	s := d.students["gang"]
	r, err := d.till(s, 1000)
	if err != nil {
		return "", err
	}
	d.say("%s's wallet is empty: the platform advances the lunch: %v, debt_state %v", s.name, r["trade_state"], r["debt_state"])
	var link struct {
		URL string `json:"repayment_url"`
	}
	if err := d.v3.Do(d.ctx, http.MethodPost, "/v3/offlineface/repayment-url", map[string]string{"out_user_id": s.out,
		"organization_id": d.org.ID}, &link); err != nil {
		return "", err
	}
	// The link names the platform's HTTPS address; the parents' pages are also on its plain HTTP one.
	repay := d.p.Server.HTTPURL() + k12.RepaymentPath + "?t=" + url.QueryEscape(k12.RepaymentToken(link.URL))
	if _, err := d.p.Pay.TopUp(d.ctx, s.payerID, 5000); err != nil {
		return "", err
	}
	var rp map[string]any
	if err := postJSON(d.p.Server.HTTPURL()+"/k12/api/repay", map[string]any{"t": k12.RepaymentToken(link.URL)}, &rp); err != nil {
		return "", err
	}
	d.say("the family tops up ¥50.00 and repays on the repayment page: %s (%v)", yuan(int64(rp["amount"].(float64))), rp["repayment_transaction_id"])
	return repay, nil
}

// onlinePayment is the shop next to the canteen: an online kiosk and a teacher's
// face payment, then a refund, through the reference merchant server.
func (d *demo) onlinePayment() (string, error) {
	ctx := d.ctx
	var err error
	if d.shop, err = d.p.Tenants.Create(ctx, tenant.NewMerchant{Name: "校园小卖部"}); err != nil {
		return "", err
	}
	payer, err := d.p.Pay.CreatePayer(ctx, 10000, "13700003333")
	if err != nil {
		return "", err
	}
	_, enrolImg, err := d.photo("p03/img5.jpg")
	if err != nil {
		return "", err
	}
	if _, err := recognition.New(d.cfg.Engine, d.p.DB, time.Now).Enrol(ctx, faceid.PayersLibrary, payer.PayerID, "3333", enrolImg); err != nil {
		return "", err
	}
	_, probe, err := d.photo("p03/img6.jpg")
	if err != nil {
		return "", err
	}
	still := terminal.NewStill(probe)
	cam := terminal.NewCamera(still, nil, terminal.DefaultTimeouts)
	sdk, err := terminal.New(terminal.Config{DataDir: path.Join(d.cfg.Dir, "shop-kiosk"), Platform: d.p.Server.URL(), CAPool: d.p.CA.Pool(),
		Engine: d.cfg.Engine, Camera: cam, Frames: 2})
	if err != nil {
		return "", err
	}
	kurl, err := d.kiosk(sdk, cam, still)
	if err != nil {
		return "", err
	}
	mc, err := merchant.NewClient(d.p.Server.URL(), merchant.FromTenant(d.shop), 10*time.Second)
	if err != nil {
		return "", err
	}
	murl, err := d.serve(merchant.New(merchant.Config{Client: mc}).Handler())
	if err != nil {
		return "", err
	}
	sdkCall := func(fn string, p map[string]any) map[string]any {
		var out map[string]any
		if err := postJSON(kurl+"/wxpayface/"+fn, p, &out); err != nil {
			return map[string]any{"return_code": "SYSTEMERROR", "return_msg": err.Error()}
		}
		return out
	}
	sdkCall("initWxpayface", map[string]any{})
	raw := sdkCall("getWxpayfaceRawdata", map[string]any{})
	var ai map[string]any
	if err := postJSON(murl+"/merchant/authinfo", map[string]any{"store_id": "SHOP-1", "store_name": "小卖部", "device_id": "SHOP-KIOSK-1",
		"rawdata": raw["rawdata"]}, &ai); err != nil {
		return "", err
	}
	code := sdkCall("getWxpayfaceCode", map[string]any{"appid": d.shop.AppID, "mch_id": d.shop.MchID, "store_id": "SHOP-1",
		"authinfo": ai["authinfo"], "face_authtype": "FACEPAY", "out_trade_no": "SHOP-0001", "total_fee": "650"})
	if code["return_code"] != "SUCCESS" {
		return "", fmt.Errorf("shop kiosk: %v", code)
	}
	var paid map[string]any
	if err := postJSON(murl+"/merchant/pay", map[string]any{"out_trade_no": "SHOP-0001", "total_fee": 650, "face_code": code["face_code"],
		"body": "文具"}, &paid); err != nil {
		return "", err
	}
	var refund map[string]any
	if err := postJSON(murl+"/merchant/refund", map[string]any{"out_trade_no": "SHOP-0001", "out_refund_no": "SHOP-R-0001",
		"total_fee": 650, "refund_fee": 650}, &refund); err != nil {
		return "", err
	}
	d.say("online face payment at the shop kiosk (%s): a teacher paid %s (%v), then refunded (%v)", kurl, yuan(650), paid["state"], refund["result_code"])
	return kurl, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func tlsTo(p *platform.Platform) *tls.Config { return &tls.Config{RootCAs: p.CA.Pool()} }
