package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// faceFail runs a command that must fail with a recognition error and returns its err_code.
func faceFail(t *testing.T, logs *lockedBuffer, args ...string) int {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, logs
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("facepay %s: %v, want exit status 3\n%s", strings.Join(args, " "), err, out.String())
	}
	var v struct {
		ErrCode int `json:"err_code"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("facepay %s: %v: %s", strings.Join(args, " "), err, out.String())
	}
	return v.ErrCode
}

// TestFacePayByPhotoThroughTheBinary drives the payment path with a real face:
// payers are enrolled from photographs, a terminal's face_code is minted only for a
// recognised face, and gopay pays with it.
func TestFacePayByPhotoThroughTheBinary(t *testing.T) {
	t.Parallel()
	facetest.Engine(t, os.Getenv("FACEPAY_PACK")) // the binary reads the same variable; skips, or fails under make test, when the engine cannot load
	grace := facetest.PhotoPath(t, "photo-grace-hopper")
	astronaut := facetest.PhotoPath(t, "photo-astronaut")
	group := facetest.PhotoPath(t, "photo-sample3")
	landscape := facetest.PhotoPath(t, "photo-landscape")
	// The probe is not the enrolled file: mirrored and recompressed, as another camera sees her.
	img := facetest.Photo(t, "photo-grace-hopper")
	probe := filepath.Join(t.TempDir(), "probe.jpg")
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, vision.Warp(img, vision.Affine{A: -1, C: float64(img.W - 1), E: 1}, img.W, img.H).RGBA(), &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(probe, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			store, logs, _, call := serveMerchant(t, backend)
			var rd struct {
				Rawdata string `json:"rawdata"`
			}
			runJSON(t, logs, &rd, append([]string{"admin", "rawdata", "--json"}, store...)...)
			authinfo := call("/face/get_wxpayface_authinfo", gopay.BodyMap{"store_id": "S1", "store_name": "食堂", "device_id": "KIOSK-1",
				"rawdata": rd.Rawdata, "now": strconv.FormatInt(time.Now().Unix(), 10), "version": "1"}, wechat.SignType_MD5).GetString("authinfo")
			if authinfo == "" {
				t.Fatal("no authinfo")
			}

			type payer struct {
				PayerID string `json:"payer_id"`
				Balance int64  `json:"balance"`
			}
			newPayer := func(phone, photo string) payer {
				var p payer
				runJSON(t, logs, &p, append([]string{"admin", "payer", "create", "--balance", "5000", "--phone", phone, "--json"}, store...)...)
				var en struct {
					PersonID string `json:"person_id"`
				}
				runJSON(t, logs, &en, append([]string{"admin", "face", "enroll", "--payer", p.PayerID, "--photo", photo, "--json"}, store...)...)
				if en.PersonID != p.PayerID {
					t.Fatalf("enrolled %q, want %q", en.PersonID, p.PayerID)
				}
				return p
			}
			hopper := newPayer("13800001111", grace)
			newPayer("13800002222", astronaut)
			if out, err := exec.Command(binary, append([]string{"admin", "face", "enroll", "--payer", hopper.PayerID, "--photo", group}, store...)...).CombinedOutput(); err == nil || !strings.Contains(string(out), "more than one face") {
				t.Fatalf("enrolling a group photo: %v %s", err, out)
			}

			type minted struct {
				FaceCode      string `json:"face_code"`
				OpenID        string `json:"openid"`
				NeedExtVerify bool   `json:"need_ext_verify"`
			}
			var byFace, byID minted
			runJSON(t, logs, &byFace, append([]string{"admin", "face-code", "--authinfo", authinfo, "--photo", probe, "--json"}, store...)...)
			runJSON(t, logs, &byID, append([]string{"admin", "face-code", "--authinfo", authinfo, "--payer", hopper.PayerID, "--json"}, store...)...)
			if byFace.FaceCode == "" || byFace.OpenID != byID.OpenID {
				t.Fatalf("face_code by photo is for %q, the enrolled payer is %q", byFace.OpenID, byID.OpenID)
			}
			paid := call("/pay/facepay", gopay.BodyMap{"body": "午餐", "out_trade_no": "FACE-1", "total_fee": 1200, "fee_type": "CNY",
				"spbill_create_ip": "127.0.0.1", "face_code": byFace.FaceCode}, wechat.SignType_HMAC_SHA256)
			if paid.GetString("result_code") != "SUCCESS" || paid.GetString("openid") != byID.OpenID {
				t.Fatalf("facepay with a recognised face: %v", paid)
			}
			var after payer
			runJSON(t, logs, &after, append([]string{"admin", "payer", "show", "--payer", hopper.PayerID, "--json"}, store...)...)
			if after.Balance != 5000-1200 {
				t.Fatalf("the recognised payer's balance is %d, want %d", after.Balance, 5000-1200)
			}

			// Unknown and faceless photos mint nothing, with the offline SDK's codes.
			if code := faceFail(t, logs, append([]string{"admin", "face-code", "--authinfo", authinfo, "--photo", group, "--json"}, store...)...); code != 271378595 {
				t.Fatalf("a stranger: err_code %d, want 271378595", code)
			}
			if code := faceFail(t, logs, append([]string{"admin", "face-code", "--authinfo", authinfo, "--photo", landscape, "--json"}, store...)...); code != 271378526 {
				t.Fatalf("no face: err_code %d, want 271378526", code)
			}

			// A twin (the same face enrolled for a second payer) makes recognition ask
			// for the phone tail, and the tail settles it.
			twin := newPayer("13900003333", grace)
			var ask minted
			runJSON(t, logs, &ask, append([]string{"admin", "face-code", "--authinfo", authinfo, "--photo", probe, "--json"}, store...)...)
			if !ask.NeedExtVerify || ask.FaceCode != "" {
				t.Fatalf("look-alikes: %+v, want need_ext_verify and no face_code", ask)
			}
			var settled, twinID minted
			runJSON(t, logs, &settled, append([]string{"admin", "face-code", "--authinfo", authinfo, "--photo", probe, "--phone-tail", "3333", "--json"}, store...)...)
			runJSON(t, logs, &twinID, append([]string{"admin", "face-code", "--authinfo", authinfo, "--payer", twin.PayerID, "--json"}, store...)...)
			if settled.FaceCode == "" || settled.OpenID != twinID.OpenID {
				t.Fatalf("tail 3333 settled on %q, want the twin %q", settled.OpenID, twinID.OpenID)
			}
			newPayer("13700003333", grace) // a third look-alike with the same tail
			if code := faceFail(t, logs, append([]string{"admin", "face-code", "--authinfo", authinfo, "--photo", probe, "--phone-tail", "3333", "--json"}, store...)...); code != 271378587 {
				t.Fatalf("same tail twice: err_code %d, want 271378587", code)
			}
			for _, secret := range []string{"13800001111", "13900003333", byFace.FaceCode} {
				if strings.Contains(logs.String(), secret) {
					t.Fatal("a phone number or a face_code appears in the logs")
				}
			}
		})
	}
}
