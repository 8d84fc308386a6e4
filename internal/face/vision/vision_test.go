package vision

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand"
	"testing"
)

func TestSimilarityRecoversTheTransform(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 100; i++ {
		ang, sc := rng.Float64()*2*math.Pi, 0.2+rng.Float64()*3
		want := Affine{A: sc * math.Cos(ang), B: -sc * math.Sin(ang), C: rng.Float64()*200 - 100,
			D: sc * math.Sin(ang), E: sc * math.Cos(ang), F: rng.Float64()*200 - 100}
		src := make([]Point, 4)
		dst := make([]Point, 4)
		for j := range src {
			src[j] = Point{X: float32(rng.Float64() * 300), Y: float32(rng.Float64() * 300)}
			dst[j] = want.Apply(src[j])
		}
		got, err := Similarity(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := got.Invert()
		if err != nil {
			t.Fatal(err)
		}
		for j := range src {
			p, back := got.Apply(src[j]), inv.Apply(dst[j])
			if math.Hypot(float64(p.X-dst[j].X), float64(p.Y-dst[j].Y)) > 1e-2 || math.Hypot(float64(back.X-src[j].X), float64(back.Y-src[j].Y)) > 1e-2 {
				t.Fatalf("case %d: point %d maps to %v (back %v), want %v (%v)", i, j, p, back, dst[j], src[j])
			}
		}
	}
	if _, err := Similarity([]Point{{1, 1}, {1, 1}}, []Point{{0, 0}, {1, 1}}); err == nil {
		t.Fatal("coincident source points were accepted")
	}
}

func TestSharpnessFallsWithBlur(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	img := New(96, 96)
	for i := range img.Pix {
		img.Pix[i] = float32(rng.Intn(256))
	}
	prev := img.Sharpness()
	for _, k := range []int{2, 4, 8} {
		b := Resize(Resize(img, 96/k, 96/k), 96, 96)
		s := b.Sharpness()
		if s >= prev {
			t.Fatalf("blur 1/%d: sharpness %.3f, not below %.3f", k, s, prev)
		}
		prev = s
	}
	flat := New(32, 32)
	if s := flat.Sharpness(); s != 0 {
		t.Fatalf("a flat image has sharpness %f", s)
	}
}

func TestDecodeRefusesHugeImages(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8000, 6000))); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(&buf); err == nil {
		t.Fatal("a 48-megapixel image was decoded")
	}
	if _, err := Decode(bytes.NewReader([]byte("not an image"))); err == nil {
		t.Fatal("garbage was decoded")
	}
	buf.Reset()
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	src.Pix[0], src.Pix[1], src.Pix[2], src.Pix[3] = 10, 20, 30, 255
	if err := png.Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(&buf)
	if err != nil || img.W != 3 || img.H != 2 || img.Pix[0] != 10 || img.Pix[1] != 20 || img.Pix[2] != 30 {
		t.Fatalf("decode: %v %+v", err, img)
	}
}
