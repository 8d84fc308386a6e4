package v3http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pki"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

// Window is how far a request timestamp may be from the platform's clock, either way.
const Window = 5 * time.Minute

// MaxBodyBytes bounds a v3 request body.
const MaxBodyBytes = 1 << 20

// Call is an authenticated v3 request as a handler sees it.
type Call struct {
	Merchant tenant.Merchant
	Request  *http.Request
	Body     []byte
	cert     tenant.MerchantCert
	ids      []tenant.PlatformIdentity
}

// HandlerFunc serves one v3 API: it returns the HTTP status and a value marshalled as
// the JSON body (nil for none), or a domain error.
type HandlerFunc func(ctx context.Context, c *Call) (status int, body any, err error)

// Config wires the edge.
type Config struct {
	Store  tenant.Store
	Clock  clock.Clock // the authentication clock: wall time in production
	Logger *slog.Logger
}

// Handler serves the registered v3 APIs.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns a Handler serving GET /v3/certificates; Handle adds more APIs.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.Handle("GET /v3/certificates", h.certificates)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeUnsigned(w, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "no such v3 API: "+r.Method+" "+r.URL.Path)
	})
	return h
}

// Handle registers fn for a ServeMux pattern such as "POST /v3/offlineface/authinfo".
func (h *Handler) Handle(pattern string, fn HandlerFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, fn) })
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, fn HandlerFunc) {
	w.Header().Set("Request-ID", requestID())
	ctx := r.Context()
	c, err := h.authenticate(r)
	if err != nil {
		h.cfg.Logger.InfoContext(ctx, "v3 refused", "path", r.URL.Path, "reason", errcode.MessageOf(err))
		status, code := Status(err)
		writeUnsigned(w, status, code, errcode.MessageOf(err))
		return
	}
	status, body, err := fn(ctx, c)
	var out []byte
	if err != nil {
		if errcode.CodeOf(err) == errcode.Internal {
			h.cfg.Logger.ErrorContext(ctx, "v3 api failed", "path", r.URL.Path, "mch_id", c.Merchant.MchID, "err", err)
		}
		var code string
		status, code = Status(err)
		out, _ = json.Marshal(v3wire.ErrorBody{Code: code, Message: errcode.MessageOf(err)})
	} else if body != nil {
		if out, err = json.Marshal(body); err != nil {
			h.cfg.Logger.ErrorContext(ctx, "v3 marshal", "path", r.URL.Path, "err", err)
			status = http.StatusInternalServerError
			out, _ = json.Marshal(v3wire.ErrorBody{Code: "SYSTEM_ERROR", Message: "system error"})
		}
	}
	if err := h.sign(w, c, out); err != nil {
		h.cfg.Logger.ErrorContext(ctx, "v3 sign answer", "mch_id", c.Merchant.MchID, "err", err)
		writeUnsigned(w, http.StatusInternalServerError, "SYSTEM_ERROR", "system error")
		return
	}
	if len(out) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// authenticate checks the Authorization header against the raw request.
func (h *Handler) authenticate(r *http.Request) (*Call, error) {
	ctx := r.Context()
	signErr := func(msg string) error { return errcode.E(errcode.Unauthenticated, "%s", msg) }
	auth, err := v3wire.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, signErr("Authorization header is missing or malformed: " + err.Error())
	}
	now := h.cfg.Clock.Now()
	if d := now.Sub(time.Unix(auth.TimestampUnix(), 0)); d > Window || d < -Window {
		return nil, signErr("timestamp is more than 5 minutes away from the platform clock")
	}
	m, err := h.cfg.Store.Merchant(ctx, auth.MchID)
	if errcode.Is(err, errcode.NotFound) {
		return nil, signErr("mchid " + auth.MchID + " does not exist")
	} else if err != nil {
		return nil, err
	}
	// Serials are hex numbers, stored in upper case; clients such as
	// wechatpay-node-v3 send them in lower case.
	cert, err := h.cfg.Store.MerchantCert(ctx, strings.ToUpper(auth.SerialNo))
	if err != nil || cert.MchID != m.MchID {
		if err != nil && !errcode.Is(err, errcode.NotFound) {
			return nil, err
		}
		return nil, signErr("serial_no " + auth.SerialNo + " is not a certificate of mchid " + m.MchID)
	}
	pub, ok := cert.Cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, signErr("merchant certificate has no RSA key")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		return nil, errcode.E(errcode.Invalid, "request body is larger than %d bytes or unreadable", MaxBodyBytes)
	}
	msg := v3wire.RequestMessage(r.Method, r.URL.RequestURI(), auth.Timestamp, auth.NonceStr, body)
	if err := v3wire.VerifySHA256RSA(pub, msg, auth.Signature); err != nil {
		return nil, signErr("signature does not verify over the request as sent")
	}
	fresh, err := h.cfg.Store.RememberNonce(ctx, m.MchID, auth.NonceStr, now, now.Add(-2*Window))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, signErr("nonce_str was already used")
	}
	ids, err := h.cfg.Store.PlatformIdentities(ctx, m.MchID)
	if err != nil {
		return nil, err
	}
	return &Call{Merchant: m, Request: r, Body: body, cert: cert, ids: ids}, nil
}

