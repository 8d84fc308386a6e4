package vision

import "math"

// CHW packs the image planar (1×3×H×W) as (v - mean) * scale, in RGB order or BGR.
func (m *Image) CHW(mean [3]float32, scale float32, bgr bool) []float32 {
	n := m.W * m.H
	out := make([]float32, 3*n)
	for c := 0; c < 3; c++ {
		src := c
		if bgr {
			src = 2 - c
		}
		plane := out[c*n : (c+1)*n]
		for i := 0; i < n; i++ {
			plane[i] = (m.Pix[i*3+src] - mean[src]) * scale
		}
	}
	return out
}

// HWC packs the image interleaved (1×H×W×3) as (v - mean) * scale.
func (m *Image) HWC(mean, scale float32) []float32 {
	out := make([]float32, len(m.Pix))
	for i, v := range m.Pix {
		out[i] = (v - mean) * scale
	}
	return out
}

// Grey returns the luma plane (ITU-R BT.601 weights).
func (m *Image) Grey() []float32 {
	out := make([]float32, m.W*m.H)
	for i := range out {
		out[i] = 0.299*m.Pix[i*3] + 0.587*m.Pix[i*3+1] + 0.114*m.Pix[i*3+2]
	}
	return out
}

// Sharpness is a no-reference blur measure after Crété-Roffet et al. (2007): the
// share, 0..1, of the luma's neighbour-to-neighbour variation that a further 3×3
// box blur removes. A sharp image loses much of it; an already blurred one loses
// little. Unlike the Laplacian's variance it does not grow with contrast or detail
// (a uniform, a pattern), which made one threshold impossible on the photos here.
func (m *Image) Sharpness() float64 {
	g := m.Grey()
	b := make([]float32, len(g))
	for y := 1; y < m.H-1; y++ {
		for x := 1; x < m.W-1; x++ {
			var s float32
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					s += g[(y+dy)*m.W+x+dx]
				}
			}
			b[y*m.W+x] = s / 9
		}
	}
	var vOrig, vLoss float64
	for y := 2; y < m.H-2; y++ {
		for x := 2; x < m.W-2; x++ {
			i := y*m.W + x
			for _, j := range []int{i - 1, i - m.W} {
				do := math.Abs(float64(g[i] - g[j]))
				db := math.Abs(float64(b[i] - b[j]))
				vOrig += do
				vLoss += math.Max(0, do-db)
			}
		}
	}
	if vOrig == 0 {
		return 0
	}
	return vLoss / vOrig
}
