package vision

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand"
	"os"
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

// TestDecodeWebPNamedJPG reads a real WebP photo saved with a .jpg name, as
// phones, browsers and the identity set produce them.
func TestDecodeWebPNamedJPG(t *testing.T) {
	f, err := os.Open("../eval/testdata/deepface-slice/p04/img47.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := Decode(f)
	if err != nil {
		t.Fatalf("decode a WebP named .jpg: %v", err)
	}
	if img.W < 100 || img.H < 100 {
		t.Fatalf("decoded %dx%d", img.W, img.H)
	}
}

// TestWarpSmoothAverages shrinks a one-pixel checkerboard eightfold: every output
// pixel covers black and white alike and must be mid-grey, where sampling one
// source pixel per output pixel gives pure black or white (aliasing).
func TestWarpSmoothAverages(t *testing.T) {
	src := New(256, 256)
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			if (x+y)%2 == 0 {
				for c := 0; c < 3; c++ {
					src.Pix[(y*256+x)*3+c] = 255
				}
			}
		}
	}
	shrink := Affine{A: 8, C: 3, E: 8, F: 3}
	smooth, plain := WarpSmooth(src, shrink, 32, 32), Warp(src, shrink, 32, 32)
	for i := 3 * 32 * 2; i < len(smooth.Pix)-3*32*2; i++ { // away from the border rows
		if math.Abs(float64(smooth.Pix[i])-127.5) > 20 {
			t.Fatalf("smooth sample %d is %.1f, want about 127.5", i, smooth.Pix[i])
		}
	}
	if math.Abs(float64(plain.Pix[3*32*4])-127.5) < 100 {
		t.Fatalf("the plain warp no longer aliases (%.1f): the test's premise is wrong", plain.Pix[3*32*4])
	}
}

// TestY4MRoundTrip writes two frames and reads them back within the loss of 4:2:0.
func TestY4MRoundTrip(t *testing.T) {
	a, b := New(8, 4), New(8, 4)
	for i := range a.Pix {
		a.Pix[i] = float32(i % 256)
		b.Pix[i] = 200
	}
	var buf bytes.Buffer
	if err := WriteY4M(&buf, []*Image{a, b}, 10); err != nil {
		t.Fatal(err)
	}
	frames, err := ReadY4M(&buf)
	if err != nil || len(frames) != 2 || frames[0].W != 8 || frames[0].H != 4 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	for i, v := range frames[1].Pix {
		if math.Abs(float64(v)-200) > 2 {
			t.Fatalf("flat frame sample %d is %.1f, want 200", i, v)
		}
	}
	if _, err := ReadY4M(bytes.NewReader([]byte("YUV4MPEG2 W8 H4 C444\nFRAME\n"))); err == nil {
		t.Fatal("a 4:4:4 video was read")
	}
	if _, err := ReadY4M(bytes.NewReader([]byte("YUV4MPEG2 W8 H4\nFRAME\nxx"))); err == nil {
		t.Fatal("a truncated frame was read")
	}
}
