package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// One pipeline batch of several payments sends each table's new rows as one INSERT,
// and the codes' claims and the wallets' debits as one guarded statement each (a
// wallet debited twice by two); when such a statement fails (a taken order number, a
// used code), the batch goes again with each payment's statements its own, and only
// the payment that was refused is not written.
func TestPipelineBatchSharesItsInserts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := storagetest.Open(t, "postgres")
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	m, l := payers(t, b, t0, 100, "P1", "P2")
	codes := make([]string, 14)
	for i := range codes {
		codes[i] = fmt.Sprintf("C%02d", i)
	}
	mint(t, b, m, t0, codes, func(int) string { return "P1" })
	payment := func(no, code string, fee int64) pay.Payment { return decided(m, "P1", no, code, fee, t0) }
	paymentFrom := func(payer, no, code string, fee int64) pay.Payment { return decided(m, payer, no, code, fee, t0) }
	wallet := func() int64 { return storagetest.Must(l.Account(ctx, "wallet:P1")).Balance }
	usedBy := func(code string) string { return storagetest.CodeUsedBy(t, b, code) }
	written := func(no string) bool {
		_, found := storagetest.Must2(b.DB.FindOrder(ctx, m, no, ""))
		return found
	}

	// Four payments, two from each wallet: one statement for the four claims, one per
	// table for the new rows, and two for the debits (each wallet once per statement).
	errs, sent := b.DB.ApplyPaymentsTogether([]pay.Payment{payment("A1", "C00", 10), payment("A2", "C01", 10),
		paymentFrom("P2", "A3", "C02", 10), paymentFrom("P2", "A4", "C03", 10)})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if sent != 6 {
		t.Fatalf("a batch of four payments sent %d statements, want 6", sent)
	}
	for _, no := range []string{"A1", "A2", "A3", "A4"} {
		if !written(no) {
			t.Fatalf("order %s of the batch was not written", no)
		}
	}
	if w, w2 := wallet(), storagetest.Must(l.Account(ctx, "wallet:P2")).Balance; w != 80 || w2 != 80 {
		t.Fatalf("wallets %d and %d after two payments of 10 from 100 each, want 80 and 80", w, w2)
	}
	// A used code among four: the claims' statement fails, the batch goes again, and
	// the one payment is refused.
	errs, _ = b.DB.ApplyPaymentsTogether([]pay.Payment{payment("U1", "C11", 5), payment("U2", "C00", 5), payment("U3", "C12", 5)})
	if errs[0] != nil || !errors.Is(errs[1], pay.ErrNotApplied) || errs[2] != nil {
		t.Fatalf("a batch with a used code answered %v, want only the second refused", errs)
	}
	if written("U2") || usedBy("C00") != m+"/A1" || usedBy("C11") != m+"/U1" || wallet() != 70 {
		t.Fatalf("after the used code: U2 written %v, C00 used by %q, C11 by %q, wallet %d (want 70)", written("U2"), usedBy("C00"), usedBy("C11"), wallet())
	}

	// The second payment's order number is taken: the shared INSERT fails, the batch
	// goes again unmerged, and the other three are written.
	errs, sent = b.DB.ApplyPaymentsTogether([]pay.Payment{payment("B1", "C04", 5), payment("A1", "C05", 5), payment("B3", "C06", 5), payment("B4", "C07", 5)})
	if errs[0] != nil || !errors.Is(errs[1], pay.ErrNotApplied) || errs[2] != nil || errs[3] != nil {
		t.Fatalf("a batch with a taken order number answered %v, want only the second refused", errs)
	}
	if sent <= 5 {
		t.Fatalf("the batch with a taken order number sent %d statements: it did not go again", sent)
	}
	if !written("B1") || !written("B3") || !written("B4") || wallet() != 55 {
		t.Fatalf("after the refusal: orders %v %v %v, wallet %d (want 55)", written("B1"), written("B3"), written("B4"), wallet())
	}
	if u := usedBy("C05"); u != "" {
		t.Fatalf("the refused payment's code reads as used by %q", u)
	}

	// A guard that fails (a wallet short for the third payment) refuses that payment
	// alone, and the rest share their statements in the batch that goes again.
	errs, _ = b.DB.ApplyPaymentsTogether([]pay.Payment{payment("D1", "C08", 25), payment("D2", "C09", 25), payment("D3", "C10", 25)})
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], pay.ErrNotApplied) {
		t.Fatalf("three payments of 25 from 55 answered %v, want the third refused", errs)
	}
	if written("D3") || wallet() != 5 {
		t.Fatalf("after a short wallet: D3 written %v, wallet %d (want 5)", written("D3"), wallet())
	}
	balanced(t, b)
}

