package terminal

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// State is where a kiosk's face service is in its life.
type State string

// The states of the SDK (terminal-sdk.md §6).
const (
	Uninit       State = "not_initialised"
	Initialising State = "initialising"
	Ready        State = "ready"
	Recognising  State = "recognising"
	Released     State = "released"
)

// The SDK's second-level codes of the call-order rules.
const (
	ErrCodeNotInit      = 271378620 // call initWxpayface
	ErrCodeInitialising = 271378621 // wait about 500 ms, then call initWxpayface again
	ErrCodeNoFace       = 271378526 // no face recognised (restartable)
	ErrCodeRiskControl  = 271378527 // here: the liveness check did not pass
	ErrCodeNoUser       = 271378595 // no matching user information
)

// Answer is the SDK's callback map: return_code, return_msg, optional err_code and
// the function's fields.
type Answer map[string]any

func ok(fields ...any) Answer {
	a := Answer{"return_code": "SUCCESS", "return_msg": "OK"}
	for i := 0; i+1 < len(fields); i += 2 {
		a[fields[i].(string)] = fields[i+1]
	}
	return a
}

func fail(code, msg string, errCode int) Answer {
	a := Answer{"return_code": code, "return_msg": msg}
	if errCode != 0 {
		a["err_code"] = errCode
	}
	return a
}

// Prompter is the kiosk's screen: what the SDK asks the person. A headless kiosk
// answers from the call's parameters or not at all.
type Prompter interface {
	// Step shows a step of the flow ("look at the camera", a liveness challenge,
	// the amount, success or failure).
	Step(s Step)
	// PhoneTail asks for the last 4 digits of the phone number; ok is false when the
	// person cancelled or did not answer in time.
	PhoneTail(ctx context.Context) (tail string, ok bool)
}

// Step is one prompt of the kiosk page.
type Step struct {
	Kind      string `json:"kind"` // idle, look, challenge, amount, phone, success, failure, member
	Text      string `json:"text"`
	Challenge string `json:"challenge,omitempty"`
	TotalFee  string `json:"total_fee,omitempty"`
	Warning   string `json:"warning,omitempty"`
}

// Config builds an SDK.
type Config struct {
	DataDir  string // the device key is kept here
	Platform string // the platform's base URL
	CAPool   *x509.CertPool
	Engine   *engine.Engine
	Camera   *Camera
	Clock    clock.Clock      // camera protection and the member session
	Now      func() time.Time // real time, for request signatures
	// Liveness runs the active check before every recognition. Off only for
	// emulated cameras: a still picture can never pass it.
	Liveness bool
	Frames   int // frames per recognition attempt; 12 when zero
	Prompter Prompter
	Logger   *slog.Logger
	Rand     *rand.Rand
}

// Service is a face SDK a kiosk agent serves: the online build (SDK) or the K12
// offline build (Offline), which share no functions but the call-order rules.
type Service interface {
	// Call runs one function with the Android map and answers the callback's map.
	Call(ctx context.Context, fn string, p map[string]any) Answer
	// Cancel ends a running recognition (the person's cancel).
	Cancel()
	State() State
	SetPrompter(p Prompter)
	Identity() device.Identity
}

var (
	_ Service = (*SDK)(nil)
	_ Service = (*Offline)(nil)
)

// SDK is one kiosk's face service: the state machine and every online function.
type SDK struct {
	cfg    Config
	ident  device.Identity
	mu     sync.Mutex
	state  State
	client *Client
	proxy  Proxy
	mode   string
	cancel context.CancelFunc // of the running recognition (stopWxpayface, USER_CANCEL)
	tokens map[string]string  // openid → token of the last getWxpayfaceUserInfo
}

