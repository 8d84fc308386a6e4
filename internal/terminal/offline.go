package terminal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// The offline SDK's codes beyond the online ones (terminal-sdk.md §8).
const (
	ErrCodeSameTail       = 271378587 // several users with that phone tail look alike
	ErrCodeUserAbnormal   = 271378533 // the user may not pay (disabled, over the advance limit)
	OfflineSDKVersion     = "openfacepay-offline 1.0"
	DefaultSyncInterval   = time.Minute
	offlineAuthInfoLife   = k12.OfflineAuthInfoTTL
	offlineLibraryFile    = "k12-library.sealed"
	maxOfflineTotalFeeFen = 10000_00
)

// OfflineFunctions lists the functions the offline SDK serves.
var OfflineFunctions = []string{"initWxpayface", "getWxpayfaceRawdata", "preloadSdkEnv", "manualUpdateFaceDatas", "clearFaceDatas",
	"getSdkInfo", "setCameraPreview", "startVerify", "stopVerify", "stopCamera", "finishFaceVerify", "getFacePayCredential",
	"releaseWxpayface"}

// OfflineConfig builds an offline SDK: the online Config, the school, and how often
// the face library is pulled.
type OfflineConfig struct {
	Config
	OrgID        string
	SyncInterval time.Duration // DefaultSyncInterval when zero; negative: only on manualUpdateFaceDatas
}

// Offline is the K12 offline face SDK of one kiosk: it recognises a school's users
// against a face library kept on the kiosk (synced from the platform, sealed to the
// device key at rest), and signs offline payment credentials. It needs the platform
// to initialise and to sync, not to recognise or to issue credentials.
type Offline struct {
	cfg   OfflineConfig
	ident device.Identity
	lib   *offlineLibrary

	mu       sync.Mutex
	state    State
	client   *Client
	common   map[string]string // preloadSdkEnv's map: appid, mch_id, sub_mch_id, organization_id, authinfo
	authAt   time.Time         // when the kiosk was given the authinfo it holds
	verified *verification
	cancel   context.CancelFunc
	stopSync context.CancelFunc
}

// verification is the last startVerify's result, which finishFaceVerify settles
// and getFacePayCredential spends.
type verification struct {
	id     face.Identification
	userID string // set once settled
}

// NewOffline loads the device identity and the library kept in cfg.DataDir.
func NewOffline(cfg OfflineConfig) (*Offline, error) {
	if cfg.OrgID == "" {
		return nil, errors.New("an offline kiosk belongs to one organisation: give its organization_id")
	}
	online, err := New(cfg.Config) // the same defaults and identity
	if err != nil {
		return nil, err
	}
	cfg.Config = online.cfg
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	lib, err := openOfflineLibrary(filepath.Join(cfg.DataDir, offlineLibraryFile), online.ident, cfg.OrgID, cfg.Engine)
	if err != nil {
		return nil, err
	}
	return &Offline{cfg: cfg, ident: online.ident, lib: lib, state: Uninit}, nil
}

// State reports the SDK's state.
func (s *Offline) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// SetPrompter sets the kiosk's screen.
func (s *Offline) SetPrompter(p Prompter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Prompter = p
}

// Cancel ends a running startVerify.
func (s *Offline) Cancel() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

// Identity is the kiosk's device identity.
func (s *Offline) Identity() device.Identity { return s.ident }

// LibraryVersion is the version of the face library the kiosk holds, and its size.
func (s *Offline) LibraryVersion() (int64, int) { return s.lib.info() }

