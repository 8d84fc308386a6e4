package merchant

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/pki"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

// The service provider's side of K12, as an integrator's server does it: it holds
// the offline authinfo of each of the school's kiosks (refreshed hourly), takes the
// credentials the kiosk app hands it, keeps them on disk until the platform has
// answered each debit, submits them (again, with the same out_trade_no, while the
// platform is unreachable — a debit is idempotent by it), and follows the webhooks,
// keeping the students the platform disabled. It speaks v3 with the project's own
// wire code, never the platform's handlers.

// V3Credentials are the v3 parts of `facepay admin merchant create --json`.
type V3Credentials struct {
	MchID                string `json:"mch_id"`
	AppID                string `json:"appid"`
	APIv3Key             string `json:"apiv3_key"`
	MerchantSerialNo     string `json:"merchant_serial_no"`
	MerchantKey          string `json:"merchant_private_key_pem"`
	PlatformPublicKeyID  string `json:"platform_public_key_id"`
	PlatformPublicKeyPEM string `json:"platform_public_key_pem"`
	TLSCAPEM             string `json:"tls_ca_pem"`
}

// V3Client signs v3 requests and verifies the platform's answers (public-key mode).
type V3Client struct {
	base  string
	creds V3Credentials
	key   *rsa.PrivateKey
	pub   *rsa.PublicKey
	http  *http.Client
	now   func() time.Time
}