// New loads (or creates) the device identity in cfg.DataDir and returns an SDK
// that is not initialised.
func New(cfg Config) (*SDK, error) {
	if cfg.Frames == 0 {
		cfg.Frames = 12
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	id, err := LoadIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &SDK{cfg: cfg, ident: id, state: Uninit, tokens: map[string]string{}}, nil
}

// State reports the SDK's state.
func (s *SDK) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Functions lists the functions Call serves.
var Functions = []string{"initWxpayface", "getWxpayfaceRawdata", "getWxpayfaceUserInfo", "activateWxpayfaceMember",
	"getWxpayfaceCode", "updateWxpayfacePayResult", "stopWxpayface", "releaseWxpayface",
	"openCamera", "closeCamera", "openCameraWithoutPreview", "openCameraWithPreview"}

// Call runs one SDK function with the Android map and answers the callback map.
// An unknown function, a call out of order or bad parameters get the SDK's own
// error shape and change nothing.
func (s *SDK) Call(ctx context.Context, fn string, p map[string]any) Answer {
	switch fn {
	case "initWxpayface":
		return s.init(ctx, p)
	case "releaseWxpayface":
		return s.release()
	}
	if !slices.Contains(Functions, fn) {
		return fail("PARAM_ERROR", fmt.Sprintf("unknown function %q; one of %s", fn, strings.Join(Functions, ", ")), 0)
	}
	if a := s.ready(); a != nil {
		return a
	}
	switch fn {
	case "getWxpayfaceRawdata":
		return rawdata(s.ident, s.cfg.Now())
	case "getWxpayfaceUserInfo":
		return s.recognise(ctx, p, termwire.PurposeUserInfo)
	case "getWxpayfaceCode":
		return s.recognise(ctx, p, termwire.PurposePay)
	case "activateWxpayfaceMember":
		return s.member(ctx, p)
	case "updateWxpayfacePayResult":
		return s.payResult(p)
	case "stopWxpayface":
		s.stop()
		return ok()
	case "openCamera", "openCameraWithPreview":
		s.cfg.Camera.Open(true)
		return ok()
	case "openCameraWithoutPreview":
		s.cfg.Camera.Open(false)
		return ok()
	case "closeCamera":
		s.cfg.Camera.Close()
		return ok()
	}
	return fail("PARAM_ERROR", "unknown function "+fn, 0)
}

// ready answers the call-order codes when the service is not ready.
func (s *SDK) ready() Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return readyIn(s.state)
}

// rawdata is getWxpayfaceRawdata's answer, the same in both builds.
func rawdata(id device.Identity, now time.Time) Answer {
	raw, err := device.MakeRawdata(id, now)
	if err != nil {
		return fail("SYSTEMERROR", err.Error(), 0)
	}
	return ok("rawdata", raw)
}

// readyIn is the call-order answer of a state: nil when functions may run.
func readyIn(st State) Answer {
	switch st {
	case Ready, Recognising:
		return nil
	case Initialising:
		return fail("FAIL", "刷脸服务初始化中: the face service is initialising; call initWxpayface again in about 500 ms", ErrCodeInitialising)
	}
	return fail("FAIL", "刷脸服务未初始化: the face service is not initialised; call initWxpayface", ErrCodeNotInit)
}

func (s *SDK) init(ctx context.Context, p map[string]any) Answer {
	px, mode, err := parseInit(p)
	if err != nil {
		return fail("PARAM_ERROR", err.Error(), 0)
	}
	s.mu.Lock()
	switch s.state {
	case Initialising:
		s.mu.Unlock()
		return fail("FAIL", "刷脸服务初始化中: the face service is initialising; call initWxpayface again in about 500 ms", ErrCodeInitialising)
	case Ready, Recognising:
		// SDK ≥ 2.13 applies new proxy settings to a connected service.
		s.proxy, s.mode = px, mode
		s.client = s.newClient(px)
		s.mu.Unlock()
		return ok()
	}
	s.state = Initialising
	s.mu.Unlock()
	c := s.newClient(px)
	err = c.Health(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.state = Uninit
		return fail("SYSTEMERROR", "the face service cannot reach the platform: "+err.Error(), ErrCodeNotInit)
	}
	s.state, s.client, s.proxy, s.mode = Ready, c, px, mode
	return ok()
}

func (s *SDK) newClient(px Proxy) *Client {
	return &Client{Base: s.cfg.Platform, HTTP: &http.Client{Timeout: 15 * time.Second, Transport: px.Transport(s.cfg.CAPool)},
		Identity: s.ident, Now: s.cfg.Now}
}

