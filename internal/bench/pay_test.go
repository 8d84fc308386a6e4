package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// TestRunPayAnchors runs `facepay bench pay` briefly, in two rounds: both anchors and
// both platform phases complete in each round without a failed request or transaction,
// so the ratios it prints compare work that was actually done, and each phase's total
// is its rounds' requests over their time.
func TestRunPayAnchors(t *testing.T) {
	var progress strings.Builder
	profiles := 0
	rep, err := RunPay(context.Background(), PayConfig{Concurrency: 4, Duration: 600 * time.Millisecond, Rounds: 2, Payers: 5,
		Progress: &progress, ProfilePhase: "facepay", Profile: func() func() { profiles++; return func() {} }})
	if err != nil {
		t.Fatal(err)
	}
	// One phase of one round is profiled, and the count its profile covers is printed.
	want := fmt.Sprintf("profiled: facepay, round 2/2: %d requests in ", rep.Rounds[1].Paid.OK)
	if profiles != 1 || !strings.Contains(progress.String(), want) {
		t.Fatalf("%d profiles; progress lacks %q:\n%s", profiles, want, progress.String())
	}
	if len(rep.Rounds) != 2 {
		t.Fatalf("%d rounds reported, want 2", len(rep.Rounds))
	}
	phases := func(r PayReport) []Result { return []Result{r.Protocol, r.Storage, r.Ceiling, r.Paid} }
	for i, total := range phases(rep) {
		if total.OK == 0 || total.Failed != 0 {
			t.Fatalf("%s: %d ok, %d failed", total.Name, total.OK, total.Failed)
		}
		var ok int
		var elapsed time.Duration
		for _, round := range rep.Rounds {
			r := phases(round)[i]
			if r.OK == 0 || r.Elapsed < 250*time.Millisecond {
				t.Fatalf("%s: a round of %d ok in %s", r.Name, r.OK, r.Elapsed)
			}
			ok, elapsed = ok+r.OK, elapsed+r.Elapsed
		}
		if total.OK != ok || total.Elapsed != elapsed {
			t.Fatalf("%s: total %d in %s, rounds %d in %s", total.Name, total.OK, total.Elapsed, ok, elapsed)
		}
		// Every phase does work in this process (the storage ceiling its statements),
		// and the machine was busy while it ran, on no more cores than it has.
		if total.CPUPerRequest() <= 0 || total.Cores() <= 0 || total.MachineCPUs < 1 ||
			total.MachineCores() <= 0 || total.MachineCores() > float64(total.MachineCPUs) {
			t.Fatalf("%s: %s of CPU a request, %.2f cores here, %.2f busy of %d", total.Name, total.CPUPerRequest(), total.Cores(),
				total.MachineCores(), total.MachineCPUs)
		}
	}
	// Each round mints its codes as it starts, so every charge finds its code among
	// those the process minted, as a kiosk's does; only the run's first charges, which
	// read the merchant's state for facepay as well, read their codes with it.
	if rep.CodesRead > 4 || rep.CodesCached+rep.CodesRead != int64(rep.Paid.OK) {
		t.Fatalf("facepay read %d codes and found %d cached, for %d payments", rep.CodesRead, rep.CodesCached, rep.Paid.OK)
	}
	if rep.QueryRatio() <= 0 || rep.QueryRatio() > 1.5 {
		t.Fatalf("orderquery : protocol ceiling = %.2f", rep.QueryRatio())
	}
}