// Call runs one offline SDK function with the Android map.
func (s *Offline) Call(ctx context.Context, fn string, p map[string]any) Answer {
	switch fn {
	case "initWxpayface":
		return s.init(ctx)
	case "releaseWxpayface":
		return s.release()
	case "getSdkInfo":
		return s.info()
	}
	if !slices.Contains(OfflineFunctions, fn) {
		return fail("PARAM_ERROR", fmt.Sprintf("unknown function %q of the offline SDK", fn), 0)
	}
	if a := s.ready(); a != nil {
		return a
	}
	switch fn {
	case "getWxpayfaceRawdata":
		return rawdata(s.ident, s.cfg.Now())
	case "preloadSdkEnv":
		if a := s.setCommon(p); a != nil {
			return a
		}
		return ok()
	case "manualUpdateFaceDatas":
		if a := s.setCommon(p); a != nil {
			return a
		}
		n, err := s.Sync(ctx)
		if err != nil {
			return fail("SYSTEMERROR", "the face library could not be updated: "+err.Error(), 0)
		}
		v, size := s.lib.info()
		return ok("face_data_version", v, "user_count", size, "changed", n)
	case "clearFaceDatas":
		if err := s.lib.clear(); err != nil {
			return fail("SYSTEMERROR", err.Error(), 0)
		}
		return ok()
	case "setCameraPreview":
		s.cfg.Camera.Open(true)
		return ok()
	case "stopCamera":
		s.cfg.Camera.Close()
		return ok()
	case "startVerify":
		return s.verify(ctx)
	case "stopVerify":
		s.Cancel()
		return ok()
	case "finishFaceVerify":
		return s.finish(p)
	case "getFacePayCredential":
		return s.credential(p)
	}
	return fail("PARAM_ERROR", "unknown function "+fn, 0)
}

func (s *Offline) ready() Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return readyIn(s.state)
}

// init needs the platform, as the offline SDK does [FAQ 4.2]; then the library is
// pulled in the background at the sync interval.
func (s *Offline) init(ctx context.Context) Answer {
	s.mu.Lock()
	if s.state == Ready || s.state == Recognising {
		s.mu.Unlock()
		return ok()
	}
	s.state = Initialising
	s.mu.Unlock()
	c := (&SDK{cfg: s.cfg.Config, ident: s.ident}).newClient(Proxy{})
	err := c.Health(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.state = Uninit
		return fail("SYSTEMERROR", "the offline face service needs the network to initialise: "+err.Error(), ErrCodeNotInit)
	}
	s.state, s.client = Ready, c
	if s.cfg.SyncInterval > 0 && s.stopSync == nil {
		loop, stop := context.WithCancel(context.Background())
		s.stopSync = stop
		go s.syncLoop(loop)
	}
	return ok()
}

func (s *Offline) release() Answer {
	s.Cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopSync != nil {
		s.stopSync()
		s.stopSync = nil
	}
	s.state, s.client = Released, nil
	s.cfg.Camera.Close()
	return ok()
}

func (s *Offline) info() Answer {
	v, n := s.lib.info()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := ok("sdk_version", OfflineSDKVersion, "organization_id", s.cfg.OrgID, "face_data_version", v, "user_count", n,
		"model", s.cfg.Engine.Model(), "state", string(s.state))
	if !s.authAt.IsZero() {
		a["authinfo_valid_until"] = s.authAt.Add(offlineAuthInfoLife).Format(time.RFC3339)
	}
	return a
}

// setCommon keeps the common map; a new authinfo replaces the old one.
func (s *Offline) setCommon(p map[string]any) Answer {
	v, err := params(p, []string{"appid", "mch_id", "organization_id"}, "sub_mch_id", "authinfo")
	if err != nil {
		return fail("PARAM_ERROR", err.Error(), 0)
	}
	if v["organization_id"] != s.cfg.OrgID {
		return fail("PARAM_ERROR", "this kiosk serves organisation "+s.cfg.OrgID+", not "+v["organization_id"], 0)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v["authinfo"] == "" && s.common != nil {
		v["authinfo"] = s.common["authinfo"]
	} else if v["authinfo"] != "" && (s.common == nil || v["authinfo"] != s.common["authinfo"]) {
		s.authAt = s.cfg.Now()
	}
	s.common = v
	return nil
}

// authinfo is the held authinfo while it is valid (36 hours from when the kiosk got it).
func (s *Offline) authinfo() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.common == nil || s.common["authinfo"] == "" {
		return "", errors.New("no authinfo: pass it in preloadSdkEnv or manualUpdateFaceDatas")
	}
	if !s.cfg.Now().Before(s.authAt.Add(offlineAuthInfoLife)) {
		return "", errors.New("the authinfo is older than 36 hours: get a new one from offlineface/authinfo")
	}
	return s.common["authinfo"], nil
}