func (s *SDK) release() Answer {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.client = Released, nil
	s.cfg.Camera.Close()
	return ok()
}

func (s *SDK) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

// Cancel is the person pressing cancel on the kiosk page: the running
// getWxpayfaceCode answers USER_CANCEL.
func (s *SDK) Cancel() { s.stop() }

// str reads a string parameter; numbers are accepted as their decimal text, as the
// Android map may carry either.
func str(p map[string]any, key string) (string, error) {
	v, ok := p[key]
	if !ok || v == nil {
		return "", nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10), nil
		}
	case int:
		return strconv.Itoa(x), nil
	case bool:
		return "", fmt.Errorf("%s must be a string, not a boolean", key)
	}
	return "", fmt.Errorf("%s must be a string", key)
}

// params reads the string parameters of a call, required ones first.
func params(p map[string]any, required []string, optional ...string) (map[string]string, error) {
	out := map[string]string{}
	for i, k := range append(append([]string{}, required...), optional...) {
		v, err := str(p, k)
		if err != nil {
			return nil, err
		}
		if i < len(required) && v == "" {
			return nil, fmt.Errorf("%s is required", k)
		}
		out[k] = v
	}
	return out, nil
}

var errCancelled = errors.New("cancelled")

// recognise runs one getWxpayfaceCode or getWxpayfaceUserInfo: camera, liveness,
// template, the platform, and the phone tail when the platform asks for it.
func (s *SDK) recognise(ctx context.Context, p map[string]any, purpose string) Answer {
	req := []string{"appid", "mch_id", "store_id", "face_authtype", "authinfo"}
	opt := []string{"sub_appid", "sub_mch_id", "ask_unionid", "screen_index", "overlay_option"}
	if purpose == termwire.PurposePay {
		opt = append(opt, "out_trade_no", "total_fee", "telephone", "openid", "face_code_type", "ask_face_permit",
			"ask_ret_page", "ignore_update_pay_result")
	}
	v, err := params(p, req, opt...)
	if err != nil {
		return fail("PARAM_ERROR", err.Error(), 0)
	}
	loop := false
	switch {
	case purpose == termwire.PurposePay && v["face_authtype"] != "FACEPAY":
		return fail("PARAM_ERROR", "face_authtype must be FACEPAY for getWxpayfaceCode", 0)
	case purpose == termwire.PurposeUserInfo && v["face_authtype"] == "FACEID-LOOP":
		loop = true
	case purpose == termwire.PurposeUserInfo && v["face_authtype"] != "FACEID-ONCE":
		return fail("PARAM_ERROR", "face_authtype must be FACEID-ONCE or FACEID-LOOP for getWxpayfaceUserInfo", 0)
	}
	if purpose == termwire.PurposePay {
		if v["face_code_type"] != "1" && (v["out_trade_no"] == "" || v["total_fee"] == "") {
			return fail("PARAM_ERROR", "out_trade_no and total_fee are required unless face_code_type is 1", 0)
		}
		if v["total_fee"] != "" {
			if n, err := strconv.ParseInt(v["total_fee"], 10, 64); err != nil || n <= 0 {
				return fail("PARAM_ERROR", "total_fee must be a positive whole number of fen", 0)
			}
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.state == Recognising {
		s.mu.Unlock()
		cancel()
		return fail("SYSTEMERROR", "a recognition is already running: wait for it or call stopWxpayface", 0)
	}
	s.state, s.cancel = Recognising, cancel
	client := s.client
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
	if purpose == termwire.PurposePay {
		s.step(Step{Kind: "amount", Text: "Pay " + yuan(v["total_fee"]), TotalFee: v["total_fee"]})
	}
	s.cfg.Camera.Open(true)
	s.cfg.Camera.StartRecognition()
	for {
		a := s.attempt(rctx, client, v, purpose)
		if a["return_code"] == "SUCCESS" {
			return a
		}
		if rctx.Err() != nil && ctx.Err() == nil { // stopWxpayface or the person's cancel
			return s.cancelled(purpose)
		}
		if rctx.Err() != nil {
			return a
		}
		// No face yet (someone still walking up, a camera still adjusting) keeps
		// looking until a face, a cancel or the camera's no-match limit; FACEID-LOOP
		// also keeps looking past a face that matches nobody.
		c, _ := a["err_code"].(int)
		if c != ErrCodeNoFace && !(loop && c == ErrCodeNoUser) {
			return a
		}
	}
}

// attempt is one pass: frames, liveness, template, identification.
func (s *SDK) attempt(ctx context.Context, client *Client, v map[string]string, purpose string) Answer {
	userCancel := func() Answer { return s.cancelled(purpose) }
	ch := engine.NewChallenge(s.cfg.Rand)
	if s.cfg.Liveness {
		s.step(Step{Kind: "challenge", Text: challengeText(ch), Challenge: string(ch)})
	} else {
		s.step(Step{Kind: "look", Text: "Look at the camera", Warning: LivenessOffWarning})
	}
	frames, err := s.frames(ctx)
	switch {
	case errors.Is(err, context.Canceled):
		return userCancel()
	case errors.Is(err, ErrNoMatch):
		s.step(Step{Kind: "failure", Text: "Time is up"})
		return fail("ERROR", err.Error(), ErrCodeNoUser)
	case err != nil:
		s.step(Step{Kind: "failure", Text: "The camera is not available"})
		return fail("SYSTEMERROR", err.Error(), 0)
	}
	var probe engine.Face
	for _, f := range frames { // the first frame with a usable face
		if probe, err = s.cfg.Engine.Probe(f); err == nil {
			break
		}
	}
	if err != nil {
		return fail("ERROR", "no face recognised: "+err.Error(), ErrCodeNoFace)
	}
	s.cfg.Camera.SawFace()
	live := &termwire.Liveness{Challenge: string(ch), Off: !s.cfg.Liveness, Frames: len(frames)}
	if s.cfg.Liveness {
		r, err := s.cfg.Engine.Liveness(ch, frames, engine.DefaultLiveness)
		if err != nil {
			return fail("SYSTEMERROR", err.Error(), 0)
		}
		if !r.Passed {
			s.step(Step{Kind: "failure", Text: "The liveness check did not pass: " + r.Reason})
			return fail("ERROR", "the liveness check did not pass: "+r.Reason, ErrCodeRiskControl)
		}
		live.Passed = true
	}
	req := termwire.IdentifyRequest{AuthInfo: v["authinfo"], Purpose: purpose, Model: s.cfg.Engine.Model(),
		Template: termwire.EncodeTemplate(probe.Embedding), Liveness: live, OutTradeNo: v["out_trade_no"],
		TotalFee: v["total_fee"], AskUnionID: v["ask_unionid"] == "1", FaceCodeType: v["face_code_type"]}
	r, err := client.Identify(ctx, req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return userCancel()
		}
		return fail("SYSTEMERROR", err.Error(), 0)
	}
	if r.ReturnCode == "SUCCESS" && r.NeedPhone {
		tail := ""
		if t := v["telephone"]; len(t) >= 4 {
			tail = t[len(t)-4:]
		} else if p := s.prompter(); p != nil {
			s.step(Step{Kind: "phone", Text: "Enter the last 4 digits of your phone number"})
			var ok bool
			if tail, ok = p.PhoneTail(ctx); !ok {
				return userCancel()
			}
		}
		if tail == "" {
			return fail("ERROR", "several people look alike and no phone number was given", ErrCodeNoUser)
		}
		req.PhoneTail = tail
		if r, err = client.Identify(ctx, req); err != nil {
			return fail("SYSTEMERROR", err.Error(), 0)
		}
	}
	if r.ReturnCode != "SUCCESS" {
		s.step(Step{Kind: "failure", Text: r.ReturnMsg})
		return fail(r.ReturnCode, r.ReturnMsg, r.ErrCode)
	}
	s.cfg.Camera.EndRecognition()
	if purpose == termwire.PurposePay {
		s.step(Step{Kind: "success", Text: "Recognised: paying " + yuan(v["total_fee"])})
		return ok("face_code", r.FaceCode, "openid", r.OpenID, "sub_openid", r.SubOpenID,
			"telephone_used", r.TelephoneUsed, "underage_state", r.UnderageState)
	}
	s.mu.Lock()
	s.tokens[r.OpenID] = r.Token
	s.mu.Unlock()
	s.step(Step{Kind: "member", Text: "Welcome"})
	a := ok("openid", r.OpenID, "sub_openid", r.SubOpenID, "nickname", r.Nickname)
	if v["ask_unionid"] == "1" {
		a["token"], a["unionid_code"], a["unionid_msg"] = r.Token, r.UnionIDCode, r.UnionIDMsg
	}
	return a
}

// cancelled answers a recognition ended by the person (getWxpayfaceCode's
// USER_CANCEL) or by stopWxpayface.
func (s *SDK) cancelled(purpose string) Answer {
	if purpose == termwire.PurposePay {
		s.step(Step{Kind: "failure", Text: "Cancelled"})
		return fail("USER_CANCEL", "the person cancelled", 0)
	}
	s.step(Step{Kind: "idle", Text: "Welcome"})
	return fail("SYSTEMERROR", "recognition stopped (stopWxpayface)", 0)
}

// LivenessOffWarning is shown at start and on the page when liveness is off.
const LivenessOffWarning = "LIVENESS IS OFF: this kiosk accepts a still picture as a face. Only for emulated cameras in tests and demos."

func challengeText(c engine.Challenge) string {
	switch c {
	case engine.TurnLeft:
		return "Turn your head to your left, then look back"
	case engine.TurnRight:
		return "Turn your head to your right, then look back"
	}
	return "Nod your head down, then look back"
}

func yuan(fen string) string {
	n, err := strconv.ParseInt(fen, 10, 64)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("¥%d.%02d", n/100, n%100)
}

// frames reads a recognition attempt's frames.
func (s *SDK) frames(ctx context.Context) ([]*vision.Image, error) {
	out := make([]*vision.Image, 0, s.cfg.Frames)
	for len(out) < s.cfg.Frames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := s.cfg.Camera.Frame(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (s *SDK) step(st Step) {
	if p := s.prompter(); p != nil {
		p.Step(st)
	}
}

func (s *SDK) prompter() Prompter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Prompter
}

func (s *SDK) member(ctx context.Context, p map[string]any) Answer {
	v, err := params(p, nil, "appid", "mch_id", "store_id", "authinfo", "openid")
	if err != nil || v["appid"] == "" || v["mch_id"] == "" || v["store_id"] == "" || v["authinfo"] == "" || v["openid"] == "" {
		return fail("PARAMS_INVALID", "appid, mch_id, store_id, authinfo and openid are required", 0)
	}
	s.mu.Lock()
	token, client := s.tokens[v["openid"]], s.client
	s.mu.Unlock()
	r, err := client.Member(ctx, termwire.MemberRequest{AuthInfo: v["authinfo"], StoreID: v["store_id"], OpenID: v["openid"], Token: token})
	if err != nil {
		return fail("GET_MEMBER_INFO_FAIL_ERROR", err.Error(), 0)
	}
	if r.ReturnCode != "SUCCESS" {
		return fail(r.ReturnCode, r.ReturnMsg, r.ErrCode)
	}
	s.step(Step{Kind: "member", Text: "Member card " + r.MemberNo + " opened"})
	return ok("card_id", r.CardID, "member_no", r.MemberNo)
}

func (s *SDK) payResult(p map[string]any) Answer {
	v, err := params(p, []string{"appid", "mch_id", "store_id", "authinfo", "payresult"})
	if err != nil {
		return fail("PARAM_ERROR", err.Error(), 0)
	}
	switch v["payresult"] {
	case "SUCCESS":
		s.step(Step{Kind: "success", Text: "Paid"})
	case "ERROR":
		s.step(Step{Kind: "failure", Text: "The payment did not go through"})
	default:
		return fail("PARAM_ERROR", "payresult must be SUCCESS or ERROR", 0)
	}
	return ok()
}

// SetPrompter sets the kiosk's screen (the agent that serves the SDK is also the
// screen, so it exists only after the SDK).
func (s *SDK) SetPrompter(p Prompter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Prompter = p
}

// Identity is the device identity (for benchmarks that call the terminal API
// beside the SDK).
func (s *SDK) Identity() device.Identity { return s.ident }
