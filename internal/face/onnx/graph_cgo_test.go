//go:build cgo

package onnx

import (
	"math"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
)

// initRuntime loads the cache's onnxruntime or skips the test.
func initRuntime(t testing.TB) {
	t.Helper()
	lib, err := modelpack.Verify(modelpack.CacheDir(), "onnxruntime")
	if err != nil {
		t.Skipf("onnxruntime not installed (run `go run ./cmd/facepay models install`): %v", err)
	}
	if err := Init(lib); err != nil {
		t.Fatal(err)
	}
}

func TestGraphRunsInOnnxruntime(t *testing.T) {
	initRuntime(t)
	b, err := tinyGraph().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(b, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Inputs) != 1 || s.Inputs[0].Name != "x" || len(s.Outputs) != 2 {
		t.Fatalf("inputs %v outputs %v", s.Inputs, s.Outputs)
	}
	out, err := s.Run(Tensor{Shape: []int64{1, 1, 3, 3}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}})
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0: x[i][j]-x[i+1][j+1] = -4, +1 = -3, relu 0, +10.
	// Channel 1: half of each 2×2 sum (6, 8, 12, 14), -7, relu (0, 1, 5, 7), +100.
	want := []float32{10, 10, 10, 10, 100, 101, 105, 107}
	check(t, "y", out[0], []int64{1, 2, 2, 2}, want)
	// 45 spread over the 4×4 padded image.
	check(t, "mean", out[1], []int64{1, 1}, []float32{45.0 / 16})
}

func check(t *testing.T, name string, got Tensor, shape []int64, want []float32) {
	t.Helper()
	if len(got.Shape) != len(shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	for i := range shape {
		if got.Shape[i] != shape[i] {
			t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
		}
	}
	for i := range want {
		if math.Abs(float64(got.Data[i]-want[i])) > 1e-6 {
			t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], want[i])
		}
	}
}
