package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func blur(img *vision.Image, k int) *vision.Image {
	return vision.Resize(vision.Resize(img, img.W/k, img.H/k), img.W, img.H)
}

// TestPipeline runs each pack on the single-face public-domain photographs.
func TestPipeline(t *testing.T) {
	for _, pack := range facetest.Packs() {
		t.Run(pack, func(t *testing.T) {
			e := facetest.Engine(t, pack)
			grace := facetest.Photo(t, "photo-grace-hopper")
			f, err := e.Enrol(grace)
			if err != nil {
				t.Fatalf("enrol grace hopper: %v", err)
			}
			if len(f.Embedding) != e.Dim() {
				t.Fatalf("embedding has %d values, want %d", len(f.Embedding), e.Dim())
			}
			if n := dot(f.Embedding, f.Embedding); n < 0.999 || n > 1.001 {
				t.Fatalf("embedding is not unit length: |v|² = %f", n)
			}
			le, re, nose, mouth := f.Align[engine.PointLeftEye], f.Align[engine.PointRightEye], f.Align[engine.PointNose], f.Align[engine.PointMouth]
			if !(le.X < nose.X && nose.X < re.X && le.Y < nose.Y && re.Y < nose.Y && nose.Y < mouth.Y) {
				t.Fatalf("alignment points out of place: eyes %v %v nose %v mouth %v", le, re, nose, mouth)
			}
			for _, p := range f.Align {
				if p.X < f.Box.X1 || p.X > f.Box.X2 || p.Y < f.Box.Y1 || p.Y > f.Box.Y2 {
					t.Fatalf("alignment point %v outside the face box %+v", p, f.Box)
				}
			}
			// The same face through a mirror is the same person; another person is not.
			mirror := vision.Warp(grace, vision.Affine{A: -1, C: float64(grace.W - 1), E: 1}, grace.W, grace.H)
			m, err := e.Enrol(mirror)
			if err != nil {
				t.Fatalf("enrol mirrored: %v", err)
			}
			other, err := e.Enrol(facetest.Photo(t, "photo-astronaut"))
			if err != nil {
				t.Fatalf("enrol astronaut: %v", err)
			}
			same, diff := dot(f.Embedding, m.Embedding), dot(f.Embedding, other.Embedding)
			if same < e.Pack.Threshold || diff >= e.Pack.Threshold {
				t.Fatalf("same face %.3f, other face %.3f, threshold %.3f", same, diff, e.Pack.Threshold)
			}
		})
	}
}

func TestEnrolRefusals(t *testing.T) {
	for _, pack := range facetest.Packs() {
		t.Run(pack, func(t *testing.T) {
			e := facetest.Engine(t, pack)
			if _, err := e.Enrol(facetest.Photo(t, "photo-landscape")); !errors.Is(err, engine.ErrNoFace) {
				t.Fatalf("landscape: %v, want ErrNoFace", err)
			}
			if _, err := e.Enrol(facetest.Photo(t, "photo-sample1")); !errors.Is(err, engine.ErrManyFaces) {
				t.Fatalf("group photo: %v, want ErrManyFaces", err)
			}
			grace := facetest.Photo(t, "photo-grace-hopper")
			// Blur until the gate refuses; the detector may give up first on heavy blur.
			refused := false
			for k := 4; k <= 16 && !refused; k += 2 {
				_, err := e.Enrol(blur(grace, k))
				var rej *engine.RejectedError
				if errors.As(err, &rej) {
					wantReason(t, e, blur(grace, k), "blurred")
					refused = true
				}
			}
			if !refused {
				t.Fatal("no blur level of the portrait was refused as blurred")
			}
			small := vision.Resize(grace, grace.W/7, grace.H/7)
			if faces, err := e.Analyze(small); err != nil {
				t.Fatal(err)
			} else if len(faces) == 1 {
				wantReason(t, e, small, "too small")
			}
		})
	}
}

func wantReason(t *testing.T, e *engine.Engine, img *vision.Image, reason string) {
	t.Helper()
	_, err := e.Enrol(img)
	var rej *engine.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("want a rejection for %q, got %v", reason, err)
	}
	for _, r := range rej.Reasons {
		if strings.Contains(r, reason) {
			return
		}
	}
	t.Fatalf("rejected for %v, want a reason containing %q", rej.Reasons, reason)
}

// TestGatesSeeProfiles checks that the group photo's turned-away face is analysed
// and refused for its pose by the enrolment gates, while the frontal ones pass,
// and that the probe gates, made for what a kiosk sees, let it through.
func TestGatesSeeProfiles(t *testing.T) {
	e := facetest.Engine(t, "faceplugin")
	faces, err := e.Analyze(facetest.Photo(t, "photo-sample2"))
	if err != nil {
		t.Fatal(err)
	}
	var good, sideways, probeOK int
	for _, f := range faces {
		why := e.EnrolGates.Check(f.Quality)
		if len(why) == 0 {
			good++
		}
		for _, r := range why {
			if strings.Contains(r, "sideways") {
				sideways++
				if f.Good() {
					probeOK++
				}
			}
		}
	}
	if good == 0 || sideways == 0 || probeOK == 0 {
		t.Fatalf("enrolable %d, turned sideways %d (of which probe gates pass %d) of %d faces: want each", good, sideways, probeOK, len(faces))
	}
}
