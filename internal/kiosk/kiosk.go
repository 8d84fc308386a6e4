// Package kiosk is the kiosk agent: it serves one device's face SDK (internal/
// terminal) to the kiosk's app on 127.0.0.1, in the two shapes integrators know —
// the Android SDK's map (POST /wxpayface/{function}) and the APICloud wxFacePay
// module (POST /wxFacePay/{method}, and GET /wxFacePay.js so the module's sample
// code runs in a browser) — plus the kiosk's own controls (PUT /kiosk/camera,
// cancel, the phone-tail prompt, the page's state) and the kiosk page at /.
package kiosk

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

// Config builds an Agent.
type Config struct {
	SDK      terminal.Service // the online SDK, or the K12 offline one
	Camera   *terminal.Camera
	Still    *terminal.Still // the picture PUT /kiosk/camera sets; nil when the camera is real
	Page     *PageCamera     // frames the kiosk page posts to /kiosk/frame; nil otherwise
	Liveness bool
	Logger   *slog.Logger
	// PhoneWait is how long the phone-tail prompt waits for the person.
	PhoneWait time.Duration
}

// Agent is the kiosk's local HTTP API.
type Agent struct {
	cfg Config
	mux *http.ServeMux

	mu    sync.Mutex
	step  terminal.Step
	seq   int
	phone chan string // a pending phone-tail prompt
}

// New returns the agent; it is also the SDK's Prompter (pass it as Config.Prompter
// of the SDK through SetPrompter before serving).
func New(cfg Config) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PhoneWait == 0 {
		cfg.PhoneWait = time.Minute
	}
	a := &Agent{cfg: cfg, mux: http.NewServeMux(), step: terminal.Step{Kind: "idle", Text: "Welcome"}}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	a.mux.HandleFunc("POST /wxpayface/{function}", a.native)
	a.mux.HandleFunc("POST /wxFacePay/{method}", a.apicloud)
	a.mux.HandleFunc("GET /wxFacePay.js", a.script)
	a.mux.HandleFunc("PUT /kiosk/camera", a.camera)
	a.mux.HandleFunc("POST /kiosk/frame", a.frame)
	a.mux.HandleFunc("POST /kiosk/cancel", a.cancel)
	a.mux.HandleFunc("POST /kiosk/phone", a.phoneTail)
	a.mux.HandleFunc("GET /kiosk/state", a.state)
	a.mux.HandleFunc("GET /{$}", a.page)
	return a
}

func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxParams bounds a call's JSON.
const maxParams = 64 << 10

func readParams(r *http.Request) (map[string]any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxParams))
	if err != nil {
		return nil, fmt.Errorf("the parameters are larger than %d bytes", maxParams)
	}
	p := map[string]any{}
	if len(body) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errors.New("the parameters are not a JSON object")
	}
	return p, nil
}

// native serves the Android SDK's map: the answer is the callback's map.
func (a *Agent) native(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r)
	if err != nil {
		writeJSON(w, http.StatusOK, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, a.call(r.Context(), r.PathValue("function"), p))
}

func (a *Agent) call(ctx context.Context, fn string, p map[string]any) terminal.Answer {
	ans := a.cfg.SDK.Call(ctx, fn, p)
	a.cfg.Logger.Info("sdk call", "function", fn, "return_code", ans["return_code"], "err_code", ans["err_code"])
	return ans
}

// apicloud serves the wxFacePay module's shape: {"status":true, fields…} or
// {"status":false,"err":{"errorCode","msg"}}. errorCode is the native err_code as
// a string when there is one, the native return_code otherwise, so the member
// errors (which the native map carries in return_code) arrive as themselves.
func (a *Agent) apicloud(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": false, "err": map[string]string{"errorCode": "PARAM_ERROR", "msg": err.Error()}})
		return
	}
	writeJSON(w, http.StatusOK, APICloud(a.call(r.Context(), r.PathValue("method"), p)))
}

// APICloud turns a native answer into the module's callback arguments.
func APICloud(ans terminal.Answer) map[string]any {
	if ans["return_code"] == "SUCCESS" {
		out := map[string]any{"status": true}
		for k, v := range ans {
			if k != "return_code" && k != "return_msg" && k != "err_code" {
				out[k] = v
			}
		}
		return out
	}
	code, _ := ans["return_code"].(string)
	if ec, ok := ans["err_code"].(int); ok && ec != 0 {
		code = strconv.Itoa(ec)
	}
	msg, _ := ans["return_msg"].(string)
	return map[string]any{"status": false, "err": map[string]string{"errorCode": code, "msg": msg}}
}

