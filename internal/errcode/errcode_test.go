package errcode

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeOf(t *testing.T) {
	t.Parallel()
	base := E(NotFound, "merchant %s", "1900000001")
	wrapped := fmt.Errorf("lookup: %w", base)
	cases := []struct {
		err  error
		code Code
		msg  string
	}{
		{base, NotFound, "merchant 1900000001"},
		{wrapped, NotFound, "merchant 1900000001"},
		{errors.New("disk on fire"), Internal, "internal error"},
		{Wrap(Conflict, errors.New("cause"), "key reused"), Conflict, "key reused"},
	}
	for _, c := range cases {
		if got := CodeOf(c.err); got != c.code {
			t.Errorf("CodeOf(%v) = %s, want %s", c.err, got, c.code)
		}
		if got := MessageOf(c.err); got != c.msg {
			t.Errorf("MessageOf(%v) = %q, want %q", c.err, got, c.msg)
		}
	}
	if CodeOf(nil) != "" || Is(nil, Internal) {
		t.Error("nil error has a code")
	}
	cause := errors.New("root")
	if !errors.Is(Wrap(Internal, cause, "x"), cause) {
		t.Error("Wrap lost its cause")
	}
}
