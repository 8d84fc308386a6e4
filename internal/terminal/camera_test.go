package terminal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// TestCameraProtection walks the three protection limits on a fake clock: each
// closes the camera exactly at its limit, not a millisecond before, and the
// re-activate button opens it again.
func TestCameraProtection(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	cam := NewCamera(NewStill(vision.New(4, 4)), fake, DefaultTimeouts)
	if _, err := cam.Frame(ctx); !errors.Is(err, ErrCameraOff) {
		t.Fatalf("a camera never opened gave a frame: %v", err)
	}
	cases := []struct {
		name  string
		setup func()
		limit time.Duration
		want  error
	}{
		{"no face, guide page on", func() { cam.SetGuide(true); cam.Open(true) }, 30 * time.Second, ErrCameraOff},
		{"no face, guide page off", func() { cam.SetGuide(false); cam.Open(false) }, 10 * time.Minute, ErrCameraOff},
		{"no match after recognition starts", func() { cam.SetGuide(true); cam.Open(true); cam.StartRecognition() }, 60 * time.Second, ErrNoMatch},
	}
	for _, c := range cases {
		c.setup()
		fake.Advance(c.limit - time.Millisecond)
		if st, _ := cam.Check(); st == CameraProtected {
			t.Fatalf("%s: closed %v before its limit", c.name, time.Millisecond)
		}
		if _, err := cam.Frame(ctx); err != nil {
			t.Fatalf("%s: no frame before the limit: %v", c.name, err)
		}
		fake.Advance(time.Millisecond)
		if st, why := cam.Check(); st != CameraProtected || why == "" {
			t.Fatalf("%s: %s at the limit", c.name, st)
		}
		if _, err := cam.Frame(ctx); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		cam.Open(true) // the re-activate button
		if _, err := cam.Frame(ctx); err != nil {
			t.Fatalf("%s: after re-activation: %v", c.name, err)
		}
		cam.Close()
	}
	// A face seen resets the no-face limit; a match ends the recognition limit.
	cam.SetGuide(true)
	cam.Open(true)
	fake.Advance(20 * time.Second)
	cam.SawFace()
	fake.Advance(20 * time.Second)
	if st, _ := cam.Check(); st != CameraOn {
		t.Fatalf("closed 20 s after a face: %s", st)
	}
	cam.StartRecognition()
	fake.Advance(30 * time.Second)
	cam.EndRecognition()
	cam.SawFace()
	fake.Advance(29 * time.Second)
	if st, _ := cam.Check(); st != CameraOn {
		t.Fatalf("closed after a match: %s", st)
	}
	// Custom limits are honoured.
	short := NewCamera(NewStill(nil), fake, Timeouts{NoFaceGuide: time.Second, NoFaceNoGuide: time.Minute, NoMatch: 2 * time.Second})
	short.Open(true)
	fake.Advance(time.Second)
	if st, _ := short.Check(); st != CameraProtected {
		t.Fatalf("a 1 s guide limit: %s", st)
	}
}
