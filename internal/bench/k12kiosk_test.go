package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/facetest"
)

// TestRunK12KioskSmall runs the K12 kiosk benchmark's whole path on a small school:
// every kiosk receives the library and each new student, the real student is found
// in the kiosk's library, and every lunch kept through the outage is debited once
// (RunK12Kiosk refuses otherwise).
func TestRunK12KioskSmall(t *testing.T) {
	e := facetest.Engine(t, "")
	dir := filepath.Join("..", "face", "eval", "testdata", "deepface-slice", "p01")
	photo, err := os.ReadFile(filepath.Join(dir, "img62.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunK12Kiosk(context.Background(), K12KioskConfig{Engine: e, Photo: photo, Probe: facetest.File(t, filepath.Join(dir, "img17.jpg")),
		Students: 30, Kiosks: 3, Signings: 2, Interval: 100 * time.Millisecond, LibrarySizes: []int{500}, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Propagation.N != 6 || rep.FullSync.N != 3 || len(rep.Recognition) != 1 || !rep.Recognition[0].RightPerson || rep.BacklogDone != 30 {
		t.Fatalf("report: %+v", rep)
	}
}
