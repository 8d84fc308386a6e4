package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{4 * mb, 48 * mb, 1200},  // a small live heap grows by the floor
		{48 * mb, 48 * mb, 100},  // from the floor on, the default pace
		{300 * mb, 48 * mb, 100}, // a large face library keeps it
		{1, 48 * mb, 10_000},     // bounded
	} {
		if got := Percent(c.live, c.floor); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

// gogc reads the GC percent in effect.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// After a collection the pace follows the live heap: a small one gets the floor's
// growth, one past the floor the default; stop puts the percent back.
func TestFloorFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "") // set: Floor must leave the pace alone
	stop := Floor(64 << 20)
	runtime.GC()
	settle()
	if p := gogc(); p != 100 {
		t.Fatalf("with GOGC set, the percent became %d", p)
	}
	stop()

	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	unsetGOGC(t)
	stop = Floor(64 << 20)
	runtime.GC()
	settle()
	if p := gogc(); p < 300 {
		t.Fatalf("with a small live heap the percent is %d, want the floor's growth (over 300)", p)
	}
	ballast := make([]byte, 96<<20) // live, past the floor
	for i := range ballast {
		ballast[i] = byte(i)
	}
	runtime.GC()
	settle()
	if p := gogc(); p != 100 {
		t.Fatalf("with %d MB live the percent is %d, want 100", len(ballast)>>20, p)
	}
	runtime.KeepAlive(ballast)
	stop()
	if p := gogc(); p != 100 {
		t.Fatalf("after stop the percent is %d, want 100 back", p)
	}
}

// settle lets the finalizer of the last cycle run.
func settle() {
	for range 20 {
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// unsetGOGC removes GOGC from the environment for the rest of the test.
func unsetGOGC(t *testing.T) {
	t.Setenv("GOGC", "") // restores the variable afterwards
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
}
