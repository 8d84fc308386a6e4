// Package quality measures a face pack on real photographs: faces found against
// the count a person sees, same-face and other-face similarity distributions over
// synthetic variants of each face, TAR at FAR 1e-3, the threshold that follows,
// and 1:N identification with one enrolled variant per person. No registry package
// ships several photographs of one person, so "same face" means the same photo
// changed as a camera changes it; that measures robustness, not ageing or make-up.
package quality

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Photo is one packaged photograph with the number of faces a person counts in it.
type Photo struct {
	Key   string
	Image *vision.Image
	Faces int
}

// Count is one photo's detection result.
type Count struct {
	Key   string `json:"photo"`
	Truth int    `json:"faces_seen"`
	Found int    `json:"faces_found"`
	Good  int    `json:"faces_passing_gates"`
}

// Dist summarises similarity scores.
type Dist struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	P05  float64 `json:"p05"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	Max  float64 `json:"max"`
}

// Report is the quality table of one pack.
type Report struct {
	Pack        string            `json:"pack"`
	Dim         int               `json:"dim"`
	Counts      []Count           `json:"counts"`
	Identities  int               `json:"identities"`
	Samples     int               `json:"samples"`
	Followed    map[string][2]int `json:"variants_followed"` // variant → found, identities
	Genuine     Dist              `json:"same_face"`
	Impostor    Dist              `json:"other_face"`
	ThresholdAt float64           `json:"threshold_at_far_1e-3"`
	TAR         float64           `json:"tar_at_far_1e-3"`
	Threshold   float64           `json:"threshold"`
	Margin      float64           `json:"margin"`
	Probes      int               `json:"probes"`
	Identified  int               `json:"identified"`
	AskedTail   int               `json:"asked_phone_tail"`
	Wrong       int               `json:"wrong"`
	Missed      int               `json:"missed"`
	Gated       int               `json:"rejected_by_gates"`
	PerFace     engine.Timings    `json:"mean_per_face"`
}

// IdentRate is the share of probes identified as the right person.
func (r Report) IdentRate() float64 {
	if r.Probes == 0 {
		return 0
	}
	return float64(r.Identified) / float64(r.Probes)
}

type sample struct {
	person  int
	variant string
	emb     []float32
	good    bool
}

// Measure runs the pack over every photo and its variants. threshold ≤ 0 means
// "use the threshold at FAR 1e-3 measured here"; margin is the look-alike margin.
func Measure(e *engine.Engine, photos []Photo, threshold, margin float64, progress io.Writer) (Report, error) {
	rep := Report{Pack: e.Pack.Name, Dim: e.Dim(), Followed: map[string][2]int{}, Margin: margin}
	var samples []sample
	var tsum engine.Timings
	nfaces := 0
	person := 0
	for i, ph := range photos {
		if progress != nil {
			fmt.Fprintf(progress, "face-quality %s: [%d/%d] %s\n", e.Pack.Name, i+1, len(photos), ph.Key)
		}
		vars, err := Variants(ph.Image)
		if err != nil {
			return rep, err
		}
		var people []engine.Face // the good faces of the original, one identity each
		for _, v := range vars {
			faces, err := e.Analyze(v.Image)
			if err != nil {
				return rep, fmt.Errorf("%s %s: %w", ph.Key, v.Name, err)
			}
			for _, f := range faces {
				tsum = addTimings(tsum, f.Timings)
				nfaces++
			}
			if v.Name == "original" {
				c := Count{Key: ph.Key, Truth: ph.Faces, Found: len(faces)}
				for _, f := range faces {
					if f.Good() {
						c.Good++
						people = append(people, f)
					}
				}
				rep.Counts = append(rep.Counts, c)
			}
			for pi, p := range people {
				f, ok := follow(p, v.Map, faces)
				st := rep.Followed[v.Name]
				st[1]++
				if ok {
					st[0]++
					samples = append(samples, sample{person: person + pi, variant: v.Name, emb: f.Embedding, good: f.Good()})
				}
				rep.Followed[v.Name] = st
			}
		}
		person += len(people)
	}
	rep.Identities = person
	rep.Samples = len(samples)
	if nfaces > 0 {
		rep.PerFace = divTimings(tsum, nfaces)
	}
	var gen, imp []float64
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			s := float64(dot(samples[i].emb, samples[j].emb))
			if samples[i].person == samples[j].person {
				gen = append(gen, s)
			} else {
				imp = append(imp, s)
			}
		}
	}
	rep.Genuine, rep.Impostor = summarise(gen), summarise(imp)
	rep.ThresholdAt = thresholdAtFAR(imp, 1e-3)
	rep.TAR = fractionAtLeast(gen, rep.ThresholdAt)
	rep.Threshold = threshold
	if threshold <= 0 {
		rep.Threshold = rep.ThresholdAt
	}
	identify(&rep, samples, e.Dim())
	return rep, nil
}

// follow finds the variant's face whose box holds the original face's centre, mapped.
func follow(p engine.Face, m vision.Affine, faces []engine.Face) (engine.Face, bool) {
	c := m.Apply(vision.Point{X: (p.Box.X1 + p.Box.X2) / 2, Y: (p.Box.Y1 + p.Box.Y2) / 2})
	best, bestD := -1, math.Inf(1)
	for i, f := range faces {
		if f.Embedding == nil || c.X < f.Box.X1 || c.X > f.Box.X2 || c.Y < f.Box.Y1 || c.Y > f.Box.Y2 {
			continue
		}
		d := math.Hypot(float64(c.X-(f.Box.X1+f.Box.X2)/2), float64(c.Y-(f.Box.Y1+f.Box.Y2)/2))
		if d < bestD {
			best, bestD = i, d
		}
	}
	if best < 0 {
		return engine.Face{}, false
	}
	return faces[best], true
}

// identify enrols each person's original and probes with every other variant.
func identify(rep *Report, samples []sample, dim int) {
	idx := face.NewIndex(dim)
	for _, s := range samples {
		if s.variant == "original" {
			idx.Put(fmt.Sprint(s.person), "", s.emb)
		}
	}
	rule := face.Rule{Threshold: float32(rep.Threshold), Margin: float32(rep.Margin)}
	for _, s := range samples {
		if s.variant == "original" {
			continue
		}
		rep.Probes++
		if !s.good {
			rep.Gated++
			continue
		}
		id := rule.Decide(idx.Search(s.emb, 4))
		switch {
		case id.Match != nil && id.Match.PersonID == fmt.Sprint(s.person):
			rep.Identified++
		case id.Match != nil:
			rep.Wrong++
		case id.NeedExtVerify:
			rep.AskedTail++
		default:
			rep.Missed++
		}
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func summarise(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	q := func(p float64) float64 { return s[int(math.Round(p*float64(len(s)-1)))] }
	return Dist{N: len(s), Mean: sum / float64(len(s)), Min: s[0], P05: q(0.05), P50: q(0.5), P95: q(0.95), Max: s[len(s)-1]}
}

// thresholdAtFAR is the smallest score that at most far of the impostor pairs reach.
func thresholdAtFAR(imp []float64, far float64) float64 {
	if len(imp) == 0 {
		return 1
	}
	s := append([]float64(nil), imp...)
	sort.Sort(sort.Reverse(sort.Float64Slice(s)))
	k := int(math.Floor(far * float64(len(s)))) // pairs allowed at or above
	if k >= len(s) {
		return s[len(s)-1]
	}
	return math.Nextafter(s[k], 2) // just above the first pair that must be refused
}

func fractionAtLeast(v []float64, t float64) float64 {
	if len(v) == 0 {
		return 0
	}
	n := 0
	for _, x := range v {
		if x >= t {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

func addTimings(a, b engine.Timings) engine.Timings {
	return engine.Timings{Detect: a.Detect + b.Detect, Landmarks: a.Landmarks + b.Landmarks,
		Align: a.Align + b.Align, Embed: a.Embed + b.Embed, AntiSpoof: a.AntiSpoof + b.AntiSpoof}
}

func divTimings(a engine.Timings, n int) engine.Timings {
	d := time.Duration(n)
	return engine.Timings{Detect: a.Detect / d, Landmarks: a.Landmarks / d, Align: a.Align / d, Embed: a.Embed / d, AntiSpoof: a.AntiSpoof / d}
}
