package engine

import (
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// The faceplugin pack's preprocessing follows the package's own JavaScript
// (lib/fr_detect.js, fr_landmark.js, fr_feature.js, fr_liveness.js).

func loadModel(path string, o onnx.Options) (*onnx.Session, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := onnx.Load(b, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// UltraFace is the faceplugin detector (RFB-320 on a 320×240 squash of the image).
type UltraFace struct {
	s         *onnx.Session
	Threshold float32
	NMS       float32
}

// NewUltraFace loads fr_detect.onnx.
func NewUltraFace(path string, o onnx.Options) (*UltraFace, error) {
	s, err := loadModel(path, o)
	if err != nil {
		return nil, err
	}
	return &UltraFace{s: s, Threshold: 0.7, NMS: 0.4}, nil
}

// Close frees the model.
func (u *UltraFace) Close() error { return u.s.Close() }

// Detect implements Detector.
func (u *UltraFace) Detect(img *vision.Image) ([]Detection, error) {
	const w, h = 320, 240
	in := vision.Resize(img, w, h).CHW([3]float32{127, 127, 127}, 1.0/128, false)
	out, err := u.s.Run(onnx.Tensor{Shape: []int64{1, 3, h, w}, Data: in})
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	scores, boxes := out[0].Data, out[1].Data
	var dets []Detection
	for i := 0; i*2+1 < len(scores); i++ {
		sc := scores[i*2+1]
		if sc < u.Threshold {
			continue
		}
		b := boxes[i*4 : i*4+4]
		dets = append(dets, Detection{Score: sc, Box: vision.Rect{
			X1: b[0] * float32(img.W), Y1: b[1] * float32(img.H),
			X2: b[2] * float32(img.W), Y2: b[3] * float32(img.H)}})
	}
	return NMS(dets, u.NMS), nil
}

// NMS keeps the best of every group of boxes overlapping by more than iou, best first.
func NMS(dets []Detection, iou float32) []Detection {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].Score > dets[j].Score })
	var keep []Detection
	for _, d := range dets {
		dup := false
		for _, k := range keep {
			if d.Box.IoU(k.Box) > iou {
				dup = true
				break
			}
		}
		if !dup {
			keep = append(keep, d)
		}
	}
	return keep
}

// squareAround is the faceplugin crop: the box scaled by k about its centre,
// shrunk to fit the image, then shifted inside it.
func squareAround(b vision.Rect, k float32, w, h int) vision.Rect {
	bw, bh := b.W(), b.H()
	k = min(k, (float32(h)-1)/bh, (float32(w)-1)/bw)
	nw, nh := bw*k, bh*k
	cx, cy := b.X1+bw/2, b.Y1+bh/2
	r := vision.Rect{X1: cx - nw/2, Y1: cy - nh/2, X2: cx + nw/2, Y2: cy + nh/2}
	if r.X1 < 0 {
		r.X2 -= r.X1
		r.X1 = 0
	}
	if r.Y1 < 0 {
		r.Y2 -= r.Y1
		r.Y1 = 0
	}
	if r.X2 > float32(w-1) {
		r.X1 -= r.X2 - float32(w-1)
		r.X2 = float32(w - 1)
	}
	if r.Y2 > float32(h-1) {
		r.Y1 -= r.Y2 - float32(h-1)
		r.Y2 = float32(h - 1)
	}
	return r
}

// Landmark68 is the faceplugin 68-point landmark model.
type Landmark68 struct{ s *onnx.Session }

// NewLandmark68 loads fr_landmark.onnx.
func NewLandmark68(path string, o onnx.Options) (*Landmark68, error) {
	s, err := loadModel(path, o)
	if err != nil {
		return nil, err
	}
	return &Landmark68{s: s}, nil
}

// Close frees the model.
func (l *Landmark68) Close() error { return l.s.Close() }

// Landmarks implements Landmarker.
func (l *Landmark68) Landmarks(img *vision.Image, d *Detection) error {
	box := squareAround(d.Box, 1, img.W, img.H)
	g := vision.Crop(img, box, 64, 64).Grey()
	for i := range g {
		g[i] /= 256
	}
	out, err := l.s.Run(onnx.Tensor{Shape: []int64{1, 1, 64, 64}, Data: g})
	if err != nil {
		return fmt.Errorf("landmarks: %w", err)
	}
	p := out[0].Data
	if len(p) != 136 {
		return fmt.Errorf("landmarks: %d outputs, want 136", len(p))
	}
	pts := make([]vision.Point, 68)
	for i := range pts {
		pts[i] = vision.Point{X: box.X1 + p[2*i]*box.W(), Y: box.Y1 + p[2*i+1]*box.H()}
	}
	d.Landmarks = pts
	d.Align = AlignFrom68(pts)
	d.HasAlign = true
	return nil
}

