// Package k12pages serves the parents' pages of K12 offline-face withholding on the
// platform, as WeChat's collection, signing, re-collection and repayment mini
// programs are: opened with the token of offlinefacemch/tokens (or a presign_token),
// or with the repayment link. The pages are static HTML that call the small JSON API
// below; every rule is the k12 domain's.
package k12pages

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pay"
)

//go:embed collect.html sign.html repay.html style.css pages.js
var pages embed.FS

// Handler serves /k12/.
type Handler struct {
	k12 *k12.Service
	pay *pay.Service
	mux *http.ServeMux
}

// New returns the pages' handler.
func New(svc *k12.Service, p *pay.Service) *Handler {
	h := &Handler{k12: svc, pay: p, mux: http.NewServeMux()}
	for path, file := range map[string]string{"/k12/collect": "collect.html", "/k12/sign": "sign.html", k12.RepaymentPath: "repay.html",
		"/k12/style.css": "style.css", "/k12/pages.js": "pages.js"} {
		h.mux.HandleFunc("GET "+path, h.file(file))
	}
	h.mux.HandleFunc("GET /k12/api/state", h.api(h.state))
	h.mux.HandleFunc("POST /k12/api/collect", h.api(h.collect))
	h.mux.HandleFunc("POST /k12/api/confirm", h.api(h.confirm))
	h.mux.HandleFunc("POST /k12/api/sign", h.api(h.sign))
	h.mux.HandleFunc("GET /k12/api/debts", h.api(h.debts))
	h.mux.HandleFunc("POST /k12/api/repay", h.api(h.repay))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) file(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := pages.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ct := "text/html; charset=utf-8"
		switch path.Ext(name) {
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		// The pages carry tokens in their URLs: keep them out of other sites' logs.
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	}
}

// api runs fn and writes its answer, or {"code","message"} with the status of the
// error's kind.
func (h *Handler) api(fn func(ctx context.Context, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, k12.MaxPhoto*2)
		v, err := fn(r.Context(), r)
		if err != nil {
			status, code := statusOf(err)
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": errcode.MessageOf(err)})
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}
}

func statusOf(err error) (int, string) {
	switch errcode.CodeOf(err) {
	case errcode.Invalid:
		return http.StatusBadRequest, "INVALID"
	case errcode.NotFound:
		return http.StatusNotFound, "NOT_FOUND"
	case errcode.Conflict:
		return http.StatusConflict, "CONFLICT"
	case errcode.InsufficientFunds:
		return http.StatusPaymentRequired, "NOT_ENOUGH"
	case errcode.Unavailable:
		return http.StatusServiceUnavailable, "UNAVAILABLE"
	}
	return http.StatusInternalServerError, "INTERNAL"
}

func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errcode.E(errcode.Invalid, "the photo is larger than 8 MB")
		}
		return errcode.E(errcode.Invalid, "the request is not JSON: %v", err)
	}
	return nil
}

var beijing = time.FixedZone("CST", 8*3600)

// stateView is what the collection and signing pages show.
type stateView struct {
	UserID        string `json:"user_id"`
	OutUserID     string `json:"out_user_id"`
	Name          string `json:"name,omitempty"`
	Organisation  string `json:"organization_name"`
	Kind          string `json:"kind"`
	ContractState string `json:"contract_state"`
	ContractMode  string `json:"contract_mode"`
	CardTail      string `json:"card_tail,omitempty"`
	FaceImageOK   bool   `json:"face_image_ok"`
	Collection    string `json:"collection_state,omitempty"`
	// The photo waiting for the parent's confirmation, as a data: URL.
	Uploaded  string `json:"uploaded_photo,omitempty"`
	ExpiresAt string `json:"expires_at"`
	PerDebit  int64  `json:"per_debit_limit"` // fen
	PerDay    int64  `json:"daily_limit"`     // fen
}

