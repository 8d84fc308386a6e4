package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// Config builds a Server.
type Config struct {
	Client *Client
	K12    *K12             // the service provider's K12 side, when it runs one school's kiosks
	Now    func() time.Time // when cached authinfo expires; the request's now is always real time
	// Sleep waits between the pay loop's queries; tests pass one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// QueryPlan is the wait before each orderquery of a payment whose answer is
	// unknown: 5 s, then 10 s steps, about 30 s in all (the sequence's budget).
	QueryPlan []time.Duration
	// Refresh is how long before its expiry a cached authinfo is replaced.
	Refresh time.Duration
	Logger  *slog.Logger
}

// DefaultQueryPlan is the documented budget: query after 5 s, then every 10 s, to
// about 30 s after the charge; a reverse then comes at least 15 s after it.
var DefaultQueryPlan = []time.Duration{5 * time.Second, 10 * time.Second, 10 * time.Second, 5 * time.Second}

// Server is the merchant server.
type Server struct {
	cfg   Config
	mu    sync.Mutex
	cache map[string]cached // store_id/device_id → authinfo
}

type cached struct {
	authinfo string
	expires  time.Time
}

// New returns a merchant server.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	if cfg.QueryPlan == nil {
		cfg.QueryPlan = DefaultQueryPlan
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, cache: map[string]cached{}}
}

// AuthInfoRequest is what a kiosk sends for authinfo.
type AuthInfoRequest struct {
	StoreID   string `json:"store_id"`
	StoreName string `json:"store_name"`
	DeviceID  string `json:"device_id"`
	Rawdata   string `json:"rawdata"`
}

// AuthInfo answers a kiosk's authinfo, from the cache while it is valid for longer
// than Refresh: the same device and store reuse it until shortly before expires_in.
func (s *Server) AuthInfo(ctx context.Context, r AuthInfoRequest) (authinfo string, expires time.Time, fromCache bool, err error) {
	key := r.StoreID + "/" + r.DeviceID
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && s.cfg.Now().Add(s.cfg.Refresh).Before(c.expires) {
		return c.authinfo, c.expires, true, nil
	}
	if r.StoreID == "" || r.DeviceID == "" || r.Rawdata == "" {
		return "", time.Time{}, false, errors.New("store_id, device_id and rawdata are required")
	}
	name := r.StoreName
	if name == "" {
		name = r.StoreID
	}
	ans, err := s.cfg.Client.Call(ctx, "/face/get_wxpayface_authinfo", map[string]string{"store_id": r.StoreID, "store_name": name,
		"device_id": r.DeviceID, "rawdata": r.Rawdata, "now": strconv.FormatInt(time.Now().Unix(), 10), "version": "1"})
	if err != nil {
		return "", time.Time{}, false, err
	}
	if ans.Get("return_code") != "SUCCESS" || ans.Get("authinfo") == "" {
		return "", time.Time{}, false, fmt.Errorf("authinfo refused: %s", ans.Get("return_msg"))
	}
	sec, _ := strconv.ParseInt(ans.Get("expires_in"), 10, 64)
	c = cached{authinfo: ans.Get("authinfo"), expires: s.cfg.Now().Add(time.Duration(sec) * time.Second)}
	s.mu.Lock()
	s.cache[key] = c
	s.mu.Unlock()
	return c.authinfo, c.expires, false, nil
}

// PayRequest is one face payment.
type PayRequest struct {
	OutTradeNo string `json:"out_trade_no"`
	TotalFee   int64  `json:"total_fee"`
	Body       string `json:"body"`
	FaceCode   string `json:"face_code"`
	OpenID     string `json:"openid"`
	DeviceID   string `json:"device_id"`
	Micropay   bool   `json:"micropay"` // charge with micropay (auth_code = face_code) instead of facepay
}

// PayResult is how a payment ended.
type PayResult struct {
	OutTradeNo    string `json:"out_trade_no"`
	State         string `json:"state"` // SUCCESS, FAIL, REVERSED
	TransactionID string `json:"transaction_id,omitempty"`
	ErrCode       string `json:"err_code,omitempty"`
	Message       string `json:"message"`
	Queries       int    `json:"queries"`
	Reverses      int    `json:"reverses"`
}

// unknownCodes are the answers that do not say whether the money moved.
var unknownCodes = map[string]bool{"USERPAYING": true, "SYSTEMERROR": true, "BANKERROR": true}