//go:embed wxFacePay.js
var moduleJS []byte

func (a *Agent) script(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(moduleJS)
}

// camera sets what a still camera sees (JPEG, PNG or WebP).
func (a *Agent) camera(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Still == nil {
		writeJSON(w, http.StatusConflict, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": "this kiosk has a real camera"})
		return
	}
	img, err := vision.Decode(http.MaxBytesReader(w, r.Body, 32<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": err.Error()})
		return
	}
	a.cfg.Still.Set(img)
	writeJSON(w, http.StatusOK, terminal.Answer{"return_code": "SUCCESS", "return_msg": "OK", "width": img.W, "height": img.H})
}

// frame takes a camera frame from the kiosk page (JPEG).
func (a *Agent) frame(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Page == nil {
		writeJSON(w, http.StatusConflict, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": "this kiosk's camera is not the page's (--camera page)"})
		return
	}
	img, err := vision.Decode(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": err.Error()})
		return
	}
	a.cfg.Page.Put(img)
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) cancel(w http.ResponseWriter, _ *http.Request) {
	a.cfg.SDK.Cancel()
	a.mu.Lock()
	if a.phone != nil {
		close(a.phone)
		a.phone = nil
	}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, terminal.Answer{"return_code": "SUCCESS", "return_msg": "OK"})
}

// phoneTail answers a pending phone-tail prompt.
func (a *Agent) phoneTail(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tail string `json:"tail"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&body); err != nil || len(body.Tail) != 4 {
		writeJSON(w, http.StatusBadRequest, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": "send {\"tail\": \"1234\"}: the last 4 digits"})
		return
	}
	for _, c := range body.Tail {
		if c < '0' || c > '9' {
			writeJSON(w, http.StatusBadRequest, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": "the tail is 4 digits"})
			return
		}
	}
	a.mu.Lock()
	ch := a.phone
	a.phone = nil
	a.mu.Unlock()
	if ch == nil {
		writeJSON(w, http.StatusConflict, terminal.Answer{"return_code": "PARAM_ERROR", "return_msg": "nothing is asking for a phone number now"})
		return
	}
	ch <- body.Tail
	writeJSON(w, http.StatusOK, terminal.Answer{"return_code": "SUCCESS", "return_msg": "OK"})
}

// Step implements terminal.Prompter.
func (a *Agent) Step(s terminal.Step) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.step = s
	a.seq++
}

// PhoneTail implements terminal.Prompter: it waits for POST /kiosk/phone.
func (a *Agent) PhoneTail(ctx context.Context) (string, bool) {
	ch := make(chan string, 1)
	a.mu.Lock()
	a.phone = ch
	a.mu.Unlock()
	t := time.NewTimer(a.cfg.PhoneWait)
	defer t.Stop()
	select {
	case tail, ok := <-ch:
		return tail, ok
	case <-ctx.Done():
	case <-t.C:
	}
	a.mu.Lock()
	if a.phone == ch {
		a.phone = nil
	}
	a.mu.Unlock()
	return "", false
}

// State is what the kiosk page shows.
type State struct {
	Seq       int           `json:"seq"`
	Step      terminal.Step `json:"step"`
	SDK       string        `json:"sdk"`
	Camera    string        `json:"camera"`
	CameraWhy string        `json:"camera_why,omitempty"`
	Liveness  bool          `json:"liveness"`
	Warning   string        `json:"warning,omitempty"`
	AskPhone  bool          `json:"ask_phone"`
	PageCam   bool          `json:"page_camera"` // the page must send camera frames while the camera is on
}

func (a *Agent) state(w http.ResponseWriter, _ *http.Request) {
	cam, why := a.cfg.Camera.Check()
	a.mu.Lock()
	st := State{Seq: a.seq, Step: a.step, SDK: string(a.cfg.SDK.State()), Camera: string(cam), CameraWhy: why,
		Liveness: a.cfg.Liveness, AskPhone: a.phone != nil, PageCam: a.cfg.Page != nil}
	a.mu.Unlock()
	if !a.cfg.Liveness {
		st.Warning = terminal.LivenessOffWarning
	}
	writeJSON(w, http.StatusOK, st)
}

//go:embed page.html
var pageHTML []byte

// page is the kiosk's own screen: camera, prompts, the phone keypad, cancel.
func (a *Agent) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(pageHTML)
}
