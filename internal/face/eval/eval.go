package eval

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Condition is one way of changing every photo before it is analysed.
type Condition struct {
	Name string
	// Make changes img; faceWidth is the width of the photo's largest face as
	// given, key names the photo (a stable seed).
	Make func(img *vision.Image, faceWidth float32, key string) (*vision.Image, error)
}

// Conditions are the four of the README's table.
var Conditions = []Condition{
	{Name: "as given", Make: func(img *vision.Image, _ float32, _ string) (*vision.Image, error) { return img, nil }},
	{Name: "greyscale", Make: func(img *vision.Image, _ float32, _ string) (*vision.Image, error) { return Grey(img), nil }},
	{Name: "faces 60-100 px", Make: Small},
	{Name: "jpeg q40", Make: func(img *vision.Image, _ float32, _ string) (*vision.Image, error) { return JPEG(img, 40) }},
}

// Grey replaces each pixel by its luma, as a monochrome camera gives it.
func Grey(img *vision.Image) *vision.Image {
	out := vision.New(img.W, img.H)
	for i := 0; i < img.W*img.H; i++ {
		y := 0.299*img.Pix[3*i] + 0.587*img.Pix[3*i+1] + 0.114*img.Pix[3*i+2]
		out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = y, y, y
	}
	return out
}

// Small shrinks the whole photo, filtered as a camera's optics would, so that its
// largest face is between 60 and 100 px wide (a width fixed per photo by its
// name); a face already that small is left alone.
func Small(img *vision.Image, faceWidth float32, key string) (*vision.Image, error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	target := 60 + float64(h.Sum32()%41)
	if faceWidth <= 0 || float64(faceWidth) <= target {
		return img, nil
	}
	s := target / float64(faceWidth)
	w, hh := max(1, int(math.Round(float64(img.W)*s))), max(1, int(math.Round(float64(img.H)*s)))
	sx, sy := float64(img.W)/float64(w), float64(img.H)/float64(hh)
	return vision.WarpSmooth(img, vision.Affine{A: sx, C: 0.5*sx - 0.5, E: sy, F: 0.5*sy - 0.5}, w, hh), nil
}

// JPEG re-encodes the photo at quality q.
func JPEG(img *vision.Image, q int) (*vision.Image, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img.RGBA(), &jpeg.Options{Quality: q}); err != nil {
		return nil, err
	}
	return vision.Decode(&buf)
}

// Sample is what the engine made of one photo under one condition: its largest
// face, whatever the gates say, and what the gates say.
type Sample struct {
	Found      bool
	Width      float32
	Embedding  []float32
	ProbeGates []string // reasons the probe gates give; none when it passes
	EnrolGates []string // reasons the enrolment gates give
}

// Embeddings analyses every photo under every condition; progress is called
// after each photo with the count done and the total.
func Embeddings(e *engine.Engine, s *Set, conds []Condition, progress func(done, total int)) ([]map[string]Sample, error) {
	out := make([]map[string]Sample, len(conds))
	for i := range out {
		out[i] = map[string]Sample{}
	}
	for n, ph := range s.Photos {
		img, err := readImage(filepath.Join(s.Dir, ph))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ph, err)
		}
		first, err := sample(e, img)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ph, err)
		}
		for ci, c := range conds {
			v, err := c.Make(img, first.Width, ph)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", ph, c.Name, err)
			}
			smp := first
			if v != img {
				if smp, err = sample(e, v); err != nil {
					return nil, fmt.Errorf("%s %s: %w", ph, c.Name, err)
				}
			}
			out[ci][ph] = smp
		}
		if progress != nil {
			progress(n+1, len(s.Photos))
		}
	}
	return out, nil
}

func readImage(path string) (*vision.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return vision.Decode(f)
}

func sample(e *engine.Engine, img *vision.Image) (Sample, error) {
	faces, err := e.Analyze(img)
	if err != nil {
		return Sample{}, err
	}
	f, ok := engine.Largest(faces)
	if !ok {
		return Sample{}, nil
	}
	return Sample{Found: true, Width: f.Box.W(), Embedding: f.Embedding, ProbeGates: f.Rejected,
		EnrolGates: e.EnrolGates.Check(f.Quality)}, nil
}

