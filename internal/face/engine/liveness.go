package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/viterin/vek/vek32"

	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Challenge is what the kiosk asks the person to do with their head.
type Challenge string

// The challenges. Left and right are the person's own: turning to their left
// brings the nose towards the right of an unmirrored camera frame.
const (
	TurnLeft  Challenge = "turn_left"
	TurnRight Challenge = "turn_right"
	Nod       Challenge = "nod"
)

// Challenges lists every challenge.
var Challenges = []Challenge{TurnLeft, TurnRight, Nod}

// NewChallenge picks a challenge at random, so that a recording made for one
// session does not answer the next.
func NewChallenge(r *rand.Rand) Challenge { return Challenges[r.IntN(len(Challenges))] }

// LivenessRule is how far the pose must move, and how alike the frames must stay.
type LivenessRule struct {
	MinFaceFrames int     // frames in which a face must be found
	YawMove       float64 // the yaw (nose offset / eye distance) must move this far from the start, and back
	PitchMove     float64 // the pitch ratio must move this far down (a nod), and back
	SamePerson    float32 // each face frame's template against the previous one's; 0 is the pack's match threshold
}

// DefaultLiveness: a still photo shifted, scaled, turned in its plane and tilted
// as a hand moves it moved the open pack's yaw by at most 0.04 and its pitch by
// 0.03 (TestLivenessRefusesStillPhotos); the bars are three times that. The
// warped imitations of a turn and a nod moved them by 0.14–0.21 and 0.1 or more.
var DefaultLiveness = LivenessRule{MinFaceFrames: 5, YawMove: 0.12, PitchMove: 0.08}

// LivenessResult says whether a frame sequence followed the challenge.
type LivenessResult struct {
	Challenge  Challenge `json:"challenge"`
	Passed     bool      `json:"passed"`
	Reason     string    `json:"reason,omitempty"`
	Frames     int       `json:"frames"`
	FaceFrames int       `json:"face_frames"`
	Moved      float64   `json:"moved"`       // the largest move in the asked direction
	Returned   float64   `json:"returned"`    // how far from the start the last face frame is
	LeastAlike float32   `json:"least_alike"` // the lowest score between consecutive face frames
}

// Liveness checks that frames (a camera session, in order) show one person who
// moves their head as the challenge asks and then looks back. A photograph moved
// in front of the camera cannot pass: yaw and pitch are ratios of distances
// between the face's points, which shifting, scaling, rotating or tilting a flat
// picture leaves unchanged; only a head turning in depth changes them.
func (e *Engine) Liveness(ch Challenge, frames []*vision.Image, rule LivenessRule) (LivenessResult, error) {
	if rule.SamePerson == 0 {
		// Frames a few tens of milliseconds apart are at least as alike as a
		// match; someone stepping in for one frame is not.
		rule.SamePerson = e.Pack.Threshold
	}
	r := LivenessResult{Challenge: ch, Frames: len(frames), LeastAlike: 1}
	var pose []float64
	var prev []float32
	for _, img := range frames {
		faces, err := e.Analyze(img)
		if err != nil {
			return r, err
		}
		f, ok := Largest(faces)
		if !ok {
			continue
		}
		r.FaceFrames++
		if prev != nil {
			r.LeastAlike = min(r.LeastAlike, vek32.Dot(prev, f.Embedding))
		}
		prev = f.Embedding
		switch ch {
		case TurnLeft:
			pose = append(pose, f.Quality.Yaw)
		case TurnRight:
			pose = append(pose, -f.Quality.Yaw)
		case Nod:
			pose = append(pose, f.Quality.Pitch)
		default:
			return r, fmt.Errorf("liveness: unknown challenge %q", ch)
		}
	}
	need := rule.YawMove
	if ch == Nod {
		need = rule.PitchMove
	}
	switch {
	case r.FaceFrames < rule.MinFaceFrames:
		r.Reason = fmt.Sprintf("a face in %d of %d frames, need %d", r.FaceFrames, len(frames), rule.MinFaceFrames)
		return r, nil
	case r.LeastAlike < rule.SamePerson:
		r.Reason = fmt.Sprintf("not the same person throughout: a frame scores %.3f against the one before, need %.3f", r.LeastAlike, rule.SamePerson)
		return r, nil
	}
	// The start is the median of the first frames, so one noisy frame cannot set it.
	start := median(pose[:min(3, len(pose))])
	for _, p := range pose {
		r.Moved = math.Max(r.Moved, p-start)
	}
	r.Returned = math.Abs(pose[len(pose)-1] - start)
	switch {
	case r.Moved < need:
		r.Reason = fmt.Sprintf("the head did not %s: moved %.2f, need %.2f", ch.verb(), r.Moved, need)
	case r.Returned > need/2:
		r.Reason = fmt.Sprintf("the head did not come back after the %s: %.2f from the start", ch.verb(), r.Returned)
	default:
		r.Passed = true
	}
	return r, nil
}

func (c Challenge) verb() string {
	switch c {
	case TurnLeft:
		return "turn left"
	case TurnRight:
		return "turn right"
	}
	return "nod"
}

// Largest is the largest face that has a template, whatever the gates say.
func Largest(faces []Face) (Face, bool) {
	best := -1
	for i, f := range faces {
		if f.Embedding != nil && (best < 0 || f.Box.W()*f.Box.H() > faces[best].Box.W()*faces[best].Box.H()) {
			best = i
		}
	}
	if best < 0 {
		return Face{}, false
	}
	return faces[best], true
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