func (h *Handler) state(ctx context.Context, r *http.Request) (any, error) {
	p, err := h.k12.PageOf(ctx, r.URL.Query().Get("token"))
	if err != nil {
		return nil, err
	}
	v := stateView{UserID: p.User.UserID, OutUserID: p.User.OutUserID, Name: p.User.Name, Organisation: p.Org.Name, Kind: p.Kind,
		ContractState: p.User.ContractState, ContractMode: p.Mode, CardTail: p.CardTail, FaceImageOK: p.User.FaceImageOK,
		ExpiresAt: p.ExpiresAt.In(beijing).Format("2006-01-02 15:04"), PerDebit: p.PerDebit, PerDay: p.PerDay}
	if v.ContractMode == "" {
		v.ContractMode = k12.LimitNone
	}
	if c := p.Collection; c != nil {
		v.Collection = c.State
		if c.State == k12.PhotoUploaded && len(c.Photo) > 0 {
			v.Uploaded = "data:" + http.DetectContentType(c.Photo) + ";base64," + base64.StdEncoding.EncodeToString(c.Photo)
		}
	}
	return v, nil
}

func (h *Handler) collect(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Token   string `json:"token"`
		Photo   string `json:"photo"` // base64, or a data: URL
		Consent bool   `json:"consent"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if strings.HasPrefix(req.Photo, "data:") {
		_, req.Photo, _ = strings.Cut(req.Photo, ",")
	}
	photo, err := base64.StdEncoding.DecodeString(req.Photo)
	if err != nil {
		return nil, errcode.E(errcode.Invalid, "the photo is not base64")
	}
	c, err := h.k12.Collect(ctx, req.Token, photo, req.Consent)
	if err != nil {
		return nil, err
	}
	return map[string]string{"collection_state": c.State, "collection_id": c.CollectionID}, nil
}

func (h *Handler) confirm(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Token string `json:"token"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	c, err := h.k12.ConfirmCollection(ctx, req.Token)
	if err != nil {
		return nil, err
	}
	return map[string]string{"collection_state": c.State, "collection_id": c.ID}, nil
}

// sign: the parent names the wallet (the payer id of their wallet) that stands in for
// the bank card, and, for a designated-card contract, the card it holds.
func (h *Handler) sign(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Token      string `json:"token"`
		PayerID    string `json:"payer_id"`
		CardNumber string `json:"card_number"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.PayerID == "" {
		return nil, errcode.E(errcode.Invalid, "enter the wallet to sign with")
	}
	if _, err := h.pay.Payer(ctx, req.PayerID); err != nil {
		return nil, errcode.E(errcode.Invalid, "there is no wallet %s", req.PayerID)
	}
	if req.CardNumber != "" {
		if err := h.pay.SetCard(ctx, req.PayerID, req.CardNumber); err != nil {
			return nil, err
		}
	}
	u, c, err := h.k12.Sign(ctx, req.Token, req.PayerID)
	if err != nil {
		return nil, err
	}
	return map[string]string{"user_id": u.UserID, "contract_id": c.ContractID, "contract_mode": c.Mode,
		"signed_at": c.SignedAt.In(beijing).Format("2006-01-02 15:04")}, nil
}

type debtView struct {
	OutTradeNo string `json:"out_trade_no"`
	Owed       int64  `json:"owed"`
	Time       string `json:"time"`
	Body       string `json:"description"`
}

func (h *Handler) debts(ctx context.Context, r *http.Request) (any, error) {
	d, err := h.k12.OpenDebts(ctx, r.URL.Query().Get("t"))
	if err != nil {
		return nil, err
	}
	out := struct {
		OutUserID string     `json:"out_user_id"`
		Name      string     `json:"name,omitempty"`
		Total     int64      `json:"total"`
		Debts     []debtView `json:"debts"`
	}{OutUserID: d.User.OutUserID, Name: d.User.Name, Total: d.Total, Debts: []debtView{}}
	for _, o := range d.Orders {
		out.Debts = append(out.Debts, debtView{OutTradeNo: o.OutTradeNo, Owed: o.Owed(), Time: o.PaidAt.In(beijing).Format("2006-01-02 15:04"), Body: o.Body})
	}
	return out, nil
}

func (h *Handler) repay(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		T string `json:"t"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	rp, err := h.k12.Repay(ctx, req.T)
	if err != nil {
		return nil, err
	}
	return map[string]any{"repayment_transaction_id": rp.RepaymentID, "amount": rp.Amount, "debts": rp.Debts}, nil
}
