package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openfacepay/openfacepay/internal/demo"
	"github.com/openfacepay/openfacepay/internal/face/eval"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
)

// TestDemo runs `facepay demo`'s whole walk-through on a temporary store and checks
// what it left behind: the service provider's server holds the canteen's debits —
// the offline one, the look-alike's, the one from the outage and the advanced one,
// each done once — the repayment link finds nothing owed, and every page it prints
// answers.
func TestDemo(t *testing.T) {
	e := facetest.Engine(t, "")
	var out bytes.Buffer
	u, stop, err := demo.Run(context.Background(), demo.Config{Dir: t.TempDir(), Engine: e, Photos: eval.Slice(), Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	defer stop()
	var debits []map[string]any
	get(t, u.Merchant+"/merchant/k12/debits", &debits)
	if len(debits) != 4 {
		t.Fatalf("%d debits at the service provider's server: %v\n%s", len(debits), debits, out.String())
	}
	for _, d := range debits {
		if d["state"] != "DONE" || d["trade_state"] != "SUCCESS" {
			t.Fatalf("a debit did not end paid: %v", d)
		}
	}
	if debits[3]["debt_state"] != "IN_DEBT" {
		t.Fatalf("the empty wallet's lunch was not advanced: %v", debits[3])
	}
	t_ := u.Repay[strings.Index(u.Repay, "t=")+2:]
	var owed map[string]any
	get(t, u.Pages+"/k12/api/debts?t="+t_, &owed)
	if owed["total"] != float64(0) {
		t.Fatalf("still owed after the repayment: %v", owed)
	}
	for _, page := range []string{u.Collect, u.Sign, u.Repay, u.CanteenKiosk + "/", u.ShopKiosk + "/"} {
		resp, err := http.Get(page)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", page, err, resp)
		}
		resp.Body.Close()
	}
	for _, want := range []string{"offline recognition", "look-alike", "line is back", "advances the lunch", "repays", "online face payment"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the demo did not tell %q:\n%s", want, out.String())
		}
	}
}

func get(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}
