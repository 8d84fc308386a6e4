package bench

import (
	"context"
	"testing"
	"time"
)

// TestRunK12SmallSchool runs the K12 benchmark's whole path on a school of 20 in three
// rounds: every student's debit succeeds over signed v3 and the ledger balances (RunK12
// refuses otherwise), so the benchmark cannot silently measure failures; the rounds
// share the students out (6, 7 and 7) and the totals are theirs.
func TestRunK12SmallSchool(t *testing.T) {
	rep, err := RunK12(context.Background(), K12Config{Students: 20, Concurrency: 4, Duration: 300 * time.Millisecond, Rounds: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lunch.OK != 20 || rep.Lunch.Failed != 0 || rep.Ceiling.OK == 0 || rep.Lunch.P99 < rep.Lunch.P50 {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.Rounds) != 3 {
		t.Fatalf("%d rounds reported, want 3", len(rep.Rounds))
	}
	lookups := 0
	for i, want := range []int{6, 7, 7} {
		r := rep.Rounds[i]
		if r.Lunch.OK != want || r.Ceiling.OK == 0 {
			t.Fatalf("round %d: %d lunches (want %d), %d lookups", i+1, r.Lunch.OK, want, r.Ceiling.OK)
		}
		lookups += r.Ceiling.OK
	}
	if rep.Ceiling.OK != lookups {
		t.Fatalf("%d lookups in all, %d in the rounds", rep.Ceiling.OK, lookups)
	}
	if lo, med, hi := rep.Spread(); !(lo <= med && med <= hi && lo > 0) {
		t.Fatalf("spread %.2f / %.2f / %.2f", lo, med, hi)
	}
}
