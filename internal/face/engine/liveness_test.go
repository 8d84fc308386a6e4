package engine_test

import (
	"math"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// These sequences are made from still photographs, because no camera recording
// is available here. What they prove: a picture moved as a hand moves it (shifted,
// scaled, turned in its plane, tilted away) never passes, since the check reads
// ratios such moves keep; a sequence whose nose really moves against the eyes and
// mouth, in the asked direction and back, passes; another person half-way fails.
// What they do not prove: that a real head turning passes (the warp only imitates
// one), nor anything against a video replayed on a screen or a 3-D mask, which
// do turn.

// bend moves the part of the face around the nose by (dx, dy) pixels, fading out
// with distance, as the nose moves against the eyes when a head turns or nods.
func bend(img *vision.Image, nose vision.Point, sigma, dx, dy float64) *vision.Image {
	out := vision.New(img.W, img.H)
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			rx, ry := float64(x)-float64(nose.X), float64(y)-float64(nose.Y)
			w := math.Exp(-(rx*rx + ry*ry) / (2 * sigma * sigma))
			sx, sy := float32(float64(x)-dx*w), float32(float64(y)-dy*w)
			for c := 0; c < 3; c++ {
				out.Pix[(y*img.W+x)*3+c] = img.At(sx, sy, c)
			}
		}
	}
	return out
}

// hand moves a whole picture: shift, scale and in-plane turn about its centre,
// and an x-squeeze as when the paper is tilted away.
func hand(img *vision.Image, shiftX, shiftY, scale, deg, squeeze float64) *vision.Image {
	r := deg * math.Pi / 180
	c, s := math.Cos(r)*scale, math.Sin(r)*scale
	cx, cy := float64(img.W)/2, float64(img.H)/2
	fwd := vision.Affine{A: c * squeeze, B: -s, D: s * squeeze, E: c}
	fwd.C = cx + shiftX - (fwd.A*cx + fwd.B*cy)
	fwd.F = cy + shiftY - (fwd.D*cx + fwd.E*cy)
	inv, _ := fwd.Invert()
	return vision.Warp(img, inv, img.W, img.H)
}

var profile = []float64{0, 0, 0, 0.3, 0.6, 1, 1, 0.6, 0.3, 0, 0}

func TestLivenessRefusesStillPhotos(t *testing.T) {
	e := facetest.Engine(t, "")
	grace := facetest.Photo(t, "photo-grace-hopper")
	repeated := make([]*vision.Image, 11)
	for i := range repeated {
		repeated[i] = grace
	}
	var moved []*vision.Image
	for i := range 11 {
		f := float64(i)
		moved = append(moved, hand(grace, 25*math.Sin(f), 15*math.Cos(f*1.3), 0.85+0.03*f, 10*math.Sin(f*0.7), 1-0.02*f))
	}
	for _, ch := range engine.Challenges {
		for name, frames := range map[string][]*vision.Image{"one frame repeated": repeated, "moved by hand": moved} {
			r, err := e.Liveness(ch, frames, engine.DefaultLiveness)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s, %s: moved %.3f, least alike %.3f, %s", ch, name, r.Moved, r.LeastAlike, r.Reason)
			if r.Passed || r.FaceFrames < 11 {
				t.Fatalf("%s, %s: passed %v with a face in %d of 11 frames (moved %.3f)", ch, name, r.Passed, r.FaceFrames, r.Moved)
			}
		}
	}
}

func TestLivenessFollowsTheChallenge(t *testing.T) {
	e := facetest.Engine(t, "")
	grace := facetest.Photo(t, "photo-grace-hopper")
	f, err := e.Enrol(grace)
	if err != nil {
		t.Fatal(err)
	}
	nose := f.Align[engine.PointNose]
	eyes := float64(f.Quality.EyeDistance)
	dir := map[engine.Challenge][2]float64{engine.TurnLeft: {1, 0}, engine.TurnRight: {-1, 0}, engine.Nod: {0, 1}}
	seq := func(ch engine.Challenge) []*vision.Image {
		var out []*vision.Image
		for _, a := range profile {
			d := dir[ch]
			out = append(out, bend(grace, nose, 0.5*eyes, 0.6*eyes*a*d[0], 0.4*eyes*a*d[1]))
		}
		return out
	}
	for _, ch := range engine.Challenges {
		r, err := e.Liveness(ch, seq(ch), engine.DefaultLiveness)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s followed: passed %v, moved %.3f, back %.3f, least alike %.3f %s", ch, r.Passed, r.Moved, r.Returned, r.LeastAlike, r.Reason)
		if !r.Passed {
			t.Fatalf("%s followed: %+v", ch, r)
		}
	}
	// The other way, or no way back, does not answer the challenge.
	if r, _ := e.Liveness(engine.TurnLeft, seq(engine.TurnRight), engine.DefaultLiveness); r.Passed {
		t.Fatalf("turning right answered turn left: %+v", r)
	}
	stay := seq(engine.TurnLeft)[:7]
	if r, _ := e.Liveness(engine.TurnLeft, stay, engine.DefaultLiveness); r.Passed {
		t.Fatalf("a turn that never came back passed: %+v", r)
	}
	// Someone else in the middle of the sequence.
	swapped := seq(engine.TurnLeft)
	swapped[5] = facetest.Photo(t, "photo-astronaut")
	if r, _ := e.Liveness(engine.TurnLeft, swapped, engine.DefaultLiveness); r.Passed {
		t.Fatalf("a sequence with another person passed: %+v", r)
	}
}