// A pipeline batch's deferred credits to one account go as one row: their total,
// under the first payment's transfer key. A payment the batch refuses is not in it,
// the account's balance reads the same as with a row per payment, and a fold moves
// the rows into the balances.
func TestPipelineBatchSumsDeferredCredits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := storagetest.Open(t, "postgres")
	b.DB.StopFolding()
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	m, l := payers(t, b, t0, 100, "P1", "P2")
	m2, _ := payers(t, b, t0, 100, "Q1")
	mint(t, b, m, t0, []string{"C1", "C2", "C3", "C4", "C5", "C6"}, func(i int) string { return []string{"P1", "P2"}[i%2] })
	mint(t, b, m2, t0, []string{"D1", "D2"}, func(int) string { return "Q1" })
	type deferred struct {
		key, account string
		amount       int64
	}
	rows := func() []deferred {
		t.Helper()
		rs, err := b.DB.SQL().QueryContext(ctx, `SELECT transfer_key, account_id, amount FROM ledger_deferred ORDER BY transfer_key`)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []deferred
		for rs.Next() {
			var d deferred
			if err := rs.Scan(&d.key, &d.account, &d.amount); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}
	settled := func(mch string) int64 { return storagetest.Must(l.Account(ctx, "settlement:"+mch)).Balance }

	errs, _ := b.DB.ApplyPaymentsTogether([]pay.Payment{decided(m, "P1", "A1", "C1", 10, t0), decided(m, "P2", "A2", "C2", 20, t0),
		decided(m2, "Q1", "B1", "D1", 5, t0), decided(m, "P1", "A3", "C3", 30, t0), decided(m2, "Q1", "B2", "D2", 7, t0)})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	want := []deferred{{"pay:" + m + "/A1", "settlement:" + m, 60}, {"pay:" + m2 + "/B1", "settlement:" + m2, 12}}
	byKey := func(ds []deferred) string {
		slices.SortFunc(ds, func(a, b deferred) int { return strings.Compare(a.key, b.key) })
		return fmt.Sprint(ds)
	}
	if got := rows(); byKey(got) != byKey(want) {
		t.Fatalf("deferred credits of the batch %v, want %v", got, want)
	}
	if s, s2 := settled(m), settled(m2); s != 60 || s2 != 12 {
		t.Fatalf("settlement balances %d and %d, want 60 and 12", s, s2)
	}

	// The second payment's code is used: the batch goes again, each payment's
	// statements its own, and without it.
	errs, _ = b.DB.ApplyPaymentsTogether([]pay.Payment{decided(m, "P2", "A4", "C4", 1, t0), decided(m, "P1", "A5", "C1", 2, t0),
		decided(m, "P1", "A6", "C5", 4, t0)})
	if errs[0] != nil || !errors.Is(errs[1], pay.ErrNotApplied) || errs[2] != nil {
		t.Fatalf("a batch with a used code answered %v, want only the second refused", errs)
	}
	want = append(want[:1:1], deferred{"pay:" + m + "/A4", "settlement:" + m, 1}, deferred{"pay:" + m + "/A6", "settlement:" + m, 4}, want[1])
	if got := rows(); byKey(got) != byKey(want) {
		t.Fatalf("deferred credits after the refusal %v, want %v", got, want)
	}
	if s := settled(m); s != 65 {
		t.Fatalf("settlement balance %d, want 65", s)
	}

	if _, err := b.DB.FoldDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rows(); len(got) != 0 {
		t.Fatalf("deferred credits left after a fold: %v", got)
	}
	if s, s2 := settled(m), settled(m2); s != 65 || s2 != 12 {
		t.Fatalf("settlement balances after the fold %d and %d, want 65 and 12", s, s2)
	}
	balanced(t, b)
}

