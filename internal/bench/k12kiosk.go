package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/netcut"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

// K12KioskConfig sets up `facepay bench k12-kiosk`.
type K12KioskConfig struct {
	Engine       *engine.Engine
	Photo        []byte        // a real photograph of one face: every student's enrolment passes the gates on it once
	Probe        *vision.Image // another photo of the same person, for the recognition stage
	Students     int           // the school (3 000)
	Kiosks       int           // kiosks syncing the school's library (20)
	Signings     int           // new students signed one after another while the kiosks poll
	Interval     time.Duration // how often each kiosk polls during the propagation phase
	LibrarySizes []int         // offline recognition at these library sizes (3 000, 30 000)
	Workers      int           // the service provider's server's flush workers
	Progress     io.Writer
}

// K12KioskReport is what the benchmark prints.
type K12KioskReport struct {
	Students, Kiosks            int
	FullSync                    Timing // one kiosk's whole-library sync, all kiosks at once
	Propagation                 Timing // signing → the kiosk holds the student, over signings × kiosks
	Interval                    time.Duration
	Recognition                 []RecognitionRow
	Backlog                     int
	BacklogElapsed              time.Duration
	BacklogDone, BacklogRefused int
}

// RecognitionRow is the offline recognition of one library size.
type RecognitionRow struct {
	Size          int
	Probe, Search Timing // embedding the camera's photo; the 1:N search in the kiosk's library
	Total         Timing
	RightPerson   bool
	SyntheticFill int // entries that are random unit vectors, not faces (see the README)
}

// cachedFaces runs the enrolment gates once, on the real photo, and gives every
// student that template: the benchmark measures sync, not 3 000 enrolments.
type cachedFaces struct {
	k12.Faces
	tpl []float32
}

func (c cachedFaces) Template(context.Context, []byte) ([]float32, error) { return c.tpl, nil }

