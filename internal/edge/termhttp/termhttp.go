// Package termhttp serves the terminal API, the channel between a kiosk's face SDK
// and the platform: identification (getWxpayfaceCode, getWxpayfaceUserInfo) and the
// member card (activateWxpayfaceMember). It checks the request as termwire defines
// it — authinfo valid on its merchant's clock, the device signature by the key the
// authinfo binds, the timestamp within 5 minutes of real time, the nonce unused —
// and answers in the SDK's own map: return_code, return_msg, err_code.
package termhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/faceid"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/member"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// Window is how far a request's timestamp may be from real time, either way.
const Window = 5 * time.Minute

// MaxBody bounds a request: a 512-d template is under 3 KiB of base64.
const MaxBody = 64 << 10

// NonceStore remembers the nonces each device used.
type NonceStore interface {
	RememberNonce(ctx context.Context, owner, nonce string, at, notBefore time.Time) (bool, error)
}

// Config builds a Handler.
type Config struct {
	Pay    *pay.Service
	FaceID *faceid.Service
	K12    *k12.Service // offline kiosks' library sync
	Nonces NonceStore
	Clock  clock.Clock // real time, for timestamps and nonces
	Logger *slog.Logger
}

// Handler serves the terminal API.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST "+termwire.PathIdentify, h.identify)
	h.mux.HandleFunc("POST "+termwire.PathMember, h.member)
	h.mux.HandleFunc("POST "+termwire.PathOfflineSync, h.offlineSync)
	h.mux.HandleFunc("/terminal/", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusNotFound, answer{ReturnCode: "PARAM_ERROR", ReturnMsg: "no terminal API at " + r.Method + " " + r.URL.Path})
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// answer is the SDK's common map.
type answer struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	ErrCode    int    `json:"err_code,omitempty"`
}

func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Errors of the request check.
var (
	errAuth   = errors.New("terminal request not authenticated")
	errParams = errors.New("terminal request malformed")
)

// call is a checked request: its authinfo and its body.
type call struct {
	auth  device.AuthInfo
	token string
}

// check authenticates the request and decodes its body into v, which must carry
// the authinfo it names.
func (h *Handler) check(r *http.Request, v interface{ authinfo() string }) (call, error) {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		return call{}, errcode.Wrap(errcode.Invalid, errParams, "the body is larger than %d bytes or unreadable", MaxBody)
	}
	ts, err := termwire.ParseTimestamp(r.Header.Get(termwire.HeaderTimestamp))
	if err != nil {
		return call{}, errcode.Wrap(errcode.Unauthenticated, errAuth, "%s", err.Error())
	}
	now := h.cfg.Clock.Now()
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return call{}, errcode.Wrap(errcode.Unauthenticated, errAuth, "the timestamp is more than 5 minutes from real time: check the kiosk's clock")
	}
	nonce := r.Header.Get(termwire.HeaderNonce)
	if err := termwire.CheckNonce(nonce); err != nil {
		return call{}, errcode.Wrap(errcode.Unauthenticated, errAuth, "%s", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return call{}, errcode.Wrap(errcode.Invalid, errParams, "the body is not the expected JSON: %v", err)
	}
	a, err := h.cfg.Pay.OpenAuthInfo(ctx, v.authinfo())
	if err != nil {
		return call{}, errcode.Wrap(errcode.Unauthenticated, errAuth, "%s", errcode.MessageOf(err))
	}
	msg := termwire.Message(r.Method, r.URL.Path, r.Header.Get(termwire.HeaderTimestamp), nonce, body)
	if err := termwire.Verify(a.DeviceKey, msg, r.Header.Get(termwire.HeaderSignature)); err != nil {
		return call{}, errcode.Wrap(errcode.Unauthenticated, errAuth, "the request is not signed by the terminal this authinfo was issued to")
	}
	fresh, err := h.cfg.Nonces.RememberNonce(ctx, "device:"+a.SDKDeviceID, nonce, now, now.Add(-2*Window))
	if err != nil {
		return call{}, err
	}
	if !fresh {
		return call{}, errcode.Wrap(errcode.Unauthenticated, errAuth, "the nonce was already used: a replayed request")
	}
	return call{auth: a, token: v.authinfo()}, nil
}

type identifyBody struct{ termwire.IdentifyRequest }

func (b *identifyBody) authinfo() string { return b.AuthInfo }

type memberBody struct{ termwire.MemberRequest }

func (b *memberBody) authinfo() string { return b.AuthInfo }

type syncBody struct{ termwire.OfflineSyncRequest }

func (b *syncBody) authinfo() string { return b.AuthInfo }

