package onnx

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// tinyGraph is Relu(Conv(x)) + per-channel constant, and the mean of x padded by
// one row and column of zeros; graph_cgo_test.go runs it.
func tinyGraph() *Graph {
	g := NewGraph("tiny")
	g.Input("x", []int64{1, 1, 3, 3})
	g.Init("w", []int64{2, 1, 2, 2}, []float32{1, 0, 0, -1, 0.5, 0.5, 0.5, 0.5})
	g.Init("b", []int64{2}, []float32{1, -7})
	g.Init("c", []int64{2, 1, 1}, []float32{10, 100})
	g.InitInt64("pads", []int64{8}, []int64{0, 0, 0, 0, 0, 0, 1, 1})
	g.Node("Conv", []string{"x", "w", "b"}, []string{"conv"},
		AttrInts("kernel_shape", 2, 2), AttrInts("strides", 1, 1), AttrInts("pads", 0, 0, 0, 0))
	g.Node("Relu", []string{"conv"}, []string{"relu"})
	g.Node("Add", []string{"relu", "c"}, []string{"y"})
	g.Node("Pad", []string{"x", "pads"}, []string{"padded"}, AttrString("mode", "constant"))
	g.Node("ReduceMean", []string{"padded"}, []string{"mean"}, AttrInts("axes", 2, 3), AttrInt("keepdims", 0))
	g.Output("y", []int64{1, 2, 2, 2})
	g.Output("mean", []int64{1, 1})
	return g
}

// fields lists the top-level field numbers of a message with their raw values.
func fields(t *testing.T, b []byte) map[protowire.Number][][]byte {
	t.Helper()
	out := map[protowire.Number][][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(m))
		}
		out[num] = append(out[num], b[:m])
		b = b[m:]
	}
	return out
}

func TestGraphMarshalStructure(t *testing.T) {
	b, err := tinyGraph().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := fields(t, b)
	if v, _ := protowire.ConsumeVarint(m[1][0]); v != irVersion {
		t.Errorf("ir_version %d, want %d", v, irVersion)
	}
	op, _ := protowire.ConsumeBytes(m[8][0])
	if v, _ := protowire.ConsumeVarint(fields(t, op)[2][0]); v != Opset {
		t.Errorf("opset %d, want %d", v, Opset)
	}
	gb, _ := protowire.ConsumeBytes(m[7][0])
	g := fields(t, gb)
	if len(g[1]) != 5 || len(g[5]) != 4 || len(g[11]) != 1 || len(g[12]) != 2 {
		t.Errorf("graph has %d nodes, %d initializers, %d inputs, %d outputs; want 5, 4, 1, 2",
			len(g[1]), len(g[5]), len(g[11]), len(g[12]))
	}
	// The float initializer's raw data is little-endian float32.
	tb, _ := protowire.ConsumeBytes(g[5][0])
	raw, _ := protowire.ConsumeBytes(fields(t, tb)[9][0])
	if len(raw) != 32 || raw[0] != 0 || raw[3] != 0x3f { // 1.0 = 0x3f800000
		t.Errorf("raw_data % x", raw[:4])
	}
}

func TestGraphMarshalRejects(t *testing.T) {
	cases := map[string]func(g *Graph){
		"before anything defines it": func(g *Graph) { g.Node("Relu", []string{"nope"}, []string{"r"}) },
		"defined twice":              func(g *Graph) { g.Node("Relu", []string{"x"}, []string{"y"}) },
		"need 4 values":              func(g *Graph) { g.Init("bad", []int64{2, 2}, []float32{1}) },
		"never computed":             func(g *Graph) { g.Output("missing", []int64{1}) },
	}
	for want, spoil := range cases {
		g := tinyGraph()
		spoil(g)
		if _, err := g.Marshal(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}