// While a batch commits, the payments that arrived meanwhile are sent behind it on the
// same connection: each is answered as when sent on its own (a used code refused, the
// rest written), payments whose statements the connection has not prepared yet wait
// for the commit, and when a batch's commit fails, what was sent behind it is in
// doubt: its callers hear an error, and a retry writes each payment once.
func TestPipelineSendsTheNextBatchWhileOneCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := storagetest.Open(t, "postgres")
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	m, l := payers(t, b, t0, 100, "P1", "P2")
	codes := make([]string, 11)
	for i := range codes {
		codes[i] = fmt.Sprintf("C%d", i)
	}
	mint(t, b, m, t0, codes, func(i int) string { return []string{"P1", "P2"}[i%2] })
	pm := func(payer, no string, code int, fee int64) pay.Payment {
		return decided(m, payer, no, codes[code], fee, t0)
	}
	written := func(no string) bool {
		_, found := storagetest.Must2(b.DB.FindOrder(ctx, m, no, ""))
		return found
	}
	wallets := func() (int64, int64) {
		return storagetest.Must(l.Account(ctx, "wallet:P1")).Balance, storagetest.Must(l.Account(ctx, "wallet:P2")).Balance
	}

	// Sent behind: B1's code is A1's, so B1 alone is refused.
	first, behind, _, chained := b.DB.ApplyChained([]pay.Payment{pm("P1", "A1", 0, 10), pm("P2", "A2", 1, 10)}, nil,
		[]pay.Payment{pm("P1", "B1", 0, 5), pm("P2", "B2", 3, 5)})
	if err := errors.Join(first...); err != nil || behind[0] != pay.ErrNotApplied || behind[1] != nil || chained != 1 {
		t.Fatalf("first %v, behind %v, %d sent behind; want nil, [refused nil], 1", first, behind, chained)
	}
	if w1, w2 := wallets(); w1 != 90 || w2 != 85 || written("B1") || !written("B2") {
		t.Fatalf("wallets %d %d (want 90 85), B1 written %v, B2 %v", w1, w2, written("B1"), written("B2"))
	}

	// One payment alone needs statements the two before it did not: it waits.
	first, behind, _, chained = b.DB.ApplyChained([]pay.Payment{pm("P2", "A3", 5, 1), pm("P1", "A4", 4, 1)}, nil,
		[]pay.Payment{pm("P1", "B3", 6, 1)})
	if err := errors.Join(append(first, behind...)...); err != nil || chained != 0 {
		t.Fatalf("answers %v %v, %d sent behind; want all nil, 0", first, behind, chained)
	}

	// The first batch's commit fails (a deferred foreign key): its payments are not
	// written; those sent behind it may have been.
	for _, q := range []string{`CREATE TABLE chain_ref (id INT PRIMARY KEY)`,
		`CREATE TABLE chain_probe (ref INT REFERENCES chain_ref DEFERRABLE INITIALLY DEFERRED)`} {
		if _, err := b.DB.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	behindPs := []pay.Payment{pm("P1", "B5", 8, 1), pm("P2", "B6", 9, 1)}
	first, behind, _, chained = b.DB.ApplyChained([]pay.Payment{pm("P1", "A5", 10, 1), pm("P2", "A6", 7, 1)},
		[]string{`INSERT INTO chain_probe VALUES (1)`}, behindPs)
	if first[0] == nil || first[1] == nil || behind[0] == nil || behind[1] == nil || chained != 1 {
		t.Fatalf("a failed commit answered %v, behind it %v, %d sent behind; want errors, 1", first, behind, chained)
	}
	if written("A5") || written("A6") {
		t.Fatal("a payment of the batch whose commit failed was written")
	}
	for _, p := range behindPs {
		if err := b.DB.ApplyPayment(ctx, p); err != nil && !errors.Is(err, pay.ErrNotApplied) {
			t.Fatalf("retry of %s: %v", p.Order.OutTradeNo, err)
		}
	}
	if w1, w2 := wallets(); w1 != 87 || w2 != 83 || !written("B5") || !written("B6") {
		t.Fatalf("after the retries: wallets %d %d (want 87 83: each payment once), B5 %v, B6 %v", w1, w2, written("B5"), written("B6"))
	}
	balanced(t, b)
}

