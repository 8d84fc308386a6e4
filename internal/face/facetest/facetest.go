// Package facetest gives tests a loaded face engine and the packaged photographs.
// Without the model cache a test skips with the command that installs it, unless
// FACEPAY_REQUIRE_MODELS is set (make test sets it), where a skip would hide a gap.
package facetest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Engines are shared by the tests of one package: loading a pack costs a second.
var (
	mu      sync.Mutex
	engines = map[string]*engine.Engine{}
)

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("FACEPAY_REQUIRE_MODELS") != "" {
		t.Fatalf("face engine required: %s", why)
	}
	t.Skipf("face engine not available (%s); run `make models`", why)
}

// Engine returns the named pack ("" for the default), loaded once per test binary.
func Engine(t testing.TB, pack string) *engine.Engine {
	t.Helper()
	if !onnx.Available() {
		unavailable(t, onnx.ErrUnavailable.Error())
	}
	mu.Lock()
	defer mu.Unlock()
	if e, ok := engines[pack]; ok {
		return e
	}
	if _, err := modelpack.Verify(modelpack.CacheDir(), "onnxruntime"); err != nil {
		unavailable(t, err.Error())
	}
	e, err := engine.Open(engine.Config{Pack: pack, Threads: 2})
	if err != nil {
		t.Fatalf("open pack %q: %v", pack, err)
	}
	engines[pack] = e
	return e
}

// Photo decodes a packaged photograph by artefact key.
func Photo(t testing.TB, key string) *vision.Image {
	t.Helper()
	p, err := modelpack.Verify(modelpack.CacheDir(), key)
	if err != nil {
		unavailable(t, err.Error())
	}
	return File(t, p)
}

// File decodes a photograph from a path (test data of the repository).
func File(t testing.TB, path string) *vision.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := vision.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// PhotoPath is the verified path of a packaged photograph.
func PhotoPath(t testing.TB, key string) string {
	t.Helper()
	p, err := modelpack.Verify(modelpack.CacheDir(), key)
	if err != nil {
		unavailable(t, err.Error())
	}
	return p
}

// Packs lists every pack name, for tests that run on each.
func Packs() []string {
	var out []string
	for _, p := range modelpack.Packs() {
		out = append(out, p.Name)
	}
	return out
}

// Y4M writes a one-frame YUV4MPEG2 video, the file Chromium's fake camera plays
// in a loop: the photo framed as a kiosk camera sees a person standing at it, the
// face a third of the frame's height.
func Y4M(t testing.TB, e *engine.Engine, img *vision.Image) string {
	t.Helper()
	const w, h = 640, 480
	face, err := e.Probe(img)
	if err != nil {
		t.Fatal(err)
	}
	cx, cy := float64(face.Box.X1+face.Box.X2)/2, float64(face.Box.Y1+face.Box.Y2)/2
	s := h / 3 / float64(face.Box.H()) // output pixels per photo pixel
	inv := vision.Affine{A: 1 / s, C: cx - (w/2)/s, E: 1 / s, F: cy - (h/2)/s}
	frame := vision.WarpSmooth(img, inv, w, h)
	path := filepath.Join(t.TempDir(), "camera.y4m")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := vision.WriteY4M(f, []*vision.Image{frame}, 10); err != nil {
		t.Fatal(err)
	}
	return path
}
