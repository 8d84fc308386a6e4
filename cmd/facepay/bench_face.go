package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/quality"
)

// packNames resolves --pack: one name, or every pack for "all".
func packNames(p string) []string {
	if p != "all" {
		return []string{p}
	}
	var out []string
	for _, pk := range modelpack.Packs() {
		out = append(out, pk.Name)
	}
	return out
}

func newBenchFaceQuality() *cobra.Command {
	var (
		pack, cache string
		threads     int
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "face-quality",
		Short: "Faces found, same/other-face similarity, TAR at FAR 1e-3 and 1:N identification of each pack, on the packaged photographs",
		Long: `Runs each pack over the packaged photographs (the six group photos of
@vladmandic/face-api, Grace Hopper from Debian's facedetect, the astronaut of
python3-skimage, and a landscape without faces), each checked by sha256, and over
variants of each photo (mirror, darker, brighter, scale 1/2 and 1/3, rotation +12° and
-15°, JPEG quality 30). Every good face of an original is one identity, followed into
each variant. Prints faces found against the count a person sees, the cosine
distributions of same-face and other-face pairs, the threshold at FAR 1e-3 and the TAR
there, and 1:N identification with the original enrolled and the variants as probes,
at the pack's configured threshold and margin.

No registry package ships several photographs of one person: "same face" here is
robustness to camera changes, not to ageing, expression or another day's light.`,
		Example: `  facepay bench face-quality
  facepay bench face-quality --pack faceplugin --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			photos, err := quality.LoadPhotos(cache)
			if err != nil {
				return err
			}
			var reps []quality.Report
			for _, name := range packNames(pack) {
				e, err := engine.Open(engine.Config{Pack: name, Cache: cache, Threads: threads, Warn: os.Stderr})
				if err != nil {
					return err
				}
				r, err := quality.Measure(e, photos, float64(e.Pack.Threshold), float64(e.Pack.Margin), os.Stderr)
				e.Close()
				if err != nil {
					return err
				}
				reps = append(reps, r)
				if !asJSON {
					quality.Print(cmd.OutOrStdout(), r)
					fmt.Fprintln(cmd.OutOrStdout())
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), reps)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pack, "pack", "all", "pack to measure: open, faceplugin or all")
	cmd.Flags().StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder")
	cmd.Flags().IntVar(&threads, "threads", 0, "onnxruntime threads per model (0: all cores)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
