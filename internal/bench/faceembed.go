package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/onnx"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// EmbedCompare is one pack's embedder run by this engine and by onnxruntime-node
// on the same model bytes and the same input tensors.
type EmbedCompare struct {
	Pack     string  `json:"pack"`
	Faces    int     `json:"faces"`
	Runs     int     `json:"runs"`
	GoMS     float64 `json:"go_ms_mean"`
	NodeMS   float64 `json:"node_ms_mean"`
	Ratio    float64 `json:"go_over_node"`
	MaxDiff  float64 `json:"max_abs_output_diff"`
	Threads  int     `json:"threads"`
	NodeNote string  `json:"node,omitempty"`
}

// RunEmbedCompare times the pack's embedder on chips here and, through the Node
// script of bench/ortnode installed in nodeDir, in onnxruntime-node.
func RunEmbedCompare(ctx context.Context, e *engine.Engine, chips []*vision.Image, nodeDir string, threads, iters int) (EmbedCompare, error) {
	me, ok := e.Parts.Embedder.(engine.ModelEmbedder)
	if !ok {
		return EmbedCompare{}, fmt.Errorf("pack %s: embedder is not one ONNX model", e.Pack.Name)
	}
	r := EmbedCompare{Pack: e.Pack.Name, Faces: len(chips), Threads: threads}
	ins := make([]onnx.Tensor, len(chips))
	for i, c := range chips {
		ins[i] = me.Input(c)
	}
	goOut := make([][]float32, len(ins))
	for i, in := range ins { // warm-up, and the outputs to compare
		out, err := me.Run(in)
		if err != nil {
			return r, err
		}
		goOut[i] = out
	}
	var total time.Duration
	for it := 0; it < iters; it++ {
		for _, in := range ins {
			t := time.Now()
			if _, err := me.Run(in); err != nil {
				return r, err
			}
			total += time.Since(t)
		}
	}
	r.Runs = iters * len(ins)
	r.GoMS = float64(total.Microseconds()) / 1000 / float64(r.Runs)
	if nodeDir == "" {
		r.NodeNote = "skipped"
		return r, nil
	}
	tmp, err := os.MkdirTemp("", "embedcmp-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	model := filepath.Join(tmp, "model.onnx")
	if err := os.WriteFile(model, me.Model(), 0o600); err != nil {
		return r, err
	}
	f, err := os.Create(filepath.Join(tmp, "inputs.f32"))
	if err != nil {
		return r, err
	}
	for _, in := range ins {
		if err := binary.Write(f, binary.LittleEndian, in.Data); err != nil {
			f.Close()
			return r, err
		}
	}
	if err := f.Close(); err != nil {
		return r, err
	}
	dims := make([]string, len(ins[0].Shape))
	for i, d := range ins[0].Shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	// Both packs' embedders name their one input "input" (fr_feature.onnx, DlibInput).
	cmd := exec.CommandContext(ctx, "node", filepath.Join(nodeDir, "embed.cjs"), model, "input", strings.Join(dims, "x"),
		f.Name(), strconv.Itoa(threads), strconv.Itoa(iters))
	cmd.Dir = nodeDir
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("onnxruntime-node: %w", err)
	}
	var nr struct {
		Mean    float64     `json:"ms_mean"`
		Outputs [][]float64 `json:"outputs"`
	}
	if err := json.Unmarshal(out, &nr); err != nil {
		return r, fmt.Errorf("onnxruntime-node output: %w", err)
	}
	r.NodeMS = nr.Mean
	r.Ratio = r.GoMS / r.NodeMS
	for i := range goOut {
		for j := range goOut[i] {
			r.MaxDiff = math.Max(r.MaxDiff, math.Abs(float64(goOut[i][j])-nr.Outputs[i][j]))
		}
	}
	return r, nil
}
