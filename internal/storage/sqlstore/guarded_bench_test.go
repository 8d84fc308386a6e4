package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

// BenchmarkGuardedPayments measures the platform's decided payments as the store
// writes them (the code claimed, the order, the wallet's debit, the transfer, the
// settlement credit, deferred on PostgreSQL; group-committed), from 16 goroutines over
// 200 wallets of one merchant, without HTTP: the platform's side of `bench pay`'s
// storage ceiling. On
// PostgreSQL "unmerged" sends each payment's rows on their own, to weigh the merged
// INSERTs in one run.
func BenchmarkGuardedPayments(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			be := storagetest.Open(b, backend)
			bp := newBenchPayments(b, be)
			modes := []bool{true}
			if backend == "postgres" {
				modes = append(modes, false)
			}
			for _, merged := range modes {
				name := "merged"
				if !merged {
					name = "unmerged"
				}
				b.Run(name, func(b *testing.B) {
					be.DB.MergeRows(merged)
					codes := bp.mint(b, b.N)
					cpu := startCPU()
					bp.payAll(b, codes, nil)
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "paid/s")
					cpu.report(b)
				})
			}
		})
	}
}

type benchPayments struct {
	be  storagetest.Backend
	m   string
	t0  time.Time
	seq int
}

func newBenchPayments(b *testing.B, be storagetest.Backend) *benchPayments {
	bp := &benchPayments{be: be, t0: time.Now()}
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprint("P", i)
	}
	bp.m, _ = payers(b, be, bp.t0, 1<<40, ids...)
	return bp
}

// mint inserts n unused face codes, payer i%200's for the i-th, and returns them.
func (bp *benchPayments) mint(b *testing.B, n int) []string {
	codes := make([]string, n)
	for i := range codes {
		bp.seq++
		codes[i] = fmt.Sprint("code-", bp.seq)
	}
	mint(b, bp.be, bp.m, bp.t0, codes, func(i int) string { return fmt.Sprint("P", i%200) })
	return codes
}

// payAll pays one fen with each of codes, payer i%200 the i-th, from 16 goroutines
// (as bench pay's connections on this machine's two cores), counting each in paid
// when given, with the benchmark's timer running only meanwhile.
func (bp *benchPayments) payAll(b *testing.B, codes []string, paid *atomic.Int64) {
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1)) - 1
			p := decided(bp.m, fmt.Sprint("P", i%200), "N-"+codes[i], codes[i], 1, bp.t0)
			if err := bp.be.DB.ApplyPayment(context.Background(), p); err != nil {
				b.Error(err)
				return
			}
			if paid != nil {
				paid.Add(1)
			}
		}
	})
	b.StopTimer()
}

// cpuUse is the CPU time this process and the machine's postgres processes had used
// when it was taken: per payment it tells what the work costs whatever the clock speed
// of the moment, which moves by a third between runs on this machine kind.
type cpuUse struct{ self, postgres time.Duration }

func startCPU() cpuUse {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuUse{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), postgres: postgresCPU()}
}

// report adds the CPU used since u per operation: "go-µs/op" and "pg-µs/op".
func (u cpuUse) report(b *testing.B) {
	now := startCPU()
	b.ReportMetric(float64(now.self-u.self)/float64(time.Microsecond)/float64(b.N), "go-µs/op")
	b.ReportMetric(float64(now.postgres-u.postgres)/float64(time.Microsecond)/float64(b.N), "pg-µs/op")
}

// postgresCPU sums user and system time of the processes named postgres (the local
// server of make test); zero where /proc does not show them.
func postgresCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(raw)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:]) // from field 3, state: utime and stime are fields 14 and 15
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + k
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ, 100 on Linux
}

// BenchmarkPipelineMerged weighs the pipeline's ways on PostgreSQL in one run each:
// "rows" merged statements against each payment's own, "credits" a batch's deferred
// credits summed per account against a row per payment (all else merged), "chain" a
// batch sent while the one before it commits against one sent after it. 16
// goroutines pay without pause while the mode flips every 100 ms, and each slice's
// payments and CPU count for its mode. On this machine kind the CPU's speed moves by a
// third within minutes, so two runs one after the other do not compare; slices taken
// in turn do.
func BenchmarkPipelineMerged(b *testing.B) {
	b.Run("rows", func(b *testing.B) {
		flipped(b, [2]string{"merged", "unmerged"}, func(db *sqlstore.DB, on bool) { db.MergeRows(on) })
	})
	b.Run("credits", func(b *testing.B) {
		flipped(b, [2]string{"summed", "apart"}, func(db *sqlstore.DB, on bool) { db.SumCredits(on) })
	})
	b.Run("chain", func(b *testing.B) {
		flipped(b, [2]string{"chained", "alone"}, func(db *sqlstore.DB, on bool) { db.ChainBatches(on) })
	})
}

// flipped pays b.N payments on PostgreSQL with set(db, true) and set(db, false) in
// turns of 100 ms, and reports paid/s and CPU per payment of each, named by names.
func flipped(b *testing.B, names [2]string, set func(db *sqlstore.DB, on bool)) {
	be := storagetest.Open(b, "postgres")
	bp := newBenchPayments(b, be)
	codes := bp.mint(b, b.N)
	type tally struct {
		paid     int64
		wall     time.Duration
		self, pg time.Duration
	}
	var (
		paid    atomic.Int64
		modes   [2]tally // [0] set on, [1] off
		stop    = make(chan struct{})
		flipped = make(chan struct{})
	)
	go func() {
		defer close(flipped)
		mode, at, cpu, count := 0, time.Now(), startCPU(), paid.Load()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var last bool
			select {
			case <-stop:
				last = true // the slice under way counts too
			case <-tick.C:
			}
			now, c, p := time.Now(), startCPU(), paid.Load()
			t := &modes[mode]
			t.paid, t.wall, t.self, t.pg = t.paid+p-count, t.wall+now.Sub(at), t.self+c.self-cpu.self, t.pg+c.postgres-cpu.postgres
			if last {
				return
			}
			mode = 1 - mode
			set(be.DB, mode == 0)
			at, cpu, count = now, c, p
		}
	}()
	bp.payAll(b, codes, &paid)
	close(stop)
	<-flipped
	set(be.DB, true)
	for i, name := range names {
		t := modes[i]
		if t.paid == 0 {
			continue
		}
		b.ReportMetric(float64(t.paid)/t.wall.Seconds(), name+"-paid/s")
		b.ReportMetric(float64(t.pg)/float64(time.Microsecond)/float64(t.paid), name+"-pg-µs/op")
		b.ReportMetric(float64(t.self)/float64(time.Microsecond)/float64(t.paid), name+"-go-µs/op")
	}
}
