package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/bench"
)

func newBench() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure the platform on this machine"}
	var (
		db          string
		concurrency int
		duration    time.Duration
		payers      int
		cpuProfile  string
	)
	payCmd := &cobra.Command{
		Use:   "pay",
		Short: "Paid/s of signed facepay over HTTPS keep-alive, against the ceiling of the same server",
		Long: `Start a platform on loopback (SQLite in a temporary directory, or a throw-away schema on
--db), create a merchant, payers and face codes, then drive signed requests over HTTPS
keep-alive with --concurrency connections for --duration each:
  1. the ceiling: orderquery of an unknown order (a trivial signed request);
  2. facepay with a fresh face_code per payment.
Prints requests/s, p50 and p99 of both and the ratio paid/s : ceiling. The client runs
on the same machine and shares its cores.`,
		Example: `  facepay bench pay
  facepay bench pay --db postgres://postgres@127.0.0.1:5432/facepay_test --concurrency 32 --duration 20s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := bench.RunPay(cmd.Context(), bench.PayConfig{DBURL: db, Concurrency: concurrency, Duration: duration,
				Payers: payers, Progress: os.Stderr})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "backend %s, %d connections, %s per phase, GOMAXPROCS %d\n", rep.Backend, rep.Concurrency, duration, runtime.GOMAXPROCS(0))
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "phase\tok\tfailed\tper s\tp50 ms\tp99 ms\t")
			for _, r := range []bench.Result{rep.Ceiling, rep.Paid} {
				fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t\n", r.Name, r.OK, r.Failed, r.PerSec(),
					float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "paid/s : ceiling = %.2f\n", rep.Ratio())
			return nil
		},
	}
	payCmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (a throw-away schema is created and dropped); default SQLite in a temp dir")
	payCmd.Flags().IntVar(&concurrency, "concurrency", 16, "keep-alive connections")
	payCmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "length of each phase")
	payCmd.Flags().IntVar(&payers, "payers", 200, "wallets the payments are spread over")
	payCmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (server and client, one process) to this file for go tool pprof")
	cmd.AddCommand(payCmd, newBenchNotify(), newBenchFaceQuality(), newBenchFace(), newBenchFaceEval(), newBenchKiosk(), newBenchK12())
	return cmd
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
		students    int
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
Every debit must succeed and the ledger must balance afterwards. Prints requests/s, p50
and p99, the ratio debits/s : ceiling, and how long the whole school took to pay.`,
		Example: `  facepay bench k12
  facepay bench k12 --db postgres://postgres@127.0.0.1:5432/facepay_test --students 3000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.RunK12(cmd.Context(), bench.K12Config{DBURL: db, Concurrency: concurrency, Duration: duration,
				Students: students, Progress: os.Stderr})
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
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (a throw-away schema is created and dropped); default SQLite in a temp dir")
	cmd.Flags().IntVar(&concurrency, "concurrency", 16, "keep-alive connections")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "length of the ceiling phase")
	cmd.Flags().IntVar(&students, "students", 3000, "students in the school, each paying one lunch")
	return cmd
}