// AlignFrom68 averages the iBUG 68-point layout into the four alignment points.
func AlignFrom68(p []vision.Point) [NumAlignPoints]vision.Point {
	return [NumAlignPoints]vision.Point{
		PointLeftEye:  mean(p[36:42]),
		PointRightEye: mean(p[42:48]),
		PointNose:     p[30],
		PointMouth:    mean([]vision.Point{p[48], p[54]}),
	}
}

func mean(ps []vision.Point) vision.Point {
	var x, y float32
	for _, p := range ps {
		x += p.X
		y += p.Y
	}
	n := float32(len(ps))
	return vision.Point{X: x / n, Y: y / n}
}

// MobileFaceNet is the faceplugin 512-d embedder on ArcFace-aligned 112×112 chips.
type MobileFaceNet struct {
	s     *onnx.Session
	model []byte
}

// NewMobileFaceNet loads fr_feature.onnx.
func NewMobileFaceNet(path string, o onnx.Options) (*MobileFaceNet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := onnx.FlushDenormals(b); err != nil { // what Load runs, so benchmarks elsewhere run the same
		return nil, err
	}
	s, err := onnx.Load(b, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &MobileFaceNet{s: s, model: b}, nil
}

// Model implements ModelEmbedder.
func (m *MobileFaceNet) Model() []byte { return m.model }

// Input implements ModelEmbedder.
func (m *MobileFaceNet) Input(chip *vision.Image) onnx.Tensor {
	return onnx.Tensor{Shape: []int64{1, 3, 112, 112}, Data: chip.CHW([3]float32{127, 127, 127}, 1.0/128, false)}
}

// Run implements ModelEmbedder.
func (m *MobileFaceNet) Run(in onnx.Tensor) ([]float32, error) {
	out, err := m.s.Run(in)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	return out[0].Data, nil
}

// Close frees the model.
func (m *MobileFaceNet) Close() error { return m.s.Close() }

// Dim implements Embedder.
func (m *MobileFaceNet) Dim() int { return 512 }

// ChipSize implements Embedder.
func (m *MobileFaceNet) ChipSize() int { return 112 }

// Template is the ArcFace 112×112 reference, mouth corners averaged to the centre.
func (m *MobileFaceNet) Template() [NumAlignPoints]vision.Point {
	return [NumAlignPoints]vision.Point{
		{X: 38.2946, Y: 51.6963}, {X: 73.5318, Y: 51.5014},
		{X: 56.0252, Y: 71.7366}, {X: (41.5493 + 70.7299) / 2, Y: (92.3655 + 92.2041) / 2},
	}
}

// Embed implements Embedder.
func (m *MobileFaceNet) Embed(chip *vision.Image) ([]float32, error) {
	return m.Run(m.Input(chip))
}

// MiniFAS is the faceplugin passive anti-spoof model.
type MiniFAS struct{ s *onnx.Session }

// NewMiniFAS loads fr_liveness.onnx.
func NewMiniFAS(path string, o onnx.Options) (*MiniFAS, error) {
	s, err := loadModel(path, o)
	if err != nil {
		return nil, err
	}
	return &MiniFAS{s: s}, nil
}

// Close frees the model.
func (m *MiniFAS) Close() error { return m.s.Close() }

// Live implements AntiSpoof: the softmax probability of class 0, the class the
// package's own JavaScript reports as live.
func (m *MiniFAS) Live(img *vision.Image, d Detection) (float32, error) {
	box := squareAround(d.Box, 2.7, img.W, img.H)
	in := vision.Crop(img, box, 128, 128).CHW([3]float32{}, 1, false)
	out, err := m.s.Run(onnx.Tensor{Shape: []int64{1, 3, 128, 128}, Data: in})
	if err != nil {
		return 0, fmt.Errorf("anti-spoof: %w", err)
	}
	return softmax(out[0].Data)[0], nil
}

func softmax(v []float32) []float32 {
	mx := v[0]
	for _, x := range v {
		mx = max(mx, x)
	}
	out := make([]float32, len(v))
	var sum float32
	for i, x := range v {
		out[i] = float32(math.Exp(float64(x - mx)))
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