// Pay charges a face_code and settles what an unknown or lost answer left open:
// it queries the order on the plan, and when the budget is spent without a final
// state it reverses the order (again while the answer says recall=Y).
func (s *Server) Pay(ctx context.Context, r PayRequest) (PayResult, error) {
	if r.OutTradeNo == "" || r.TotalFee <= 0 || r.FaceCode == "" {
		return PayResult{}, errors.New("out_trade_no, a positive total_fee and face_code are required")
	}
	if r.Body == "" {
		r.Body = "face payment"
	}
	res := PayResult{OutTradeNo: r.OutTradeNo}
	fields := map[string]string{"body": r.Body, "out_trade_no": r.OutTradeNo, "total_fee": strconv.FormatInt(r.TotalFee, 10),
		"spbill_create_ip": "127.0.0.1"}
	path := "/pay/facepay"
	if r.Micropay {
		path, fields["auth_code"] = "/pay/micropay", r.FaceCode
	} else {
		fields["face_code"], fields["fee_type"] = r.FaceCode, "CNY"
		if r.OpenID != "" {
			fields["openid"] = r.OpenID
		}
		if r.DeviceID != "" {
			fields["device_info"] = r.DeviceID
		}
	}
	ans, err := s.cfg.Client.Call(ctx, path, fields)
	switch {
	case err == nil && ans.Get("result_code") == "SUCCESS":
		res.State, res.TransactionID, res.Message = "SUCCESS", ans.Get("transaction_id"), "paid"
		return res, nil
	case err == nil && ans.Get("return_code") == "SUCCESS" && !unknownCodes[ans.Get("err_code")]:
		res.State, res.ErrCode, res.Message = "FAIL", ans.Get("err_code"), ans.Get("err_code_des")
		return res, nil
	case err != nil && !errors.Is(err, ErrUnknown):
		return res, err
	}
	s.cfg.Logger.Info("payment result unknown: querying", "out_trade_no", r.OutTradeNo, "answer", answerOf(ans, err))
	for _, wait := range s.cfg.QueryPlan {
		if err := s.cfg.Sleep(ctx, wait); err != nil {
			return res, err
		}
		q, err := s.cfg.Client.Call(ctx, "/pay/orderquery", map[string]string{"out_trade_no": r.OutTradeNo})
		res.Queries++
		if err != nil || q.Get("return_code") != "SUCCESS" {
			continue
		}
		switch q.Get("trade_state") {
		case "SUCCESS":
			res.State, res.TransactionID, res.Message = "SUCCESS", q.Get("transaction_id"), "paid (settled by orderquery)"
			return res, nil
		case "PAYERROR", "CLOSED", "REVOKED":
			res.State, res.Message = "FAIL", "the order ended "+q.Get("trade_state")
			return res, nil
		}
	}
	for res.Reverses < 5 {
		ans, err := s.cfg.Client.Call(ctx, "/secapi/pay/reverse", map[string]string{"out_trade_no": r.OutTradeNo})
		res.Reverses++
		if err == nil && ans.Get("result_code") == "SUCCESS" {
			res.State, res.Message = "REVERSED", "no final answer within the budget: the order was reversed"
			return res, nil
		}
		if err == nil && ans.Get("err_code") == "ORDERNOTEXIST" {
			res.State, res.Message = "FAIL", "the charge never reached the platform"
			return res, nil
		}
		if err == nil && ans.Get("recall") != "Y" && ans.Get("err_code") != "SYSTEMERROR" {
			return res, fmt.Errorf("reverse refused: %s %s", ans.Get("err_code"), ans.Get("err_code_des"))
		}
		if err := s.cfg.Sleep(ctx, time.Second); err != nil {
			return res, err
		}
	}
	return res, errors.New("the order could not be settled: check it with orderquery")
}

func answerOf(m *v2wire.Message, err error) string {
	if err != nil {
		return "lost"
	}
	return m.Get("err_code")
}

// Refund refunds part or all of a paid order.
func (s *Server) Refund(ctx context.Context, outTradeNo, outRefundNo string, total, refund int64) (*v2wire.Message, error) {
	return s.cfg.Client.Call(ctx, "/secapi/pay/refund", map[string]string{"out_trade_no": outTradeNo, "out_refund_no": outRefundNo,
		"total_fee": strconv.FormatInt(total, 10), "refund_fee": strconv.FormatInt(refund, 10)})
}

// Handler serves the calls a kiosk (its app or page) needs.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /merchant/authinfo", func(w http.ResponseWriter, r *http.Request) {
		var req AuthInfoRequest
		if !decode(w, r, &req) {
			return
		}
		ai, exp, fromCache, err := s.AuthInfo(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"authinfo": ai, "expires_in": int64(time.Until(exp).Seconds()), "cached": fromCache})
	})
	mux.HandleFunc("POST /merchant/pay", func(w http.ResponseWriter, r *http.Request) {
		var req PayRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := s.Pay(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /merchant/orders/{out_trade_no}", func(w http.ResponseWriter, r *http.Request) {
		q, err := s.cfg.Client.Call(r.Context(), "/pay/orderquery", map[string]string{"out_trade_no": r.PathValue("out_trade_no")})
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"out_trade_no": r.PathValue("out_trade_no"), "trade_state": q.Get("trade_state"),
			"err_code": q.Get("err_code"), "total_fee": q.Get("total_fee"), "transaction_id": q.Get("transaction_id")})
	})
	mux.HandleFunc("POST /merchant/refund", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OutTradeNo  string `json:"out_trade_no"`
			OutRefundNo string `json:"out_refund_no"`
			TotalFee    int64  `json:"total_fee"`
			RefundFee   int64  `json:"refund_fee"`
		}
		if !decode(w, r, &req) {
			return
		}
		ans, err := s.Refund(r.Context(), req.OutTradeNo, req.OutRefundNo, req.TotalFee, req.RefundFee)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result_code": ans.Get("result_code"), "err_code": ans.Get("err_code"),
			"refund_id": ans.Get("refund_id"), "return_msg": ans.Get("return_msg")})
	})
	if s.cfg.K12 != nil {
		s.cfg.K12.routes(mux)
	}
	return cors(mux)
}

// cors lets a kiosk page on another local port call the merchant server.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			if u, err := url.Parse(o); err == nil && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost") {
				w.Header().Set("Access-Control-Allow-Origin", o)
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			}
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not the expected JSON: " + err.Error()})
		return false
	}
	return true
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, ErrUnknown) {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, map[string]string{"error": strings.TrimSpace(err.Error())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
