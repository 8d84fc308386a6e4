package bench

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pki"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

// K12Config sets up `facepay bench k12`.
type K12Config struct {
	DBURL       string        // PostgreSQL; empty: SQLite in a temporary directory
	Concurrency int           // keep-alive connections, one request in flight on each
	Duration    time.Duration // of the ceiling phase over all rounds; the lunch runs until every student paid
	// Rounds splits both phases: each round looks organisations up for Duration/Rounds,
	// then takes the next Students/Rounds lunches, so the machine's changes of speed
	// reach both phases alike.
	Rounds   int
	Students int   // the school: each pays one lunch
	Fen      int64 // the price of a lunch
	Progress io.Writer
	// Profile, when set, is called as the middle round's lunch starts; what it returns
	// is called as it ends (a CPU profile of that phase).
	Profile func() (stop func())
}

// K12Report is what the K12 benchmark prints.
type K12Report struct {
	Backend     string
	Concurrency int
	Students    int
	Ceiling     Result // a signed v3 organisation lookup
	Lunch       Result // offlineface/transactions, one fresh credential each
	// Rounds holds each round's two phases when the run had more than one; the fields
	// above are then every round's requests over every round's time.
	Rounds []K12Report
}

// Ratio is debits/s over the ceiling's requests/s.
func (r K12Report) Ratio() float64 { return r.Lunch.PerSec() / r.Ceiling.PerSec() }

// Spread is the smallest, the median and the largest of Ratio over the rounds.
func (r K12Report) Spread() (lo, median, hi float64) {
	return spread(r.Rounds, r, K12Report.Ratio)
}

// The K12 phases' names, as the table prints them.
const (
	k12CeilingPhase = "organisation lookup"
	k12LunchPhase   = "lunch debits"
)

// RunK12 starts a platform on a fresh store, onboards a school of cfg.Students signed
// students and one kiosk, mints each student's offline credential for one lunch (not
// measured), then drives signed v3 requests over HTTPS keep-alive: first the ceiling
// (an organisation lookup, as signed and as verified), then the lunch hour: every
// student's debit. Every debit must succeed and the ledger must balance.
func RunK12(ctx context.Context, cfg K12Config) (K12Report, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Students <= 0 {
		cfg.Students = 3000
	}
	cfg.Rounds = min(max(cfg.Rounds, 1), cfg.Students)
	if cfg.Fen <= 0 {
		cfg.Fen = 1500
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	p, stop, err := serving(ctx, cfg.DBURL, platform.Config{})
	if err != nil {
		return K12Report{}, err
	}
	defer stop()
	rep := K12Report{Backend: p.DB.Backend(), Concurrency: cfg.Concurrency, Students: cfg.Students}
	sp, sub, org, creds, err := prepareSchool(ctx, p, cfg)
	if err != nil {
		return rep, err
	}
	key, err := pki.ParseRSAKeyPEM([]byte(sp.MerchantPrivateKeyPEM))
	if err != nil {
		return rep, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.CA.Pool()}, MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency,
	}}
	call := v3Caller{client: client, base: p.Server.URL(), key: key, mchID: sp.MchID, serial: sp.MerchantSerialNo}
	d := driver{concurrency: cfg.Concurrency, progress: cfg.Progress}
	// lunch pays the students from up to upTo, one each.
	lunch := func(from, upTo int64) func(int64) (bool, bool) {
		var next atomic.Int64
		next.Store(from)
		return func(int64) (bool, bool) {
			i := next.Add(1) - 1
			if i >= upTo {
				return false, false
			}
			body, _ := json.Marshal(map[string]any{"auth_code": creds[i], "sp_mchid": sp.MchID, "sub_mchid": sub,
				"amount": map[string]any{"total": cfg.Fen, "currency": "CNY"}, "scene_info": map[string]string{"device_ip": "10.0.0.8"},
				"description": "午餐", "out_trade_no": "LUNCH" + strconv.FormatInt(i, 10),
				"business": map[string]int{"business_product_id": 2, "business_scene_id": 3}})
			raw, ok := call.do(http.MethodPost, "/v3/offlineface/transactions", body)
			var v struct {
				TradeState string `json:"trade_state"`
			}
			return ok && json.Unmarshal(raw, &v) == nil && v.TradeState == "SUCCESS", true
		}
	}
	for k := range cfg.Rounds {
		var round K12Report
		name := func(phase string) string { return roundName(phase, k, cfg.Rounds) }
		d.duration = cfg.Duration / time.Duration(cfg.Rounds)
		round.Ceiling = d.drive(ctx, name(k12CeilingPhase), func(int64) (bool, bool) {
			_, ok := call.do(http.MethodGet, "/v3/offlinefacemch/organizations?organization_id="+org, nil)
			return ok, true
		})
		d.duration = time.Hour // the lunch hour: until this round's students paid
		stopProfile := func() {}
		if cfg.Profile != nil && k == cfg.Rounds/2 {
			stopProfile = cfg.Profile()
		}
		round.Lunch = d.drive(ctx, name(k12LunchPhase), lunch(int64(k*len(creds)/cfg.Rounds), int64((k+1)*len(creds)/cfg.Rounds)))
		stopProfile()
		rep.Rounds = append(rep.Rounds, round)
	}
	rep.Ceiling = merge(k12CeilingPhase, rep.Rounds, func(r K12Report) Result { return r.Ceiling })
	rep.Lunch = merge(k12LunchPhase, rep.Rounds, func(r K12Report) Result { return r.Lunch })
	if cfg.Rounds == 1 {
		rep.Rounds = nil
	}
	if rep.Lunch.OK != cfg.Students {
		return rep, fmt.Errorf("%d of %d students paid", rep.Lunch.OK, cfg.Students)
	}
	return rep, audited(ctx, p.DB)
}

