package platform_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/recognition"
	"github.com/openfacepay/openfacepay/internal/faceid"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// kiosk is a terminal with its own device identity, whose merchant server got
// authinfo for it, and a client of the terminal API.
type kiosk struct {
	*shop
	id     device.Identity
	client *terminal.Client
	e      *engine.Engine
}

func newKiosk(t *testing.T, b *bundle, e *engine.Engine) *kiosk {
	t.Helper()
	cr := b.merchant(t, tenant.NewMerchant{})
	s := &shop{b: b, cr: cr, c: gopayClient(t, b.URL, cr, true), clock: clockOf{db: b, mch: cr.MchID}}
	k := &kiosk{shop: s, e: e}
	k.id, _ = device.NewIdentity()
	k.authinfo = k.newAuthInfo(t, "KIOSK-1")
	k.client = &terminal.Client{Base: b.URL, HTTP: b.httpsClient(nil), Identity: k.id, Now: time.Now}
	return k
}

func (k *kiosk) newAuthInfo(t *testing.T, deviceID string) string {
	t.Helper()
	raw, err := device.MakeRawdata(k.id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bm := k.authinfoBody(t, deviceID, raw)
	bm.Set("now", strconv.FormatInt(time.Now().Unix(), 10))
	res := k.post(t, "/face/get_wxpayface_authinfo", bm, wechat.SignType_MD5)
	if res.GetString("authinfo") == "" {
		t.Fatalf("authinfo: %v", res)
	}
	return res.GetString("authinfo")
}

// template is what the kiosk computes from a photo of the deepface slice.
func (k *kiosk) template(t *testing.T, photo string) string {
	t.Helper()
	f, err := k.e.Probe(facetest.File(t, filepath.Join("..", "face", "eval", "testdata", "deepface-slice", photo)))
	if err != nil {
		t.Fatalf("%s: %v", photo, err)
	}
	return termwire.EncodeTemplate(f.Embedding)
}

var passed = &termwire.Liveness{Challenge: "turn_left", Passed: true, Frames: 12}

func (k *kiosk) identify(t *testing.T, r termwire.IdentifyRequest) termwire.IdentifyResponse {
	t.Helper()
	if r.AuthInfo == "" {
		r.AuthInfo = k.authinfo
	}
	if r.Model == "" {
		r.Model = k.e.Model()
	}
	out, err := k.client.Identify(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTerminalIdentifyAndPay drives the terminal API as a kiosk does, with
// templates computed from real photographs of people enrolled from other photos
// of them, on both backends: a face_code that gopay's facepay charges to the right
// wallet, user info, a stranger, look-alikes settled by the phone tail, and every
// refusal of the request check.
func TestTerminalIdentifyAndPay(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		k := newKiosk(t, b, e)
		rec := recognition.New(e, b.P.DB, time.Now)
		slice := func(name string) string {
			return filepath.Join("..", "face", "eval", "testdata", "deepface-slice", name)
		}
		alice := storagetest.Must(b.P.Pay.CreatePayer(ctx, 10000, "13800001111")).PayerID
		storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, alice, "1111", facetest.File(t, slice("p01/img62.jpg")), facetest.File(t, slice("p01/img16.jpg"))))
		bob := storagetest.Must(b.P.Pay.CreatePayer(ctx, 10000, "13800002222")).PayerID
		storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, bob, "2222", facetest.File(t, slice("p05/img46.jpg"))))

		// Pay: alice's third photo → face_code → facepay through gopay.
		r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: k.template(t, "p01/img17.jpg"),
			Liveness: passed, OutTradeNo: "T-1", TotalFee: "1234"})
		if r.ReturnCode != "SUCCESS" || r.FaceCode == "" || r.OpenID == "" || r.TelephoneUsed != 0 {
			t.Fatalf("identify for pay: %+v", r)
		}
		if res := k.facepay(t, "T-1", 1234, r.FaceCode); res.GetString("result_code") != "SUCCESS" || res.GetString("openid") != r.OpenID {
			t.Fatalf("facepay with the kiosk's face_code: %v", res)
		}
		if got := k.balance(t, alice); got != 10000-1234 {
			t.Fatalf("alice's balance %d, want %d", got, 10000-1234)
		}
		// User info: openid under the appid, a nickname and a face session token.
		u := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposeUserInfo, Template: k.template(t, "p05/img44.jpg"),
			Liveness: passed, AskUnionID: true})
		if u.ReturnCode != "SUCCESS" || u.FaceCode != "" || u.OpenID == "" || u.Nickname == "" || u.Token == "" || u.UnionIDCode != "SUCCESS" {
			t.Fatalf("user info: %+v", u)
		}
		// A stranger (someone never enrolled) is no match.
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: k.template(t, "p03/img5.jpg"), Liveness: passed}); r.ReturnCode != "ERROR" || r.ErrCode != 271378595 {
			t.Fatalf("stranger: %+v", r)
		}
		// A twin: the same face enrolled as a second payer asks for the phone tail.
		twin := storagetest.Must(b.P.Pay.CreatePayer(ctx, 5000, "13900003333")).PayerID
		storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, twin, "3333", facetest.File(t, slice("p01/img62.jpg")), facetest.File(t, slice("p01/img16.jpg"))))
		probe := k.template(t, "p01/img17.jpg")
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: probe, Liveness: passed}); r.ReturnCode != "SUCCESS" || !r.NeedPhone || r.FaceCode != "" {
			t.Fatalf("look-alike: %+v", r)
		}
		r = k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: probe, Liveness: passed, PhoneTail: "3333"})
		if r.FaceCode == "" || r.TelephoneUsed != 1 || r.OpenID != b.P.Pay.OpenID(k.cr.AppID, twin) {
			t.Fatalf("look-alike with the twin's tail: %+v", r)
		}
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: probe, Liveness: passed, PhoneTail: "9999"}); r.ErrCode != 271378595 {
			t.Fatalf("look-alike with a tail of neither: %+v", r)
		}
		same := storagetest.Must(b.P.Pay.CreatePayer(ctx, 5000, "13700003333")).PayerID
		storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, same, "3333", facetest.File(t, slice("p01/img62.jpg")), facetest.File(t, slice("p01/img16.jpg"))))
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: probe, Liveness: passed, PhoneTail: "3333"}); r.ErrCode != 271378587 {
			t.Fatalf("two look-alikes with one tail: %+v", r)
		}

		// Liveness: not passed, or off on a production merchant, is refused.
		bobProbe := k.template(t, "p05/img43.jpg")
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: bobProbe,
			Liveness: &termwire.Liveness{Challenge: "nod", Passed: false}}); r.ReturnCode != "ERROR" || r.ErrCode != 271378527 {
			t.Fatalf("liveness failed: %+v", r)
		}
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: bobProbe}); r.ErrCode != 271378527 {
			t.Fatalf("no liveness at all: %+v", r)
		}
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: bobProbe, Liveness: &termwire.Liveness{Off: true}}); r.FaceCode == "" {
			t.Fatalf("liveness off on a test merchant: %+v", r)
		}

		// The request check: another model, bad fields, another device's key, a replay,
		// an expired authinfo.
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Model: "faceplugin/512", Template: bobProbe, Liveness: passed}); r.ReturnCode != "PARAM_ERROR" {
			t.Fatalf("another model: %+v", r)
		}
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: "rob", Template: bobProbe, Liveness: passed}); r.ReturnCode != "PARAM_ERROR" {
			t.Fatalf("unknown purpose: %+v", r)
		}
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: "not base64!", Liveness: passed}); r.ReturnCode != "PARAM_ERROR" {
			t.Fatalf("a template that is not base64: %+v", r)
		}
		thief, _ := device.NewIdentity()
		stolen := &terminal.Client{Base: b.URL, HTTP: b.httpsClient(nil), Identity: thief, Now: time.Now}
		if r, _ := stolen.Identify(ctx, termwire.IdentifyRequest{AuthInfo: k.authinfo, Purpose: termwire.PurposePay, Model: e.Model(), Template: bobProbe, Liveness: passed}); r.ReturnCode != "FACEPAY_NOT_AUTH" {
			t.Fatalf("authinfo used by another device: %+v", r)
		}
		req, body, err := k.client.NewRequest(ctx, termwire.PathIdentify, termwire.IdentifyRequest{AuthInfo: k.authinfo, Purpose: termwire.PurposeUserInfo,
			Model: e.Model(), Template: bobProbe, Liveness: passed})
		if err != nil {
			t.Fatal(err)
		}
		var first, second termwire.IdentifyResponse
		if err := k.client.Do(req, &first); err != nil || first.ReturnCode != "SUCCESS" {
			t.Fatalf("the original request: %+v %v", first, err)
		}
		again, _ := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
		again.Header = req.Header.Clone()
		if err := k.client.Do(again, &second); err != nil || second.ReturnCode != "FACEPAY_NOT_AUTH" {
			t.Fatalf("the replayed request: %+v %v", second, err)
		}
		skewed := &terminal.Client{Base: b.URL, HTTP: b.httpsClient(nil), Identity: k.id, Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }}
		if r, _ := skewed.Identify(ctx, termwire.IdentifyRequest{AuthInfo: k.authinfo, Purpose: termwire.PurposePay, Model: e.Model(), Template: bobProbe, Liveness: passed}); r.ReturnCode != "FACEPAY_NOT_AUTH" {
			t.Fatalf("a kiosk clock 6 minutes slow: %+v", r)
		}
		for _, leak := range []string{"13800001111", r.FaceCode, bobProbe[:24]} {
			if strings.Contains(b.Logs.String(), leak) {
				t.Fatalf("the logs hold %q", leak)
			}
		}
		// Another merchant's kiosk cannot use this authinfo even with its own key...
		other := newKiosk(t, b, e)
		other.client.Identity = k.id // ...and not with this kiosk's key through its own merchant either:
		if r := other.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: bobProbe, Liveness: passed}); r.ReturnCode != "FACEPAY_NOT_AUTH" {
			t.Fatalf("another merchant's authinfo signed by this kiosk: %+v", r)
		}
		if err := b.P.DB.SetTestClock(ctx, k.cr.MchID, time.Now().Add(61*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if r := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: bobProbe, Liveness: passed}); r.ReturnCode != "FACEPAY_NOT_AUTH" {
			t.Fatalf("an expired authinfo: %+v", r)
		}
		if err := b.P.DB.SetProduction(ctx, other.cr.MchID); err != nil {
			t.Fatal(err)
		}
		other.client.Identity = other.id
		if r := other.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposePay, Template: bobProbe, Liveness: &termwire.Liveness{Off: true}}); r.ErrCode != 271378527 {
			t.Fatalf("liveness off on a production merchant: %+v", r)
		}
	})
}

