package clock

import (
	"testing"
	"time"
)

func TestFakeAdvance(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(start)
	if got := f.Advance(24*time.Hour + 4*time.Minute); !got.Equal(start.Add(24*time.Hour + 4*time.Minute)) {
		t.Fatalf("Advance = %v", got)
	}
	if !f.Now().Equal(start.Add(24*time.Hour + 4*time.Minute)) {
		t.Fatalf("Now after Advance = %v", f.Now())
	}
	f.Set(start)
	if !f.Now().Equal(start) {
		t.Fatalf("Now after Set = %v", f.Now())
	}
}