// Rule is the decision an evaluation holds the pack to.
type Rule struct {
	Threshold float64
	Margin    float64
}

// Verification is the 1:1 result of one condition.
type Verification struct {
	Same, Diff    int     // pairs scored
	Skipped       int     // pairs with a photo where no face was found
	Accuracy      float64 // at the rule's threshold
	FalseAccepts  int
	FalseRejects  int
	BestAccuracy  float64
	BestThreshold float64
	TAR           float64 // at FAR 1e-3, or at zero false accepts with fewer than 1 000 other-person pairs
	TARAt         string
	SameMin       float64
	DiffMax       float64
}

// OneToN is a 1:N result: K enrolment photos per person.
type OneToN struct {
	K          int `json:"enrolment_photos"`
	People     int `json:"people"`
	Probes     int `json:"probes"`
	Rank1      int `json:"rank1"`      // the right person ranked first (gates ignored)
	Identified int `json:"identified"` // matched to the right person at the rule
	AskedTail  int `json:"asked_phone_tail"`
	Wrong      int `json:"false_accepts"` // matched to someone else at the rule
	Missed     int `json:"missed"`
	Gated      int `json:"refused_by_probe_gates"`
	// RightScore is the mean score of the right person over the probes: how far
	// above the threshold genuine probes land.
	RightScore float64 `json:"mean_right_person_score"`
}

// Result is one condition's row.
type Result struct {
	Condition    string         `json:"condition"`
	Photos       int            `json:"photos"`
	NoFace       int            `json:"no_face"`
	Verification Verification   `json:"verification"`
	Headline     OneToN         `json:"one_to_n"`             // one photo enrolled, the rest probe
	ByK          []OneToN       `json:"one_to_n_by_enrolled"` // 1, 2, 3 enrolled, the same probes
	GateRefusals map[string]int `json:"probe_gate_refusals"`  // gate → genuine probes refused
	Probes       int            `json:"genuine_probes"`
	EnrolRefused map[string]int `json:"enrolment_gate_refusals"` // gate → photos the enrolment gates refuse
}

// Evaluate scores one condition's samples.
func Evaluate(ctx context.Context, s *Set, cond string, smp map[string]Sample, dim int, rule Rule) (Result, error) {
	r := Result{Condition: cond, Photos: len(s.Photos), GateRefusals: map[string]int{}, EnrolRefused: map[string]int{}}
	for _, ph := range s.Photos {
		if !smp[ph].Found {
			r.NoFace++
		}
	}
	var same, diff []float64
	for _, p := range s.Pairs {
		a, b := smp[p.X], smp[p.Y]
		if !a.Found || !b.Found {
			r.Verification.Skipped++
			continue
		}
		sc := float64(dot(a.Embedding, b.Embedding))
		if p.Same {
			same = append(same, sc)
		} else {
			diff = append(diff, sc)
		}
	}
	r.Verification = verify(same, diff, rule.Threshold, r.Verification.Skipped)
	people := s.People()
	var err error
	if r.Headline, err = oneToN(ctx, people, smp, dim, rule, 1, false); err != nil {
		return r, err
	}
	for k := 1; k <= 3; k++ {
		o, err := oneToN(ctx, people, smp, dim, rule, k, true)
		if err != nil {
			return r, err
		}
		r.ByK = append(r.ByK, o)
	}
	// Every photo of a person with at least two photos is a genuine probe.
	for _, phs := range people {
		if len(phs) < 2 {
			continue
		}
		for _, ph := range phs {
			if !smp[ph].Found {
				continue
			}
			r.Probes++
			for _, why := range smp[ph].ProbeGates {
				r.GateRefusals[gateName(why)]++
			}
			for _, why := range smp[ph].EnrolGates {
				r.EnrolRefused[gateName(why)]++
			}
		}
	}
	return r, nil
}

// gateName is the part of a gate's reason before the colon ("blurred", "face too small").
func gateName(reason string) string {
	n, _, _ := strings.Cut(reason, ":")
	return n
}