// TestTerminalMemberCard runs the member flow: user info, then the member card,
// with each of activateWxpayfaceMember's four errors.
func TestTerminalMemberCard(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		k := newKiosk(t, b, e)
		if err := b.P.DB.SetTestClock(ctx, k.cr.MchID, time.Now()); err != nil {
			t.Fatal(err)
		}
		rec := recognition.New(e, b.P.DB, time.Now)
		carol := storagetest.Must(b.P.Pay.CreatePayer(ctx, 100, "13600004444")).PayerID
		storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, carol, "4444",
			facetest.File(t, filepath.Join("..", "face", "eval", "testdata", "deepface-slice", "p02/img12.jpg"))))
		u := k.identify(t, termwire.IdentifyRequest{Purpose: termwire.PurposeUserInfo, Template: k.template(t, "p02/img55.jpg"), Liveness: passed})
		if u.ReturnCode != "SUCCESS" || u.Token == "" {
			t.Fatalf("user info: %+v", u)
		}
		member := func(r termwire.MemberRequest) termwire.MemberResponse {
			t.Helper()
			if r.AuthInfo == "" {
				r.AuthInfo = k.authinfo
			}
			out, err := k.client.Member(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		ok := termwire.MemberRequest{StoreID: "STORE-001", OpenID: u.OpenID, Token: u.Token}
		if r := member(ok); r.ReturnCode != "NOT_CONFIG_MEMBER_ERROR" {
			t.Fatalf("no card configured: %+v", r)
		}
		card := storagetest.Must(b.P.Members.Enable(ctx, k.cr.MchID, "STORE-001"))
		first := member(ok)
		if first.ReturnCode != "SUCCESS" || first.CardID != card.CardID || first.MemberNo == "" {
			t.Fatalf("member card: %+v (card %s)", first, card.CardID)
		}
		if again := member(ok); again.MemberNo != first.MemberNo {
			t.Fatalf("opening twice gave member %s then %s", first.MemberNo, again.MemberNo)
		}
		for name, r := range map[string]termwire.MemberRequest{
			"another store":            {StoreID: "STORE-002", OpenID: u.OpenID, Token: u.Token},
			"an openid not recognised": {StoreID: "STORE-001", OpenID: "o-someone-else", Token: u.Token},
			"no token":                 {StoreID: "STORE-001", OpenID: u.OpenID},
			"no openid":                {StoreID: "STORE-001", Token: u.Token},
		} {
			if got := member(r); got.ReturnCode != "PARAMS_INVALID" {
				t.Errorf("%s: %+v", name, got)
			}
		}
		storagetest.Must(b.P.Pay.AddFault(ctx, k.cr.MchID, "member", "SYSTEMERROR", 0, 1))
		if r := member(ok); r.ReturnCode != "GET_MEMBER_INFO_FAIL_ERROR" {
			t.Fatalf("card-opening info unavailable: %+v", r)
		}
		advance(t, b, k.cr.MchID, faceid.SessionTTL+time.Second)
		if r := member(ok); r.ReturnCode != "MEMBER_INFO_EXP_ERROR" {
			t.Fatalf("a recognition older than its lifetime: %+v", r)
		}
	})
}

