package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/recognition"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/faceid"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// KioskConfig sets up `facepay bench kiosk`.
type KioskConfig struct {
	Engine     *engine.Engine
	Enrol      *vision.Image // the payer's enrolment photo
	Probe      *vision.Image // what the kiosk's camera sees of them
	Iterations int
	Frames     int // frames per recognition (liveness reads them all)
	Progress   io.Writer
}

// Timing is one stage's distribution.
type Timing struct {
	Name     string
	N        int
	P50, P99 time.Duration
}

// KioskReport is what the kiosk benchmark prints.
type KioskReport struct {
	Iterations int
	Frames     int
	Stages     []Timing // in the order a payment runs them
	FaceCode   Timing   // getWxpayfaceCode on the kiosk: frames → face_code (liveness off)
	Paid       Timing   // frames → face_code → merchant server → facepay → paid
}

func timing(name string, d []time.Duration) Timing {
	s := slices.Clone(d)
	slices.Sort(s)
	t := Timing{Name: name, N: len(s)}
	if len(s) > 0 {
		t.P50 = s[len(s)/2]
		t.P99 = s[min(len(s)-1, int(float64(len(s))*0.99))]
	}
	return t
}

// RunKiosk runs platform, kiosk SDK and merchant server in one process over
// loopback HTTPS (SQLite in a temporary directory) and times a face payment from
// the camera's frames to the paid answer, and each stage of it alone.
func RunKiosk(ctx context.Context, cfg KioskConfig) (KioskReport, error) {
	if cfg.Iterations <= 0 {
		cfg.Iterations = 50
	}
	if cfg.Frames <= 0 {
		cfg.Frames = 12
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	rep := KioskReport{Iterations: cfg.Iterations, Frames: cfg.Frames}
	p, stop, err := serving(ctx, "", platform.Config{FacePack: cfg.Engine.Pack.Name})
	if err != nil {
		return rep, err
	}
	defer stop()
	db := p.DB

	fmt.Fprintln(cfg.Progress, "preparing: merchant, payer enrolled from a photo, kiosk, merchant server...")
	cr, err := p.Tenants.Create(ctx, tenant.NewMerchant{Name: "bench"})
	if err != nil {
		return rep, err
	}
	payer, err := p.Pay.CreatePayer(ctx, int64(cfg.Iterations)*100+1000, "")
	if err != nil {
		return rep, err
	}
	rec := recognition.New(cfg.Engine, db, time.Now)
	if _, err := rec.Enrol(ctx, faceid.PayersLibrary, payer.PayerID, "", cfg.Enrol); err != nil {
		return rep, fmt.Errorf("enrol: %w", err)
	}
	dir, err := os.MkdirTemp("", "facepay-bench-kiosk")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	cam := terminal.NewCamera(terminal.NewStill(cfg.Probe), nil, terminal.DefaultTimeouts)
	sdk, err := terminal.New(terminal.Config{DataDir: dir, Platform: p.Server.URL(), CAPool: p.CA.Pool(), Engine: cfg.Engine,
		Camera: cam, Frames: cfg.Frames})
	if err != nil {
		return rep, err
	}
	mc, err := merchant.NewClient(p.Server.URL(), merchant.FromTenant(cr), 10*time.Second)
	if err != nil {
		return rep, err
	}
	ms := merchant.New(merchant.Config{Client: mc})
	if a := sdk.Call(ctx, "initWxpayface", nil); a["return_code"] != "SUCCESS" {
		return rep, fmt.Errorf("init: %v", a)
	}
	rd := sdk.Call(ctx, "getWxpayfaceRawdata", nil)
	authinfo, _, _, err := ms.AuthInfo(ctx, merchant.AuthInfoRequest{StoreID: "S1", DeviceID: "BENCH-1", Rawdata: rd["rawdata"].(string)})
	if err != nil {
		return rep, err
	}
	call := map[string]any{"appid": cr.AppID, "mch_id": cr.MchID, "store_id": "S1", "authinfo": authinfo, "face_authtype": "FACEPAY", "total_fee": "1"}

	var frames []*vision.Image
	for range cfg.Frames {
		frames = append(frames, cfg.Probe)
	}
	client := &terminal.Client{Base: p.Server.URL(), Identity: sdk.Identity(), Now: time.Now,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CA.Pool()}}}}
	var probeT, liveT, identT, payT, codeT, paidT []time.Duration
	for i := range cfg.Iterations {
		if i%10 == 0 {
			fmt.Fprintf(cfg.Progress, "\rkiosk bench: %d/%d", i, cfg.Iterations)
		}
		// Each stage alone.
		t := time.Now()
		f, err := cfg.Engine.Probe(cfg.Probe)
		if err != nil {
			return rep, err
		}
		probeT = append(probeT, time.Since(t))
		t = time.Now()
		if _, err := cfg.Engine.Liveness(engine.TurnLeft, frames, engine.DefaultLiveness); err != nil {
			return rep, err
		}
		liveT = append(liveT, time.Since(t))
		t = time.Now()
		r, err := client.Identify(ctx, termwire.IdentifyRequest{AuthInfo: authinfo, Purpose: termwire.PurposePay, Model: cfg.Engine.Model(),
			Template: termwire.EncodeTemplate(f.Embedding), Liveness: &termwire.Liveness{Off: true}})
		if err != nil || r.FaceCode == "" {
			return rep, fmt.Errorf("identify: %+v %v", r, err)
		}
		identT = append(identT, time.Since(t))
		t = time.Now()
		if pr, err := ms.Pay(ctx, merchant.PayRequest{OutTradeNo: "BS-" + strconv.Itoa(i), TotalFee: 1, FaceCode: r.FaceCode}); err != nil || pr.State != "SUCCESS" {
			return rep, fmt.Errorf("pay: %+v %v", pr, err)
		}
		payT = append(payT, time.Since(t))
		// The whole path, as a kiosk app and its merchant server run it.
		call["out_trade_no"] = "BK-" + strconv.Itoa(i)
		t = time.Now()
		a := sdk.Call(ctx, "getWxpayfaceCode", call)
		code, _ := a["face_code"].(string)
		if code == "" {
			return rep, fmt.Errorf("getWxpayfaceCode: %v", a)
		}
		codeT = append(codeT, time.Since(t))
		if pr, err := ms.Pay(ctx, merchant.PayRequest{OutTradeNo: "BK-" + strconv.Itoa(i), TotalFee: 1, FaceCode: code}); err != nil || pr.State != "SUCCESS" {
			return rep, fmt.Errorf("pay: %+v %v", pr, err)
		}
		paidT = append(paidT, time.Since(t))
	}
	fmt.Fprintf(cfg.Progress, "\rkiosk bench: %d/%d\n", cfg.Iterations, cfg.Iterations)
	rep.Stages = []Timing{
		timing("detect + align + embed (chip and mirror), one frame", probeT),
		timing(fmt.Sprintf("liveness check, %d frames", cfg.Frames), liveT),
		timing("terminal API identify → face_code (loopback HTTPS)", identT),
		timing("merchant server facepay → paid (loopback HTTPS)", payT),
	}
	rep.FaceCode = timing("getWxpayfaceCode: frames → face_code (liveness off)", codeT)
	rep.Paid = timing("frames → face_code → merchant server → paid", paidT)
	return rep, audited(ctx, db)
}