// RunK12Kiosk measures the K12 kiosk's paths on SQLite: a school's library reaching
// its kiosks, offline recognition at library sizes, and a day's credentials arriving
// together after an outage.
func RunK12Kiosk(ctx context.Context, cfg K12KioskConfig) (K12KioskReport, error) {
	rep := K12KioskReport{Students: cfg.Students, Kiosks: cfg.Kiosks, Interval: cfg.Interval}
	p, stop, err := serving(ctx, "", platform.Config{FaceEngine: cfg.Engine, FacePack: cfg.Engine.Pack.Name})
	if err != nil {
		return rep, err
	}
	defer stop()
	img := mustDecode(cfg.Photo)
	if img == nil {
		return rep, errors.New("the enrolment photo does not decode")
	}
	first, err := cfg.Engine.Enrol(img)
	if err != nil {
		return rep, fmt.Errorf("the photo does not pass the enrolment gates: %w", err)
	}
	real, err := platform.NewK12Faces(p.DB, cfg.Engine.Pack.Name, cfg.Engine, time.Now)
	if err != nil {
		return rep, err
	}
	svc := platform.NewK12(p.DB, p.Pay, clock.Real{}, cachedFaces{Faces: real, tpl: first.Embedding})
	sch, err := newBenchSchool(ctx, p, svc)
	if err != nil {
		return rep, err
	}
	say(cfg.Progress, "preparing: a school of %d students with faces, signed...", cfg.Students)
	users, err := sch.students(ctx, cfg.Students, cfg.Photo, cfg.Progress)
	if err != nil {
		return rep, err
	}

	// The kiosks: all pull the whole library at once, then poll while students sign.
	say(cfg.Progress, "%d kiosks pulling the whole library at once...", cfg.Kiosks)
	kiosks := make([]*terminal.Offline, cfg.Kiosks)
	for i := range kiosks {
		if kiosks[i], err = sch.kiosk(ctx, cfg.Engine, p); err != nil {
			return rep, err
		}
	}
	full := make([]time.Duration, len(kiosks))
	var wg sync.WaitGroup
	var syncErr atomic.Value
	for i, k := range kiosks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if _, err := k.Sync(ctx); err != nil {
				syncErr.Store(err)
			}
			full[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	if err, _ := syncErr.Load().(error); err != nil {
		return rep, err
	}
	rep.FullSync = timing("full sync", full)
	say(cfg.Progress, "%d signings while the kiosks poll every %s...", cfg.Signings, cfg.Interval)
	rep.Propagation, err = sch.propagation(ctx, kiosks, cfg)
	if err != nil {
		return rep, err
	}

	// Offline recognition at library sizes: the kiosk's own library type, one real
	// student among synthetic entries.
	for _, n := range cfg.LibrarySizes {
		say(cfg.Progress, "offline recognition in a library of %d...", n)
		row, err := offlineRecognition(ctx, cfg, first.Embedding, n)
		if err != nil {
			return rep, err
		}
		rep.Recognition = append(rep.Recognition, row)
	}

	// A day's credentials after an outage: each student's lunch, kept by the service
	// provider's server while the line is cut, then sent together.
	say(cfg.Progress, "an outage: %d lunches kept by the service provider's server, then sent together...", len(users))
	if err := sch.backlog(ctx, p, users, cfg, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

func mustDecode(b []byte) *vision.Image {
	img, _ := vision.Decode(bytes.NewReader(b))
	return img
}

func tlsTo(p *platform.Platform) *tls.Config { return &tls.Config{RootCAs: p.CA.Pool()} }

type benchSchool struct {
	p       *platform.Platform
	svc     *k12.Service
	sp, sub tenant.Credentials
	org     k12.Organisation
	caller  k12.Caller
}

func newBenchSchool(ctx context.Context, p *platform.Platform, svc *k12.Service) (*benchSchool, error) {
	s := &benchSchool{p: p, svc: svc}
	var err error
	if s.sp, err = p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider, Name: "bench-sp", PlatformMode: tenant.PublicKeyMode}); err != nil {
		return nil, err
	}
	if s.sub, err = p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: s.sp.MchID}); err != nil {
		return nil, err
	}
	if err := p.DB.SetProduction(ctx, s.sp.MchID); err != nil {
		return nil, err
	}
	s.caller = k12.Caller{MchID: s.sp.MchID}
	s.org, err = p.K12.NewOrganisation(ctx, s.sp.MchID, s.sub.MchID, "bench school")
	return s, err
}

