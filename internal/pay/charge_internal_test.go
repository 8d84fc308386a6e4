package pay

import (
	"regexp"
	"sort"
	"testing"
	"time"
)

// Transaction numbers keep the 28-digit shape clients parse (4200, the Beijing date),
// and numbers made in time order sort in that order, down to a tenth of a millisecond
// and across midnight, so that new orders append to the transaction_id index.
func TestTransactionIDsSortInTimeOrder(t *testing.T) {
	shape := regexp.MustCompile(`^4200\d{24}$`)
	start := time.Date(2026, 12, 4, 15, 59, 59, 999_000_000, time.UTC) // 23:59:59.999 in Beijing
	var ids []string
	for i := range 400 {
		now := start.Add(time.Duration(i) * 100 * time.Microsecond)
		id := transactionID(now)
		if !shape.MatchString(id) {
			t.Fatalf("%q is not 28 digits starting 4200", id)
		}
		if want := now.In(beijing).Format("20060102"); id[4:12] != want {
			t.Fatalf("%q at %v: date %s, want the Beijing date %s", id, now, id[4:12], want)
		}
		ids = append(ids, id)
	}
	if ids[0][4:12] == ids[len(ids)-1][4:12] {
		t.Fatal("the run was meant to cross midnight in Beijing")
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("numbers made a tenth of a millisecond apart do not sort in time order")
	}
	// The same instant twice: the random tail keeps them apart.
	if a, b := transactionID(start), transactionID(start); a == b {
		t.Fatalf("two numbers of one instant are equal: %s", a)
	}
}
