// Package bench measures the platform as its clients see it: a real server on
// loopback, driven over HTTPS keep-alive by signed requests, with the ceiling of the
// same server on a trivial signed request measured the same way in the same run.
package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// PayConfig sets up `facepay bench pay`.
type PayConfig struct {
	DBURL       string        // PostgreSQL; empty: SQLite in a temporary directory
	Concurrency int           // keep-alive connections, one request in flight on each
	Duration    time.Duration // of each phase, over all rounds
	// Rounds runs the four phases this many times in turn, each for Duration/Rounds,
	// so a change of the machine's speed during the run reaches every phase alike.
	Rounds   int
	Payers   int       // spread payments over this many wallets
	Progress io.Writer // a progress line while it runs (stderr)
	// Profile, when set, is called as the phase named ProfilePhase ("facepay",
	// "orderquery" or "protocol", the ceiling) starts, in the middle round, and returns
	// the function that ends it: a CPU profile of one phase shows that path alone.
	Profile      func() (stop func())
	ProfilePhase string
}

// profiled runs a phase, metered (cpu.go), inside the profile when it is the one
// asked for in the round profiled.
func (cfg PayConfig) profiled(phase string, round int, run func() Result) Result {
	if cfg.Profile == nil || cfg.ProfilePhase != phase || round != cfg.Rounds/2 {
		return metered(run)
	}
	stop := cfg.Profile()
	r := metered(run)
	stop()
	if cfg.Progress != nil { // the count a profile's per-request figures divide by (bench/profile/split.py)
		fmt.Fprintf(cfg.Progress, "\nprofiled: %s: %d requests in %s\n", r.Name, r.OK+r.Failed, r.Elapsed.Round(time.Millisecond))
	}
	return r
}

// Result is one measured phase.
type Result struct {
	Name     string
	OK       int
	Failed   int
	Elapsed  time.Duration
	P50, P99 time.Duration
	lat      []time.Duration // sorted, for merging rounds
	// CPU is this process's CPU during the phase; MachineBusy of MachineTicks the
	// machine's /proc/stat ticks were busy, over MachineCPUs cores (cpu.go).
	CPU                       time.Duration
	MachineBusy, MachineTicks uint64
	MachineCPUs               int
}

// measured is a phase's Result from its counts and every request's latency.
func measured(name string, ok, failed int, elapsed time.Duration, lat []time.Duration) Result {
	slices.Sort(lat)
	r := Result{Name: name, OK: ok, Failed: failed, Elapsed: elapsed, lat: lat}
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r
}

// PerSec is successful requests per second.
func (r Result) PerSec() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// PayReport is what the pay benchmark prints.
type PayReport struct {
	Backend     string
	Concurrency int
	Protocol    Result // the protocol ceiling: the same orderquery against the v2 wire work alone
	Storage     Result // the storage ceiling: the pay-shaped transaction on the same backend, no HTTP
	Ceiling     Result // orderquery of an unknown order
	Paid        Result // facepay with a fresh face_code each
	// CodesRead is how many of the facepay phases' charges read their code from the
	// database, not finding it among the codes the process minted (a kiosk's code,
	// minted seconds before, is found); CodesCached how many found it.
	CodesRead, CodesCached int64
	// Rounds holds each round's four phases when the run had more than one; the
	// fields above are then every round's requests over every round's time.
	Rounds []PayReport
}

// Spread is the smallest, the median and the largest of ratio over the rounds.
func (r PayReport) Spread(ratio func(PayReport) float64) (lo, median, hi float64) {
	return spread(r.Rounds, r, ratio)
}

