package v2http

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/pay/bill"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// Request is an authenticated v2 call as an API handler sees it.
type Request struct {
	Request  *http.Request
	Caller   tenant.Caller
	Msg      *v2wire.Message
	SignType v2wire.SignType
}

// HandlerFunc serves one v2 API. A returned error becomes result_code=FAIL with the
// err_code chosen by the API's table or, failing that, the edge's default table.
type HandlerFunc func(ctx context.Context, r *Request) (*v2wire.Message, error)

// API describes one v2 endpoint.
type API struct {
	Path      string
	Secure    bool              // /secapi: needs the merchant's client certificate
	SignTypes []v2wire.SignType // accepted sign_type values; nil means MD5 and HMAC-SHA256
	Required  []string          // business fields that must be present and non-empty
	OneOf     [][]string        // groups of which at least one field must be present
	NotFound  string            // err_code for errcode.NotFound (ORDERNOTEXIST, REFUNDNOTEXIST...)
	// NoResultCode marks APIs whose answers have no result_code (authinfo): a refused
	// call is return_code=FAIL, a served one carries only the envelope and its fields.
	NoResultCode bool
	// Raw, when set, serves the API instead of Handle and writes its own answer
	// (downloadbill answers bill text, not XML).
	Raw func(w http.ResponseWriter, r *Request)
	// Refusal, when set, words the envelope's refusals (bad signature, missing field)
	// in the API's own FAIL format.
	Refusal func(code, msg string) *bill.Refusal
	Handle  HandlerFunc
}

// Config wires the edge.
type Config struct {
	Tenants *tenant.Service
	Store   tenant.Store
	CAPool  *x509.CertPool // issuer of merchant certificates
	Logger  *slog.Logger
}

// Handler serves every registered v2 API.
type Handler struct {
	cfg  Config
	apis map[string]API
}

// New returns a Handler with no APIs; Register adds them.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, apis: map[string]API{}}
}

// Register adds an API.
func (h *Handler) Register(a API) { h.apis[a.Path] = a }

// commonRequired are the envelope fields every v2 API needs.
var commonRequired = []string{"appid", "mch_id", "nonce_str", "sign"}

// refusal is an answer with return_code=FAIL: the call was not processed.
type refusal struct {
	code string // the v2 code the refusal corresponds to, shown in return_msg
	msg  string
}

func refuse(code, format string, args ...any) *refusal {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api, ok := h.apis[r.URL.Path]
	if !ok {
		writeRefusal(w, refuse("INVALID_REQUEST", "no such v2 API: %s", r.URL.Path))
		return
	}
	req, rf := h.authenticate(r, api)
	if rf != nil {
		h.cfg.Logger.InfoContext(r.Context(), "v2 refused", "path", r.URL.Path, "code", rf.code)
		if api.Refusal != nil {
			writeBillRefusal(w, api.Refusal(rf.code, rf.msg))
			return
		}
		writeRefusal(w, rf)
		return
	}
	if api.Raw != nil {
		api.Raw(w, req)
		return
	}
	fields, err := api.Handle(r.Context(), req)
	if err != nil && api.NoResultCode {
		writeRefusal(w, refuse(ErrCodeOf(err, api.NotFound), "%s", errcode.MessageOf(err)))
		return
	}
	out := h.envelope(req, fields, err, api)
	if err != nil && errcode.CodeOf(err) == errcode.Internal {
		h.cfg.Logger.ErrorContext(r.Context(), "v2 api failed", "path", r.URL.Path, "mch_id", req.Caller.Merchant.MchID, "err", err)
	}
	writeXML(w, out.Encode())
}

