package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/bench"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/eval"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

func newBench() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure the platform on this machine"}
	var (
		db          string
		concurrency int
		duration    time.Duration
		rounds      int
		payers      int
		cpuProfile  string
		memProfile  string
		phase       string
	)
	payCmd := &cobra.Command{
		Use:   "pay",
		Short: "Paid/s of signed facepay over HTTPS keep-alive, against the ceiling of the same server",
		Long: `Start a platform on loopback (SQLite in a temporary directory, or a throw-away schema on
--db) and create a merchant, then drive signed requests over HTTPS keep-alive with
--concurrency connections for --duration each:
  1. the protocol ceiling: the same orderquery against a server doing only the v2 wire
     work (TLS, XML, HMAC sign check, a signed answer), no store;
  2. the storage ceiling: the research notes' pay-shaped transaction (order, two
     postings, a payer's and the merchant's hot balance, an outbox row) in tables of its
     own on the same backend, prepared statements, group commit of up to 64, full
     durability, pipelined on PostgreSQL, on SQLite a 64 MB page cache, so that the
     platform's connections in the same process do not take its pages; no HTTP;
  3. the platform's orderquery of an unknown order (a trivial signed request);
  4. facepay with a fresh face_code per payment, minted (not measured) for --payers
     new payers as the round starts, as a kiosk mints a code seconds before it pays. The
     report says how many charges found their code among those the process minted.
The four phases run --rounds times in turn, each for --duration/--rounds, so a change of
the machine's speed during the run (on a shared virtual machine it can halve) reaches
every phase alike. Prints requests/s, p50 and p99 of each over all rounds, the ratios
orderquery : protocol ceiling and paid : storage ceiling, and the smallest, median and
largest of each ratio over the rounds, so the figures compare within one run. The
client runs on the same machine and shares its cores. Beside each phase: this
process's CPU (server and client) per request and the cores it kept busy, and the
machine's busy cores from /proc/stat (a local PostgreSQL's too): a phase short of
every core waits on something serial, a commit or a round trip. Then the cores that
0.7 of the storage ceiling (the goal) would keep busy at facepay's machine CPU a
payment: more than the machine has means the goal is beyond it at that cost.`,
		Example: `  facepay bench pay
  facepay bench pay --db postgres://postgres@127.0.0.1:5432/facepay_test --concurrency 32 --duration 20s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rounds < 1 || duration/time.Duration(rounds) < 100*time.Millisecond {
				return fmt.Errorf("--rounds must be at least 1 and leave each round at least 100ms of --duration, not %d over %s", rounds, duration)
			}
			cfg := bench.PayConfig{DBURL: db, Concurrency: concurrency, Duration: duration, Rounds: rounds, Payers: payers, Progress: os.Stderr}
			if cpuProfile != "" || memProfile != "" {
				if phase != "facepay" && phase != "orderquery" && phase != "protocol" {
					return fmt.Errorf("--profile-phase must be facepay, orderquery or protocol, not %q", phase)
				}
				var profs []func() func()
				if cpuProfile != "" {
					prof, closeFile, err := cpuProfiler(cpuProfile)
					if err != nil {
						return err
					}
					defer closeFile()
					profs = append(profs, prof)
				}
				if memProfile != "" {
					prof, closeFile, err := allocProfiler(memProfile)
					if err != nil {
						return err
					}
					defer closeFile()
					profs = append(profs, prof)
				}
				cfg.ProfilePhase, cfg.Profile = phase, func() func() {
					var stops []func()
					for _, start := range profs {
						stops = append(stops, start())
					}
					return func() {
						for _, stop := range stops {
							stop()
						}
					}
				}
			}
			rep, err := bench.RunPay(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "backend %s, %d connections, %s per phase in %d rounds, GOMAXPROCS %d\n", rep.Backend, rep.Concurrency, duration, rounds, runtime.GOMAXPROCS(0))
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', tabwriter.AlignRight)
			cpus := max(rep.Paid.MachineCPUs, 1)
			fmt.Fprintf(w, "phase\tok\tfailed\tper s\tp50 ms\tp99 ms\tcpu µs/req\tcores here\tbusy of %d\t\n", cpus)
			for _, r := range []bench.Result{rep.Protocol, rep.Storage, rep.Ceiling, rep.Paid} {
				fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%.2f\t%.2f\t\n", r.Name, r.OK, r.Failed, r.PerSec(),
					float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000,
					float64(r.CPUPerRequest().Nanoseconds())/1000, r.Cores(), r.MachineCores())
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "orderquery : protocol ceiling = %.2f; paid/s : storage ceiling = %.2f; paid/s : orderquery = %.2f\n",
				rep.QueryRatio(), rep.StorageRatio(), rep.Ratio())
			fmt.Fprintf(out, "both ceilings' work on the same cores allows %.0f paid/s; paid/s : that = %.2f\n", rep.SharedBound(), rep.BoundRatio())
			if need := rep.CoresFor(bench.StorageGoal); need > 0 {
				fmt.Fprintf(out, "%.2f of the storage ceiling at facepay's %.0f µs of machine CPU a payment would keep %.2f of the %d cores busy (facepay kept %.2f)\n",
					bench.StorageGoal, float64(rep.Paid.MachineCPUPerRequest().Nanoseconds())/1000, need, cpus, rep.Paid.MachineCores())
			}
			fmt.Fprintf(out, "facepay found %d codes among those the process minted and read %d from the database\n", rep.CodesCached, rep.CodesRead)
			if len(rep.Rounds) > 1 {
				fmt.Fprintf(out, "over the %d rounds (smallest / median / largest):\n", len(rep.Rounds))
				for _, r := range []struct {
					name  string
					ratio func(bench.PayReport) float64
				}{
					{"orderquery : protocol ceiling", bench.PayReport.QueryRatio},
					{"paid/s : storage ceiling", bench.PayReport.StorageRatio},
					{"paid/s : shared bound", bench.PayReport.BoundRatio},
				} {
					lo, med, hi := rep.Spread(r.ratio)
					fmt.Fprintf(out, "  %s = %.2f / %.2f / %.2f\n", r.name, lo, med, hi)
				}
			}
			return nil
		},
	}
	payCmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (a throw-away schema is created and dropped); default SQLite in a temp dir")
	payCmd.Flags().IntVar(&concurrency, "concurrency", 16, "keep-alive connections")
	payCmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "length of each phase, over all rounds")
	payCmd.Flags().IntVar(&rounds, "rounds", 5, "run the four phases this many times in turn")
	payCmd.Flags().IntVar(&payers, "payers", 200, "wallets the payments are spread over")
	payCmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of one phase (server and client, one process) to this file for go tool pprof")
	payCmd.Flags().StringVar(&memProfile, "memprofile", "", "write the allocations up to the end of one phase to this file, and up to its start to FILE.base (go tool pprof -base FILE.base FILE: the phase's own)")
	payCmd.Flags().StringVar(&phase, "profile-phase", "facepay", "the phase --cpuprofile and --memprofile cover, in the middle round: facepay, orderquery or protocol (the protocol ceiling)")
	cmd.AddCommand(payCmd, newBenchNotify(), newBenchFaceQuality(), newBenchFace(), newBenchFaceEval(), newBenchKiosk(), newBenchK12(), newBenchK12Kiosk(), newBenchMemory(), newBenchScale())
	return cmd
}

// cpuProfiler creates path and returns what starts a CPU profile into it (and gives
// back what stops it), and what closes the file once the profile stopped.
func cpuProfiler(path string) (start func() (stop func()), closeFile func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	start = func() func() {
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "cpuprofile:", err)
			return func() {}
		}
		return pprof.StopCPUProfile
	}
	return start, func() { _ = f.Close() }, nil
}

// allocProfiler creates path and path.base and returns what snapshots the allocations
// so far into path.base (and gives back what snapshots them into path once the phase
// ended), and what closes the files. The runtime counts allocations from the start of
// the process, so the phase's own are the difference: go tool pprof -base path.base.
func allocProfiler(path string) (start func() (stop func()), closeFiles func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	base, err := os.Create(path + ".base")
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	snapshot := func(to *os.File) {
		runtime.GC() // the profile holds allocations up to the last collection
		if err := pprof.Lookup("allocs").WriteTo(to, 0); err != nil {
			fmt.Fprintln(os.Stderr, "memprofile:", err)
		}
	}
	start = func() func() {
		snapshot(base)
		return func() { snapshot(f) }
	}
	return start, func() { _ = f.Close(); _ = base.Close() }, nil
}

func newBenchNotify() *cobra.Command {
	var (
		db    string
		count int
	)
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Deliveries/s of the notification dispatcher to a local receiver, and lateness against the due time",
		Long: `Write --count v2 refund notifications into the outbox of a fresh store (SQLite in a
temporary directory, or a throw-away schema on --db), all due now, then let one dispatcher
deliver them to a receiver on loopback that acknowledges each. Prints deliveries per
second and the p50 and p99 of how late each attempt started against its due time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.RunNotify(cmd.Context(), bench.NotifyConfig{DBURL: db, Count: count, Progress: os.Stderr})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backend %s: %d notifications delivered in %.2fs: %.0f deliveries/s, lateness p50 %.1f ms, p99 %.1f ms\n",
				rep.Backend, rep.Count, rep.Elapsed.Seconds(), rep.PerSec(),
				float64(rep.LateP50.Microseconds())/1000, float64(rep.LateP99.Microseconds())/1000)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (a throw-away schema is created and dropped); default SQLite in a temp dir")
	cmd.Flags().IntVar(&count, "count", 5000, "notifications to deliver")
	return cmd
}