// offlineSync answers a page of the school's library, sealed to the kiosk's key.
func (h *Handler) offlineSync(w http.ResponseWriter, r *http.Request) {
	var b syncBody
	c, err := h.check(r, &b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.cfg.K12.LibraryDelta(r.Context(), c.auth, b.Since, b.After, b.Limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	plain, err := json.Marshal(d)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sealed, err := device.SealToDevice(c.auth.DeviceKey, plain, termwire.LibraryAAD(c.auth.OrgID))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	write(w, http.StatusOK, termwire.OfflineSyncResponse{ReturnCode: "SUCCESS", ReturnMsg: "OK", Sealed: sealed})
}

func (h *Handler) identify(w http.ResponseWriter, r *http.Request) {
	var b identifyBody
	c, err := h.check(r, &b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tpl, err := termwire.DecodeTemplate(b.Template)
	if err != nil {
		h.fail(w, r, errcode.Wrap(errcode.Invalid, errParams, "%s", err.Error()))
		return
	}
	req := faceid.Request{AuthInfo: c.auth, Token: c.token, Purpose: b.Purpose, Model: b.Model, Template: tpl,
		PhoneTail: b.PhoneTail, OutTradeNo: b.OutTradeNo, TotalFee: b.TotalFee, AskUnionID: b.AskUnionID, Numeric: b.FaceCodeType == "1"}
	if b.Liveness != nil {
		req.Liveness = &faceid.Liveness{Challenge: b.Liveness.Challenge, Passed: b.Liveness.Passed, Off: b.Liveness.Off}
	}
	res, err := h.cfg.FaceID.Identify(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := termwire.IdentifyResponse{ReturnCode: "SUCCESS", ReturnMsg: "OK", NeedPhone: res.NeedPhone, FaceCode: res.FaceCode,
		OpenID: res.OpenID, SubOpenID: res.SubOpenID, Nickname: res.Nickname, Token: res.Token, UnionIDCode: res.UnionIDCode,
		TelephoneUsed: res.TelephoneUsed}
	if res.NeedPhone {
		out.ReturnMsg = "several people look alike: ask for the last 4 digits of the phone number"
	}
	write(w, http.StatusOK, out)
}

func (h *Handler) member(w http.ResponseWriter, r *http.Request) {
	var b memberBody
	c, err := h.check(r, &b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Pay.CheckFault(r.Context(), c.auth.Owner(), "member"); err != nil {
		write(w, http.StatusOK, termwire.MemberResponse{ReturnCode: "GET_MEMBER_INFO_FAIL_ERROR", ReturnMsg: "the card-opening information could not be loaded: try again"})
		return
	}
	m, err := h.cfg.FaceID.ActivateMember(r.Context(), faceid.MemberRequest{AuthInfo: c.auth, StoreID: b.StoreID, OpenID: b.OpenID, Token: b.Token})
	if err != nil {
		code, msg := memberCode(err)
		if code == "GET_MEMBER_INFO_FAIL_ERROR" {
			h.cfg.Logger.Error("member card", "err", err)
		}
		write(w, http.StatusOK, termwire.MemberResponse{ReturnCode: code, ReturnMsg: msg})
		return
	}
	write(w, http.StatusOK, termwire.MemberResponse{ReturnCode: "SUCCESS", ReturnMsg: "OK", CardID: m.CardID, MemberNo: m.MemberNo})
}

// memberCode is activateWxpayfaceMember's table: the member errors travel in
// return_code, as the SDK's member page lists them.
func memberCode(err error) (string, string) {
	switch {
	case errors.Is(err, faceid.ErrMemberParams):
		return "PARAMS_INVALID", err.Error()
	case errors.Is(err, faceid.ErrSessionExpired):
		return "MEMBER_INFO_EXP_ERROR", err.Error()
	case errors.Is(err, member.ErrNotConfigured):
		return "NOT_CONFIG_MEMBER_ERROR", "no member card is configured for this store (facepay admin member enable)"
	}
	return "GET_MEMBER_INFO_FAIL_ERROR", "the card-opening information could not be loaded: try again"
}

// Code is the SDK answer for an error: the one table of this edge.
func Code(err error) (status int, a answer) {
	var fe *face.Error
	switch {
	case errors.As(err, &fe):
		return http.StatusOK, answer{ReturnCode: "ERROR", ReturnMsg: fe.Msg, ErrCode: fe.Code}
	case errors.Is(err, faceid.ErrLiveness):
		return http.StatusOK, answer{ReturnCode: "ERROR", ReturnMsg: err.Error(), ErrCode: ErrCodeRiskControl}
	case errors.Is(err, faceid.ErrModel):
		return http.StatusBadRequest, answer{ReturnCode: "PARAM_ERROR", ReturnMsg: err.Error()}
	case errors.Is(err, errAuth):
		return http.StatusUnauthorized, answer{ReturnCode: "FACEPAY_NOT_AUTH", ReturnMsg: errcode.MessageOf(err)}
	}
	switch errcode.CodeOf(err) {
	case errcode.Invalid:
		return http.StatusBadRequest, answer{ReturnCode: "PARAM_ERROR", ReturnMsg: errcode.MessageOf(err)}
	case errcode.NotFound:
		return http.StatusOK, answer{ReturnCode: "ERROR", ReturnMsg: "no matching user information", ErrCode: face.ErrNoSuchTail.Code}
	case errcode.Unavailable:
		return http.StatusServiceUnavailable, answer{ReturnCode: "SYSTEMERROR", ReturnMsg: "the platform is busy: try again"}
	}
	return http.StatusInternalServerError, answer{ReturnCode: "SYSTEMERROR", ReturnMsg: "internal error"}
}

// ErrCodeRiskControl is the offline SDK's "blocked by risk control", used for a face
// the kiosk did not show to be live.
const ErrCodeRiskControl = 271378527

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, a := Code(err)
	if status >= 500 {
		h.cfg.Logger.Error("terminal api", "path", r.URL.Path, "err", err)
	} else {
		h.cfg.Logger.Info("terminal api refused", "path", r.URL.Path, "return_code", a.ReturnCode, "err_code", a.ErrCode)
	}
	write(w, status, a)
}
