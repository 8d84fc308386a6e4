package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// The open pack's embedder is dlib's dlib_face_recognition_resnet_model_v1 (weights
// placed in the public domain by Davis King), as face-api.js ported it to
// TensorFlow.js and @vladmandic/face-api ships it: a weight manifest and a .bin of
// raw, mostly uint8-quantised tensors, no graph. DlibGraph writes the graph from
// face-api's FaceRecognitionNet (src/faceRecognitionNet/*.ts in the 1.7.15 tarball):
//
//	convDown(conv32_down: 7×7/2 valid) → maxPool 3×3/2 valid
//	→ residual conv32_1..3 → residualDown conv64_down → residual conv64_1..3
//	→ residualDown conv128_down → residual conv128_1..2
//	→ residualDown conv256_down → residual conv256_1..2 → residualDown conv256_down_out
//	→ mean over H, W → matMul fc [256, 128]
//
// where every conv layer is conv2d + bias, then a per-channel scale (x*w + b), then
// relu except for the second conv of a residual block; residual(x) =
// relu(conv2(conv1(x)) + x); residualDown(x) = relu(avgPool2×2/2(x), zero-padded in
// channels, + conv2(convDown(x)), zero-padded by a row at the bottom and a column at
// the right where the spatial sizes differ).

// dlibMean is dlib's input_rgb_image mean (R, G, B), subtracted before scaling.
var dlibMean = [3]float32{122.782, 117.001, 104.298}

// dlibScale is dlib's own input scale (dlib/dnn/input.h divides by 256.0).
// face-api's port divides by 255 instead; the reference test checks both.
const dlibScale = 1.0 / 256

// manifest is a TensorFlow.js weights manifest.
type manifest []struct {
	Paths   []string `json:"paths"`
	Weights []struct {
		Name         string `json:"name"`
		Shape        []int  `json:"shape"`
		Dtype        string `json:"dtype"`
		Quantization *struct {
			Dtype string  `json:"dtype"`
			Scale float64 `json:"scale"`
			Min   float64 `json:"min"`
		} `json:"quantization"`
	} `json:"weights"`
}

type tensor struct {
	shape []int
	data  []float32
}

// decodeWeights reads every tensor of the manifest, in manifest order, from the
// concatenated weight files. A quantised value is q*scale + min, computed in
// float64 and rounded to float32 as tfjs's io.decodeWeights does.
func decodeWeights(manifestJSON, weights []byte) (map[string]tensor, error) {
	var m manifest
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		return nil, fmt.Errorf("weight manifest: %w", err)
	}
	out := map[string]tensor{}
	off := 0
	for _, group := range m {
		for _, w := range group.Weights {
			if w.Dtype != "float32" {
				return nil, fmt.Errorf("weight %s: dtype %q, want float32", w.Name, w.Dtype)
			}
			n := 1
			for _, d := range w.Shape {
				if d <= 0 {
					return nil, fmt.Errorf("weight %s: shape %v", w.Name, w.Shape)
				}
				n *= d
			}
			size := 4
			q := w.Quantization
			if q != nil {
				switch q.Dtype {
				case "uint8":
					size = 1
				case "uint16":
					size = 2
				default:
					return nil, fmt.Errorf("weight %s: quantisation %q is not supported", w.Name, q.Dtype)
				}
			}
			if off+n*size > len(weights) {
				return nil, fmt.Errorf("weight %s: needs bytes %d..%d, the weights have %d", w.Name, off, off+n*size, len(weights))
			}
			b := weights[off : off+n*size]
			off += n * size
			data := make([]float32, n)
			for i := range data {
				switch size {
				case 1:
					// The explicit conversion keeps the compiler from fusing into an FMA.
					data[i] = float32(float64(float64(b[i])*q.Scale) + q.Min)
				case 2:
					data[i] = float32(float64(float64(binary.LittleEndian.Uint16(b[2*i:]))*q.Scale) + q.Min)
				default:
					data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				}
			}
			if _, dup := out[w.Name]; dup {
				return nil, fmt.Errorf("weight %s appears twice", w.Name)
			}
			out[w.Name] = tensor{shape: w.Shape, data: data}
		}
	}
	if off != len(weights) {
		return nil, fmt.Errorf("the manifest accounts for %d bytes of weights, the file has %d", off, len(weights))
	}
	return out, nil
}

// dlibBuilder writes the network node by node, tracking the NCHW shape of the
// current activation so that padding is decided statically.
type dlibBuilder struct {
	g    *onnx.Graph
	w    map[string]tensor
	used map[string]bool
}

