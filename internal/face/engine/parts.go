// Package engine turns photographs into face templates: a pack's detector,
// optional landmark model, aligner, embedder and optional anti-spoof model behind
// one set of interfaces, the quality gates with a reason for every rejection, and
// L2-normalised embeddings. Packs are chosen by name from modelpack.
package engine

import (
	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// The alignment points every pack reports, in this order, in image pixels: the
// eye on the image's left, the eye on the image's right, the nose tip and the
// centre of the mouth. Detectors with keypoints (BlazeFace) give them directly;
// 68-point landmark models give them by averaging.
const (
	PointLeftEye = iota
	PointRightEye
	PointNose
	PointMouth
	NumAlignPoints
)

// Detection is one face found in an image.
type Detection struct {
	Box       vision.Rect
	Score     float32
	Align     [NumAlignPoints]vision.Point
	HasAlign  bool           // false until a detector with keypoints or a landmark model set Align
	Landmarks []vision.Point // the landmark model's full set, when the pack has one
}

// Detector finds every face in an image, best score first.
type Detector interface {
	Detect(img *vision.Image) ([]Detection, error)
}

// Landmarker refines a detection with landmarks and sets its alignment points.
type Landmarker interface {
	Landmarks(img *vision.Image, d *Detection) error
}

// Embedder maps an aligned face chip to a template.
type Embedder interface {
	// Dim is the template's length.
	Dim() int
	// ChipSize is the aligned chip's side in pixels.
	ChipSize() int
	// Template is where the alignment points land on the chip.
	Template() [NumAlignPoints]vision.Point
	// Embed returns the raw (not yet normalised) template of one chip.
	Embed(chip *vision.Image) ([]float32, error)
}

// ModelEmbedder is an embedder that is one ONNX model with one input, so that a
// benchmark can run the very same model on the very same tensors in another
// runtime (onnxruntime-node) and compare.
type ModelEmbedder interface {
	Embedder
	Model() []byte
	Input(chip *vision.Image) onnx.Tensor
	Run(in onnx.Tensor) ([]float32, error)
}

// AntiSpoof scores how likely a detected face is a live person (0..1).
type AntiSpoof interface {
	Live(img *vision.Image, d Detection) (float32, error)
}

// Parts is what a pack provides. Landmarks and AntiSpoof may be nil.
type Parts struct {
	Detector  Detector
	Landmarks Landmarker
	Embedder  Embedder
	AntiSpoof AntiSpoof
	// AlignPoints are the alignment points the chip is fitted to.
	AlignPoints []int
	closers     []func() error
}
