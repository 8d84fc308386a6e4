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

// The shared bound: 10 000 transactions and 20 000 requests a second on the same
// cores leave time for 6 667 payments that need one of each.
func TestSharedBound(t *testing.T) {
	second := Result{Elapsed: time.Second}
	st, pr, paid := second, second, second
	st.OK, pr.OK, paid.OK = 10000, 20000, 5000
	rep := PayReport{Storage: st, Protocol: pr, Paid: paid}
	if b := rep.SharedBound(); b < 6666 || b > 6667 {
		t.Fatalf("shared bound %.1f, want 6 666.7", b)
	}
	if r := rep.BoundRatio(); r < 0.749 || r > 0.751 {
		t.Fatalf("paid : shared bound %.3f, want 0.75", r)
	}
	if (PayReport{}).SharedBound() != 0 {
		t.Fatal("a report without anchors has a bound")
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