// Sync pulls what changed in the school's library since the version held and
// applies it; it answers how many users changed.
func (s *Offline) Sync(ctx context.Context) (int, error) {
	ai, err := s.authinfo()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return 0, errors.New("the face service is not initialised")
	}
	since, _ := s.lib.info()
	pages, err := c.OfflineSync(ctx, ai, s.cfg.OrgID, since, 0)
	if err != nil {
		return 0, err
	}
	return s.lib.apply(ctx, pages)
}

func (s *Offline) syncLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		if _, err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("face library sync", "err", err) // offline: keep recognising with what is held
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// verify is startVerify: look for a face in the camera and match it against the
// kiosk's library, until a face, stopVerify or the camera's no-match limit.
func (s *Offline) verify(ctx context.Context) Answer {
	rctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.state == Recognising {
		s.mu.Unlock()
		cancel()
		return fail("SYSTEMERROR", "a verification is already running: wait for it or call stopVerify", 0)
	}
	s.state, s.cancel, s.verified = Recognising, cancel, nil
	s.mu.Unlock()
	defer func() {
		cancel()
		s.mu.Lock()
		if s.state == Recognising {
			s.state = Ready
		}
		s.cancel = nil
		s.mu.Unlock()
		s.cfg.Camera.EndRecognition()
	}()
	s.cfg.Camera.Open(true)
	s.cfg.Camera.StartRecognition()
	first := true
	for {
		a := s.attempt(rctx, &first)
		if rctx.Err() != nil && ctx.Err() == nil {
			return restartable(fail("SYSTEMERROR", "verification stopped (stopVerify)", 0), false)
		}
		if c, _ := a["err_code"].(int); a["return_code"] == "SUCCESS" || c != ErrCodeNoFace || rctx.Err() != nil {
			a["callbacks"] = []Answer{{"return_code": "FIRST_FRAME_CALLBACK", "return_msg": "first frame"}}
			return a
		}
	}
}

func restartable(a Answer, restart bool) Answer {
	a["need_restart_verify"] = restart
	return a
}

func (s *Offline) attempt(ctx context.Context, first *bool) Answer {
	ch := engine.NewChallenge(s.cfg.Rand)
	if s.cfg.Liveness {
		s.step(Step{Kind: "challenge", Text: challengeText(ch), Challenge: string(ch)})
	} else {
		s.step(Step{Kind: "look", Text: "Look at the camera", Warning: LivenessOffWarning})
	}
	frames, err := (&SDK{cfg: s.cfg.Config}).frames(ctx)
	switch {
	case errors.Is(err, context.Canceled):
		return fail("SYSTEMERROR", "verification stopped", 0)
	case errors.Is(err, ErrNoMatch):
		s.step(Step{Kind: "failure", Text: "Time is up"})
		return restartable(fail("ERROR", err.Error(), ErrCodeNoUser), true)
	case err != nil:
		return restartable(fail("SYSTEMERROR", err.Error(), 0), true)
	}
	*first = false
	var probe engine.Face
	for _, f := range frames {
		if probe, err = s.cfg.Engine.Probe(f); err == nil {
			break
		}
	}
	if err != nil {
		return restartable(fail("ERROR", "no face recognised: "+err.Error(), ErrCodeNoFace), true)
	}
	s.cfg.Camera.SawFace()
	if s.cfg.Liveness {
		r, err := s.cfg.Engine.Liveness(ch, frames, engine.DefaultLiveness)
		if err != nil {
			return restartable(fail("SYSTEMERROR", err.Error(), 0), true)
		}
		if !r.Passed {
			s.step(Step{Kind: "failure", Text: "The liveness check did not pass: " + r.Reason})
			return restartable(fail("ERROR", "the liveness check did not pass: "+r.Reason, ErrCodeRiskControl), true)
		}
	}
	id, err := s.lib.identify(ctx, probe.Embedding, face.Rule{Threshold: s.cfg.Engine.Pack.Threshold, Margin: s.cfg.Engine.Pack.Margin})
	if err != nil {
		return restartable(fail("SYSTEMERROR", err.Error(), 0), true)
	}
	if id.Match == nil && !id.NeedExtVerify {
		s.step(Step{Kind: "failure", Text: "Not recognised"})
		return restartable(fail("ERROR", "no matching user information", ErrCodeNoUser), true)
	}
	if id.Match != nil {
		if e, _ := s.lib.entry(id.Match.PersonID); e.Status != k12.StatusNormal {
			s.step(Step{Kind: "failure", Text: "This student may not pay by face: ask at the school office"})
			return restartable(fail("ERROR", "user status abnormal: the user may not pay", ErrCodeUserAbnormal), false)
		}
	}
	s.mu.Lock()
	s.verified = &verification{id: id}
	s.mu.Unlock()
	s.cfg.Camera.EndRecognition()
	b := probe.Box
	return ok("need_ext_verify", id.NeedExtVerify, "best_face_rect_left", float64(b.X1), "best_face_rect_top", float64(b.Y1),
		"best_face_rect_right", float64(b.X2), "best_face_rect_bottom", float64(b.Y2))
}

