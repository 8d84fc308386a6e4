package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/bench"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/quality"
	"github.com/openfacepay/openfacepay/internal/face/vision"
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

func newBenchFace() *cobra.Command {
	var (
		pack, cache, searchbench, nodeDir string
		sizes                             []int
		threads, iters, queries           int
		efs                               []int
		skipSearch                        bool
	)
	cmd := &cobra.Command{
		Use:   "face",
		Short: "Face engine speed per stage and pack, 1:N search against FAISS and hnswlib, embedding against onnxruntime-node",
		Long: `Three measurements in one run:
  1. per pack, the milliseconds of each stage: detection per image (a 512 px
     portrait and a 1920 px group photo), landmarks, alignment, embedding and
     anti-spoof per face;
  2. per pack, the embedding model run here and by onnxruntime-node 1.30 on the
     same model bytes and the same input tensors (every face of the packaged
     photos), as a ratio, with the largest output difference;
  3. 1:N search at each --sizes on RANDOM unit vectors (not faces: speed and
     recall depend on count and dimension, and no package ships a million faces),
     queries being stored rows moved to cosine ~0.95: p50/p99, recall@1 and memory
     of the exact index and the HNSW graph, and of FAISS IndexFlatIP and hnswlib
     on the same vectors, one query at a time on one thread.
FAISS/hnswlib need the searchbench program and onnxruntime-node its Node package:
` + "`make bench-tools`" + ` builds and installs both; missing ones are skipped and said so.`,
		Example: `  make bench-tools && facepay bench face
  facepay bench face --sizes 10000,100000 --pack open`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			photos, err := quality.LoadPhotos(cache)
			if err != nil {
				return err
			}
			byKey := map[string]*vision.Image{}
			for _, p := range photos {
				byKey[p.Key] = p.Image
			}
			if _, err := os.Stat(filepath.Join(nodeDir, "embed.cjs")); err != nil {
				fmt.Fprintf(out, "onnxruntime-node not installed in %s (make bench-tools): comparison skipped\n", nodeDir)
				nodeDir = ""
			}
			for _, name := range packNames(pack) {
				e, err := engine.Open(engine.Config{Pack: name, Cache: cache, Threads: threads, Warn: os.Stderr})
				if err != nil {
					return err
				}
				st, err := bench.RunFaceStages(e, bench.StageInput{Portrait: byKey["photo-grace-hopper"], PortraitName: "grace hopper",
					Group: byKey["photo-sample1"], GroupName: "sample1"}, iters, os.Stderr)
				if err != nil {
					e.Close()
					return err
				}
				var chips []*vision.Image
				for _, p := range photos {
					faces, err := e.Analyze(p.Image)
					if err != nil {
						e.Close()
						return err
					}
					for _, f := range faces {
						if f.Chip != nil {
							chips = append(chips, f.Chip)
						}
					}
				}
				cmpRes, err := bench.RunEmbedCompare(cmd.Context(), e, chips, nodeDir, max(threads, 1), iters)
				e.Close()
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "pack %s, %d onnxruntime thread(s)\n", name, max(threads, 1))
				w := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "  stage\tper\tmean ms\tp50 ms\tp99 ms")
				for _, s := range st.Stages {
					fmt.Fprintf(w, "  %s\t%s\t%.2f\t%.2f\t%.2f\n", s.Name, s.Unit, ms(s.Mean), ms(s.P50), ms(s.P99))
				}
				w.Flush()
				if cmpRes.NodeMS > 0 {
					fmt.Fprintf(out, "  embedding, %d faces x %d: here %.2f ms, onnxruntime-node %.2f ms, ratio %.2f, max |output diff| %.2g\n",
						cmpRes.Faces, iters, cmpRes.GoMS, cmpRes.NodeMS, cmpRes.Ratio, cmpRes.MaxDiff)
				} else {
					fmt.Fprintf(out, "  embedding, %d faces x %d: here %.2f ms\n", cmpRes.Faces, iters, cmpRes.GoMS)
				}
				fmt.Fprintln(out)
			}
			if skipSearch {
				return nil
			}
			if _, err := os.Stat(searchbench); err != nil {
				fmt.Fprintf(out, "searchbench not built at %s (make bench-tools): FAISS and hnswlib skipped\n", searchbench)
				searchbench = ""
			}
			rows, err := bench.RunSearch(cmd.Context(), bench.SearchConfig{Sizes: sizes, Dim: 128, Queries: queries,
				M: face.HNSWM, Ef: face.HNSWEf, Efs: efs, External: searchbench, Progress: os.Stderr})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "1:N search, RANDOM 128-d unit vectors (not faces), %d queries at cosine ~0.95 to a stored row, one thread; HNSW M %d, built with ef %d\n",
				queries, face.HNSWM, face.HNSWEf)
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "  size\timpl\tef\tbuild s\tp50 µs\tp99 µs\trecall@1\tmemory MB\tp50 ratio")
			type key struct {
				size int
				impl string
				ef   int
			}
			ref := map[key]float64{}
			for _, r := range rows {
				ref[key{r.Size, r.Impl, r.Ef}] = r.P50us
			}
			for _, r := range rows {
				ratio, ef := "", "-"
				if r.Ef > 0 {
					ef = fmt.Sprint(r.Ef)
				}
				switch r.Impl {
				case "go exact":
					if f := ref[key{r.Size, "faiss IndexFlatIP", 0}]; f > 0 {
						ratio = fmt.Sprintf("%.2fx FAISS", r.P50us/f)
					}
				case "go hnsw":
					if h := ref[key{r.Size, "hnswlib", r.Ef}]; h > 0 {
						ratio = fmt.Sprintf("%.2fx hnswlib", r.P50us/h)
					}
				}
				fmt.Fprintf(w, "  %d\t%s\t%s\t%.1f\t%.0f\t%.0f\t%.3f\t%.0f\t%s\n", r.Size, r.Impl, ef, r.BuildS, r.P50us, r.P99us, r.Recall, r.MemMB, ratio)
			}
			return w.Flush()
		},
	}
	home, _ := os.UserCacheDir()
	cmd.Flags().StringVar(&pack, "pack", "all", "pack to measure: open, faceplugin or all")
	cmd.Flags().StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder")
	cmd.Flags().IntVar(&threads, "threads", 2, "onnxruntime intra-op threads, here and in Node")
	cmd.Flags().IntVar(&iters, "iterations", 20, "runs of each stage")
	cmd.Flags().IntSliceVar(&sizes, "sizes", []int{10_000, 100_000, 1_000_000}, "library sizes for the search benchmark")
	cmd.Flags().IntVar(&queries, "queries", 1000, "search queries per size")
	cmd.Flags().IntSliceVar(&efs, "efs", []int{128, 512}, "HNSW search beams to measure on each graph (ours and hnswlib's)")
	cmd.Flags().BoolVar(&skipSearch, "skip-search", false, "measure the engine only")
	cmd.Flags().StringVar(&searchbench, "searchbench", "bin/searchbench", "the FAISS/hnswlib program (make bench-tools)")
	cmd.Flags().StringVar(&nodeDir, "node", filepath.Join(home, "openfacepay", "ortnode"), "onnxruntime-node folder (make bench-tools)")
	return cmd
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