// sign adds the Wechatpay-* headers. Timestamps are wall-clock time: clients compare
// them with their own clock, whatever clock the platform's business logic follows.
func (h *Handler) sign(w http.ResponseWriter, c *Call, body []byte) error {
	now := time.Now()
	id, err := tenant.SigningIdentity(c.ids, c.Merchant, c.Request.Header.Get("Wechatpay-Serial"), now)
	if err != nil {
		return err
	}
	hdr, err := v3wire.SignResponse(id.Key, id.SerialNo, body, now)
	if err != nil {
		return err
	}
	hdr.Apply(w.Header())
	return nil
}

// DecodeJSON reads the call's body into v; an empty or malformed body is a PARAM_ERROR.
func (c *Call) DecodeJSON(v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body))
	if err := dec.Decode(v); err != nil {
		return errcode.E(errcode.Invalid, "request body is not the expected JSON: %v", err)
	}
	return nil
}

// DecryptField opens a sensitive request field that the merchant encrypted with the
// platform key named by its Wechatpay-Serial header.
func (c *Call) DecryptField(ciphertext string) (string, error) {
	serial := c.Request.Header.Get("Wechatpay-Serial")
	for _, id := range c.ids {
		if strings.EqualFold(id.SerialNo, serial) {
			pt, err := v3wire.DecryptOAEP(id.Key, ciphertext)
			if err != nil {
				return "", errcode.E(errcode.Invalid, "an encrypted field does not decrypt with platform key %s", serial)
			}
			return string(pt), nil
		}
	}
	return "", errcode.E(errcode.Invalid, "Wechatpay-Serial %q names no platform certificate or public key of this merchant", serial)
}

// EncryptField seals a sensitive answer field for the merchant, with the public key of
// the API certificate that signed the request.
func (c *Call) EncryptField(plaintext string) (string, error) {
	pub, _ := c.cert.Cert.PublicKey.(*rsa.PublicKey)
	return v3wire.EncryptOAEP(pub, []byte(plaintext))
}

// Status maps a domain error to the HTTP status and v3 code: the one table of this edge.
func Status(err error) (int, string) {
	switch errcode.CodeOf(err) {
	case errcode.Invalid:
		return http.StatusBadRequest, "PARAM_ERROR"
	case errcode.Conflict, errcode.InsufficientFunds, errcode.LimitExceeded:
		return http.StatusBadRequest, "INVALID_REQUEST"
	case errcode.Unauthenticated:
		return http.StatusUnauthorized, "SIGN_ERROR"
	case errcode.Forbidden:
		return http.StatusForbidden, "NO_AUTH"
	case errcode.NotFound:
		return http.StatusNotFound, "RESOURCE_NOT_EXISTS"
	case errcode.Unavailable:
		return http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"
	default:
		return http.StatusInternalServerError, "SYSTEM_ERROR"
	}
}

// certificates serves GET /v3/certificates: the merchant's valid platform certificates,
// each encrypted with its APIv3 key.
func (h *Handler) certificates(ctx context.Context, c *Call) (int, any, error) {
	switch c.Request.URL.Query().Get("algorithm_type") {
	case "", "RSA", "ALL":
	case "SM2":
		return http.StatusOK, v3wire.CertificatesResponse{Data: []v3wire.CertificateItem{}}, nil
	default:
		return 0, nil, errcode.E(errcode.Invalid, "algorithm_type must be RSA, SM2 or ALL")
	}
	resp := v3wire.CertificatesResponse{Data: []v3wire.CertificateItem{}}
	for _, id := range tenant.Certificates(c.ids, h.cfg.Clock.Now()) {
		cert, err := pki.ParseCertPEM(id.CertPEM)
		if err != nil {
			return 0, nil, fmt.Errorf("platform certificate %s: %w", id.SerialNo, err)
		}
		item, err := v3wire.NewCertificateItem(c.Merchant.APIv3Key, cert, id.CertPEM)
		if err != nil {
			return 0, nil, err
		}
		resp.Data = append(resp.Data, item)
	}
	return http.StatusOK, resp, nil
}

func writeUnsigned(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(v3wire.ErrorBody{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