// TestTerminalServiceProvider: a service provider's kiosk for its sub-merchant gets
// sub_openid under the sub-merchant's appid, for payment and for user info.
func TestTerminalServiceProvider(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		sp := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		sub := b.merchant(t, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID})
		s := &shop{b: b, cr: sp, c: gopayClient(t, b.URL, sp, true), clock: clockOf{db: b, mch: sp.MchID}}
		id, _ := device.NewIdentity()
		raw, _ := device.MakeRawdata(id, time.Now())
		bm := s.authinfoBody(t, "SP-KIOSK", raw)
		bm.Set("sub_mch_id", sub.MchID).Set("sub_appid", sub.AppID).Set("now", strconv.FormatInt(time.Now().Unix(), 10))
		ai := s.post(t, "/face/get_wxpayface_authinfo", bm, wechat.SignType_MD5).GetString("authinfo")
		if ai == "" {
			t.Fatal("no SP authinfo")
		}
		k := &kiosk{shop: s, id: id, e: e, client: &terminal.Client{Base: b.URL, HTTP: b.httpsClient(nil), Identity: id, Now: time.Now}}
		k.authinfo = ai
		rec := recognition.New(e, b.P.DB, time.Now)
		payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, 1000, "")).PayerID
		storagetest.Must(rec.Enrol(ctx, faceid.PayersLibrary, payer, "", facetest.File(t, filepath.Join("..", "face", "eval", "testdata", "deepface-slice", "p06/img29.jpg"))))
		probe := k.template(t, "p06/img32.jpg")
		for _, purpose := range []string{termwire.PurposePay, termwire.PurposeUserInfo} {
			r := k.identify(t, termwire.IdentifyRequest{Purpose: purpose, Template: probe, Liveness: passed})
			if r.ReturnCode != "SUCCESS" || r.SubOpenID != b.P.Pay.OpenID(sub.AppID, payer) || r.OpenID != b.P.Pay.OpenID(sp.AppID, payer) {
				t.Fatalf("%s in SP mode: %+v", purpose, r)
			}
		}
	})
}