// A pipeline connection ended while its batch runs, before its commit: the server
// reports it on the statement it was running and runs nothing after, so the batch
// has written nothing and goes again on a new connection. Each payment is written
// once.
func TestPipelineCutMidBatchGoesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := storagetest.Open(t, "postgres")
	t0 := time.Now()
	m, l := payers(t, b, t0, 100, "P1")
	codes := []string{"C0", "C1", "C2"}
	mint(t, b, m, t0, codes, func(int) string { return "P1" })
	var ps []pay.Payment
	for i, code := range codes {
		ps = append(ps, decided(m, "P1", fmt.Sprint("N", i), code, 10, t0))
	}
	// The batch's last write sleeps; the test ends its connection while it does.
	const sleep = "SELECT pg_sleep(0.4) AS openfacepay_test_sleep"
	cut := make(chan int, 1)
	go func() {
		admin := storagetest.Must(sql.Open("pgx", b.Config.URL))
		defer admin.Close()
		for range 200 {
			var n int
			if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE query LIKE '%openfacepay_test_sleep%' AND state = 'active' AND pid <> pg_backend_pid()`).Scan(&n); err == nil && n > 0 {
				cut <- n
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		cut <- 0
	}()
	errs, _ := b.DB.ApplyPaymentsTogether(ps, sleep)
	if n := <-cut; n != 1 {
		t.Fatalf("ended %d connections running the batch, want 1", n)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("a batch cut before its commit answered %v, want it to go again and succeed", err)
	}
	for _, p := range ps {
		if _, found := storagetest.Must2(b.DB.FindOrder(ctx, m, p.Order.OutTradeNo, "")); !found {
			t.Fatalf("order %s was not written", p.Order.OutTradeNo)
		}
	}
	if w := storagetest.Must(l.Account(ctx, "wallet:P1")).Balance; w != 70 {
		t.Fatalf("wallet %d after three payments of 10 from 100, want 70 (each once)", w)
	}
	balanced(t, b)
}

// balanced fails t unless b's ledger balances.
func balanced(t *testing.T, b storagetest.Backend) {
	t.Helper()
	if a := storagetest.Must(b.DB.AuditLedger(context.Background())); !a.Balanced() {
		t.Fatalf("ledger does not balance: %+v", a)
	}
}

// decided is a facepay of fee from payer's wallet to merchant m with code, as a
// charge decides it.
func decided(m, payer, no, code string, fee int64, t0 time.Time) pay.Payment {
	return pay.Payment{
		Order: pay.Order{OwnerMchID: m, OutTradeNo: no, TransactionID: "T-" + no, MchID: m, AppID: "wxA", API: pay.APIFacePay,
			TradeType: "FACEPAY", PayerID: payer, OpenID: "o-" + payer, TotalFee: fee, FeeType: "CNY", Body: "lunch", CredentialHash: code,
			RequestDigest: "d-" + no, State: pay.StateSuccess, CreatedAt: t0, PaidAt: t0, UpdatedAt: t0},
		CodeHash: code, UsedBy: m + "/" + no,
		Transfer: ledger.Transfer{Key: "pay:" + m + "/" + no, Debit: "wallet:" + payer, Credit: "settlement:" + m, Amount: fee, Code: "pay",
			State: ledger.Posted, CreatedAt: t0, UpdatedAt: t0},
	}
}

// payers creates a merchant with its settlement account and, for each of ids, a payer
// and a wallet holding fund; it returns the merchant and its ledger.
func payers(t testing.TB, b storagetest.Backend, t0 time.Time, fund int64, ids ...string) (string, *ledger.Ledger) {
	t.Helper()
	ctx := context.Background()
	m := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{Name: "Canteen"})).MchID
	l := ledger.New(b.DB, clock.NewFake(t0))
	storagetest.Must(l.Open(ctx, "external:bank", ledger.External, true))
	storagetest.Must(l.Open(ctx, "settlement:"+m, ledger.Settlement, false))
	if err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
		for _, id := range ids {
			if err := tx.InsertPayer(ctx, pay.Payer{PayerID: id, CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		w := "wallet:" + id
		storagetest.Must(l.Open(ctx, w, ledger.Wallet, false))
		storagetest.Must(l.Transfer(ctx, ledger.Request{Key: "fund:" + w, Debit: "external:bank", Credit: w, Amount: fund, Code: "topup"}))
	}
	return m, l
}

// mint inserts unused face codes of merchant m, the i-th for payer(i), a thousand a
// transaction.
func mint(t testing.TB, b storagetest.Backend, m string, t0 time.Time, codes []string, payer func(i int) string) {
	t.Helper()
	ctx := context.Background()
	for lo := 0; lo < len(codes); lo += 1000 {
		if err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
			for i := lo; i < min(len(codes), lo+1000); i++ {
				c := pay.Credential{Hash: codes[i], Kind: pay.FaceCode, PayerID: payer(i), MchID: m, AppID: "wxA", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
				if err := tx.InsertCredential(ctx, c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