func newBenchK12() *cobra.Command {
	var (
		db          string
		concurrency int
		duration    time.Duration
		rounds      int
		students    int
		cpuProfile  string
	)
	cmd := &cobra.Command{
		Use:   "k12",
		Short: "K12 withholding debits/s and p99 of a school's lunch, against the ceiling of the same server",
		Long: `Start a platform on loopback (SQLite in a temporary directory, or a throw-away schema on
--db), onboard a production service provider with a school of --students signed students
and one kiosk, and mint each student's offline payment credential for one lunch (not
measured). Then drive signed v3 requests over HTTPS keep-alive with --concurrency
connections:
  1. the ceiling: an organisation lookup for --duration (a trivial signed v3 request);
  2. the lunch: every student's POST /v3/offlineface/transactions, until all have paid.
Both run in --rounds rounds, in turn: each round looks up for --duration/--rounds, then
takes the next --students/--rounds lunches, so a change of the machine's speed reaches
both alike. Every debit must succeed and the ledger must balance afterwards. Prints
requests/s, p50 and p99 over all rounds, the ratio debits/s : ceiling with its smallest,
median and largest over the rounds, and how long the whole school took to pay.`,
		Example: `  facepay bench k12
  facepay bench k12 --db postgres://postgres@127.0.0.1:5432/facepay_test --students 3000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rounds < 1 || rounds > students || duration/time.Duration(rounds) < 100*time.Millisecond {
				return fmt.Errorf("--rounds must be between 1 and --students and leave each round at least 100ms of --duration, not %d", rounds)
			}
			cfg := bench.K12Config{DBURL: db, Concurrency: concurrency, Duration: duration, Rounds: rounds, Students: students, Progress: os.Stderr}
			if cpuProfile != "" {
				prof, closeFile, err := cpuProfiler(cpuProfile)
				if err != nil {
					return err
				}
				defer closeFile()
				cfg.Profile = prof
			}
			rep, err := bench.RunK12(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "backend %s, %d connections, a school of %d students, GOMAXPROCS %d\n", rep.Backend, rep.Concurrency, rep.Students,
				runtime.GOMAXPROCS(0))
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "phase\tok\tfailed\tper s\tp50 ms\tp99 ms\t")
			for _, r := range []bench.Result{rep.Ceiling, rep.Lunch} {
				fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t\n", r.Name, r.OK, r.Failed, r.PerSec(),
					float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "debits/s : ceiling = %.2f; the school paid in %.1f s of its lunch hour\n", rep.Ratio(), rep.Lunch.Elapsed.Seconds())
			if len(rep.Rounds) > 1 {
				lo, med, hi := rep.Spread()
				fmt.Fprintf(out, "over the %d rounds (smallest / median / largest): debits/s : ceiling = %.2f / %.2f / %.2f\n", len(rep.Rounds), lo, med, hi)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (a throw-away schema is created and dropped); default SQLite in a temp dir")
	cmd.Flags().IntVar(&concurrency, "concurrency", 16, "keep-alive connections")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "length of the ceiling phase, over all rounds")
	cmd.Flags().IntVar(&rounds, "rounds", 5, "run the two phases this many times in turn")
	cmd.Flags().IntVar(&students, "students", 3000, "students in the school, each paying one lunch")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the middle round's lunch (server and client, one process) to this file for go tool pprof")
	return cmd
}

func newBenchMemory() *cobra.Command {
	var (
		db     string
		orders int
	)
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "Resident memory of facepay serve idle, and of the platform before and after many payments",
		Long: `Start this binary's facepay serve on a fresh store (SQLite in a temporary directory, or
a throw-away schema on --db), leave it alone for 3 s and read its resident set. Then start
a platform in this process, read its memory, make --orders facepay payments over HTTPS
keep-alive (16 connections, a fresh face_code each) and read it again. Each reading
follows a garbage collection that returns free memory to the system; the client shares
the process (its connections are closed first). Memory of face libraries is in
bench face (its memory column).`,
		Example: `  facepay bench memory
  facepay bench memory --db postgres://postgres@127.0.0.1:5432/facepay_test --orders 20000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			rep, err := bench.RunMemory(cmd.Context(), bench.MemoryConfig{DBURL: db, Orders: orders, Binary: self, Progress: os.Stderr})
			if err != nil {
				return err
			}
			mb := func(b int64) float64 { return float64(b) / (1 << 20) }
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "backend %s\n", rep.Backend)
			fmt.Fprintf(out, "facepay serve, idle:                  RSS %6.1f MB\n", mb(rep.ServeIdleRSS))
			fmt.Fprintf(out, "platform in process, idle:            RSS %6.1f MB, Go heap in use %6.1f MB\n", mb(rep.PlatformIdle.RSS), mb(rep.PlatformIdle.HeapInuse))
			fmt.Fprintf(out, "after %d payments:               RSS %6.1f MB, Go heap in use %6.1f MB\n", rep.Orders, mb(rep.PlatformAfter.RSS), mb(rep.PlatformAfter.HeapInuse))
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (throw-away schemas are created and dropped); default SQLite in a temp dir")
	cmd.Flags().IntVar(&orders, "orders", 100_000, "payments made before the second reading")
	return cmd
}

