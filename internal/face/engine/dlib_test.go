package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// dlibFiles returns the cached manifest and weights, or skips.
// unavailable skips a test whose models are not installed, except under make test
// (FACEPAY_REQUIRE_MODELS), where a skip would hide a gap; facetest does the same
// for tests outside this package.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("FACEPAY_REQUIRE_MODELS") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func dlibFiles(t testing.TB) (string, string) {
	t.Helper()
	cache := modelpack.CacheDir()
	man, err := modelpack.Verify(cache, "dlib-manifest")
	if err != nil {
		unavailable(t, fmt.Sprintf("dlib weights not installed (run `go run ./cmd/facepay models install`): %v", err))
	}
	wts, err := modelpack.Verify(cache, "dlib-weights")
	if err != nil {
		unavailable(t, fmt.Sprintf("dlib weights not installed (run `go run ./cmd/facepay models install`): %v", err))
	}
	return man, wts
}

// loadDlib builds the embedder with 2 intra-op threads, or skips when this build
// or this machine cannot run it.
func loadDlib(t testing.TB) *Dlib {
	t.Helper()
	if !onnx.Available() {
		unavailable(t, "built without cgo: onnxruntime is unavailable")
	}
	man, wts := dlibFiles(t)
	lib, err := modelpack.Verify(modelpack.CacheDir(), "onnxruntime")
	if err != nil {
		unavailable(t, fmt.Sprintf("onnxruntime not installed (run `go run ./cmd/facepay models install`): %v", err))
	}
	if err := onnx.Init(lib); err != nil {
		t.Fatal(err)
	}
	d, err := NewDlib(man, wts, onnx.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDlibTemplate(t *testing.T) {
	// (v + 0.25)/1.5*150 = 100v + 25 on dlib's mean face: eyes are the means of
	// points 36..41 and 42..47, the nose tip is point 30, the mouth the midpoint of
	// corners 48 and 54.
	want := [NumAlignPoints]vision.Point{
		{X: 47.549183, Y: 46.599033},
		{X: 100.476133, Y: 46.599033},
		{X: 74.0127, Y: 76.5625},
		{X: 74.01265, Y: 103.0233},
	}
	got := (&Dlib{}).Template()
	for i := range want {
		if math.Abs(float64(got[i].X-want[i].X)) > 1e-3 || math.Abs(float64(got[i].Y-want[i].Y)) > 1e-3 {
			t.Errorf("point %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestDlibGraphWeights(t *testing.T) {
	man, wts := dlibFiles(t)
	mb, err := os.ReadFile(man)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(wts)
	if err != nil {
		t.Fatal(err)
	}
	w, err := decodeWeights(mb, wb)
	if err != nil {
		t.Fatal(err)
	}
	// 15 conv layers of 4 tensors each... 1 + 14 blocks of 2 layers, and fc.
	if len(w) != (1+14*2)*4+1 {
		t.Errorf("%d tensors", len(w))
	}
	if fc := w["fc"]; len(fc.shape) != 2 || fc.shape[0] != 256 || fc.shape[1] != 128 {
		t.Errorf("fc shape %v", fc.shape)
	}
	model, err := DlibGraph(mb, wb)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ONNX model: %d bytes", len(model))
	if _, err := DlibGraph(mb, wb[:len(wb)-1]); err == nil {
		t.Error("truncated weights accepted")
	}
	if _, err := DlibGraph(mb, append(wb[:len(wb):len(wb)], 0)); err == nil {
		t.Error("trailing bytes accepted")
	}
}

func TestDlibGraphShapes(t *testing.T) {
	d := loadDlib(t)
	if len(d.s.Inputs) != 1 || d.s.Inputs[0].Name != DlibInput || !sameShape(d.s.Inputs[0].Shape, []int64{1, 3, 150, 150}) {
		t.Errorf("inputs %v", d.s.Inputs)
	}
	if len(d.s.Outputs) != 1 || d.s.Outputs[0].Name != DlibOutput || !sameShape(d.s.Outputs[0].Shape, []int64{1, 128}) {
		t.Errorf("outputs %v", d.s.Outputs)
	}
	out, err := d.s.Run(onnx.Tensor{Shape: []int64{1, 3, 150, 150}, Data: make([]float32, 3*150*150)})
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(out[0].Shape, []int64{1, 128}) || len(out[0].Data) != 128 {
		t.Fatalf("output shape %v", out[0].Shape)
	}
	if _, err := d.Embed(vision.New(112, 112)); err == nil {
		t.Error("a 112x112 chip was accepted")
	}
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The reference chips: fixed square boxes (x, y, side in photo pixels) around a
// face, resampled to 150×150 and rounded to 8 bits, so that Go and the Node
// script see the same integers. The boxes put the eyes roughly where Template does.
var dlibRefChips = []struct {
	Name  string
	Photo string
	Box   [3]float64
}{
	{"grace-hopper", "photo-grace-hopper", [3]float64{148, 108, 240}},
	{"astronaut", "photo-astronaut", [3]float64{170, 75, 114}},
	{"sample1-left", "photo-sample1", [3]float64{360, 384, 238}},
}

// refChip renders a reference chip with its own bilinear sampler (pixel centres
// at +0.5, edges clamped), independent of the vision package, and returns the
// 150×150×3 RGB bytes.
func refChip(t testing.TB, photo string, box [3]float64) []byte {
	t.Helper()
	p, err := modelpack.Verify(modelpack.CacheDir(), photo)
	if err != nil {
		unavailable(t, fmt.Sprintf("test photographs not installed (run `go run ./cmd/facepay models install`): %v", err))
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	at := func(x, y int) [3]float64 {
		x = min(max(x, 0), b.Dx()-1)
		y = min(max(y, 0), b.Dy()-1)
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
	}
	const n = 150
	k := box[2] / n
	out := make([]byte, n*n*3)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			sx := box[0] + (float64(i)+0.5)*k - 0.5
			sy := box[1] + (float64(j)+0.5)*k - 0.5
			x0, y0 := math.Floor(sx), math.Floor(sy)
			fx, fy := sx-x0, sy-y0
			p00, p10 := at(int(x0), int(y0)), at(int(x0)+1, int(y0))
			p01, p11 := at(int(x0), int(y0)+1), at(int(x0)+1, int(y0)+1)
			for c := 0; c < 3; c++ {
				v := (p00[c]*(1-fx)+p10[c]*fx)*(1-fy) + (p01[c]*(1-fx)+p11[c]*fx)*fy
				out[(j*n+i)*3+c] = byte(min(max(math.Round(v), 0), 255))
			}
		}
	}
	return out
}

func chipImage(rgb []byte) *vision.Image {
	img := vision.New(150, 150)
	for i, v := range rgb {
		img.Pix[i] = float32(v)
	}
	return img
}

// TestDlibWriteChips writes the reference chips for bench/dlibref/ref.mjs when
// FACEPAY_DLIB_CHIPS names a folder: <name>.rgb (raw 150×150 RGB) and chips.json.
func TestDlibWriteChips(t *testing.T) {
	dir := os.Getenv("FACEPAY_DLIB_CHIPS")
	if dir == "" {
		t.Skip("set FACEPAY_DLIB_CHIPS=<folder> to write the reference chips for bench/dlibref/ref.mjs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type chip struct {
		Name   string     `json:"name"`
		Photo  string     `json:"photo"`
		Box    [3]float64 `json:"box"`
		SHA256 string     `json:"sha256"`
	}
	var list []chip
	for _, c := range dlibRefChips {
		rgb := refChip(t, c.Photo, c.Box)
		sum := sha256.Sum256(rgb)
		if err := os.WriteFile(filepath.Join(dir, c.Name+".rgb"), rgb, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, c.Name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, chipImage(rgb).RGBA()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		list = append(list, chip{c.Name, c.Photo, c.Box, hex.EncodeToString(sum[:])})
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "chips.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dlibReference is testdata/dlib_reference.json, written by bench/dlibref/ref.mjs.
type dlibReference struct {
	Note  string `json:"note"`
	Chips []struct {
		Name   string     `json:"name"`
		Photo  string     `json:"photo"`
		Box    [3]float64 `json:"box"`
		SHA256 string     `json:"sha256"`
		// FaceAPI is face-api's descriptor of the chip, its input scaled by 1/255.
		FaceAPI []float64 `json:"faceapi"`
		// FaceAPIDlibScale is face-api's descriptor of the chip's pixels moved
		// towards the mean by 255/256, which equals dlib's own scaling by 1/256.
		FaceAPIDlibScale []float64 `json:"faceapi_dlib_scale"`
	} `json:"chips"`
}

// compare returns the cosine similarity and the largest absolute difference.
func compare(a []float32, b []float64) (cos, maxAbs float64) {
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), b[i]
		dot += x * y
		na += x * x
		nb += y * y
		maxAbs = max(maxAbs, math.Abs(x-y))
	}
	return dot / math.Sqrt(na*nb), maxAbs
}

// TestDlibMatchesFaceAPI is the cross-implementation check: our ONNX graph on
// onnxruntime against face-api's FaceRecognitionNet on the tfjs CPU backend.
func TestDlibMatchesFaceAPI(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "dlib_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref dlibReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Chips) != len(dlibRefChips) {
		t.Fatalf("reference has %d chips, the test %d", len(ref.Chips), len(dlibRefChips))
	}
	d := loadDlib(t)
	for i, c := range ref.Chips {
		want := dlibRefChips[i]
		if c.Name != want.Name || c.Photo != want.Photo || c.Box != want.Box {
			t.Fatalf("reference chip %d is %s %s %v, the test makes %s %s %v", i, c.Name, c.Photo, c.Box, want.Name, want.Photo, want.Box)
		}
		rgb := refChip(t, c.Photo, c.Box)
		if sum := sha256.Sum256(rgb); hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Fatalf("%s: chip pixels differ from the ones the reference was computed on (sha256 %x, reference %s): regenerate it as bench/dlibref/README.md says",
				c.Name, sum, c.SHA256)
		}
		chip := chipImage(rgb)
		for _, v := range []struct {
			what  string
			scale float32
			want  []float64
		}{
			{"face-api (1/255)", 1.0 / 255, c.FaceAPI},
			{"dlib scale (1/256)", dlibScale, c.FaceAPIDlibScale},
		} {
			if len(v.want) != 128 {
				t.Fatalf("%s %s: reference has %d values", c.Name, v.what, len(v.want))
			}
			d.scale = v.scale
			got, err := d.Embed(chip)
			if err != nil {
				t.Fatal(err)
			}
			cos, maxAbs := compare(got, v.want)
			var norm float64
			for _, x := range v.want {
				norm += x * x
			}
			t.Logf("%-12s %-18s 1-cosine %.1e  max |diff| %.2e  (|ref| %.3f)", c.Name, v.what, 1-cos, maxAbs, math.Sqrt(norm))
			if cos < 0.9999 || maxAbs > 1e-4 {
				t.Errorf("%s %s: cosine %.6f, max |diff| %.2e against face-api", c.Name, v.what, cos, maxAbs)
			}
		}
		d.scale = dlibScale
	}
}

func BenchmarkDlibEmbed(b *testing.B) {
	d := loadDlib(b)
	chip := chipImage(refChip(b, dlibRefChips[0].Photo, dlibRefChips[0].Box))
	if _, err := d.Embed(chip); err != nil { // warm-up
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := d.Embed(chip); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/embedding")
}