func verify(same, diff []float64, threshold float64, skipped int) Verification {
	v := Verification{Same: len(same), Diff: len(diff), Skipped: skipped, SameMin: math.Inf(1), DiffMax: math.Inf(-1)}
	for _, x := range same {
		v.SameMin = math.Min(v.SameMin, x)
		if x < threshold {
			v.FalseRejects++
		}
	}
	for _, x := range diff {
		v.DiffMax = math.Max(v.DiffMax, x)
		if x >= threshold {
			v.FalseAccepts++
		}
	}
	if n := len(same) + len(diff); n > 0 {
		v.Accuracy = float64(n-v.FalseAccepts-v.FalseRejects) / float64(n)
	}
	v.BestAccuracy, v.BestThreshold = bestAccuracy(same, diff)
	v.TAR, v.TARAt = tar(same, diff)
	return v
}

// bestAccuracy tries every score as the threshold (scores at or above it accepted).
func bestAccuracy(same, diff []float64) (float64, float64) {
	type sc struct {
		s    float64
		same bool
	}
	all := make([]sc, 0, len(same)+len(diff))
	for _, x := range same {
		all = append(all, sc{x, true})
	}
	for _, x := range diff {
		all = append(all, sc{x, false})
	}
	if len(all) == 0 {
		return 0, 0
	}
	sort.Slice(all, func(i, j int) bool { return all[i].s < all[j].s })
	// With the threshold at all[i].s, everything from i on is accepted.
	correct := len(same) // threshold below everything: every same pair right, every other wrong
	best, bestT := correct, all[0].s
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].s == all[i].s {
			if all[j].same {
				correct--
			} else {
				correct++
			}
			j++
		}
		// The threshold just above all[i].s refuses all[:j].
		if correct > best {
			best = correct
			if j < len(all) {
				bestT = all[j].s
			} else {
				bestT = math.Nextafter(all[i].s, math.Inf(1))
			}
		}
		i = j
	}
	return float64(best) / float64(len(all)), bestT
}

// tar is the share of same-person pairs accepted at the strictest threshold that
// still keeps the false-accept rate at 1e-3; with fewer than 1 000 other-person
// pairs that rate cannot be told apart from zero, so it is at zero false accepts.
func tar(same, diff []float64) (float64, string) {
	if len(same) == 0 {
		return 0, "-"
	}
	d := append([]float64(nil), diff...)
	sort.Sort(sort.Reverse(sort.Float64Slice(d)))
	allowed, at := 0, "0 false accepts"
	if len(d) >= 1000 {
		allowed, at = int(math.Floor(1e-3*float64(len(d)))), "FAR 1e-3"
	}
	t := math.Inf(-1)
	if allowed < len(d) {
		t = math.Nextafter(d[allowed], math.Inf(1))
	}
	n := 0
	for _, x := range same {
		if x >= t {
			n++
		}
	}
	return float64(n) / float64(len(same)), at
}