func newBenchScale() *cobra.Command {
	var (
		db        string
		instances []int
		per       int
		duration  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Paid/s of facepay spread over 1, 2 and 4 facepay serve processes on one PostgreSQL",
		Long: `Make a throw-away schema on --db, set up a merchant, payers and face codes, then for each
count in --instances start that many facepay serve processes of this binary on the schema
and spread signed facepay payments over them from the client (--per-instance keep-alive
HTTPS connections to each) for --duration, after 2 s of payments that are not counted (a
fresh serve spends its first second connecting to PostgreSQL and filling its caches).
Prints paid/s, p50 and p99 per count and the ratio to one instance. The processes, the
client and PostgreSQL share this machine's cores.`,
		Example: `  facepay bench scale --db postgres://postgres@127.0.0.1:5432/facepay_test
  facepay bench scale --db postgres://postgres@127.0.0.1:5432/facepay_test --instances 1,2,4,8 --duration 20s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			rows, err := bench.RunScale(cmd.Context(), bench.ScaleConfig{DBURL: db, Binary: self, Instances: instances,
				PerInstance: per, Duration: duration, Progress: os.Stderr})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "instances\tconnections\tpaid\tfailed\tpaid/s\tp50 ms\tp99 ms\t: one instance\t")
			for _, r := range rows {
				fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t\n", r.Instances, r.Connections, r.OK, r.Failed, r.PerSec(),
					float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000, r.PerSec()/rows[0].PerSec())
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (required; a throw-away schema is created and dropped)")
	cmd.Flags().IntSliceVar(&instances, "instances", []int{1, 2, 4}, "serve process counts to measure")
	cmd.Flags().IntVar(&per, "per-instance", 16, "client keep-alive connections per serve process")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "length of each measurement")
	return cmd
}

func newBenchK12Kiosk() *cobra.Command {
	var (
		students, kiosks, signings, workers int
		interval                            time.Duration
		sizes                               []int
		pack, cache                         string
	)
	cmd := &cobra.Command{
		Use:   "k12-kiosk",
		Short: "K12 kiosks: library sync to a school's kiosks, offline recognition by library size, a day's debits after an outage",
		Long: `On a platform over SQLite in a temporary directory, with the face models:
  1. a school of --students signed students (each enrolment passes the gates once, on a
     real photograph, and every student gets that template) and --kiosks offline kiosks
     pulling the whole library at once: time of one kiosk's full sync;
  2. --signings new students signed one after another while each kiosk polls every
     --interval: delay from a signing to each kiosk holding it (p50/p99 over signings ×
     kiosks; with the default interval of a kiosk, 1 minute, add up to that);
  3. offline recognition at each --sizes: embedding another photo of the real student,
     and the 1:N search of the kiosk's library (the rest of the library is random unit
     vectors, not faces: no package ships 30 000 faces);
  4. every student's lunch kept by the service provider's server while its line to the
     platform is cut, then sent together with --workers: debits per second; each must
     succeed once and the ledger balance.`,
		Example: `  facepay bench k12-kiosk
  facepay bench k12-kiosk --students 300 --kiosks 5 --sizes 3000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := engine.Open(engine.Config{Pack: pack, Cache: cache, Warn: os.Stderr})
			if err != nil {
				return err
			}
			defer e.Close()
			photo, err := fs.ReadFile(eval.Slice(), "p01/img62.jpg")
			if err != nil {
				return err
			}
			probeRaw, err := fs.ReadFile(eval.Slice(), "p01/img17.jpg")
			if err != nil {
				return err
			}
			probe, err := vision.Decode(bytes.NewReader(probeRaw))
			if err != nil {
				return err
			}
			rep, err := bench.RunK12Kiosk(cmd.Context(), bench.K12KioskConfig{Engine: e, Photo: photo, Probe: probe, Students: students,
				Kiosks: kiosks, Signings: signings, Interval: interval, LibrarySizes: sizes, Workers: workers, Progress: os.Stderr})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			fmt.Fprintf(out, "a school of %d students, %d kiosks, GOMAXPROCS %d, pack %s\n", rep.Students, rep.Kiosks, runtime.GOMAXPROCS(0), e.Pack.Name)
			fmt.Fprintf(out, "full library sync, all kiosks at once: p50 %.0f ms, p99 %.0f ms\n", ms(rep.FullSync.P50), ms(rep.FullSync.P99))
			fmt.Fprintf(out, "signing → every kiosk (polling every %s; %d samples): p50 %.0f ms, p99 %.0f ms\n", rep.Interval, rep.Propagation.N,
				ms(rep.Propagation.P50), ms(rep.Propagation.P99))
			for _, r := range rep.Recognition {
				fmt.Fprintf(out, "offline recognition, library of %d (%d synthetic): embed p50 %.1f ms, search p50 %.2f ms p99 %.2f ms, total p50 %.1f ms p99 %.1f ms, right person %v\n",
					r.Size, r.SyntheticFill, ms(r.Probe.P50), ms(r.Search.P50), ms(r.Search.P99), ms(r.Total.P50), ms(r.Total.P99), r.RightPerson)
			}
			fmt.Fprintf(out, "after the outage: %d lunches sent in %.1f s: %.0f debits/s (%d done, %d refused)\n", rep.Backlog,
				rep.BacklogElapsed.Seconds(), float64(rep.Backlog)/rep.BacklogElapsed.Seconds(), rep.BacklogDone, rep.BacklogRefused)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&students, "students", 3000, "students in the school")
	f.IntVar(&kiosks, "kiosks", 20, "kiosks syncing the school's library")
	f.IntVar(&signings, "signings", 10, "new students signed while the kiosks poll")
	f.DurationVar(&interval, "interval", time.Second, "how often each kiosk polls during the signings")
	f.IntSliceVar(&sizes, "sizes", []int{3000, 30000}, "library sizes for offline recognition")
	f.IntVar(&workers, "workers", 8, "the service provider's server's flush workers")
	f.StringVar(&pack, "pack", os.Getenv("FACEPAY_PACK"), "face model pack (open, faceplugin)")
	f.StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder (see `facepay models`)")
	return cmd
}