// prepareCodes hands out a code for each payer in turn, each turn's codes minted
// together in the order they are paid with, and the turns minted last-paid first, so
// that the newest codes (those the store's cache keeps) are the first paid.
func TestPrepareCodesMintsTurnsLastPaidFirst(t *testing.T) {
	ctx := context.Background()
	p, stop, err := serving(ctx, "", platform.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cr, err := p.Tenants.Create(ctx, tenant.NewMerchant{Name: "bench"})
	if err != nil {
		t.Fatal(err)
	}
	const payers, turns = 3, 4
	codes, err := prepareCodes(ctx, p.Pay, cr, payers*turns, payers)
	if err != nil || len(codes) != payers*turns {
		t.Fatalf("%d codes: %v", len(codes), err)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		h := sha256.Sum256([]byte(c))
		hashes[i] = hex.EncodeToString(h[:])
	}
	rows, err := p.DB.SQL().QueryContext(ctx, `SELECT code_hash, payer_id FROM pay_credentials ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var minted []string
	payerOf := map[string]string{}
	for rows.Next() {
		var h, payer string
		if err := rows.Scan(&h, &payer); err != nil {
			t.Fatal(err)
		}
		minted, payerOf[h] = append(minted, h), payer
	}
	var want []string
	for k := turns - 1; k >= 0; k-- {
		want = append(want, hashes[k*payers:(k+1)*payers]...)
	}
	if !slices.Equal(minted, want) {
		t.Fatalf("minted in the order %v, want the turns last-paid first %v", minted, want)
	}
	for i, h := range hashes {
		if payerOf[h] != payerOf[hashes[i%payers]] {
			t.Fatalf("code %d is paid by %s, not the turn's payer %d", i, payerOf[h], i%payers)
		}
	}
	if payerOf[hashes[0]] == payerOf[hashes[1]] || payerOf[hashes[1]] == payerOf[hashes[2]] || payerOf[hashes[0]] == payerOf[hashes[2]] {
		t.Fatal("a turn pays twice from one wallet")
	}
}

// machineTicks adds the aggregate line's busy ticks (all but idle and iowait) and
// counts the cores: 3 cores busy 400 of 1 000 ticks are 1.2 busy cores.
func TestMachineTicks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	stat := "cpu  100 20 80 500 100 10 40 150 7 0\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 1 2 3 4 5 6 7 8 0 0\ncpu2 1 2 3 4 5 6 7 8 0 0\nintr 1 2 3\nctxt 99\n"
	if err := os.WriteFile(path, []byte(stat), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, total, cpus := machineTicks(path)
	if busy != 400 || total != 1000 || cpus != 3 {
		t.Fatalf("busy %d of %d ticks on %d cores, want 400 of 1000 on 3", busy, total, cpus)
	}
	r := Result{MachineBusy: busy, MachineTicks: total, MachineCPUs: cpus, CPU: 3 * time.Second, Elapsed: 2 * time.Second, OK: 1000}
	if math.Abs(r.MachineCores()-1.2) > 1e-9 || r.Cores() != 1.5 || r.CPUPerRequest() != 3*time.Millisecond || r.MachineCPUPerRequest() != 2400*time.Microsecond {
		t.Fatalf("%.2f busy cores, %.2f here, %s a request here, %s on the machine", r.MachineCores(), r.Cores(), r.CPUPerRequest(), r.MachineCPUPerRequest())
	}
	if b, tot, n := machineTicks(filepath.Join(t.TempDir(), "none")); b != 0 || tot != 0 || n != 0 || (Result{}).MachineCores() != 0 {
		t.Fatal("no /proc/stat, yet ticks")
	}
}

// The shared bound: 10 000 transactions and 20 000 requests a second on the same
// cores leave time for 6 667 payments that need one of each.
func TestSharedBound(t *testing.T) {
	second := Result{Elapsed: time.Second}
	st, pr, paid := second, second, second
	st.OK, pr.OK, paid.OK = 10000, 20000, 5000
	rep := PayReport{Storage: st, Protocol: pr, Paid: paid}
	if b := rep.SharedBound(); b < 6666 || b > 6667 {
		t.Fatalf("shared bound %.1f, want 6 666.7", b)
	}
	if r := rep.BoundRatio(); r < 0.749 || r > 0.751 {
		t.Fatalf("paid : shared bound %.3f, want 0.75", r)
	}
	if (PayReport{}).SharedBound() != 0 {
		t.Fatal("a report without anchors has a bound")
	}
}

// The cores a goal needs: 10 000 transactions a second at the ceiling, facepay paying
// 5 000 with 1.5 of two cores busy (300 µs of machine CPU a payment); 0.7 of the
// ceiling, 7 000 payments, would keep 2.1 cores busy, more than the machine has.
func TestCoresForGoal(t *testing.T) {
	second := Result{Elapsed: time.Second}
	st, paid := second, second
	st.OK, paid.OK = 10000, 5000
	paid.MachineBusy, paid.MachineTicks, paid.MachineCPUs = 150, 200, 2
	rep := PayReport{Storage: st, Paid: paid}
	if c := rep.CoresFor(StorageGoal); math.Abs(c-2.1) > 1e-9 {
		t.Fatalf("0.7 of the ceiling needs %.3f cores, want 2.1", c)
	}
	if c := rep.CoresFor(0.5); math.Abs(c-1.5) > 1e-9 {
		t.Fatalf("0.5 of the ceiling needs %.3f cores, want 1.5 (what it keeps busy)", c)
	}
	paid.MachineTicks = 0
	if c := (PayReport{Storage: st, Paid: paid}).CoresFor(StorageGoal); c != 0 {
		t.Fatalf("%.2f cores without a reading of the machine", c)
	}
}

// TestRounds: a phase over its rounds is all its requests over all its time, with
// percentiles over every latency, and each ratio's spread is over the rounds.
func TestRounds(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	a := measured("p", 3, 0, time.Second, ms(3, 1, 2))
	b := measured("p", 1, 1, 3*time.Second, ms(9, 4))
	if a.P50 != 2*time.Millisecond || a.P99 != 3*time.Millisecond {
		t.Fatalf("one round: p50 %s p99 %s", a.P50, a.P99)
	}
	m := merge("p", []Result{a, b}, func(r Result) Result { return r })
	if m.OK != 4 || m.Failed != 1 || m.Elapsed != 4*time.Second || m.PerSec() != 1 {
		t.Fatalf("merged %+v", m)
	}
	if m.P50 != 3*time.Millisecond || m.P99 != 9*time.Millisecond {
		t.Fatalf("merged p50 %s p99 %s, want 3ms and 9ms", m.P50, m.P99)
	}
	second := func(ok int) Result { return Result{OK: ok, Elapsed: time.Second} }
	round := func(paid int) PayReport { return PayReport{Storage: second(1000), Paid: second(paid)} }
	rep := PayReport{Rounds: []PayReport{round(700), round(400), round(900), round(600)}}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if lo, med, hi := rep.Spread(PayReport.StorageRatio); !near(lo, 0.4) || !near(med, 0.65) || !near(hi, 0.9) {
		t.Fatalf("spread %.2f / %.2f / %.2f, want 0.40 / 0.65 / 0.90", lo, med, hi)
	}
	one := round(500)
	if lo, med, hi := one.Spread(PayReport.StorageRatio); !near(lo, 0.5) || !near(med, 0.5) || !near(hi, 0.5) {
		t.Fatalf("a run of one round: %.2f / %.2f / %.2f", lo, med, hi)
	}
}

// TestRunMemory: the payments are all made and both readings come from the process.
func TestRunMemory(t *testing.T) {
	rep, err := RunMemory(context.Background(), MemoryConfig{Orders: 300})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != 300 || rep.PlatformIdle.RSS <= 0 || rep.PlatformAfter.RSS <= 0 || rep.PlatformAfter.HeapInuse <= 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestSQLiteAnchorKeepsItsPages: the SQLite storage ceiling's connection keeps a page
// cache of its own size (storageanchor.go). With the store's 2 MB default the
// platform's connections, which share this SQLite build's one page cache, took the
// anchor's pages between its phases, and the ceiling measured low.
func TestSQLiteAnchorKeepsItsPages(t *testing.T) {
	ctx := context.Background()
	a, err := newSQLiteAnchor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	var kib int64
	if err := a.conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&kib); err != nil {
		t.Fatal(err)
	}
	if kib != -anchorCacheKiB {
		t.Fatalf("the anchor's cache_size is %d, want %d (64 MB)", kib, -anchorCacheKiB)
	}
}
