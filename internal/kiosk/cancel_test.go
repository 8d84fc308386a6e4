package kiosk_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-pay/gopay"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
)

// TestKioskCancelPhoneAndCamera: the person cancels (USER_CANCEL), a telephone given
// by the app settles a look-alike without the keypad, and the four camera
// operations show in the kiosk's state.
func TestKioskCancelPhoneAndCamera(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite", false)
	if a := w.call(t, "/wxpayface/initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
		t.Fatalf("init: %v", a)
	}
	authinfo := w.authinfo(t)
	pay := func(outTradeNo string, extra map[string]any) map[string]any {
		p := map[string]any{"appid": w.cr.AppID, "mch_id": w.cr.MchID, "store_id": "STORE-001", "authinfo": authinfo,
			"face_authtype": "FACEPAY", "out_trade_no": outTradeNo, "total_fee": "100"}
		for k, v := range extra {
			p[k] = v
		}
		return w.call(t, "/wxpayface/getWxpayfaceCode", p)
	}
	// A landscape: no face, so the kiosk keeps looking until the person cancels.
	landscape, err := modelpack.Verify(modelpack.CacheDir(), "photo-landscape")
	if err != nil {
		t.Fatal(err)
	}
	w.seeFile(t, landscape)
	got := make(chan map[string]any, 1)
	go func() { got <- pay("C-1", nil) }()
	time.Sleep(400 * time.Millisecond)
	resp, err := http.Post(w.kiosk.URL+"/kiosk/cancel", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a := <-got; a["return_code"] != "USER_CANCEL" || a["face_code"] != nil {
		t.Fatalf("cancelled: %v", a)
	}
	// Twins: the app's telephone settles it.
	w.enrol(t, "13900001111", "1111", "p01/img62.jpg", "p01/img16.jpg")
	twin := w.enrol(t, "13900002222", "2222", "p01/img62.jpg", "p01/img16.jpg")
	w.see(t, "p01/img17.jpg")
	if a := pay("C-2", map[string]any{"telephone": "13900002222"}); a["return_code"] != "SUCCESS" || a["openid"] != w.p.Pay.OpenID(w.cr.AppID, twin) || a["telephone_used"] != float64(1) {
		t.Fatalf("look-alike with the app's telephone: %v", a)
	}
	// face_code_type 1: an 18-digit numeric face_code that micropay takes as auth_code,
	// without out_trade_no and total_fee.
	num := w.call(t, "/wxpayface/getWxpayfaceCode", map[string]any{"appid": w.cr.AppID, "mch_id": w.cr.MchID, "store_id": "STORE-001",
		"authinfo": authinfo, "face_authtype": "FACEPAY", "face_code_type": "1", "telephone": "13900002222"})
	code, _ := num["face_code"].(string)
	if len(code) != 18 || strings.Trim(code, "0123456789") != "" {
		t.Fatalf("face_code_type 1: %v", num)
	}
	bm := make(gopay.BodyMap)
	bm.Set("body", "coffee").Set("out_trade_no", "C-3").Set("total_fee", 250).Set("spbill_create_ip", "10.0.0.7").Set("auth_code", code)
	if res := w.v2(t, "/pay/micropay", bm); res.GetString("result_code") != "SUCCESS" {
		t.Fatalf("micropay with the numeric face_code: %v", res)
	}
	if got := w.balance(t, twin); got != 10000-250 {
		t.Fatalf("twin balance %d", got)
	}
	// The four camera operations.
	state := func() string {
		resp, err := http.Get(w.kiosk.URL + "/kiosk/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s struct {
			Camera string `json:"camera"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&s)
		return s.Camera
	}
	for _, c := range []struct{ fn, want string }{
		{"closeCamera", "off"}, {"openCameraWithoutPreview", "on_hidden"}, {"openCameraWithPreview", "on"}, {"closeCamera", "off"}, {"openCamera", "on"},
	} {
		if a := w.call(t, "/wxpayface/"+c.fn, map[string]any{}); a["return_code"] != "SUCCESS" {
			t.Fatalf("%s: %v", c.fn, a)
		}
		if got := state(); got != c.want {
			t.Fatalf("after %s the camera is %s, want %s", c.fn, got, c.want)
		}
	}
}