// spread is the smallest, the median and the largest of ratio over rounds; a run of
// one round (no rounds kept) has its own ratio as all three.
func spread[R any](rounds []R, whole R, ratio func(R) float64) (lo, median, hi float64) {
	if len(rounds) == 0 {
		v := ratio(whole)
		return v, v, v
	}
	vs := make([]float64, len(rounds))
	for i, round := range rounds {
		vs[i] = ratio(round)
	}
	slices.Sort(vs)
	n := len(vs)
	median = vs[n/2]
	if n%2 == 0 {
		median = (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[0], median, vs[n-1]
}

// Ratio is paid/s over the orderquery's requests/s.
func (r PayReport) Ratio() float64 { return r.Paid.PerSec() / r.Ceiling.PerSec() }

// StorageRatio is paid/s over the storage ceiling.
func (r PayReport) StorageRatio() float64 { return r.Paid.PerSec() / r.Storage.PerSec() }

// SharedBound is the most payments a second the machine allows if a payment cost
// exactly the anchors' work, a storage-ceiling transaction plus a protocol-ceiling
// request, both on the same cores: 1 / (1/storage + 1/protocol). When the cores are
// the limit (both anchors use every core they get), no platform reaches it.
func (r PayReport) SharedBound() float64 {
	s, p := r.Storage.PerSec(), r.Protocol.PerSec()
	if !(s > 0 && p > 0) { // also NaN: a phase that did not run
		return 0
	}
	return s * p / (s + p)
}

// StorageGoal is the goal for facepay: this share of the storage ceiling.
const StorageGoal = 0.7

// CoresFor is how many of the machine's cores facepay would keep busy paying share of
// the storage ceiling at the machine CPU a payment cost it in this run (PostgreSQL's
// processes and the client included): whether a goal is beyond these cores at this
// cost, or within them and held back by waiting. 0 when the machine was not read.
func (r PayReport) CoresFor(share float64) float64 {
	return share * r.Storage.PerSec() * r.Paid.MachineCPUPerRequest().Seconds()
}

// BoundRatio is paid/s over SharedBound.
func (r PayReport) BoundRatio() float64 { return r.Paid.PerSec() / r.SharedBound() }

// QueryRatio is the platform's orderquery over the protocol ceiling.
func (r PayReport) QueryRatio() float64 { return r.Ceiling.PerSec() / r.Protocol.PerSec() }

// The phases' names, as the table prints them.
const (
	protocolPhase = "protocol ceiling (no store)"
	storagePhase  = "storage ceiling (pay-shaped tx)"
	queryPhase    = "orderquery (unknown order)"
	payPhase      = "facepay"
)

// roundName is how progress names a phase in round k of rounds.
func roundName(phase string, k, rounds int) string {
	if rounds == 1 {
		return phase
	}
	return fmt.Sprintf("%s, round %d/%d", phase, k+1, rounds)
}

// merge is one phase over all rounds, phase(round) for each: its requests over its
// time, its percentiles over every latency.
func merge[R any](name string, rounds []R, phase func(R) Result) Result {
	var (
		ok, failed int
		elapsed    time.Duration
		lat        []time.Duration
		cpu        Result
	)
	for _, round := range rounds {
		r := phase(round)
		ok, failed, elapsed = ok+r.OK, failed+r.Failed, elapsed+r.Elapsed
		lat = append(lat, r.lat...)
		cpu.CPU, cpu.MachineBusy, cpu.MachineTicks = cpu.CPU+r.CPU, cpu.MachineBusy+r.MachineBusy, cpu.MachineTicks+r.MachineTicks
		cpu.MachineCPUs = max(cpu.MachineCPUs, r.MachineCPUs)
	}
	m := measured(name, ok, failed, elapsed, lat)
	m.CPU, m.MachineBusy, m.MachineTicks, m.MachineCPUs = cpu.CPU, cpu.MachineBusy, cpu.MachineTicks, cpu.MachineCPUs
	return m
}

// RunPay starts a platform, prepares payers and face codes, and measures.
func RunPay(ctx context.Context, cfg PayConfig) (PayReport, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	cfg.Rounds = max(cfg.Rounds, 1)
	if cfg.Payers <= 0 {
		cfg.Payers = 200
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	p, stop, err := serving(ctx, cfg.DBURL, platform.Config{})
	if err != nil {
		return PayReport{}, err
	}
	defer stop()
	db := p.DB

	cr, err := p.Tenants.Create(ctx, tenant.NewMerchant{Name: "bench"})
	if err != nil {
		return PayReport{}, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.CA.Pool()}, MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency,
	}}
	base := p.Server.URL()
	rep := PayReport{Backend: db.Backend(), Concurrency: cfg.Concurrency}
	d := driver{concurrency: cfg.Concurrency, duration: cfg.Duration, progress: cfg.Progress}
	cert, err := p.CA.ServerCert(time.Now(), "127.0.0.1")
	if err != nil {
		return rep, err
	}
	anchorURL, stopAnchor, err := protocolCeiling(cr, cert)
	if err != nil {
		return rep, err
	}
	// The same request to the anchor and to the platform: an orderquery of an unknown order.
	unknownOrder := func(base string) func(n int64) (bool, bool) {
		return func(n int64) (bool, bool) {
			m := envelope(cr)
			m.Set("out_trade_no", "NONE-"+strconv.FormatInt(n, 10))
			v2wire.SignMessage(m, cr.APIKey, v2wire.SignHMACSHA256)
			return post(client, base+"/pay/orderquery", m.Encode(), "ORDERNOTEXIST"), true
		}
	}
	defer stopAnchor()
	storage, err := openStorageAnchor(ctx, cfg.DBURL)
	if err != nil {
		return rep, err
	}
	defer storage.close()
	d.duration = cfg.Duration / time.Duration(cfg.Rounds)
	var (
		codes  []string     // the round's face codes
		next   atomic.Int64 // the round's next code
		orders atomic.Int64 // numbers the orders across rounds
		short  bool
	)
	facepay := func(int64) (bool, bool) {
		i := next.Add(1) - 1
		if i >= int64(len(codes)) {
			return false, false
		}
		return post(client, base+"/pay/facepay", facepayBody(cr, "B"+strconv.FormatInt(orders.Add(1), 10), codes[i]), ""), true
	}
	// 12 000 codes a second of the phase: 64 connections paid over 9 000 a second here,
	// and a phase that finds no code left pays nothing.
	perRound := int(d.duration.Seconds() * 12000)
	if perRound > sqlstore.CodeCacheMax {
		fmt.Fprintf(cfg.Progress, "note: a round mints %d face codes, more than the %d its process keeps; charges beyond those read their code from the database (more --rounds keep each round's codes within it)\n", perRound, sqlstore.CodeCacheMax)
	}
	for k := range cfg.Rounds {
		var round PayReport
		name := func(phase string) string { return roundName(phase, k, cfg.Rounds) }
		// Each round pays with codes minted as it starts, seconds before they are used, as
		// a kiosk mints one seconds before it pays. Minted all before the first round, a
		// third of them had left the process's code cache (codecache.go) by their turn
		// and cost the payment a read a kiosk's code does not, and in a long run they
		// outlived a face code's two minutes. Minting is not measured.
		fmt.Fprintf(cfg.Progress, "%s: minting face codes for %d payers...\n", roundName("facepay", k, cfg.Rounds), cfg.Payers)
		if codes, err = prepareCodes(ctx, p.Pay, cr, perRound, cfg.Payers); err != nil {
			return rep, err
		}
		next.Store(0)
		round.Protocol = cfg.profiled("protocol", k, func() Result {
			return d.drive(ctx, name(protocolPhase), unknownOrder(anchorURL))
		})
		round.Storage = metered(func() Result {
			var r Result
			r, err = storage.run(ctx, cfg.Concurrency, d.duration, name(storagePhase), cfg.Progress)
			return r
		})
		if err != nil {
			return rep, err
		}
		round.Ceiling = cfg.profiled("orderquery", k, func() Result { return d.drive(ctx, name(queryPhase), unknownOrder(base)) })
		cached, read := db.CodeLookups()
		round.Paid = cfg.profiled("facepay", k, func() Result { return d.drive(ctx, name(payPhase), facepay) })
		cachedAfter, readAfter := db.CodeLookups()
		round.CodesCached, round.CodesRead = cachedAfter-cached, readAfter-read
		rep.CodesCached, rep.CodesRead = rep.CodesCached+round.CodesCached, rep.CodesRead+round.CodesRead
		short = short || next.Load() > int64(len(codes))
		rep.Rounds = append(rep.Rounds, round)
	}
	rep.Protocol = merge(protocolPhase, rep.Rounds, func(r PayReport) Result { return r.Protocol })
	rep.Storage = merge(storagePhase, rep.Rounds, func(r PayReport) Result { return r.Storage })
	rep.Ceiling = merge(queryPhase, rep.Rounds, func(r PayReport) Result { return r.Ceiling })
	rep.Paid = merge(payPhase, rep.Rounds, func(r PayReport) Result { return r.Paid })
	if cfg.Rounds == 1 {
		rep.Rounds = nil
	}
	if short {
		fmt.Fprintf(cfg.Progress, "note: a round used all its %d face codes before its time was up\n", perRound)
	}
	return rep, audited(ctx, db)
}

// audited fails unless the store's ledger balances after a run.
func audited(ctx context.Context, db *sqlstore.DB) error {
	a, err := db.AuditLedger(ctx)
	if err != nil {
		return err
	}
	if !a.Balanced() {
		return fmt.Errorf("the ledger does not balance after the run: %+v", a)
	}
	return nil
}

// prepareCodes makes payers and enough face codes for a fast run (minted in bulk, so
// the minting is not measured).
func prepareCodes(ctx context.Context, svc *pay.Service, cr tenant.Credentials, want, payers int) ([]string, error) {
	id, err := device.NewIdentity()
	if err != nil {
		return nil, err
	}
	raw, err := device.MakeRawdata(id, time.Now())
	if err != nil {
		return nil, err
	}
	ai, err := svc.AuthInfo(ctx, pay.AuthInfoRequest{MchID: cr.MchID, AppID: cr.AppID, StoreID: "BENCH", StoreName: "bench",
		DeviceID: "BENCH-" + randid.Hex(6), Rawdata: raw, Now: strconv.FormatInt(time.Now().Unix(), 10), Version: "1"})
	if err != nil {
		return nil, err
	}
	perPayer := (want + payers - 1) / payers
	ids := make([]string, payers)
	for i := range ids {
		p, err := svc.CreatePayer(ctx, int64(perPayer)*10, "")
		if err != nil {
			return nil, err
		}
		ids[i] = p.PayerID
	}
	// Payments take a code for each payer in turn, so that concurrent ones rarely hit
	// one wallet, and each turn's codes are minted together in that order: a kiosk
	// mints each code moments before its payment, so a claim finds its code's row
	// beside the rows of the payments around it. The turns are minted last-paid first:
	// a round that mints more codes than the process keeps (CodeCacheMax, the newest)
	// then has those it pays with first among them.
	turns := make([][]string, perPayer)
	for k := len(turns) - 1; k >= 0; k-- {
		minted, err := svc.MintFaceCodes(ctx, ai.AuthInfo, ids)
		if err != nil {
			return nil, err
		}
		for _, m := range minted {
			turns[k] = append(turns[k], m.FaceCode)
		}
	}
	out := make([]string, 0, perPayer*payers)
	for _, turn := range turns {
		out = append(out, turn...)
	}
	return out, nil
}

// facepayBody is a signed facepay of one fen with a fresh face_code.
func facepayBody(cr tenant.Credentials, outTradeNo, faceCode string) []byte {
	m := envelope(cr)
	m.Set("body", "bench")
	m.Set("out_trade_no", outTradeNo)
	m.SetInt("total_fee", 1)
	m.Set("fee_type", "CNY")
	m.Set("spbill_create_ip", "127.0.0.1")
	m.Set("face_code", faceCode)
	v2wire.SignMessage(m, cr.APIKey, v2wire.SignHMACSHA256)
	return m.Encode()
}

func envelope(cr tenant.Credentials) *v2wire.Message {
	m := v2wire.NewMessage()
	m.Set("appid", cr.AppID)
	m.Set("mch_id", cr.MchID)
	m.Set("nonce_str", v2wire.NonceStr())
	m.Set("sign_type", string(v2wire.SignHMACSHA256))
	return m
}

// driver runs concurrency workers, each with one request in flight, for duration
// (or until do says there is nothing left), with a progress line.
type driver struct {
	concurrency int
	duration    time.Duration
	progress    io.Writer
}

// drive runs do(n) for n = 1, 2, ... on the workers; do tells whether request n
// succeeded and whether there are more.
func (d driver) drive(ctx context.Context, name string, do func(n int64) (ok, more bool)) Result {
	var (
		ok, failed atomic.Int64
		seq        atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		wg         sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d.duration)
	stopProgress := progress(d.progress, name, start, &ok)
	for range d.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				good, more := do(seq.Add(1))
				if !more {
					break
				}
				local = append(local, time.Since(t0))
				if good {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	stopProgress()
	return measured(name, int(ok.Load()), int(failed.Load()), time.Since(start), lat)
}

func post(client *http.Client, u string, body []byte, wantErr string) bool {
	resp, err := client.Post(u, "text/xml", bytes.NewReader(body))
	if err != nil {
		return false
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false
	}
	m, err := v2wire.Decode(raw)
	if err != nil || m.Get("return_code") != "SUCCESS" {
		return false
	}
	if wantErr != "" {
		return m.Get("err_code") == wantErr
	}
	return m.Get("result_code") == "SUCCESS"
}

// progress prints a line each second until stopped.
func progress(w io.Writer, name string, start time.Time, ok *atomic.Int64) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprintln(w)
				return
			case <-t.C:
				el := time.Since(start)
				fmt.Fprintf(w, "\r%-28s %5.1fs  %8d ok  %8.0f/s", name, el.Seconds(), ok.Load(), float64(ok.Load())/el.Seconds())
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}
