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

// WarpSmooth is Warp for maps that shrink: where one output pixel covers two or
// more source pixels, bilinear sampling alone skips most of them and aliases
// (a 4 000 px photo read into a 256 px detector input, a large face into a
// 150 px chip). The part of src the output reads is first halved by 2×2 box
// averaging until each output pixel covers fewer than two source pixels, then
// sampled bilinearly, as an image pyramid does.
func WarpSmooth(src *Image, dstToSrc Affine, w, h int) *Image {
	s := dstToSrc.Scale()
	if s < 2 {
		return Warp(src, dstToSrc, w, h)
	}
	levels := int(math.Floor(math.Log2(s)))
	f := float64(int(1) << levels)
	// The source region the output reads, with a margin for the box filters.
	x1, y1, x2, y2 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, c := range [4][2]float64{{0, 0}, {float64(w - 1), 0}, {0, float64(h - 1)}, {float64(w - 1), float64(h - 1)}} {
		p := dstToSrc.Apply(Point{X: float32(c[0]), Y: float32(c[1])})
		x1, y1 = math.Min(x1, float64(p.X)), math.Min(y1, float64(p.Y))
		x2, y2 = math.Max(x2, float64(p.X)), math.Max(y2, float64(p.Y))
	}
	ox := max(0, int(math.Floor(x1))-2*int(f))
	oy := max(0, int(math.Floor(y1))-2*int(f))
	ex := min(src.W, int(math.Ceil(x2))+2*int(f))
	ey := min(src.H, int(math.Ceil(y2))+2*int(f))
	if ex-ox < 2*int(f) || ey-oy < 2*int(f) {
		return Warp(src, dstToSrc, w, h) // the output reads (almost) nothing of src
	}
	sub := src.halfOf(ox, oy, ex, ey) // the first level reads src in place: no copy of a large photo
	for i := 1; i < levels; i++ {
		sub = sub.halfOf(0, 0, sub.W, sub.H)
	}
	// A pixel centre x of src lies at (x - ox - (f-1)/2) / f in the halved region.
	c := (f - 1) / 2
	t := dstToSrc
	adj := Affine{A: t.A / f, B: t.B / f, C: (t.C - float64(ox) - c) / f, D: t.D / f, E: t.E / f, F: (t.F - float64(oy) - c) / f}
	return Warp(sub, adj, w, h)
}

// halfOf averages each 2×2 block of the pixels [x1, x2) × [y1, y2) into one
// pixel (an odd last row or column is dropped).
func (m *Image) halfOf(x1, y1, x2, y2 int) *Image {
	out := New((x2-x1)/2, (y2-y1)/2)
	for y := 0; y < out.H; y++ {
		r0 := m.Pix[((y1+2*y)*m.W+x1)*3:]
		r1 := m.Pix[((y1+2*y+1)*m.W+x1)*3:]
		o := out.Pix[y*out.W*3 : (y+1)*out.W*3]
		for x := 0; x < out.W; x++ {
			i := 6 * x
			o[3*x] = (r0[i] + r0[i+3] + r1[i] + r1[i+3]) * 0.25
			o[3*x+1] = (r0[i+1] + r0[i+4] + r1[i+1] + r1[i+4]) * 0.25
			o[3*x+2] = (r0[i+2] + r0[i+5] + r1[i+2] + r1[i+5]) * 0.25
		}
	}
	return out
}

// Mirror returns the image flipped left to right.
func (m *Image) Mirror() *Image {
	out := New(m.W, m.H)
	for y := 0; y < m.H; y++ {
		row, dst := m.Pix[y*m.W*3:(y+1)*m.W*3], out.Pix[y*m.W*3:(y+1)*m.W*3]
		for x := 0; x < m.W; x++ {
			copy(dst[x*3:x*3+3], row[(m.W-1-x)*3:(m.W-x)*3])
		}
	}
	return out
}