// oneToN enrols up to k photos per person in a real face library and probes
// with the others. With shared, the probes are the photos outside each person's
// pool of three enrolment candidates, whatever k is, so that rates for k = 1, 2
// and 3 compare like with like; otherwise one photo is enrolled and every other
// photo probes. Enrolment photos are the first (by name) that pass the
// enrolment gates; people with a single photo are enrolled as distractors.
func oneToN(ctx context.Context, people map[string][]string, smp map[string]Sample, dim int, rule Rule, k int, shared bool) (OneToN, error) {
	o := OneToN{K: k}
	libs := face.NewLibraries(face.NewMemoryStore(), dim)
	probes := map[string][]string{}
	names := make([]string, 0, len(people))
	for n := range people {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, person := range names {
		phs := people[person]
		var pool []string
		poolSize := 1
		if shared {
			poolSize = 3
		}
		for _, ph := range phs {
			if len(pool) < poolSize && len(pool) < max(1, len(phs)-1) && smp[ph].Found && len(smp[ph].EnrolGates) == 0 {
				pool = append(pool, ph)
			}
		}
		if len(pool) == 0 {
			continue
		}
		var vecs [][]float32
		for _, ph := range pool[:min(k, len(pool))] {
			vecs = append(vecs, smp[ph].Embedding)
		}
		if err := libs.Enrol(ctx, face.Enrolment{Library: "eval", PersonID: person, Vectors: vecs}); err != nil {
			return o, err
		}
		o.People++
		in := map[string]bool{}
		for _, ph := range pool {
			in[ph] = true
		}
		if !shared {
			in = map[string]bool{pool[0]: true}
		}
		for _, ph := range phs {
			if !in[ph] && smp[ph].Found {
				probes[person] = append(probes[person], ph)
			}
		}
	}
	decide := face.Rule{Threshold: float32(rule.Threshold), Margin: float32(rule.Margin)}
	rank := face.Rule{Threshold: -2}
	for _, person := range names {
		for _, ph := range probes[person] {
			o.Probes++
			emb := smp[ph].Embedding
			top, err := libs.Identify(ctx, "eval", emb, rank)
			if err != nil {
				return o, err
			}
			if len(top.Candidates) > 0 && top.Candidates[0].PersonID == person {
				o.Rank1++
			}
			o.RightScore += rightScore(libs, ctx, person, emb)
			if len(smp[ph].ProbeGates) > 0 {
				o.Gated++
				continue
			}
			id, err := libs.Identify(ctx, "eval", emb, decide)
			if err != nil {
				return o, err
			}
			switch {
			case id.Match != nil && id.Match.PersonID == person:
				o.Identified++
			case id.Match != nil:
				o.Wrong++
			case id.NeedExtVerify:
				o.AskedTail++
			default:
				o.Missed++
			}
		}
	}
	if o.Probes > 0 {
		o.RightScore /= float64(o.Probes)
	}
	return o, nil
}

// rightScore is the probe's score against the person's best template.
func rightScore(libs *face.Libraries, ctx context.Context, person string, emb []float32) float64 {
	best := math.Inf(-1)
	for _, v := range libs.Vectors(ctx, "eval", person) {
		best = math.Max(best, float64(dot(v, emb)))
	}
	return best
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// AnchorAccuracy is a peer's best-threshold accuracy on the pairs it scored that
// this run scored too, and how many pairs that is.
func AnchorAccuracy(a Anchor, s *Set, smp map[string]Sample) (float64, int) {
	var same, diff []float64
	for _, p := range s.Pairs {
		d, ok := a.Distance[[2]string{p.X, p.Y}]
		if !ok || !smp[p.X].Found || !smp[p.Y].Found {
			continue
		}
		if p.Same {
			same = append(same, -d)
		} else {
			diff = append(diff, -d)
		}
	}
	acc, _ := bestAccuracy(same, diff)
	return acc, len(same) + len(diff)
}

// Run evaluates a pack on a set under conds at rule.
func Run(ctx context.Context, e *engine.Engine, s *Set, conds []Condition, rule Rule, progress func(done, total int)) (Report, error) {
	r := Report{Pack: e.Pack.Name, Threshold: rule.Threshold, Margin: rule.Margin, Photos: len(s.Photos), People: len(s.People()), Pairs: len(s.Pairs)}
	for _, p := range s.Pairs {
		if p.Same {
			r.SamePairs++
		}
	}
	smp, err := Embeddings(e, s, conds, progress)
	if err != nil {
		return r, err
	}
	for i, c := range conds {
		res, err := Evaluate(ctx, s, c.Name, smp[i], e.Dim(), rule)
		if err != nil {
			return r, err
		}
		r.Results = append(r.Results, res)
	}
	for _, a := range s.Anchors {
		acc, n := AnchorAccuracy(a, s, smp[0])
		if n > 0 {
			r.Anchors = append(r.Anchors, Peer{Name: strings.TrimSuffix(a.Name, "_cosine"), Accuracy: acc, Pairs: n})
		}
	}
	return r, nil
}

// BestAccuracy is the best accuracy any threshold reaches on the scores, and
// that threshold (scores at or above it accepted).
func BestAccuracy(same, diff []float64) (float64, float64) { return bestAccuracy(same, diff) }

// TAR is the share of same-person scores accepted at FAR 1e-3 (at zero false
// accepts below 1 000 other-person scores), and which of the two it is.
func TAR(same, diff []float64) (float64, string) { return tar(same, diff) }
