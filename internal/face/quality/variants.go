package quality

import (
	"bytes"
	"image/jpeg"
	"math"

	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Variant is a whole photo changed in one way, with the map from the original's
// pixels to the variant's, so that each face can be followed into the variant.
type Variant struct {
	Name  string
	Image *vision.Image
	Map   vision.Affine // original → variant
}

var identity = vision.Affine{A: 1, E: 1}

// Variants makes the changes a kiosk camera really sees of one person: mirror,
// lighting, distance (scale), head roll (rotation) and compression. The first is
// the original.
func Variants(img *vision.Image) ([]Variant, error) {
	out := []Variant{{Name: "original", Image: img, Map: identity}}
	mirror := vision.Affine{A: -1, C: float64(img.W - 1), E: 1}
	out = append(out, Variant{Name: "mirror", Image: vision.Warp(img, mirror, img.W, img.H), Map: mirror})
	out = append(out, Variant{Name: "darker", Image: tone(img, 0.55, 0), Map: identity})
	out = append(out, Variant{Name: "brighter", Image: tone(img, 1.25, 30), Map: identity})
	for _, s := range []float64{0.5, 0.33} {
		w, h := int(float64(img.W)*s), int(float64(img.H)*s)
		v := vision.Resize(img, w, h)
		name := "scale 1/2"
		if s < 0.4 {
			name = "scale 1/3"
		}
		sx, sy := float64(w)/float64(img.W), float64(h)/float64(img.H)
		out = append(out, Variant{Name: name, Image: v, Map: vision.Affine{A: sx, C: 0.5*sx - 0.5, E: sy, F: 0.5*sy - 0.5}})
	}
	for _, deg := range []float64{12, -15} {
		fwd := rotation(img.W, img.H, deg)
		inv, err := fwd.Invert()
		if err != nil {
			return nil, err
		}
		name := "rotate +12°"
		if deg < 0 {
			name = "rotate -15°"
		}
		out = append(out, Variant{Name: name, Image: vision.Warp(img, inv, img.W, img.H), Map: fwd})
	}
	for _, q := range []int{30} {
		v, err := recompress(img, q)
		if err != nil {
			return nil, err
		}
		out = append(out, Variant{Name: "jpeg q30", Image: v, Map: identity})
	}
	return out, nil
}

func tone(img *vision.Image, gain, offset float32) *vision.Image {
	out := vision.New(img.W, img.H)
	for i, v := range img.Pix {
		out.Pix[i] = min(255, max(0, v*gain+offset))
	}
	return out
}

// rotation turns the photo by deg about its centre (positive is clockwise on screen).
func rotation(w, h int, deg float64) vision.Affine {
	r := deg * math.Pi / 180
	c, s := math.Cos(r), math.Sin(r)
	cx, cy := float64(w-1)/2, float64(h-1)/2
	return vision.Affine{A: c, B: -s, C: cx - c*cx + s*cy, D: s, E: c, F: cy - s*cx - c*cy}
}

func recompress(img *vision.Image, q int) (*vision.Image, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img.RGBA(), &jpeg.Options{Quality: q}); err != nil {
		return nil, err
	}
	return vision.Decode(&buf)
}