// NewV3Client builds a v3 client; timeout bounds each call.
func NewV3Client(base string, cr V3Credentials, timeout time.Duration) (*V3Client, error) {
	key, err := pki.ParseRSAKeyPEM([]byte(cr.MerchantKey))
	if err != nil {
		return nil, fmt.Errorf("merchant key: %w", err)
	}
	pub, err := pki.ParseRSAPublicKeyPEM([]byte(cr.PlatformPublicKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("platform public key: %w", err)
	}
	pool := x509.NewCertPool()
	if cr.TLSCAPEM != "" && !pool.AppendCertsFromPEM([]byte(cr.TLSCAPEM)) {
		return nil, errors.New("tls_ca_pem holds no certificate")
	}
	return &V3Client{base: base, creds: cr, key: key, pub: pub, now: time.Now,
		http: &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}, nil
}

// APIError is a v3 refusal: the request was processed and will not succeed as sent.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Do sends a signed request and decodes a verified 2xx answer into out. A transport
// failure, a 5xx or an answer that does not verify is ErrUnknown; a 4xx is *APIError.
func (c *V3Client) Do(ctx context.Context, method, uri string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	auth, err := v3wire.SignRequest(c.key, c.creds.MchID, c.creds.MerchantSerialNo, method, uri, body, c.now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+uri, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnknown, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnknown, err)
	}
	if err := v3wire.VerifySHA256RSA(c.pub, v3wire.ResponseMessage(resp.Header.Get(v3wire.HeaderTimestamp),
		resp.Header.Get(v3wire.HeaderNonce), raw), resp.Header.Get(v3wire.HeaderSignature)); err != nil {
		return fmt.Errorf("%w: the answer does not verify: %v", ErrUnknown, err)
	}
	switch {
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: HTTP %d", ErrUnknown, resp.StatusCode)
	case resp.StatusCode >= 400:
		e := &APIError{Status: resp.StatusCode}
		_ = json.Unmarshal(raw, e)
		return e
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// K12Config sets up the service provider's K12 side for one school.
type K12Config struct {
	Client    *V3Client
	SubMchID  string
	OrgID     string
	QueueFile string        // where credentials wait for their debit ("" keeps them in memory)
	Retry     time.Duration // how often waiting debits are sent again; 10 s when zero
	Workers   int           // debits sent at once when flushing a backlog; 4 when zero
	Now       func() time.Time
}

// Debit is one credential the kiosk app handed over, and what became of it.
type Debit struct {
	OutTradeNo    string `json:"out_trade_no"`
	AuthCode      string `json:"auth_code,omitempty"`
	UserID        string `json:"user_id"`
	Fen           int64  `json:"total_fee"`
	Description   string `json:"description,omitempty"`
	State         string `json:"state"` // QUEUED until the platform answers; then DONE or REFUSED
	TradeState    string `json:"trade_state,omitempty"`
	ErrorType     string `json:"error_type,omitempty"`
	DebtState     string `json:"debt_state,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
	Refusal       string `json:"refusal,omitempty"`
	Attempts      int    `json:"attempts"`
	ReceivedAt    string `json:"received_at"`
}

// Debit states on the service provider's side.
const (
	Queued  = "QUEUED"
	Done    = "DONE"
	Refused = "REFUSED"
)

// K12 is the service provider's K12 side.
type K12 struct {
	cfg K12Config

	mu       sync.Mutex
	debits   map[string]*Debit // out_trade_no →
	order    []string
	authinfo map[string]cached // device_id →
	blocked  map[string]string // user_id → why, from the webhooks
	events   []map[string]any
	kick     chan struct{}
	journal  *os.File // the queue file: one JSON line per debit received or settled
}

// NewK12 loads the queue file, if any.
func NewK12(cfg K12Config) (*K12, error) {
	if cfg.Retry == 0 {
		cfg.Retry = 10 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &K12{cfg: cfg, debits: map[string]*Debit{}, authinfo: map[string]cached{}, blocked: map[string]string{}, kick: make(chan struct{}, 1)}
	if cfg.QueueFile != "" {
		if err := k.load(); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(cfg.QueueFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		k.journal = f
	}
	return k, nil
}

// AuthInfo is the kiosk's offline authinfo: the one held while younger than an hour,
// else a new one (the docs: fetch hourly; it lives 36 hours).
func (k *K12) AuthInfo(ctx context.Context, deviceID, rawData string) (string, time.Time, bool, error) {
	now := k.cfg.Now()
	k.mu.Lock()
	c, ok := k.authinfo[deviceID]
	k.mu.Unlock()
	if ok && now.Before(c.expires.Add(-35*time.Hour)) {
		return c.authinfo, c.expires, true, nil
	}
	var out struct {
		AuthInfo string `json:"authinfo"`
	}
	err := k.cfg.Client.Do(ctx, http.MethodPost, "/v3/offlineface/authinfo", map[string]string{"sp_appid": k.cfg.Client.creds.AppID,
		"sub_mchid": k.cfg.SubMchID, "device_id": deviceID, "raw_data": rawData, "organization_id": k.cfg.OrgID}, &out)
	if err != nil {
		if ok && now.Before(c.expires) {
			return c.authinfo, c.expires, true, nil // keep working on the old one while it is valid
		}
		return "", time.Time{}, false, err
	}
	c = cached{authinfo: out.AuthInfo, expires: now.Add(36 * time.Hour)}
	k.mu.Lock()
	k.authinfo[deviceID] = c
	k.mu.Unlock()
	return c.authinfo, c.expires, false, nil
}

// Submit takes a credential from the kiosk app: it is kept (on disk) before anything
// else, then sent; while the platform is unreachable it waits and is sent again.
// The same out_trade_no again is the same debit.
func (k *K12) Submit(ctx context.Context, d Debit) (Debit, error) {
	if d.AuthCode == "" || d.Fen <= 0 {
		return Debit{}, errors.New("face_token and a positive total_fee are required")
	}
	if d.OutTradeNo == "" {
		d.OutTradeNo = "K12" + k.cfg.Now().Format("20060102") + randid.Digits(12)
	}
	k.mu.Lock()
	if prev, ok := k.debits[d.OutTradeNo]; ok {
		k.mu.Unlock()
		if prev.AuthCode != d.AuthCode && prev.AuthCode != "" {
			return Debit{}, fmt.Errorf("out_trade_no %s was used for another credential", d.OutTradeNo)
		}
		return k.send(ctx, d.OutTradeNo)
	}
	d.State, d.ReceivedAt = Queued, k.cfg.Now().Format(time.RFC3339)
	k.debits[d.OutTradeNo] = &d
	k.order = append(k.order, d.OutTradeNo)
	// The credential is on disk before anyone hears it was taken.
	err := k.record(&d, true)
	k.mu.Unlock()
	if err != nil {
		return Debit{}, err
	}
	return k.send(ctx, d.OutTradeNo)
}

// send submits one queued debit; it answers the debit as it now stands.
func (k *K12) send(ctx context.Context, outTradeNo string) (Debit, error) {
	k.mu.Lock()
	d := *k.debits[outTradeNo]
	k.mu.Unlock()
	if d.State != Queued {
		return d, nil
	}
	var out struct {
		TradeState    string `json:"trade_state"`
		ErrorType     string `json:"error_type"`
		DebtState     string `json:"debt_state"`
		TransactionID string `json:"transaction_id"`
	}
	err := k.cfg.Client.Do(ctx, http.MethodPost, "/v3/offlineface/transactions", map[string]any{"auth_code": d.AuthCode,
		"sp_mchid": k.cfg.Client.creds.MchID, "sub_mchid": k.cfg.SubMchID, "amount": map[string]any{"total": d.Fen, "currency": "CNY"},
		"scene_info": map[string]string{"device_ip": "127.0.0.1"}, "description": d.Description, "out_trade_no": d.OutTradeNo,
		"business": map[string]int{"business_product_id": 2, "business_scene_id": 3}}, &out)
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.debits[outTradeNo]
	cur.Attempts++
	var apiErr *APIError
	switch {
	case errors.Is(err, ErrUnknown):
		// Kept: sent again by the retry loop, with the same out_trade_no.
	case errors.As(err, &apiErr):
		cur.State, cur.Refusal = Refused, apiErr.Error()
	case err != nil:
		return *cur, err
	default:
		cur.State, cur.TradeState, cur.ErrorType, cur.DebtState, cur.TransactionID = Done, out.TradeState, out.ErrorType, out.DebtState, out.TransactionID
	}
	if cur.State == Queued {
		return *cur, nil
	}
	cur.AuthCode = "" // spent or refused: the credential is no longer kept
	// Not synced: if this line is lost, the debit is sent again with its out_trade_no
	// and the platform answers the first result.
	return *cur, k.record(cur, false)
}

// Run sends the waiting debits every Retry until ctx ends.
func (k *K12) Run(ctx context.Context) {
	t := time.NewTicker(k.cfg.Retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
		}
		k.Flush(ctx)
	}
}

// Flush sends every waiting debit once, oldest first, Workers at a time (the
// debits of one user in order, so a day's limit is judged as the lunches came); it
// answers how many still wait.
func (k *K12) Flush(ctx context.Context) int {
	k.mu.Lock()
	byUser := map[string][]string{}
	var users []string
	for _, no := range k.order {
		if d := k.debits[no]; d.State == Queued {
			if byUser[d.UserID] == nil {
				users = append(users, d.UserID)
			}
			byUser[d.UserID] = append(byUser[d.UserID], no)
		}
	}
	k.mu.Unlock()
	var (
		left atomic.Int64
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range k.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(users) {
					return
				}
				for _, no := range byUser[users[i]] {
					if d, err := k.send(ctx, no); err != nil || d.State == Queued {
						left.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	return int(left.Load())
}

// Debits lists the debits, oldest first.
func (k *K12) Debits() []Debit {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Debit, 0, len(k.order))
	for _, no := range k.order {
		d := *k.debits[no]
		d.AuthCode = ""
		out = append(out, d)
	}
	return out
}

// record appends the debit as it now stands to the queue file; sync makes it
// durable before returning.
func (k *K12) record(d *Debit, sync bool) error {
	if k.journal == nil {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := k.journal.Write(append(b, '\n')); err != nil {
		return err
	}
	if sync {
		return k.journal.Sync()
	}
	return nil
}

// load replays the queue file: the last line of each debit is how it stands.
func (k *K12) load() error {
	b, err := os.ReadFile(k.cfg.QueueFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d Debit
		if err := json.Unmarshal(line, &d); err != nil {
			// A line cut by a crash mid-write was never acknowledged: skip it.
			continue
		}
		if _, seen := k.debits[d.OutTradeNo]; !seen {
			k.order = append(k.order, d.OutTradeNo)
		}
		k.debits[d.OutTradeNo] = &d
	}
	return nil
}

// Close closes the queue file.
func (k *K12) Close() error {
	if k.journal == nil {
		return nil
	}
	return k.journal.Close()
}

// Notify receives a K12 webhook: it must verify with the platform key and decrypt
// with the APIv3 key; user status events update the students kiosks must refuse.
func (k *K12) Notify(r *http.Request) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	c := k.cfg.Client
	if err := v3wire.VerifySHA256RSA(c.pub, v3wire.ResponseMessage(r.Header.Get(v3wire.HeaderTimestamp), r.Header.Get(v3wire.HeaderNonce), raw),
		r.Header.Get(v3wire.HeaderSignature)); err != nil {
		return fmt.Errorf("the webhook does not verify: %w", err)
	}
	var env struct {
		EventType string `json:"event_type"`
		Resource  struct {
			Ciphertext     string `json:"ciphertext"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	plain, err := v3wire.DecryptAEAD(c.creds.APIv3Key, env.Resource.Nonce, env.Resource.AssociatedData, env.Resource.Ciphertext)
	if err != nil {
		return fmt.Errorf("the webhook does not decrypt: %w", err)
	}
	var res map[string]any
	if err := json.Unmarshal(plain, &res); err != nil {
		return err
	}
	res["event_type"] = env.EventType
	user, _ := res["user_id"].(string)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.events = append(k.events, res)
	switch env.EventType {
	case "FACEPAY.USER_DISABLED":
		k.blocked[user] = "disabled by the platform: unpaid advances"
	case "FACEPAY.USER_ENABLED":
		delete(k.blocked, user)
	}
	return nil
}

// Blocked lists the students the platform disabled, for kiosks to refuse offline.
func (k *K12) Blocked() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.blocked))
	for u := range k.blocked {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Events are the webhooks received, oldest first.
func (k *K12) Events() []map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]map[string]any(nil), k.events...)
}