type act struct {
	name    string
	c, h, w int
}

func (b *dlibBuilder) get(name string, shape ...int) ([]float32, error) {
	t, ok := b.w[name]
	if !ok {
		return nil, fmt.Errorf("weight %s is missing from the manifest", name)
	}
	if len(t.shape) != len(shape) {
		return nil, fmt.Errorf("weight %s: shape %v, want %v", name, t.shape, shape)
	}
	for i := range shape {
		if t.shape[i] != shape[i] {
			return nil, fmt.Errorf("weight %s: shape %v, want %v", name, t.shape, shape)
		}
	}
	b.used[name] = true
	return t.data, nil
}

// conv adds face-api's convLayer: conv2d + bias, per-channel scale, optional relu.
// The scale is folded into the convolution: (conv(x, W) + b)*s + t =
// conv(x, W*s) + (b*s + t), with the filters turned from HWIO to ONNX's OIHW.
func (b *dlibBuilder) conv(x act, prefix string, stride int, same, relu bool) (act, error) {
	ft, ok := b.w[prefix+"/conv/filters"]
	if !ok || len(ft.shape) != 4 {
		return act{}, fmt.Errorf("weight %s/conv/filters is missing or not 4-d", prefix)
	}
	kh, kw, ci, co := ft.shape[0], ft.shape[1], ft.shape[2], ft.shape[3]
	if ci != x.c {
		return act{}, fmt.Errorf("%s takes %d channels, gets %d", prefix, ci, x.c)
	}
	filters, err := b.get(prefix+"/conv/filters", kh, kw, ci, co)
	if err != nil {
		return act{}, err
	}
	bias, err := b.get(prefix+"/conv/bias", co)
	if err != nil {
		return act{}, err
	}
	scale, err := b.get(prefix+"/scale/weights", co)
	if err != nil {
		return act{}, err
	}
	shift, err := b.get(prefix+"/scale/biases", co)
	if err != nil {
		return act{}, err
	}
	w := make([]float32, co*ci*kh*kw)
	for y := 0; y < kh; y++ {
		for xx := 0; xx < kw; xx++ {
			for i := 0; i < ci; i++ {
				for o := 0; o < co; o++ {
					w[((o*ci+i)*kh+y)*kw+xx] = filters[((y*kw+xx)*ci+i)*co+o] * scale[o]
				}
			}
		}
	}
	bb := make([]float32, co)
	for o := range bb {
		bb[o] = bias[o]*scale[o] + shift[o]
	}
	// TensorFlow's 'same' for stride 1 and odd kernels pads (k-1)/2 on each side;
	// 'valid' pads nothing.
	ph, pw := 0, 0
	if same {
		if stride != 1 || kh%2 == 0 || kw%2 == 0 {
			return act{}, fmt.Errorf("%s: 'same' padding is only written for stride 1 and odd kernels", prefix)
		}
		ph, pw = (kh-1)/2, (kw-1)/2
	}
	b.g.Init(prefix+"/W", []int64{int64(co), int64(ci), int64(kh), int64(kw)}, w)
	b.g.Init(prefix+"/B", []int64{int64(co)}, bb)
	out := act{name: prefix + "/conv", c: co,
		h: (x.h+2*ph-kh)/stride + 1, w: (x.w+2*pw-kw)/stride + 1}
	if out.h <= 0 || out.w <= 0 {
		return act{}, fmt.Errorf("%s: input %dx%d is too small", prefix, x.h, x.w)
	}
	b.g.Node("Conv", []string{x.name, prefix + "/W", prefix + "/B"}, []string{out.name},
		onnx.AttrInts("kernel_shape", int64(kh), int64(kw)),
		onnx.AttrInts("strides", int64(stride), int64(stride)),
		onnx.AttrInts("pads", int64(ph), int64(pw), int64(ph), int64(pw)))
	if relu {
		b.g.Node("Relu", []string{out.name}, []string{prefix + "/relu"})
		out.name = prefix + "/relu"
	}
	return out, nil
}

// residual is relu(convNoRelu(conv(x)) + x).
func (b *dlibBuilder) residual(x act, prefix string) (act, error) {
	c1, err := b.conv(x, prefix+"/conv1", 1, true, true)
	if err != nil {
		return act{}, err
	}
	c2, err := b.conv(c1, prefix+"/conv2", 1, true, false)
	if err != nil {
		return act{}, err
	}
	if c2 != (act{name: c2.name, c: x.c, h: x.h, w: x.w}) {
		return act{}, fmt.Errorf("%s: output %dx%dx%d does not match its input %dx%dx%d", prefix, c2.c, c2.h, c2.w, x.c, x.h, x.w)
	}
	b.g.Node("Add", []string{c2.name, x.name}, []string{prefix + "/add"})
	b.g.Node("Relu", []string{prefix + "/add"}, []string{prefix + "/out"})
	return act{name: prefix + "/out", c: x.c, h: x.h, w: x.w}, nil
}

