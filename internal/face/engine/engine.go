package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Gates are the quality bars a face must pass. An engine has two sets: strict
// ones for enrolment, where a bad template spoils every later match, and lenient
// ones for probes, which need only be good enough for the template to mean
// something, because a kiosk camera sees people as they come.
type Gates struct {
	MinEyeDistance float32 // pixels between the eye centres in the photo
	MinSharpness   float64 // vision.Sharpness of the aligned chip, 0..1
	MaxYaw         float64 // |nose offset from the eye midline| / eye distance
	MinPitch       float64 // (nose - eyes) / (mouth - eyes), vertically, after removing roll
	MaxPitch       float64
	MaxRoll        float64 // degrees of the eye line from horizontal
}

// EnrolGates were chosen on the packaged photographs and their variants (see the
// README's face quality table): they pass frontal faces and the group photos'
// clear faces, and refuse profiles, blur and tiny faces.
var EnrolGates = Gates{
	MinEyeDistance: 16,
	MinSharpness:   0.16,
	MaxYaw:         0.28,
	MinPitch:       0.25,
	MaxPitch:       0.85,
	MaxRoll:        40,
}

// ProbeGates refuse only faces whose template would be noise: a face too small
// or too blurred to carry identity, or turned so far that the aligned chip
// holds half a face. They were set on the genuine probes of a real identity set
// under four photo conditions (colour, greyscale, faces 60–100 px wide, JPEG
// quality 40), where each refuses under 2 % (README, face recognition).
var ProbeGates = Gates{
	MinEyeDistance: 12,
	MinSharpness:   0.10,
	MaxYaw:         0.60,
	MinPitch:       0.15,
	MaxPitch:       0.95,
	MaxRoll:        45,
}

// GatesFor is the pair of gates adjusted to a pack's keypoints. BlazeFace's nose
// tip is coarser than a 68-point model's: on the group photos frontal faces whose
// 68-point yaw is 0.1–0.2 read 0.4–0.45 from BlazeFace, so the open pack allows
// more before calling a face turned sideways.
func GatesFor(pack string) (enrol, probe Gates) {
	enrol, probe = EnrolGates, ProbeGates
	if pack == "open" {
		enrol.MaxYaw = 0.5
		probe.MaxYaw = 0.8
	}
	return enrol, probe
}

// Config opens an engine.
type Config struct {
	Pack    string // "" is the default pack
	Cache   string // the modelpack cache; "" is modelpack.CacheDir()
	Threads int    // intra-op threads per model; 0 lets onnxruntime choose
	Enrol   *Gates // nil is GatesFor(pack)
	Probe   *Gates // nil is GatesFor(pack)
	Warn    io.Writer
}

// Engine is a loaded pack. It is safe for concurrent use.
type Engine struct {
	Pack       modelpack.Pack
	Parts      Parts
	EnrolGates Gates
	ProbeGates Gates
}

// Quality is what the gates measured on one face.
type Quality struct {
	EyeDistance float32 `json:"eye_distance_px"`
	Sharpness   float64 `json:"sharpness"`
	Yaw         float64 `json:"yaw"`
	Pitch       float64 `json:"pitch"`
	Roll        float64 `json:"roll_deg"`
	// Live is the pack's passive anti-spoof score, shown but never a gate: on
	// genuine photos it ranged from 0.00 (greyscale) to 0.99, so as a gate it
	// refused real people at random. Liveness is the active check (Liveness).
	Live    float32 `json:"live_unvalidated,omitempty"`
	HasLive bool    `json:"-"`
}

// Timings are the stage costs of one face (detection is per image, shared).
type Timings struct {
	Detect    time.Duration `json:"detect"`
	Landmarks time.Duration `json:"landmarks"`
	Align     time.Duration `json:"align"`
	Embed     time.Duration `json:"embed"`
	AntiSpoof time.Duration `json:"anti_spoof"`
}

// Face is one analysed face.
type Face struct {
	Detection
	Quality   Quality
	Rejected  []string  // a reason per failed gate; empty when the face is good
	Embedding []float32 // L2-normalised; set for every face with alignment points
	Chip      *vision.Image
	Timings   Timings
}

// Good reports whether the face passed every gate.
func (f Face) Good() bool { return len(f.Rejected) == 0 && f.Embedding != nil }