// routes adds the K12 endpoints to mux.
func (k *K12) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /merchant/k12/authinfo", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			DeviceID string `json:"device_id"`
			RawData  string `json:"raw_data"`
		}
		if !decode(w, r, &req) {
			return
		}
		ai, exp, cached, err := k.AuthInfo(r.Context(), req.DeviceID, req.RawData)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"authinfo": ai, "expires_in": int64(exp.Sub(k.cfg.Now()).Seconds()), "cached": cached,
			"organization_id": k.cfg.OrgID})
	})
	mux.HandleFunc("POST /merchant/k12/debits", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			FaceToken   string `json:"face_token"`
			UserID      string `json:"user_id"`
			TotalFee    int64  `json:"total_fee"`
			OutTradeNo  string `json:"out_trade_no"`
			Description string `json:"description"`
		}
		if !decode(w, r, &req) {
			return
		}
		d, err := k.Submit(r.Context(), Debit{AuthCode: req.FaceToken, UserID: req.UserID, Fen: req.TotalFee, OutTradeNo: req.OutTradeNo,
			Description: req.Description})
		if err != nil {
			writeErr(w, err)
			return
		}
		status := http.StatusOK
		if d.State == Queued {
			status = http.StatusAccepted // kept; sent when the platform answers
		}
		d.AuthCode = ""
		writeJSON(w, status, d)
	})
	mux.HandleFunc("GET /merchant/k12/debits", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, k.Debits()) })
	mux.HandleFunc("POST /merchant/k12/notify", func(w http.ResponseWriter, r *http.Request) {
		if err := k.Notify(r); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"code": "FAIL", "message": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /merchant/k12/blocked", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"user_ids": k.Blocked()})
	})
	mux.HandleFunc("GET /merchant/k12/debits/{out_trade_no}", func(w http.ResponseWriter, r *http.Request) {
		for _, d := range k.Debits() {
			if d.OutTradeNo == r.PathValue("out_trade_no") {
				writeJSON(w, http.StatusOK, d)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such debit"})
	})
}
