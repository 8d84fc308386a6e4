package quality_test

import (
	"os"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/quality"
)

// TestPackQuality holds each pack to the bar the README's table reports: every
// face a person sees is found, same-face and other-face scores separate (TAR at
// FAR 1e-3), the configured threshold is at least as strict as FAR 1e-3 on these
// photos, and 1:N never names the wrong person.
func TestPackQuality(t *testing.T) {
	for _, pack := range facetest.Packs() {
		t.Run(pack, func(t *testing.T) {
			e := facetest.Engine(t, pack)
			photos, err := quality.LoadPhotos(modelpack.CacheDir())
			if err != nil {
				t.Fatal(err)
			}
			r, err := quality.Measure(e, photos, float64(e.Pack.Threshold), float64(e.Pack.Margin), nil)
			if err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				quality.Print(os.Stdout, r)
			}
			for _, c := range r.Counts {
				if c.Found != c.Truth {
					t.Errorf("%s: found %d faces, a person sees %d", c.Key, c.Found, c.Truth)
				}
			}
			if r.Identities < 15 {
				t.Errorf("only %d faces passed the gates to become identities", r.Identities)
			}
			if r.TAR < 0.95 {
				t.Errorf("TAR at FAR 1e-3 is %.3f, want ≥ 0.95", r.TAR)
			}
			if r.Threshold < r.ThresholdAt {
				t.Errorf("configured threshold %.3f is looser than FAR 1e-3 here (%.3f)", r.Threshold, r.ThresholdAt)
			}
			if r.Wrong != 0 {
				t.Errorf("%d probes were identified as someone else", r.Wrong)
			}
			if rate := r.IdentRate(); rate < 0.85 {
				t.Errorf("identified %.1f %% of probes, want ≥ 85 %%", 100*rate)
			}
		})
	}
}