// prepareSchool onboards a production service provider, its school, the students
// (each signed on a wallet of 100 lunches) and a kiosk, and mints one credential per
// student as the kiosk would at the till.
func prepareSchool(ctx context.Context, p *platform.Platform, cfg K12Config) (sp tenant.Credentials, sub, org string, creds []string, err error) {
	fmt.Fprintf(cfg.Progress, "preparing: a school of %d students, a kiosk, %d credentials...\n", cfg.Students, cfg.Students)
	if sp, err = p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider, Name: "bench-sp"}); err != nil {
		return
	}
	subCr, err := p.Tenants.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID, Name: "bench-school"})
	if err != nil {
		return
	}
	if err = p.DB.SetProduction(ctx, sp.MchID); err != nil {
		return
	}
	o, err := p.K12.NewOrganisation(ctx, sp.MchID, subCr.MchID, "bench school")
	if err != nil {
		return
	}
	caller := k12.Caller{MchID: sp.MchID}
	id, err := device.NewIdentity()
	if err != nil {
		return
	}
	raw, err := device.MakeRawdata(id, time.Now())
	if err != nil {
		return
	}
	ai, _, err := p.K12.OfflineAuthInfo(ctx, caller, k12.OfflineAuthInfoRequest{SPAppID: sp.AppID, SubMchID: subCr.MchID, DeviceID: "CANTEEN-1",
		RawData: raw, OrgID: o.ID})
	if err != nil {
		return
	}
	for i := range cfg.Students {
		out := fmt.Sprintf("stu-%06d", i)
		tok, err := p.K12.IssueToken(ctx, caller, o.ID, out)
		if err != nil {
			return sp, "", "", nil, err
		}
		payer, err := p.Pay.CreatePayer(ctx, 100*cfg.Fen, "")
		if err != nil {
			return sp, "", "", nil, err
		}
		u, _, err := p.K12.Sign(ctx, tok, payer.PayerID)
		if err != nil {
			return sp, "", "", nil, err
		}
		c, err := device.MintOfflineCredential(id.Key, device.OfflineClaims{AuthInfo: ai, UserID: u.UserID, Amount: cfg.Fen,
			IssuedAt: time.Now().Unix(), Nonce: randid.Hex(8)})
		if err != nil {
			return sp, "", "", nil, err
		}
		creds = append(creds, c)
		if (i+1)%500 == 0 {
			fmt.Fprintf(cfg.Progress, "\r  %d/%d students signed", i+1, cfg.Students)
		}
	}
	fmt.Fprintln(cfg.Progress)
	return sp, subCr.MchID, o.ID, creds, nil
}

// v3Caller signs v3 requests as a merchant server does and checks the answer's status.
type v3Caller struct {
	client        *http.Client
	base          string
	key           *rsa.PrivateKey
	mchID, serial string
}

func (c v3Caller) do(method, uri string, body []byte) ([]byte, bool) {
	auth, err := v3wire.SignRequest(c.key, c.mchID, c.serial, method, uri, body, time.Now())
	if err != nil {
		return nil, false
	}
	req, err := http.NewRequest(method, c.base+uri, bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return raw, err == nil && resp.StatusCode == http.StatusOK && resp.Header.Get("Wechatpay-Signature") != ""
}
