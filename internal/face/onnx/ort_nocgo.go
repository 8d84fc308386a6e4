//go:build !cgo

package onnx

// Available reports whether this build can run models.
func Available() bool { return false }

// Init always fails without cgo.
func Init(string) error { return ErrUnavailable }

// Version is empty without a runtime.
func Version() string { return "" }

// Session cannot exist without cgo; the type keeps callers compiling.
type Session struct {
	Inputs  []IO
	Outputs []IO
}

// Options tune a session.
type Options struct{ Threads int }

// Load always fails without cgo.
func Load([]byte, Options) (*Session, error) { return nil, ErrUnavailable }

// Run always fails without cgo.
func (s *Session) Run(...Tensor) ([]Tensor, error) { return nil, ErrUnavailable }

// Close does nothing.
func (s *Session) Close() error { return nil }