// residualDown is face-api's residualDown: the strided branch, zero-padded by one
// row at the bottom and one column at the right when it comes out smaller than the
// 2×2 average pool of x, plus that pool, zero-padded in channels, then relu.
func (b *dlibBuilder) residualDown(x act, prefix string) (act, error) {
	c1, err := b.conv(x, prefix+"/conv1", 2, false, true)
	if err != nil {
		return act{}, err
	}
	out, err := b.conv(c1, prefix+"/conv2", 1, true, false)
	if err != nil {
		return act{}, err
	}
	pool := act{name: prefix + "/pool", c: x.c, h: (x.h-2)/2 + 1, w: (x.w-2)/2 + 1}
	b.g.Node("AveragePool", []string{x.name}, []string{pool.name},
		onnx.AttrInts("kernel_shape", 2, 2), onnx.AttrInts("strides", 2, 2))
	if out.h != pool.h || out.w != pool.w {
		if pool.h-out.h != 1 || pool.w-out.w != 1 {
			return act{}, fmt.Errorf("%s: branch %dx%d against pool %dx%d: face-api pads by exactly one", prefix, out.h, out.w, pool.h, pool.w)
		}
		b.g.InitInt64(prefix+"/pads_hw", []int64{8}, []int64{0, 0, 0, 0, 0, 0, 1, 1})
		b.g.Node("Pad", []string{out.name, prefix + "/pads_hw"}, []string{prefix + "/padded"})
		out.name, out.h, out.w = prefix+"/padded", pool.h, pool.w
	}
	if pool.c != out.c {
		// face-api concatenates zeros of the pool's own shape, doubling the channels.
		if out.c != 2*pool.c {
			return act{}, fmt.Errorf("%s: %d channels against a pool of %d: face-api doubles them", prefix, out.c, pool.c)
		}
		b.g.InitInt64(prefix+"/pads_c", []int64{8}, []int64{0, 0, 0, 0, 0, int64(out.c - pool.c), 0, 0})
		b.g.Node("Pad", []string{pool.name, prefix + "/pads_c"}, []string{prefix + "/pool_padded"})
		pool.name, pool.c = prefix+"/pool_padded", out.c
	}
	b.g.Node("Add", []string{pool.name, out.name}, []string{prefix + "/add"})
	b.g.Node("Relu", []string{prefix + "/add"}, []string{prefix + "/out"})
	return act{name: prefix + "/out", c: out.c, h: out.h, w: out.w}, nil
}

// Names of the dlib graph's input and output.
const (
	DlibInput  = "input"     // 1×3×150×150, RGB, (v - mean) / 256
	DlibOutput = "embedding" // 1×128
)

// DlibGraph writes the dlib ResNet as an ONNX model (opset 13) from face-api's
// weight manifest and weights. The input is the normalised chip, planar RGB.
func DlibGraph(manifestJSON, weights []byte) ([]byte, error) {
	w, err := decodeWeights(manifestJSON, weights)
	if err != nil {
		return nil, err
	}
	b := &dlibBuilder{g: onnx.NewGraph("dlib_face_recognition_resnet_model_v1"), w: w, used: map[string]bool{}}
	b.g.Input(DlibInput, []int64{1, 3, 150, 150})
	x := act{name: DlibInput, c: 3, h: 150, w: 150}
	steps := []struct {
		name string
		down bool
	}{
		{"conv32_1", false}, {"conv32_2", false}, {"conv32_3", false},
		{"conv64_down", true}, {"conv64_1", false}, {"conv64_2", false}, {"conv64_3", false},
		{"conv128_down", true}, {"conv128_1", false}, {"conv128_2", false},
		{"conv256_down", true}, {"conv256_1", false}, {"conv256_2", false},
		{"conv256_down_out", true},
	}
	if x, err = b.conv(x, "conv32_down", 2, false, true); err != nil {
		return nil, err
	}
	b.g.Node("MaxPool", []string{x.name}, []string{"maxpool"},
		onnx.AttrInts("kernel_shape", 3, 3), onnx.AttrInts("strides", 2, 2))
	x = act{name: "maxpool", c: x.c, h: (x.h-3)/2 + 1, w: (x.w-3)/2 + 1}
	for _, s := range steps {
		if s.down {
			x, err = b.residualDown(x, s.name)
		} else {
			x, err = b.residual(x, s.name)
		}
		if err != nil {
			return nil, err
		}
	}
	b.g.Node("ReduceMean", []string{x.name}, []string{"mean"}, onnx.AttrInts("axes", 2, 3), onnx.AttrInt("keepdims", 0))
	fc, err := b.get("fc", x.c, 128)
	if err != nil {
		return nil, err
	}
	b.g.Init("fc", []int64{int64(x.c), 128}, fc)
	b.g.Node("MatMul", []string{"mean", "fc"}, []string{DlibOutput})
	b.g.Output(DlibOutput, []int64{1, 128})
	for name := range w {
		if !b.used[name] {
			return nil, fmt.Errorf("weight %s is not used by the graph", name)
		}
	}
	return b.g.Marshal()
}

