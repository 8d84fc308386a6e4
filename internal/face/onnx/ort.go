//go:build cgo

package onnx

import (
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// onnxruntime keeps one environment per process, so its initialisation is
// process-wide too; Init is idempotent and refuses a second, different library.
var env struct {
	sync.Mutex
	lib string
	err error
}

// Available reports whether this build can run models.
func Available() bool { return true }

// Init loads the onnxruntime shared library at lib.
func Init(lib string) error {
	env.Lock()
	defer env.Unlock()
	if env.lib != "" {
		if env.lib != lib {
			return fmt.Errorf("onnxruntime already loaded from %s", env.lib)
		}
		return env.err
	}
	env.lib = lib
	ort.SetSharedLibraryPath(lib)
	env.err = ort.InitializeEnvironment()
	if env.err == nil {
		_ = ort.SetEnvironmentLogLevel(ort.LoggingLevelError)
	}
	return env.err
}

// Version is the loaded runtime's version.
func Version() string { return ort.GetVersion() }

// Session is one loaded model. Run is safe for concurrent use.
type Session struct {
	s       *ort.DynamicAdvancedSession
	Inputs  []IO
	Outputs []IO
}

// Options tune a session.
type Options struct {
	Threads int // intra-op threads; 0 lets onnxruntime choose
}

// Load compiles a model held in memory.
func Load(model []byte, o Options) (*Session, error) {
	model = append([]byte(nil), model...) // FlushDenormals edits in place; the caller keeps its bytes
	if _, err := FlushDenormals(model); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("read model inputs: %w", err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if o.Threads > 0 {
		if err := so.SetIntraOpNumThreads(o.Threads); err != nil {
			return nil, err
		}
		if err := so.SetInterOpNumThreads(1); err != nil {
			return nil, err
		}
	}
	sess := &Session{Inputs: ioList(ins), Outputs: ioList(outs)}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, names(sess.Inputs), names(sess.Outputs), so)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	sess.s = s
	return sess, nil
}

func ioList(in []ort.InputOutputInfo) []IO {
	out := make([]IO, len(in))
	for i, x := range in {
		out[i] = IO{Name: x.Name, Shape: append([]int64(nil), x.Dimensions...)}
	}
	return out
}

func names(l []IO) []string {
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = x.Name
	}
	return out
}

// Run feeds inputs in declaration order and returns every output in declaration order.
func (s *Session) Run(inputs ...Tensor) ([]Tensor, error) {
	if len(inputs) != len(s.Inputs) {
		return nil, fmt.Errorf("model takes %d inputs, got %d", len(s.Inputs), len(inputs))
	}
	in := make([]ort.Value, len(inputs))
	for i, t := range inputs {
		v, err := ort.NewTensor(ort.NewShape(t.Shape...), t.Data)
		if err != nil {
			destroy(in)
			return nil, fmt.Errorf("input %s: %w", s.Inputs[i].Name, err)
		}
		in[i] = v
	}
	defer destroy(in)
	out := make([]ort.Value, len(s.Outputs))
	if err := s.s.Run(in, out); err != nil {
		destroy(out)
		return nil, err
	}
	defer destroy(out)
	res := make([]Tensor, len(out))
	for i, v := range out {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("output %s is not float32", s.Outputs[i].Name)
		}
		res[i] = Tensor{Shape: append([]int64(nil), t.GetShape()...), Data: append([]float32(nil), t.GetData()...)}
	}
	return res, nil
}

func destroy(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// Close frees the session.
func (s *Session) Close() error {
	if s == nil || s.s == nil {
		return nil
	}
	return s.s.Destroy()
}
