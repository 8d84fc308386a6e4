package quality

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// LoadPhotos reads every packaged photograph from the cache, checking its sha256.
func LoadPhotos(cache string) ([]Photo, error) {
	var out []Photo
	for _, a := range modelpack.Photos() {
		p, err := modelpack.Verify(cache, a.Key)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		img, err := vision.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Key, err)
		}
		out = append(out, Photo{Key: a.Key, Image: img, Faces: a.Faces})
	}
	return out, nil
}

// Print writes the report as the README's table.
func Print(w io.Writer, r Report) {
	fmt.Fprintf(w, "pack %s (%d-d)\n", r.Pack, r.Dim)
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  photo\tfaces seen\tfound\tpass gates")
	seen, found := 0, 0
	for _, c := range r.Counts {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\n", c.Key, c.Truth, c.Found, c.Good)
		seen += c.Truth
		found += min(c.Found, c.Truth)
	}
	tw.Flush()
	if seen > 0 {
		fmt.Fprintf(w, "  found %d of %d faces seen (%.0f %%)\n", found, seen, 100*float64(found)/float64(seen))
	}
	fmt.Fprintf(w, "  identities %d, samples %d (original + %d variants each)\n", r.Identities, r.Samples, len(r.Followed)-1)
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  cosine\tpairs\tmean\tmin\tp05\tp50\tp95\tmax")
	for _, d := range []struct {
		n string
		d Dist
	}{{"same face", r.Genuine}, {"other face", r.Impostor}} {
		fmt.Fprintf(tw, "  %s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", d.n, d.d.N, d.d.Mean, d.d.Min, d.d.P05, d.d.P50, d.d.P95, d.d.Max)
	}
	tw.Flush()
	fmt.Fprintf(w, "  threshold at FAR 1e-3: %.3f, TAR there: %.3f\n", r.ThresholdAt, r.TAR)
	fmt.Fprintf(w, "  1:N with threshold %.3f, margin %.3f: %d probes, identified %d (%.1f %%), asked tail %d, wrong %d, missed %d, rejected by gates %d\n",
		r.Threshold, r.Margin, r.Probes, r.Identified, 100*r.IdentRate(), r.AskedTail, r.Wrong, r.Missed, r.Gated)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Fprintf(w, "  mean per face: landmarks %.2f ms, align %.2f ms, embed %.2f ms, anti-spoof %.2f ms\n",
		ms(r.PerFace.Landmarks), ms(r.PerFace.Align), ms(r.PerFace.Embed), ms(r.PerFace.AntiSpoof))
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  variant\tfaces followed")
	for _, v := range variantOrder {
		if st, ok := r.Followed[v]; ok {
			fmt.Fprintf(tw, "  %s\t%d/%d\n", v, st[0], st[1])
		}
	}
	tw.Flush()
}

var variantOrder = []string{"original", "mirror", "darker", "brighter", "scale 1/2", "scale 1/3", "rotate +12°", "rotate -15°", "jpeg q30"}
