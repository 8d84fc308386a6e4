package onnx

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

func TestFlushDenormals(t *testing.T) {
	tiny := float32(math.Float32frombits(1)) // the smallest subnormal
	g := NewGraph("t")
	g.Input("x", []int64{3})
	g.Init("w", []int64{3}, []float32{tiny, 0.5, -tiny * 1000})
	g.Node("Mul", []string{"x", "w"}, []string{"y"})
	g.Output("y", []int64{3})
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	half := make([]byte, 4)
	binary.LittleEndian.PutUint32(half, math.Float32bits(0.5))
	n, err := FlushDenormals(model)
	if err != nil || n != 2 {
		t.Fatalf("flushed %d (%v), want the 2 subnormal weights", n, err)
	}
	if !bytes.Contains(model, half) {
		t.Fatal("a normal weight was changed")
	}
	if n, _ := FlushDenormals(model); n != 0 {
		t.Fatalf("a second pass flushed %d", n)
	}
	if _, err := FlushDenormals([]byte{0xff, 0xff}); err == nil {
		t.Fatal("a malformed model was accepted")
	}
}
