package bench

import (
	"context"
	"testing"
	"time"
)

// TestRunK12SmallSchool runs the K12 benchmark's whole path on a school of 20: every
// student's debit succeeds over signed v3 and the ledger balances (RunK12 refuses
// otherwise), so the benchmark cannot silently measure failures.
func TestRunK12SmallSchool(t *testing.T) {
	rep, err := RunK12(context.Background(), K12Config{Students: 20, Concurrency: 4, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lunch.OK != 20 || rep.Lunch.Failed != 0 || rep.Ceiling.OK == 0 || rep.Lunch.P99 < rep.Lunch.P50 {
		t.Fatalf("report: %+v", rep)
	}
}