// authenticate runs the checks every v2 call passes before its API sees it.
// bodies holds the buffers request bodies are read into: Decode copies what it keeps,
// so a buffer serves the next request instead of becoming garbage (a body is at most
// v2wire.MaxBodyBytes, so neither is a pooled buffer).
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *Handler) authenticate(r *http.Request, api API) (*Request, *refusal) {
	if r.Method != http.MethodPost {
		return nil, refuse("REQUIRE_POST_METHOD", "v2 APIs take POST, not %s", r.Method)
	}
	body := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(body)
	body.Reset()
	if _, err := body.ReadFrom(http.MaxBytesReader(nil, r.Body, v2wire.MaxBodyBytes)); err != nil {
		return nil, refuse("XML_FORMAT_ERROR", "request body is larger than %d bytes or unreadable", v2wire.MaxBodyBytes)
	}
	msg, err := v2wire.Decode(body.Bytes())
	if err != nil {
		var de *v2wire.DecodeError
		if errors.As(err, &de) {
			return nil, refuse(de.Code, "%s", de.Msg)
		}
		return nil, refuse("XML_FORMAT_ERROR", "request body is not v2 XML")
	}
	for _, f := range commonRequired {
		if msg.Get(f) == "" {
			return nil, refuse("LACK_PARAMS", "missing required field %s", f)
		}
	}
	st, ok := v2wire.ParseSignType(msg.Get("sign_type"))
	if !ok || !accepts(api, st) {
		return nil, refuse("PARAM_ERROR", "sign_type %q is not accepted by %s (use %s)", msg.Get("sign_type"), api.Path, signTypeList(api))
	}
	ctx := r.Context()
	mchID := msg.Get("mch_id")
	m, err := h.cfg.Store.Merchant(ctx, mchID)
	if err != nil {
		if errcode.Is(err, errcode.NotFound) {
			return nil, refuse("MCHID_NOT_EXIST", "mch_id %s does not exist", mchID)
		}
		return nil, refuse("SYSTEMERROR", "system error, try again")
	}
	if !v2wire.Verify(msg, m.APIKey, st) {
		return nil, refuse("SIGNERROR", "signature does not verify with the API key of %s and sign_type %s", mchID, st)
	}
	if api.Secure {
		if rf := h.checkClientCert(r, mchID); rf != nil {
			return nil, rf
		}
	}
	caller, err := h.cfg.Tenants.IdentifyAs(ctx, m, msg.Get("appid"), msg.Get("sub_mch_id"), msg.Get("sub_appid"))
	if err != nil {
		return nil, identifyRefusal(err)
	}
	for _, f := range api.Required {
		if msg.Get(f) == "" {
			return nil, refuse("LACK_PARAMS", "missing required field %s", f)
		}
	}
	for _, group := range api.OneOf {
		if !anyPresent(msg, group) {
			return nil, refuse("LACK_PARAMS", "one of %s is required", strings.Join(group, ", "))
		}
	}
	return &Request{Request: r, Caller: caller, Msg: msg, SignType: st}, nil
}

// checkClientCert requires a certificate issued by the platform CA that belongs to mchID.
func (h *Handler) checkClientCert(r *http.Request, mchID string) *refusal {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return refuse("CERT_ERROR", "%s needs the merchant API certificate as TLS client certificate", r.URL.Path)
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: h.cfg.CAPool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return refuse("CERT_ERROR", "client certificate is not a valid merchant API certificate")
	}
	known, err := h.cfg.Store.MerchantCert(r.Context(), fmt.Sprintf("%X", leaf.SerialNumber.Bytes()))
	if err != nil || known.MchID != mchID || !known.Cert.Equal(leaf) {
		return refuse("CERT_ERROR", "client certificate does not belong to mch_id %s", mchID)
	}
	return nil
}

func identifyRefusal(err error) *refusal {
	switch {
	case errors.Is(err, tenant.ErrUnknownMerchant):
		return refuse("MCHID_NOT_EXIST", "%s", errcode.MessageOf(err))
	case errors.Is(err, tenant.ErrAppIDNotBound):
		return refuse("APPID_MCHID_NOT_MATCH", "%s", errcode.MessageOf(err))
	case errors.Is(err, tenant.ErrUnknownSubMerchant):
		return refuse("MCHID_NOT_EXIST", "%s", errcode.MessageOf(err))
	case errors.Is(err, tenant.ErrSubAppIDNotBound):
		return refuse("APPID_MCHID_NOT_MATCH", "%s", errcode.MessageOf(err))
	}
	return refuse("SYSTEMERROR", "system error, try again")
}

// envelope wraps an API's result in the signed success envelope.
func (h *Handler) envelope(req *Request, fields *v2wire.Message, err error, api API) *v2wire.Message {
	out := v2wire.NewMessage()
	out.Set("return_code", "SUCCESS")
	out.Set("return_msg", "OK")
	for _, f := range []string{"appid", "mch_id", "sub_appid", "sub_mch_id"} {
		if v := req.Msg.Get(f); v != "" {
			out.Set(f, v)
		}
	}
	out.Set("nonce_str", v2wire.NonceStr())
	switch {
	case err != nil:
		code, des := ErrCode(err, api.NotFound)
		out.Set("result_code", "FAIL")
		out.Set("err_code", code)
		out.Set("err_code_des", des)
	case !api.NoResultCode:
		out.Set("result_code", "SUCCESS")
	}
	if fields != nil {
		// Fields ride along with a failure too: reverse's recall, a query's trade_state.
		for _, n := range fields.Names() {
			out.Set(n, fields.Get(n))
		}
	}
	v2wire.SignMessage(out, req.Caller.Merchant.APIKey, req.SignType)
	return out
}

