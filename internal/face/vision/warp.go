package vision

import (
	"fmt"
	"math"
)

// Affine maps (x, y) to (A*x + B*y + C, D*x + E*y + F).
type Affine struct{ A, B, C, D, E, F float64 }

// Apply maps a point.
func (t Affine) Apply(p Point) Point {
	x, y := float64(p.X), float64(p.Y)
	return Point{float32(t.A*x + t.B*y + t.C), float32(t.D*x + t.E*y + t.F)}
}

// Invert returns the inverse map.
func (t Affine) Invert() (Affine, error) {
	det := t.A*t.E - t.B*t.D
	if math.Abs(det) < 1e-12 {
		return Affine{}, fmt.Errorf("vision: singular transform")
	}
	a, b, d, e := t.E/det, -t.B/det, -t.D/det, t.A/det
	return Affine{A: a, B: b, C: -(a*t.C + b*t.F), D: d, E: e, F: -(d*t.C + e*t.F)}, nil
}

// Scale is the transform's uniform scale (for a similarity).
func (t Affine) Scale() float64 { return math.Sqrt(math.Abs(t.A*t.E - t.B*t.D)) }

// Similarity fits the rotation, uniform scale and translation that best maps src
// onto dst in the least-squares sense (Umeyama 1991, 2-D closed form).
func Similarity(src, dst []Point) (Affine, error) {
	n := len(src)
	if n < 2 || n != len(dst) {
		return Affine{}, fmt.Errorf("vision: need matching point sets of at least 2, got %d and %d", len(src), len(dst))
	}
	var sx, sy, dx, dy float64
	for i := range src {
		sx += float64(src[i].X)
		sy += float64(src[i].Y)
		dx += float64(dst[i].X)
		dy += float64(dst[i].Y)
	}
	fn := float64(n)
	sx, sy, dx, dy = sx/fn, sy/fn, dx/fn, dy/fn
	// With complex numbers s and d centred, the best d ≈ z·s has
	// z = Σ conj(s)·d / Σ |s|²; z carries the rotation and the scale.
	var re, im, norm float64
	for i := range src {
		ax, ay := float64(src[i].X)-sx, float64(src[i].Y)-sy
		bx, by := float64(dst[i].X)-dx, float64(dst[i].Y)-dy
		re += ax*bx + ay*by
		im += ax*by - ay*bx
		norm += ax*ax + ay*ay
	}
	if norm < 1e-12 {
		return Affine{}, fmt.Errorf("vision: degenerate source points")
	}
	a, b := re/norm, im/norm
	return Affine{A: a, B: -b, C: dx - (a*sx - b*sy), D: b, E: a, F: dy - (b*sx + a*sy)}, nil
}

// Warp renders a w×h image whose pixel (x, y) samples src at dstToSrc(x, y).
// Pixel centres are at integer coordinates, as in the usual warpAffine.
func Warp(src *Image, dstToSrc Affine, w, h int) *Image {
	out := New(w, h)
	t := dstToSrc
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			sx := float32(t.A*fx + t.B*fy + t.C)
			sy := float32(t.D*fx + t.E*fy + t.F)
			i := (y*w + x) * 3
			src.sample3(sx, sy, out.Pix[i:i+3])
		}
	}
	return out
}

func (m *Image) sample3(x, y float32, dst []float32) {
	x0f, y0f := float32(math.Floor(float64(x))), float32(math.Floor(float64(y)))
	x0, y0 := int(x0f), int(y0f)
	fx, fy := x-x0f, y-y0f
	w00, w10, w01, w11 := (1-fx)*(1-fy), fx*(1-fy), (1-fx)*fy, fx*fy
	if x0 >= 0 && y0 >= 0 && x0+1 < m.W && y0+1 < m.H {
		i := (y0*m.W + x0) * 3
		j := i + m.W*3
		for c := 0; c < 3; c++ {
			dst[c] = m.Pix[i+c]*w00 + m.Pix[i+3+c]*w10 + m.Pix[j+c]*w01 + m.Pix[j+3+c]*w11
		}
		return
	}
	for c := 0; c < 3; c++ {
		dst[c] = m.At(x, y, c)
	}
}

// Resize stretches src to w×h (aspect ratio not kept), sampling pixel centres.
func Resize(src *Image, w, h int) *Image {
	sx := float64(src.W) / float64(w)
	sy := float64(src.H) / float64(h)
	return Warp(src, Affine{A: sx, C: 0.5*sx - 0.5, E: sy, F: 0.5*sy - 0.5}, w, h)
}

// Crop renders box r of src scaled to w×h.
func Crop(src *Image, r Rect, w, h int) *Image {
	sx := float64(r.W()) / float64(w)
	sy := float64(r.H()) / float64(h)
	return Warp(src, Affine{A: sx, C: float64(r.X1) + 0.5*sx - 0.5, E: sy, F: float64(r.Y1) + 0.5*sy - 0.5}, w, h)
}
