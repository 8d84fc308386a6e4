package main

import (
	"fmt"
	"os"
	"runtime"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/bench"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/eval"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
)

func newBenchFaceEval() *cobra.Command {
	var (
		pack, cache, pairs string
		threads            int
		threshold, margin  float64
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "face-eval DIR",
		Short: "Check each face pack on your own labelled photos: pair accuracy, TAR, 1:N and gate refusals under four photo conditions",
		Long: `Runs each pack over a labelled set of real photographs, the way an operator checks the
engine on their own people before trusting it. DIR is either

  - a folder per person (DIR/alice/1.jpg, DIR/alice/2.jpg, DIR/bob/1.jpg, ...): every
    pair of photos in one folder is the same person, every pair across folders is not; or
  - photos with a pairs.csv beside them (or --pairs FILE): a header, then rows
    file_x,file_y,Yes|No. People are the groups the Yes pairs join. Further numeric
    columns are read as other models' distances on the same pairs (smaller = more
    alike) and their best-threshold accuracy is printed as an anchor.

Photos may be JPEG (EXIF orientation applied), PNG or WebP, whatever they are named.
Each photo's largest face is used, under four conditions: as given, greyscale,
shrunk so the face is 60-100 px wide, and re-encoded at JPEG quality 40. For each
pack and condition it prints:

  - pairs: accuracy at the pack's shipped rule (threshold and margin), false accepts
    and rejects, the best accuracy any threshold reaches and where, TAR at FAR 1e-3
    (at zero false accepts when there are fewer than 1 000 other-person pairs), the
    lowest same-person and highest other-person score;
  - 1:N through the real face library: one photo enrolled per person and every other
    photo as a probe (rank-1, identified at the rule, false accepts, phone tail
    asked, missed, refused by the probe gates); then 1, 2 and 3 photos enrolled
    against the same probes;
  - the share of genuine probes each probe gate refuses.

A progress bar on stderr follows the photos.`,
		Example: `  facepay bench face-eval ~/photos/staff
  facepay bench face-eval ../shared/data/faces/deepface --pairs master.csv
  facepay bench face-eval ../shared/data/faces/deepface --pairs pivot.csv --pack open --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := eval.Load(args[0], pairs)
			if err != nil {
				return err
			}
			var reps []eval.Report
			for _, name := range packNames(pack) {
				e, err := engine.Open(engine.Config{Pack: name, Cache: cache, Threads: threads, Warn: os.Stderr})
				if err != nil {
					return err
				}
				rule := eval.Rule{Threshold: float64(e.Pack.Threshold), Margin: float64(e.Pack.Margin)}
				if cmd.Flags().Changed("threshold") {
					rule.Threshold = threshold
				}
				if cmd.Flags().Changed("margin") {
					rule.Margin = margin
				}
				bar := progressbar.NewOptions(len(set.Photos), progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription(fmt.Sprintf("face-eval %s: 4 conditions per photo", name)),
					progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
				r, err := eval.Run(cmd.Context(), e, set, eval.Conditions, rule, func(done, _ int) { _ = bar.Set(done) })
				_ = bar.Finish()
				e.Close()
				if err != nil {
					return err
				}
				reps = append(reps, r)
				if !asJSON {
					eval.Print(cmd.OutOrStdout(), r)
					fmt.Fprintln(cmd.OutOrStdout())
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), reps)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pack, "pack", "all", "pack to evaluate: open, faceplugin or all")
	cmd.Flags().StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder")
	cmd.Flags().StringVar(&pairs, "pairs", "", "CSV of labelled pairs in DIR (default DIR/pairs.csv when it exists, else a folder per person)")
	cmd.Flags().IntVar(&threads, "threads", 0, "onnxruntime threads per model (0: all cores)")
	cmd.Flags().Float64Var(&threshold, "threshold", 0, "evaluate at this threshold instead of the pack's shipped one")
	cmd.Flags().Float64Var(&margin, "margin", 0, "evaluate at this look-alike margin instead of the pack's shipped one")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newBenchKiosk() *cobra.Command {
	var (
		pack, cache string
		threads     int
		iterations  int
		frames      int
	)
	cmd := &cobra.Command{
		Use:   "kiosk",
		Short: "Latency of a face payment from the camera's frames to paid, through kiosk, merchant server and platform, with its stages",
		Long: `Runs the platform (SQLite in a temporary directory), a kiosk's face SDK and the reference
merchant server in one process over loopback HTTPS, enrols a payer from the packaged
portrait and shows the kiosk's still camera the mirrored portrait. Each iteration times:

  - each stage alone: detect + align + embed one frame (the template of the chip and its
    mirror), the liveness check over --frames frames, the terminal API's identify
    (a face_code), and the merchant server's facepay until paid;
  - the whole path: getWxpayfaceCode on the kiosk (frames -> face_code; liveness off,
    since a still picture cannot pass it), then the merchant server's payment.

Prints p50 and p99 of each. Client, kiosk and platform share this machine's cores.`,
		Example: `  facepay bench kiosk
  facepay bench kiosk --iterations 200 --frames 12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := engine.Open(engine.Config{Pack: pack, Cache: cache, Threads: threads, Warn: os.Stderr})
			if err != nil {
				return err
			}
			defer e.Close()
			p, err := modelpack.Verify(cache, "photo-grace-hopper")
			if err != nil {
				return err
			}
			img, err := readPhoto(p)
			if err != nil {
				return err
			}
			rep, err := bench.RunKiosk(cmd.Context(), bench.KioskConfig{Engine: e, Enrol: img, Probe: img.Mirror(),
				Iterations: iterations, Frames: frames, Progress: os.Stderr})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "pack %s, %d iterations, %d frames per recognition, GOMAXPROCS %d\n", e.Pack.Name, rep.Iterations, rep.Frames, runtime.GOMAXPROCS(0))
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "stage\tp50 ms\tp99 ms\t")
			for _, t := range append(rep.Stages, rep.FaceCode, rep.Paid) {
				fmt.Fprintf(w, "%s\t%.2f\t%.2f\t\n", t.Name, float64(t.P50.Microseconds())/1000, float64(t.P99.Microseconds())/1000)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&pack, "pack", os.Getenv("FACEPAY_PACK"), "face model pack (open, faceplugin)")
	cmd.Flags().StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder")
	cmd.Flags().IntVar(&threads, "threads", 0, "onnxruntime threads per model (0: all cores)")
	cmd.Flags().IntVar(&iterations, "iterations", 50, "payments to time")
	cmd.Flags().IntVar(&frames, "frames", 12, "frames per recognition")
	return cmd
}
