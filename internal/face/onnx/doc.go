// Package onnx runs ONNX models on the CPU through onnxruntime, loaded at run time
// from the pinned shared library of the modelpack cache, and writes ONNX graphs from
// raw weights (the open pack's dlib ResNet). Builds without cgo compile and report
// ErrUnavailable, so the payment platform still runs where no C toolchain exists.
package onnx

import "errors"

// ErrUnavailable is returned by every inference call in a build without cgo.
var ErrUnavailable = errors.New("face engine unavailable: this facepay was built without cgo (CGO_ENABLED=0), which onnxruntime needs")

// Tensor is a dense float32 tensor in row-major order.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// IO names a model's input or output and its declared shape (-1 for a free dimension).
type IO struct {
	Name  string
	Shape []int64
}
