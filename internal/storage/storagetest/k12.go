package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// testGuardedDebit: a K12 debit decided from the user's state is written whole or not
// at all. It is not written when anything that locked the user committed after the
// state was read, when the user was disabled or is under another contract, when its
// out_trade_no or credential was used, or when the wallet is short; of debits decided
// from one state, racing, exactly one is written. The state reads the user, the
// contract and the day's spending together.
func testGuardedDebit(t *testing.T, b Backend) {
	ctx := context.Background()
	tenants, _ := newTenants(b)
	m := Must(tenants.Create(ctx, tenant.NewMerchant{Name: "School SP"})).MchID
	l := newLedger(t, b)
	fund(t, l, "wallet:P1", 50)
	Must(l.Open(ctx, "settlement:"+m, ledger.Settlement, false))
	if err := b.DB.InPayTx(ctx, func(tx pay.Tx) error { return tx.InsertPayer(ctx, pay.Payer{PayerID: "P1", CreatedAt: t0}) }); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.CreateOrganisation(ctx, k12.Organisation{ID: "ORG1", Name: "No. 1 Primary", SPMchID: m, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	u := Must(b.DB.EnsureUser(ctx, k12.User{UserID: "U1", OrgID: "ORG1", OutUserID: "pupil-001", UserType: k12.Student,
		Status: k12.StatusNormal, ContractState: k12.NotContracted, CreatedAt: t0, UpdatedAt: t0}))
	u.ContractState, u.ContractID, u.UpdatedAt = k12.Contracted, "K1", t0
	if err := b.DB.SaveContract(ctx, k12.Contract{ContractID: "K1", OrgID: "ORG1", UserID: "U1", SPMchID: m, AppID: "wxA", OpenID: "o1",
		PayerID: "P1", Mode: k12.LimitNone, State: k12.Contracted, SignedAt: t0}, u, nil); err != nil {
		t.Fatal(err)
	}
	// The debit's context: the service provider's settings, webhook URL, test clock and
	// its organisation; another's organisation is not found.
	debitContext := func(mch, org string) (k12.DebitContext, error) {
		dc, _, err := b.DB.DebitRead(ctx, mch, org, k12.DebitKey{UserID: "U1", Day: "20261123"})
		return dc, err
	}
	other := Must(tenants.Create(ctx, tenant.NewMerchant{Name: "Other SP"})).MchID
	if err := b.DB.CreateOrganisation(ctx, k12.Organisation{ID: "ORG2", Name: "Elsewhere", SPMchID: other, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// A user is found by its id in its own organisation only.
	if got, ok := Must2(b.DB.UserByID(ctx, "ORG1", "U1")); !ok || got.OutUserID != "pupil-001" {
		t.Fatalf("UserByID in its organisation: %+v, %v", got, ok)
	}
	if got, ok := Must2(b.DB.UserByID(ctx, "ORG2", "U1")); ok || got.UserID != "" {
		t.Fatalf("UserByID from another organisation found %+v", got)
	}
	if dc := Must(debitContext(m, "ORG1")); !dc.OrgFound || dc.Org.SPMchID != m || dc.Org.Name != "No. 1 Primary" ||
		dc.OnTestClock || dc.NotifyURL != "" || dc.Settings.AdvanceFunding || dc.Settings.DailyLimit != 0 {
		t.Fatalf("debit context: %+v", dc)
	}
	if err := b.DB.SetAdvanceFunding(ctx, m, true); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.SetLimits(ctx, m, 800, 2000); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.SetNotifyURL(ctx, m, "https://sp.example/notify"); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.SetRisk(ctx, "ORG1", "06:00-20:00", []string{"K1", "K2"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.SetTestClock(ctx, m, t0); err != nil {
		t.Fatal(err)
	}
	dc := Must(debitContext(m, "ORG1"))
	if !dc.Settings.AdvanceFunding || dc.Settings.PaymentLimit != 800 || dc.Settings.DailyLimit != 2000 || dc.NotifyURL != "https://sp.example/notify" ||
		!dc.OnTestClock || !dc.TestClock.Equal(t0) || dc.Org.RiskHours != "06:00-20:00" || len(dc.Org.RiskDevices) != 2 {
		t.Fatalf("debit context after changes: %+v", dc)
	}
	if dc := Must(debitContext(m, "ORG2")); dc.OrgFound {
		t.Fatalf("another service provider's organisation was found: %+v", dc.Org)
	}
	if _, err := debitContext("1999999999", "ORG1"); err == nil {
		t.Fatal("an unknown service provider's debit context read")
	}
	const day = "20261123"
	read := func(user, day, cred, no string) k12.DebitState {
		t.Helper()
		dc, st, err := b.DB.DebitRead(ctx, m, "ORG1", k12.DebitKey{UserID: user, Day: day, CredentialHash: cred, Owner: m, OutTradeNo: no})
		if err != nil || !dc.OrgFound || st.Day != day {
			t.Fatalf("debit read: %v (organisation found %v, day %q)", err, dc.OrgFound, st.Day)
		}
		return st
	}
	state := func(cred, no string) k12.DebitState { t.Helper(); return read("U1", day, cred, no) }
	debit := func(seq int64, no, cred string, fee int64) k12.GuardedDebit {
		o := pay.Order{OwnerMchID: m, OutTradeNo: no, TransactionID: "T-" + no, MchID: m, SubMchID: m, AppID: "wxA", API: pay.APIWithhold,
			TradeType: "AUTH", PayerID: "P1", OpenID: "o1", TotalFee: fee, FeeType: "CNY", CredentialHash: cred, RequestDigest: "d-" + no,
			State: pay.StateSuccess, Funding: pay.FundingWallet, DebtState: pay.NoDebt, CreatedAt: t0, PaidAt: t0, UpdatedAt: t0}
		return k12.GuardedDebit{Seq: seq, ContractID: "K1", Order: o,
			Transfer: ledger.Transfer{Key: "pay:" + m + "/" + no, Debit: "wallet:P1", Credit: "settlement:" + m, Amount: fee, Code: "withhold",
				State: ledger.Posted, CreatedAt: t0, UpdatedAt: t0},
			Record: k12.DebitRecord{Owner: m, OutTradeNo: no, SPMchID: m, OrgID: "ORG1", UserID: "U1", ContractID: "K1", Day: day, Total: fee,
				Counted: true, ProductID: 2, SceneID: 3, CredentialHash: cred, Digest: "d-" + no, CreatedAt: t0},
			Event: &notify.Notification{ID: "N-" + no, MchID: m, Format: notify.FormatV3, EventType: "FACEPAY.TRANSACTION_SUCCESS",
				URL: "https://sp.example/notify", Payload: []byte(`{}`), NextAt: t0, CreatedAt: t0}}
	}
	written := func(no string) bool {
		_, found := Must2(b.DB.DebitByOrder(ctx, m, no))
		_, order := Must2(b.DB.FindOrder(ctx, m, no, ""))
		if found != order {
			t.Fatalf("%s: debit record %v but order %v", no, found, order)
		}
		return found
	}

	st := state("CR1", "D1")
	if !st.Found || st.User.OutUserID != "pupil-001" || st.User.ContractID != "K1" || !st.ContractFound || st.Contract.PayerID != "P1" ||
		st.Contract.State != k12.Contracted || st.Spent != 0 || st.CredentialUsed || st.OrderTaken {
		t.Fatalf("state of a contracted user: %+v", st)
	}
	if st := read("U9", day, "", ""); st.Found || st.ContractFound {
		t.Fatalf("state of an unknown user: %+v", st)
	}
	seq := st.Seq
	if err := b.DB.ApplyDebit(ctx, debit(seq, "D1", "CR1", 10)); err != nil {
		t.Fatal(err)
	}
	st = state("CR1", "D1")
	if st.Seq != seq+1 || st.Spent != 10 || !st.CredentialUsed || !st.OrderTaken || !written("D1") {
		t.Fatalf("after a debit of 10: seq %d (was %d), spent %d, credential used %v, order taken %v", st.Seq, seq, st.Spent, st.CredentialUsed, st.OrderTaken)
	}
	if other := read("U1", "20261124", "", ""); other.Spent != 0 {
		t.Fatalf("another day's spending reads %d", other.Spent)
	}
	if w, s := balance(t, l, "wallet:P1"), balance(t, l, "settlement:"+m); w.Balance != 40 || s.Balance != 10 {
		t.Fatalf("wallet %d, settlement %d; want 40 and 10", w.Balance, s.Balance)
	}
	if ns := Must(b.DB.Claim(ctx, "test", t0.Add(time.Minute), time.Minute, 10)); len(ns) != 1 || ns[0].ID != "N-D1" {
		t.Fatalf("the debit's webhook: %+v", ns)
	}
	seq = st.Seq

	refusals := []struct {
		name string
		g    k12.GuardedDebit
	}{
		{"sequence read before the last debit", debit(seq-1, "D2", "CR2", 10)},
		{"out_trade_no taken", debit(seq, "D1", "CR3", 10)},
		{"credential used", debit(seq, "D4", "CR1", 10)},
		{"wallet short", debit(seq, "D5", "CR5", 41)},
		{"another contract", func() k12.GuardedDebit { g := debit(seq, "D6", "CR6", 1); g.ContractID = "K0"; return g }()},
	}
	refused := func(name string, g k12.GuardedDebit) {
		t.Helper()
		if err := b.DB.ApplyDebit(ctx, g); !errors.Is(err, pay.ErrNotApplied) {
			t.Fatalf("%s: %v, want ErrNotApplied", name, err)
		}
		if g.Order.OutTradeNo != "D1" && written(g.Order.OutTradeNo) {
			t.Fatalf("%s: the debit was written", name)
		}
		if st := state("", ""); st.Seq != seq || st.Spent != 10 {
			t.Fatalf("%s: seq %d, spent %d after a refused debit", name, st.Seq, st.Spent)
		}
	}
	for _, r := range refusals {
		refused(r.name, r.g)
	}
	// A disabled user: the guard reads the status, whoever changed it.
	setStatus := func(status string) {
		t.Helper()
		if err := b.DB.InDebitTx(ctx, func(tx k12.DebitTx) error {
			u, _, err := tx.LockUser(ctx, "U1")
			if err != nil {
				return err
			}
			u.Status = status
			return tx.SetUserStatus(ctx, u)
		}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(k12.StatusDisabled)
	if st = state("", ""); st.Seq != seq+1 || st.User.Status != k12.StatusDisabled {
		t.Fatalf("locking the user: seq %d (was %d), status %s", st.Seq, seq, st.User.Status)
	}
	seq = st.Seq
	refused("user disabled", debit(seq, "D7", "CR7", 1))
	setStatus(k12.StatusNormal)
	seq++

	// Eight debits decided from one state race: one is written, in whichever batch.
	if n := applyRacing(t, 8, func(i int) error {
		return b.DB.ApplyDebit(ctx, debit(seq, fmt.Sprintf("R%d", i), fmt.Sprintf("CR-R%d", i), 5))
	}); n != 1 {
		t.Fatalf("%d of 8 debits decided from one state were written, want 1", n)
	}
	if st := state("", ""); st.Seq != seq+1 || st.Spent != 15 {
		t.Fatalf("after the race: seq %d (want %d), spent %d (want 15)", st.Seq, seq+1, st.Spent)
	}
	if w := balance(t, l, "wallet:P1"); w.Balance != 35 {
		t.Fatalf("wallet %d after debits of 10 and 5 from 50", w.Balance)
	}
	audit(t, b)
}