// ErrCode maps a domain error to a v2 err_code and description: the one table of this
// edge. notFound is the API's own code for a missing object.
func ErrCode(err error, notFound string) (code, description string) {
	msg := errcode.MessageOf(err)
	var fault *pay.FaultError
	if errors.As(err, &fault) {
		return fault.Code, "emulated fault rule"
	}
	for _, r := range reasonCodes {
		if errors.Is(err, r.reason) {
			if r.code == "" { // the API's own code for a missing object
				return notFoundCode(notFound), msg
			}
			return r.code, msg
		}
	}
	switch errcode.CodeOf(err) {
	case errcode.Invalid:
		return "PARAM_ERROR", msg
	case errcode.NotFound:
		return notFoundCode(notFound), msg
	case errcode.Conflict:
		return "INVALID_REQUEST", msg
	case errcode.Unauthenticated:
		return "SIGNERROR", msg
	case errcode.Forbidden:
		return "NOAUTH", msg
	case errcode.InsufficientFunds:
		return "NOTENOUGH", msg
	case errcode.LimitExceeded:
		return "FREQUENCY_LIMITED", msg
	default: // Unavailable, Internal: the outcome is unknown to the client, which queries
		return "SYSTEMERROR", "system error, query the result and retry"
	}
}

// ErrCodeOf is ErrCode without the description.
func ErrCodeOf(err error, notFound string) string {
	code, _ := ErrCode(err, notFound)
	return code
}

func notFoundCode(apiCode string) string {
	if apiCode == "" {
		return "ORDERNOTEXIST"
	}
	return apiCode
}

// reasonCodes maps the payment domain's reasons to v2 err_code; an empty code means
// the API's own not-found code.
var reasonCodes = []struct {
	reason error
	code   string
}{
	{pay.ErrCodeInvalid, "AUTH_CODE_INVALID"},
	{pay.ErrCodeUsed, "AUTH_CODE_ERROR"},
	{pay.ErrCodeExpired, "AUTHCODEEXPIRE"},
	{pay.ErrOrderPaid, "ORDERPAID"},
	{pay.ErrOrderNoUsed, "OUT_TRADE_NO_USED"},
	{pay.ErrBuyerMismatch, "BUYER_MISMATCH"},
	{pay.ErrOrderClosed, "ORDERCLOSED"},
	{pay.ErrOrderReversed, "ORDERREVERSED"},
	{pay.ErrUserPaying, "USERPAYING"},
	{pay.ErrPayFailed, "TRADE_ERROR"},
	{pay.ErrNotEnough, "NOTENOUGH"},
	{pay.ErrReverseExpired, "REVERSE_EXPIRE"},
	{pay.ErrRefundExpired, "TRADE_OVERDUE"},
	{pay.ErrRefundMismatch, "REFUND_FEE_MISMATCH"},
	{pay.ErrRefundExceeds, "ERROR"},
	{pay.ErrOrderNotReady, "ORDER_NOT_READY"},
	{pay.ErrOrderHasRefunds, "INVALID_REQUEST"},
	{pay.ErrNoSuchOrder, ""},
	{pay.ErrNoSuchRefund, ""},
}

func accepts(api API, st v2wire.SignType) bool {
	if api.SignTypes == nil {
		return true
	}
	for _, s := range api.SignTypes {
		if s == st {
			return true
		}
	}
	return false
}

func signTypeList(api API) string {
	if api.SignTypes == nil {
		return "MD5 or HMAC-SHA256"
	}
	var s []string
	for _, t := range api.SignTypes {
		s = append(s, string(t))
	}
	return strings.Join(s, " or ")
}

func anyPresent(m *v2wire.Message, names []string) bool {
	for _, n := range names {
		if m.Get(n) != "" {
			return true
		}
	}
	return false
}

func writeRefusal(w http.ResponseWriter, rf *refusal) {
	m := v2wire.NewMessage()
	m.Set("return_code", "FAIL")
	m.Set("return_msg", rf.code+": "+rf.msg)
	writeXML(w, m.Encode())
}

// xmlContentType is shared by every answer: net/http copies the header's values
// when the header is written and never changes them, so no answer allocates its own.
var xmlContentType = []string{"text/xml; charset=utf-8"}

func writeXML(w http.ResponseWriter, b []byte) {
	w.Header()["Content-Type"] = xmlContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