// Open loads a pack's models from the cache, checking every file's sha256.
func Open(cfg Config) (*Engine, error) {
	pack, ok := modelpack.Find(cfg.Pack)
	if !ok {
		return nil, fmt.Errorf("no face model pack %q (packs: open, faceplugin)", cfg.Pack)
	}
	if !onnx.Available() {
		return nil, onnx.ErrUnavailable
	}
	cache := cfg.Cache
	if cache == "" {
		cache = modelpack.CacheDir()
	}
	lib, err := modelpack.Verify(cache, "onnxruntime")
	if err != nil {
		return nil, err
	}
	if err := onnx.Init(lib); err != nil {
		return nil, fmt.Errorf("load onnxruntime: %w", err)
	}
	if pack.Warning != "" && cfg.Warn != nil {
		fmt.Fprintf(cfg.Warn, "WARNING: %s\n", pack.Warning)
	}
	e := &Engine{Pack: pack}
	e.EnrolGates, e.ProbeGates = GatesFor(pack.Name)
	if cfg.Enrol != nil {
		e.EnrolGates = *cfg.Enrol
	}
	if cfg.Probe != nil {
		e.ProbeGates = *cfg.Probe
	}
	o := onnx.Options{Threads: cfg.Threads}
	path := func(role modelpack.Role) (string, error) { return modelpack.Verify(cache, pack.Artefact[role]) }
	if err := buildParts(&e.Parts, pack.Name, path, cache, o); err != nil {
		e.Close()
		return nil, fmt.Errorf("pack %s: %w", pack.Name, err)
	}
	if err := e.checkDim(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close frees every model.
func (e *Engine) Close() error {
	var errs []error
	for _, c := range e.Parts.closers {
		errs = append(errs, c())
	}
	e.Parts.closers = nil
	return errors.Join(errs...)
}

// Dim is the template length of this pack.
func (e *Engine) Dim() int { return e.Parts.Embedder.Dim() }

// Model names the pack and embedder, stored with every template so that a library
// never mixes templates of two models.
func (e *Engine) Model() string { return fmt.Sprintf("%s/%d", e.Pack.Name, e.Dim()) }

// checkDim keeps a pack's declared template length honest.
func (e *Engine) checkDim() error {
	if e.Pack.Dim != e.Dim() {
		return fmt.Errorf("pack %s declares %d-d templates, its embedder makes %d", e.Pack.Name, e.Pack.Dim, e.Dim())
	}
	return nil
}

// Analyze detects every face, aligns and embeds each face that has alignment
// points, and applies the probe gates.
func (e *Engine) Analyze(img *vision.Image) ([]Face, error) {
	t0 := time.Now()
	dets, err := e.Parts.Detector.Detect(img)
	if err != nil {
		return nil, err
	}
	detect := time.Since(t0)
	faces := make([]Face, 0, len(dets))
	for _, d := range dets {
		f, err := e.analyzeOne(img, d)
		if err != nil {
			return nil, err
		}
		f.Timings.Detect = detect
		faces = append(faces, f)
	}
	return faces, nil
}

func (e *Engine) analyzeOne(img *vision.Image, d Detection) (Face, error) {
	f := Face{Detection: d}
	if e.Parts.Landmarks != nil {
		t := time.Now()
		if err := e.Parts.Landmarks.Landmarks(img, &f.Detection); err != nil {
			return f, err
		}
		f.Timings.Landmarks = time.Since(t)
	}
	if !f.HasAlign {
		f.Rejected = append(f.Rejected, "no alignment points")
		return f, nil
	}
	t := time.Now()
	chip, err := e.Align(img, f.Detection)
	if err != nil {
		f.Rejected = append(f.Rejected, "alignment: "+err.Error())
		return f, nil
	}
	f.Chip = chip
	f.Timings.Align = time.Since(t)
	t = time.Now()
	emb, err := e.Template(chip)
	if err != nil {
		return f, err
	}
	f.Embedding = emb
	f.Timings.Embed = time.Since(t)
	f.Quality = measure(f.Align, chip)
	if e.Parts.AntiSpoof != nil {
		t = time.Now()
		live, err := e.Parts.AntiSpoof.Live(img, f.Detection)
		if err != nil {
			return f, err
		}
		f.Quality.Live, f.Quality.HasLive = live, true
		f.Timings.AntiSpoof = time.Since(t)
	}
	f.Rejected = append(f.Rejected, e.ProbeGates.Check(f.Quality)...)
	return f, nil
}

// Template is the normalised mean of the embeddings of the chip and of its
// mirror image. A face and its mirror are the same person, yet the networks answer
// them slightly differently; the mean cancels that part, which on the real
// identity pairs widened the gap between the lowest same-person and the highest
// other-person score in every photo condition (README, face recognition).
func (e *Engine) Template(chip *vision.Image) ([]float32, error) {
	a, err := e.Parts.Embedder.Embed(chip)
	if err != nil {
		return nil, err
	}
	b, err := e.Parts.Embedder.Embed(chip.Mirror())
	if err != nil {
		return nil, err
	}
	a, b = normalize(a), normalize(b)
	for i := range a {
		a[i] += b[i]
	}
	return normalize(a), nil
}

// Align warps the face onto the embedder's chip by the similarity transform that
// best maps the detection's alignment points onto the embedder's template.
func (e *Engine) Align(img *vision.Image, d Detection) (*vision.Image, error) {
	tpl := e.Parts.Embedder.Template()
	var src, dst []vision.Point
	for _, i := range e.Parts.AlignPoints {
		src, dst = append(src, d.Align[i]), append(dst, tpl[i])
	}
	toChip, err := vision.Similarity(src, dst)
	if err != nil {
		return nil, err
	}
	toImg, err := toChip.Invert()
	if err != nil {
		return nil, err
	}
	n := e.Parts.Embedder.ChipSize()
	return vision.WarpSmooth(img, toImg, n, n), nil
}

func measure(p [NumAlignPoints]vision.Point, chip *vision.Image) Quality {
	le, re, nose, mouth := p[PointLeftEye], p[PointRightEye], p[PointNose], p[PointMouth]
	dx, dy := float64(re.X-le.X), float64(re.Y-le.Y)
	eyeDist := math.Hypot(dx, dy)
	roll := math.Atan2(dy, dx)
	q := Quality{EyeDistance: float32(eyeDist), Roll: roll * 180 / math.Pi, Sharpness: chip.Sharpness()}
	if eyeDist == 0 {
		return q
	}
	// Undo the roll about the eye midpoint so yaw and pitch are read on upright axes.
	mx, my := float64(le.X+re.X)/2, float64(le.Y+re.Y)/2
	c, s := math.Cos(-roll), math.Sin(-roll)
	up := func(pt vision.Point) (float64, float64) {
		x, y := float64(pt.X)-mx, float64(pt.Y)-my
		return x*c - y*s, x*s + y*c
	}
	nx, ny := up(nose)
	_, my2 := up(mouth)
	q.Yaw = nx / eyeDist
	if my2 > 0 {
		q.Pitch = ny / my2
	}
	return q
}

// Check returns a reason for every gate q fails; none when it passes.
func (g Gates) Check(q Quality) []string {
	var why []string
	if q.EyeDistance < g.MinEyeDistance {
		why = append(why, fmt.Sprintf("face too small: eyes %.0f px apart, need %.0f", q.EyeDistance, g.MinEyeDistance))
	}
	if q.Sharpness < g.MinSharpness {
		why = append(why, fmt.Sprintf("blurred: sharpness %.2f, need %.2f", q.Sharpness, g.MinSharpness))
	}
	if math.Abs(q.Yaw) > g.MaxYaw {
		why = append(why, fmt.Sprintf("turned sideways: yaw %.2f, limit %.2f", q.Yaw, g.MaxYaw))
	}
	if q.Pitch < g.MinPitch || q.Pitch > g.MaxPitch {
		why = append(why, fmt.Sprintf("tilted up or down: pitch %.2f, range %.2f..%.2f", q.Pitch, g.MinPitch, g.MaxPitch))
	}
	if math.Abs(q.Roll) > g.MaxRoll {
		why = append(why, fmt.Sprintf("head tilted: roll %.0f°, limit %.0f°", q.Roll, g.MaxRoll))
	}
	return why
}

func normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if n == 0 {
		return out
	}
	inv := 1 / math.Sqrt(n)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// Enrolment errors.
var (
	ErrNoFace    = errors.New("no face found in the photo")
	ErrManyFaces = errors.New("more than one face in the photo: enrolment needs exactly one")
)

// RejectedError says why the one face of an enrolment photo failed the gates.
type RejectedError struct{ Reasons []string }

func (e *RejectedError) Error() string { return fmt.Sprintf("face rejected: %v", e.Reasons) }

// Enrol requires exactly one face, and that it pass every enrolment gate.
func (e *Engine) Enrol(img *vision.Image) (Face, error) {
	faces, err := e.Analyze(img)
	if err != nil {
		return Face{}, err
	}
	switch len(faces) {
	case 0:
		return Face{}, ErrNoFace
	case 1:
	default:
		return Face{}, ErrManyFaces
	}
	f := faces[0]
	if f.Embedding != nil {
		f.Rejected = e.EnrolGates.Check(f.Quality)
	}
	if !f.Good() {
		return f, &RejectedError{Reasons: f.Rejected}
	}
	return f, nil
}

// Probe picks the face to identify in a kiosk photo: the largest good face.
func (e *Engine) Probe(img *vision.Image) (Face, error) {
	faces, err := e.Analyze(img)
	if err != nil {
		return Face{}, err
	}
	best := -1
	for i, f := range faces {
		if f.Good() && (best < 0 || f.Box.W()*f.Box.H() > faces[best].Box.W()*faces[best].Box.H()) {
			best = i
		}
	}
	if best >= 0 {
		return faces[best], nil
	}
	if len(faces) == 0 {
		return Face{}, ErrNoFace
	}
	return faces[0], &RejectedError{Reasons: faces[0].Rejected}
}
