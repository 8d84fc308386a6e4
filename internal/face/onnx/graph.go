package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file writes ONNX models without the ONNX protobuf package: the few
// messages a plain inference graph needs (ModelProto, GraphProto, NodeProto,
// TensorProto, ValueInfoProto, AttributeProto) are encoded field by field with
// protowire, using the field numbers of onnx/onnx.proto3. It needs no cgo.

// Opset is the ai.onnx operator set the written models import.
const Opset = 13

// irVersion is the IR version that introduced opset 13 (ONNX 1.8).
const irVersion = 7

// ONNX TensorProto.DataType values used here.
const (
	dtFloat = 1
	dtInt64 = 7
)

// ONNX AttributeProto.AttributeType values used here.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrFloats = 6
	attrInts   = 7
)

// Graph is an ONNX graph under construction. Nodes must be added in
// topological order (every input defined before use); Marshal checks it.
type Graph struct {
	name    string
	inputs  []valueInfo
	outputs []valueInfo
	inits   []initializer
	nodes   []node
	errs    []error
}

type valueInfo struct {
	name string
	dims []int64
}

type initializer struct {
	name string
	dims []int64
	f32  []float32
	i64  []int64
	kind int32
}

type node struct {
	op    string
	name  string
	ins   []string
	outs  []string
	attrs []Attr
}

// Attr is one node attribute; build it with AttrInt, AttrInts, AttrFloat,
// AttrFloats or AttrString.
type Attr struct {
	name   string
	kind   int32
	i      int64
	f      float32
	s      string
	ints   []int64
	floats []float32
}

// AttrInt is an integer attribute.
func AttrInt(name string, v int64) Attr { return Attr{name: name, kind: attrInt, i: v} }

// AttrInts is an integer list attribute (kernel_shape, strides, pads, axes…).
func AttrInts(name string, v ...int64) Attr {
	return Attr{name: name, kind: attrInts, ints: append([]int64(nil), v...)}
}

// AttrFloat is a float attribute.
func AttrFloat(name string, v float32) Attr { return Attr{name: name, kind: attrFloat, f: v} }

// AttrFloats is a float list attribute.
func AttrFloats(name string, v ...float32) Attr {
	return Attr{name: name, kind: attrFloats, floats: append([]float32(nil), v...)}
}

// AttrString is a string attribute (mode, auto_pad…).
func AttrString(name, v string) Attr { return Attr{name: name, kind: attrString, s: v} }

// NewGraph starts an empty graph.
func NewGraph(name string) *Graph { return &Graph{name: name} }

// Input declares a float32 graph input. A negative dimension is free: it is
// written as the symbolic dimension "N" on axis 0 and "d<axis>" elsewhere.
func (g *Graph) Input(name string, dims []int64) {
	g.inputs = append(g.inputs, valueInfo{name, append([]int64(nil), dims...)})
}

// Output declares a float32 graph output, dimensions as for Input.
func (g *Graph) Output(name string, dims []int64) {
	g.outputs = append(g.outputs, valueInfo{name, append([]int64(nil), dims...)})
}

// Init adds a float32 constant (an initializer); data is row-major and must
// have exactly the product of dims elements. The slice is kept, not copied.
func (g *Graph) Init(name string, dims []int64, data []float32) {
	if n := numel(dims); n != int64(len(data)) {
		g.errs = append(g.errs, fmt.Errorf("initializer %s: dims %v need %d values, got %d", name, dims, n, len(data)))
	}
	g.inits = append(g.inits, initializer{name: name, dims: append([]int64(nil), dims...), f32: data, kind: dtFloat})
}

// InitInt64 adds an int64 constant, for operator inputs such as Pad's pads.
func (g *Graph) InitInt64(name string, dims []int64, data []int64) {
	if n := numel(dims); n != int64(len(data)) {
		g.errs = append(g.errs, fmt.Errorf("initializer %s: dims %v need %d values, got %d", name, dims, n, len(data)))
	}
	g.inits = append(g.inits, initializer{name: name, dims: append([]int64(nil), dims...), i64: data, kind: dtInt64})
}

// Node appends an operator of the default (ai.onnx) domain. An empty input
// name skips an optional input. The node is named after its first output.
func (g *Graph) Node(op string, ins, outs []string, attrs ...Attr) {
	n := node{op: op, ins: append([]string(nil), ins...), outs: append([]string(nil), outs...), attrs: attrs}
	if len(outs) > 0 {
		n.name = outs[0]
	}
	g.nodes = append(g.nodes, n)
}