// Dlib is the dlib ResNet embedder: 128-d templates of 150×150 chips aligned as
// dlib's get_face_chip_details(size 150, padding 0.25) aligns them.
type Dlib struct {
	s     *onnx.Session
	model []byte
	scale float32 // input scale after the mean: dlib's 1/256 (tests set face-api's 1/255)
}

// NewDlib writes the graph from face-api's manifest and weights and loads it.
func NewDlib(manifestPath, weightsPath string, o onnx.Options) (*Dlib, error) {
	man, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, err
	}
	wts, err := os.ReadFile(weightsPath)
	if err != nil {
		return nil, err
	}
	model, err := DlibGraph(man, wts)
	if err != nil {
		return nil, fmt.Errorf("dlib graph: %w", err)
	}
	s, err := onnx.Load(model, o)
	if err != nil {
		return nil, fmt.Errorf("dlib graph: %w", err)
	}
	return &Dlib{s: s, model: model, scale: dlibScale}, nil
}

// Close frees the model.
func (d *Dlib) Close() error { return d.s.Close() }

// Dim implements Embedder.
func (d *Dlib) Dim() int { return 128 }

// ChipSize implements Embedder.
func (d *Dlib) ChipSize() int { return 150 }

// dlibMeanFace is dlib's mean face shape for the 68-point indices 17..67, in
// units of the face box (mean_face_shape_x/_y of get_face_chip_details in
// dlib/image_transforms/interpolation.h).
var dlibMeanFace = [2][51]float64{{
	0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
	0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
	0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
	0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
	0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
	0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
	0.553364, 0.490127, 0.42689,
}, {
	0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
	0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
	0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
	0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
	0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
	0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
	0.784792, 0.824182, 0.831803, 0.824182,
}}

// Template implements Embedder: the mean face's 68 points where
// get_face_chip_details(det, 150, 0.25) puts them, each (v + p)/(1 + 2p) * 150,
// averaged into the alignment points exactly as AlignFrom68 averages detected
// landmarks (eyes 36..41 and 42..47, nose tip 30, mouth corners 48 and 54).
func (d *Dlib) Template() [NumAlignPoints]vision.Point { return dlibTemplate(150, 0.25) }

func dlibTemplate(size, padding float64) [NumAlignPoints]vision.Point {
	pts := make([]vision.Point, 68)
	for i := 17; i < 68; i++ {
		pts[i] = vision.Point{
			X: float32((dlibMeanFace[0][i-17] + padding) / (1 + 2*padding) * size),
			Y: float32((dlibMeanFace[1][i-17] + padding) / (1 + 2*padding) * size),
		}
	}
	return AlignFrom68(pts)
}

// Embed implements Embedder.
func (d *Dlib) Embed(chip *vision.Image) ([]float32, error) {
	if chip.W != 150 || chip.H != 150 {
		return nil, fmt.Errorf("embed: chip is %dx%d, want 150x150", chip.W, chip.H)
	}
	return d.run(chip.CHW(dlibMean, d.scale, false))
}

// Model implements ModelEmbedder.
func (d *Dlib) Model() []byte { return d.model }

// Input implements ModelEmbedder.
func (d *Dlib) Input(chip *vision.Image) onnx.Tensor {
	return onnx.Tensor{Shape: []int64{1, 3, 150, 150}, Data: chip.CHW(dlibMean, d.scale, false)}
}

// Run implements ModelEmbedder.
func (d *Dlib) Run(in onnx.Tensor) ([]float32, error) { return d.run(in.Data) }

func (d *Dlib) run(in []float32) ([]float32, error) {
	out, err := d.s.Run(onnx.Tensor{Shape: []int64{1, 3, 150, 150}, Data: in})
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	return out[0].Data, nil
}
