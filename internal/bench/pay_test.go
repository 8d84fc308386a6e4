package bench

import (
	"context"
	"testing"
	"time"
)

// TestRunPayAnchors runs `facepay bench pay` briefly: both anchors and both platform
// phases complete without a failed request or transaction, so the ratios it prints
// compare work that was actually done.
func TestRunPayAnchors(t *testing.T) {
	rep, err := RunPay(context.Background(), PayConfig{Concurrency: 4, Duration: 300 * time.Millisecond, Payers: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Result{rep.Protocol, rep.Storage, rep.Ceiling, rep.Paid} {
		if r.OK == 0 || r.Failed != 0 {
			t.Fatalf("%s: %d ok, %d failed", r.Name, r.OK, r.Failed)
		}
	}
	if rep.QueryRatio() <= 0 || rep.QueryRatio() > 1.5 {
		t.Fatalf("orderquery : protocol ceiling = %.2f", rep.QueryRatio())
	}
}

// TestRunMemory: the payments are all made and both readings come from the process.
func TestRunMemory(t *testing.T) {
	rep, err := RunMemory(context.Background(), MemoryConfig{Orders: 300})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != 300 || rep.PlatformIdle.RSS <= 0 || rep.PlatformAfter.RSS <= 0 || rep.PlatformAfter.HeapInuse <= 0 {
		t.Fatalf("report %+v", rep)
	}
}