func numel(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// check verifies names are unique and every node input is defined before use.
func (g *Graph) check() error {
	if len(g.errs) > 0 {
		return g.errs[0]
	}
	defined := map[string]bool{}
	def := func(kind, name string) error {
		if name == "" {
			return fmt.Errorf("%s with an empty name", kind)
		}
		if defined[name] {
			return fmt.Errorf("%s %q is defined twice", kind, name)
		}
		defined[name] = true
		return nil
	}
	for _, v := range g.inputs {
		if err := def("input", v.name); err != nil {
			return err
		}
	}
	for _, t := range g.inits {
		if err := def("initializer", t.name); err != nil {
			return err
		}
		for _, d := range t.dims {
			if d < 0 {
				return fmt.Errorf("initializer %s: negative dimension in %v", t.name, t.dims)
			}
		}
	}
	for _, n := range g.nodes {
		if n.op == "" {
			return fmt.Errorf("node %q has no operator", n.name)
		}
		for _, in := range n.ins {
			if in != "" && !defined[in] {
				return fmt.Errorf("node %s (%s) reads %q before anything defines it", n.name, n.op, in)
			}
		}
		for _, out := range n.outs {
			if err := def("node output", out); err != nil {
				return err
			}
		}
	}
	if len(g.outputs) == 0 {
		return fmt.Errorf("graph %s has no outputs", g.name)
	}
	for _, v := range g.outputs {
		if !defined[v.name] {
			return fmt.Errorf("output %q is never computed", v.name)
		}
	}
	return nil
}

// Marshal checks the graph and encodes it as a serialised ModelProto.
func (g *Graph) Marshal() ([]byte, error) {
	if err := g.check(); err != nil {
		return nil, fmt.Errorf("onnx graph %s: %w", g.name, err)
	}
	var gb []byte
	for _, n := range g.nodes {
		gb = protowire.AppendTag(gb, 1, protowire.BytesType) // GraphProto.node
		gb = protowire.AppendBytes(gb, n.encode())
	}
	gb = appendString(gb, 2, g.name) // GraphProto.name
	for _, t := range g.inits {
		gb = protowire.AppendTag(gb, 5, protowire.BytesType) // GraphProto.initializer
		gb = protowire.AppendBytes(gb, t.encode())
	}
	for _, v := range g.inputs {
		gb = protowire.AppendTag(gb, 11, protowire.BytesType) // GraphProto.input
		gb = protowire.AppendBytes(gb, v.encode())
	}
	for _, v := range g.outputs {
		gb = protowire.AppendTag(gb, 12, protowire.BytesType) // GraphProto.output
		gb = protowire.AppendBytes(gb, v.encode())
	}

	var m []byte
	m = appendInt(m, 1, irVersion)                     // ModelProto.ir_version
	m = appendString(m, 2, "openfacepay")              // ModelProto.producer_name
	m = protowire.AppendTag(m, 7, protowire.BytesType) // ModelProto.graph
	m = protowire.AppendBytes(m, gb)
	var op []byte
	op = appendString(op, 1, "")                       // OperatorSetIdProto.domain: "" is ai.onnx
	op = appendInt(op, 2, Opset)                       // OperatorSetIdProto.version
	m = protowire.AppendTag(m, 8, protowire.BytesType) // ModelProto.opset_import
	m = protowire.AppendBytes(m, op)
	return m, nil
}

func (n node) encode() []byte {
	var b []byte
	for _, in := range n.ins {
		b = appendStringAlways(b, 1, in) // NodeProto.input (an empty one is positional)
	}
	for _, out := range n.outs {
		b = appendStringAlways(b, 2, out) // NodeProto.output
	}
	b = appendString(b, 3, n.name) // NodeProto.name
	b = appendString(b, 4, n.op)   // NodeProto.op_type
	for _, a := range n.attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType) // NodeProto.attribute
		b = protowire.AppendBytes(b, a.encode())
	}
	return b
}

func (a Attr) encode() []byte {
	var b []byte
	b = appendString(b, 1, a.name) // AttributeProto.name
	switch a.kind {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type) // AttributeProto.f
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType) // AttributeProto.i
		b = protowire.AppendVarint(b, uint64(a.i))
	case attrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType) // AttributeProto.s
		b = protowire.AppendString(b, a.s)
	case attrFloats:
		var p []byte
		for _, f := range a.floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = protowire.AppendTag(b, 7, protowire.BytesType) // AttributeProto.floats, packed
		b = protowire.AppendBytes(b, p)
	case attrInts:
		var p []byte
		for _, i := range a.ints {
			p = protowire.AppendVarint(p, uint64(i))
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType) // AttributeProto.ints, packed
		b = protowire.AppendBytes(b, p)
	}
	b = appendInt(b, 20, int64(a.kind)) // AttributeProto.type
	return b
}

func (t initializer) encode() []byte {
	var b []byte
	if len(t.dims) > 0 {
		var p []byte
		for _, d := range t.dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType) // TensorProto.dims, packed
		b = protowire.AppendBytes(b, p)
	}
	b = appendInt(b, 2, int64(t.kind)) // TensorProto.data_type
	b = appendString(b, 8, t.name)     // TensorProto.name
	var raw []byte
	switch t.kind {
	case dtFloat:
		raw = make([]byte, 4*len(t.f32))
		for i, v := range t.f32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case dtInt64:
		raw = make([]byte, 8*len(t.i64))
		for i, v := range t.i64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType) // TensorProto.raw_data (little-endian)
	return protowire.AppendBytes(b, raw)
}

func (v valueInfo) encode() []byte {
	var shape []byte
	for i, d := range v.dims {
		var dim []byte
		if d >= 0 {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType) // Dimension.dim_value, 0 included
			dim = protowire.AppendVarint(dim, uint64(d))
		} else {
			p := "N"
			if i > 0 {
				p = fmt.Sprintf("d%d", i)
			}
			dim = appendString(dim, 2, p) // Dimension.dim_param
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType) // TensorShapeProto.dim
		shape = protowire.AppendBytes(shape, dim)
	}
	var tensor []byte
	tensor = appendInt(tensor, 1, dtFloat)                       // TypeProto.Tensor.elem_type
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType) // TypeProto.Tensor.shape
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType) // TypeProto.tensor_type
	typ = protowire.AppendBytes(typ, tensor)
	var b []byte
	b = appendString(b, 1, v.name)                     // ValueInfoProto.name
	b = protowire.AppendTag(b, 2, protowire.BytesType) // ValueInfoProto.type
	return protowire.AppendBytes(b, typ)
}

// appendInt writes a varint field, omitting zero as proto3 does.
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendString writes a string field, omitting the empty string as proto3 does.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendStringAlways(b, num, s)
}

// appendStringAlways writes an element of a repeated string field, empty or not.
func appendStringAlways(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