func (s *Offline) step(st Step) {
	s.mu.Lock()
	p := s.cfg.Prompter
	s.mu.Unlock()
	if p != nil {
		p.Step(st)
	}
}

// finish is finishFaceVerify: the verified user, after the phone tail when the face
// looked like several users.
func (s *Offline) finish(p map[string]any) Answer {
	v, err := params(p, nil, "appid", "mch_id", "sub_mch_id", "organization_id", "authinfo", "user_phone")
	if err != nil {
		return fail("PARAM_ERROR", err.Error(), 0)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified == nil {
		return fail("PARAM_ERROR", "no verified face: call startVerify first", 0)
	}
	c, err := face.ResolveByTail(s.verified.id, tailOf(v["user_phone"]))
	var fe *face.Error
	if errors.As(err, &fe) {
		s.verified = nil
		return fail("ERROR", fe.Msg, fe.Code)
	}
	e, ok := s.lib.entry(c.PersonID)
	if !ok {
		return fail("ERROR", "no matching user information", ErrCodeNoUser)
	}
	if e.Status != k12.StatusNormal {
		s.verified = nil
		return fail("ERROR", "user status abnormal: the user may not pay", ErrCodeUserAbnormal)
	}
	s.verified.userID = e.UserID
	return Answer{"return_code": "SUCCESS", "return_msg": "OK",
		"user_info": map[string]string{"user_id": e.UserID, "out_user_id": e.OutUserID, "user_name": ""}}
}

func tailOf(phone string) string {
	if len(phone) < 4 {
		return phone
	}
	return phone[len(phone)-4:]
}

// credential is getFacePayCredential: the offline payment credential of the user
// this verification settled on, for the amount, once.
func (s *Offline) credential(p map[string]any) Answer {
	v, err := params(p, []string{"user_id", "total_fee"}, "appid", "mch_id", "sub_mch_id", "organization_id", "authinfo", "recog_mode")
	if err != nil {
		return fail("PARAM_ERROR", err.Error(), 0)
	}
	fee, err := strconv.ParseInt(v["total_fee"], 10, 64)
	if err != nil || fee <= 0 || fee > maxOfflineTotalFeeFen {
		return fail("PARAM_ERROR", "total_fee must be a positive whole number of fen", 0)
	}
	ai, err := s.authinfo()
	if err != nil {
		return fail("FACEPAY_NOT_AUTH", err.Error(), 0)
	}
	s.mu.Lock()
	ver := s.verified
	s.verified = nil // one verification, one credential
	s.mu.Unlock()
	if ver == nil || ver.userID == "" || ver.userID != v["user_id"] {
		return fail("PARAM_ERROR", "user_id is not the user finishFaceVerify confirmed: verify the face again", 0)
	}
	token, err := device.MintOfflineCredential(s.ident.Key, device.OfflineClaims{AuthInfo: ai, UserID: ver.userID, Amount: fee,
		IssuedAt: s.cfg.Now().Unix(), Nonce: randid.Hex(8)})
	if err != nil {
		return fail("SYSTEMERROR", err.Error(), 0)
	}
	s.step(Step{Kind: "success", Text: "Recognised: paying " + yuan(v["total_fee"]), TotalFee: v["total_fee"]})
	return ok("face_token", token)
}

// offlineLibrary is the school's library on the kiosk: an in-memory index for
// recognition, and the entries sealed to the device key in one file, so it survives
// a restart and nobody without the key reads it.
type offlineLibrary struct {
	path  string
	ident device.Identity
	org   string
	model string
	dim   int

	mu      sync.RWMutex
	version int64
	entries map[string]k12.LibraryEntry
	libs    *face.Libraries
}

type libraryFile struct {
	Version int64              `json:"version"`
	Org     string             `json:"organization_id"`
	Model   string             `json:"model"`
	Entries []k12.LibraryEntry `json:"entries"`
}

const offlineLib = "offline"

func openOfflineLibrary(path string, ident device.Identity, org string, e *engine.Engine) (*offlineLibrary, error) {
	l := &offlineLibrary{path: path, ident: ident, org: org, model: e.Model(), dim: e.Dim()}
	l.reset()
	sealed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	plain, err := device.OpenOnDevice(ident.Key, string(sealed), termwire.LibraryAAD(org))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (another kiosk's or another school's library?)", path, err)
	}
	var f libraryFile
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Model != l.model {
		return l, nil // another model's templates are of no use: sync anew
	}
	for _, en := range f.Entries {
		if err := l.put(context.Background(), en); err != nil {
			return nil, err
		}
	}
	l.version = f.Version
	return l, nil
}