// students collects (through the gates' cached template) and signs n students.
func (s *benchSchool) students(ctx context.Context, n int, photo []byte, progress io.Writer) ([]string, error) {
	var ids []string
	for i := range n {
		u, err := s.student(ctx, fmt.Sprintf("stu-%06d", i), photo)
		if err != nil {
			return nil, err
		}
		ids = append(ids, u)
		if (i+1)%500 == 0 && progress != nil {
			fmt.Fprintf(progress, "\r  %d/%d", i+1, n)
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	return ids, nil
}

func (s *benchSchool) student(ctx context.Context, out string, photo []byte) (string, error) {
	tok, err := s.svc.IssueToken(ctx, s.caller, s.org.ID, out)
	if err != nil {
		return "", err
	}
	if _, err := s.svc.Collect(ctx, tok, photo, true); err != nil {
		return "", err
	}
	payer, err := s.p.Pay.CreatePayer(ctx, 10000, "")
	if err != nil {
		return "", err
	}
	u, _, err := s.svc.Sign(ctx, tok, payer.PayerID)
	return u.UserID, err
}

func (s *benchSchool) kiosk(ctx context.Context, e *engine.Engine, p *platform.Platform) (*terminal.Offline, error) {
	dir, err := os.MkdirTemp("", "facepay-bench-kiosk")
	if err != nil {
		return nil, err
	}
	k, err := terminal.NewOffline(terminal.OfflineConfig{Config: terminal.Config{DataDir: dir, Platform: p.Server.URL(), CAPool: p.CA.Pool(),
		Engine: e, Camera: terminal.NewCamera(terminal.NewStill(nil), nil, terminal.DefaultTimeouts)}, OrgID: s.org.ID, SyncInterval: -1})
	if err != nil {
		return nil, err
	}
	if a := k.Call(ctx, "initWxpayface", nil); a["return_code"] != "SUCCESS" {
		return nil, fmt.Errorf("kiosk init: %v", a)
	}
	raw := k.Call(ctx, "getWxpayfaceRawdata", nil)["rawdata"].(string)
	ai, _, err := s.svc.OfflineAuthInfo(ctx, s.caller, k12.OfflineAuthInfoRequest{SPAppID: s.sp.AppID, SubMchID: s.sub.MchID,
		DeviceID: "K" + randid.Digits(6), RawData: raw, OrgID: s.org.ID})
	if err != nil {
		return nil, err
	}
	if a := k.Call(ctx, "preloadSdkEnv", map[string]any{"appid": s.sp.AppID, "mch_id": s.sp.MchID, "sub_mch_id": s.sub.MchID,
		"organization_id": s.org.ID, "authinfo": ai}); a["return_code"] != "SUCCESS" {
		return nil, fmt.Errorf("preload: %v", a)
	}
	return k, nil
}

// propagation signs students one after another while every kiosk polls at the
// interval; each sample is one kiosk's delay from a signing to holding its version.
func (s *benchSchool) propagation(ctx context.Context, kiosks []*terminal.Offline, cfg K12KioskConfig) (Timing, error) {
	pollCtx, stop := context.WithCancel(ctx)
	defer stop()
	for i, k := range kiosks {
		go func() {
			// Kiosks start their clocks at different moments, as real ones do.
			time.Sleep(time.Duration(i) * cfg.Interval / time.Duration(len(kiosks)))
			t := time.NewTicker(cfg.Interval)
			defer t.Stop()
			for {
				_, _ = k.Sync(pollCtx)
				select {
				case <-pollCtx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	var samples []time.Duration
	for i := range cfg.Signings {
		t0 := time.Now()
		if _, err := s.student(ctx, fmt.Sprintf("new-%06d", i), cfg.Photo); err != nil {
			return Timing{}, err
		}
		want, err := s.p.DB.SyncVersion(ctx, s.org.ID)
		if err != nil {
			return Timing{}, err
		}
		done := make([]bool, len(kiosks))
		for left := len(kiosks); left > 0; {
			if time.Since(t0) > 10*cfg.Interval+time.Minute {
				return Timing{}, errors.New("a signing did not reach every kiosk")
			}
			for j, k := range kiosks {
				if v, _ := k.LibraryVersion(); !done[j] && v >= want {
					done[j] = true
					samples = append(samples, time.Since(t0))
					left--
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return timing("signing → every kiosk", samples), nil
}

// offlineRecognition times the kiosk's two offline stages: embedding the camera's photo and
// the search of a library of n (one real template, n-1 synthetic unit vectors).
func offlineRecognition(ctx context.Context, cfg K12KioskConfig, real []float32, n int) (RecognitionRow, error) {
	row := RecognitionRow{Size: n, SyntheticFill: n - 1}
	libs := face.NewLibraries(face.NewMemoryStore(), cfg.Engine.Dim()).ForModel(cfg.Engine.Model())
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	v := make([]float32, cfg.Engine.Dim())
	for i := range n - 1 {
		unit(rng, v, nil)
		if err := libs.Enrol(ctx, face.Enrolment{Library: "bench", PersonID: fmt.Sprintf("S%06d", i), Vectors: [][]float32{slices.Clone(v)}}); err != nil {
			return row, err
		}
	}
	if err := libs.Enrol(ctx, face.Enrolment{Library: "bench", PersonID: "REAL", Vectors: [][]float32{real}}); err != nil {
		return row, err
	}
	rule := face.Rule{Threshold: cfg.Engine.Pack.Threshold, Margin: cfg.Engine.Pack.Margin}
	if _, err := libs.Identify(ctx, "bench", real, rule); err != nil { // builds the index
		return row, err
	}
	var probes, searches, totals []time.Duration
	row.RightPerson = true
	for range 30 {
		t0 := time.Now()
		f, err := cfg.Engine.Probe(cfg.Probe)
		if err != nil {
			return row, err
		}
		t1 := time.Now()
		id, err := libs.Identify(ctx, "bench", f.Embedding, rule)
		if err != nil {
			return row, err
		}
		t2 := time.Now()
		probes, searches, totals = append(probes, t1.Sub(t0)), append(searches, t2.Sub(t1)), append(totals, t2.Sub(t0))
		row.RightPerson = row.RightPerson && id.Match != nil && id.Match.PersonID == "REAL"
	}
	row.Probe, row.Search, row.Total = timing("probe", probes), timing("search", searches), timing("total", totals)
	return row, nil
}

// backlog mints every student's lunch as the kiosk would, keeps them at the service
// provider's server while its line to the platform is cut, then sends them together.
func (s *benchSchool) backlog(ctx context.Context, p *platform.Platform, users []string, cfg K12KioskConfig, rep *K12KioskReport) error {
	target, _ := url.Parse(p.Server.URL())
	cut := netcut.New(target, tlsTo(p))
	line := httptest.NewServer(cut)
	defer line.Close()
	var v3 merchant.V3Credentials
	v3.MchID, v3.AppID, v3.APIv3Key, v3.MerchantSerialNo = s.sp.MchID, s.sp.AppID, s.sp.APIv3Key, s.sp.MerchantSerialNo
	v3.MerchantKey, v3.PlatformPublicKeyID, v3.PlatformPublicKeyPEM = s.sp.MerchantPrivateKeyPEM, s.sp.PlatformPublicKeyID, s.sp.PlatformPublicKeyPEM
	client, err := merchant.NewV3Client(line.URL, v3, 30*time.Second)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "facepay-bench-sp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	spk, err := merchant.NewK12(merchant.K12Config{Client: client, SubMchID: s.sub.MchID, OrgID: s.org.ID, QueueFile: dir + "/queue.jsonl",
		Retry: time.Hour, Workers: cfg.Workers})
	if err != nil {
		return err
	}
	defer spk.Close()
	id, err := device.NewIdentity()
	if err != nil {
		return err
	}
	raw, _ := device.MakeRawdata(id, time.Now())
	ai, _, err := s.svc.OfflineAuthInfo(ctx, s.caller, k12.OfflineAuthInfoRequest{SPAppID: s.sp.AppID, SubMchID: s.sub.MchID, DeviceID: "CANTEEN",
		RawData: raw, OrgID: s.org.ID})
	if err != nil {
		return err
	}
	cut.Cut(true)
	for _, u := range users {
		c, err := device.MintOfflineCredential(id.Key, device.OfflineClaims{AuthInfo: ai, UserID: u, Amount: 1500, IssuedAt: time.Now().Unix(),
			Nonce: randid.Hex(8)})
		if err != nil {
			return err
		}
		if d, err := spk.Submit(ctx, merchant.Debit{AuthCode: c, UserID: u, Fen: 1500}); err != nil || d.State != merchant.Queued {
			return fmt.Errorf("a lunch during the outage: %+v %v", d, err)
		}
	}
	cut.Cut(false)
	t0 := time.Now()
	left := spk.Flush(ctx)
	rep.BacklogElapsed, rep.Backlog = time.Since(t0), len(users)
	for _, d := range spk.Debits() {
		switch d.State {
		case merchant.Done:
			rep.BacklogDone++
		case merchant.Refused:
			rep.BacklogRefused++
		}
	}
	if left != 0 || rep.BacklogDone != len(users) {
		return fmt.Errorf("after the outage %d debits wait and %d of %d are done", left, rep.BacklogDone, len(users))
	}
	return audited(ctx, p.DB)
}