func (l *offlineLibrary) reset() {
	l.version, l.entries = 0, map[string]k12.LibraryEntry{}
	l.libs = face.NewLibraries(face.NewMemoryStore(), l.dim).ForModel(l.model)
}

func (l *offlineLibrary) put(ctx context.Context, e k12.LibraryEntry) error {
	l.entries[e.UserID] = e
	return l.libs.Enrol(ctx, face.Enrolment{Library: offlineLib, PersonID: e.UserID, PhoneTail: e.PhoneTail, Vectors: e.Templates})
}

func (l *offlineLibrary) info() (int64, int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.version, len(l.entries)
}

func (l *offlineLibrary) entry(userID string) (k12.LibraryEntry, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.entries[userID]
	return e, ok
}

func (l *offlineLibrary) identify(ctx context.Context, probe []float32, r face.Rule) (face.Identification, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.entries) == 0 {
		return face.Identification{}, nil
	}
	return l.libs.Identify(ctx, offlineLib, probe, r)
}

// apply applies sync pages in order and keeps the result; it answers how many users changed.
func (l *offlineLibrary) apply(ctx context.Context, pages []k12.LibraryDelta) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range pages {
		if p.Model != l.model {
			return n, fmt.Errorf("the school's library is of model %s and this kiosk embeds with %s: run the same pack", p.Model, l.model)
		}
		if p.Full {
			l.reset()
		}
		for _, e := range p.Upserts {
			if err := l.put(ctx, e); err != nil {
				return n, err
			}
			n++
		}
		for _, id := range p.Removes {
			if _, ok := l.entries[id]; ok {
				delete(l.entries, id)
				if _, err := l.libs.Delete(ctx, offlineLib, id); err != nil {
					return n, err
				}
				n++
			}
		}
		l.version = p.Version
	}
	return n, l.save()
}

func (l *offlineLibrary) clear() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reset()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// save writes the library sealed to the kiosk's own key, atomically.
func (l *offlineLibrary) save() error {
	f := libraryFile{Version: l.version, Org: l.org, Model: l.model}
	for _, e := range l.entries {
		f.Entries = append(f.Entries, e)
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return err
	}
	sealed, err := device.SealToDevice(device.Rawdata{PublicKey: &l.ident.Key.PublicKey}.KeyHex(), plain, termwire.LibraryAAD(l.org))
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(sealed), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}
