package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
)

func newLedger(t *testing.T, b Backend) *ledger.Ledger {
	return ledger.New(b.DB, clock.NewFake(t0))
}

// fund opens a wallet and tops it up from the outside world.
func fund(t *testing.T, l *ledger.Ledger, id string, amount int64) {
	t.Helper()
	ctx := context.Background()
	Must(l.Open(ctx, "external:bank", ledger.External, true))
	Must(l.Open(ctx, id, ledger.Wallet, false))
	if amount > 0 {
		Must(l.Transfer(ctx, ledger.Request{Key: "topup:" + id, Debit: "external:bank", Credit: id, Amount: amount, Code: "topup"}))
	}
}

func balance(t *testing.T, l *ledger.Ledger, id string) ledger.Account {
	t.Helper()
	return Must(l.Account(context.Background(), id))
}

func audit(t *testing.T, b Backend) ledger.Audit {
	t.Helper()
	a := Must(b.DB.AuditLedger(context.Background()))
	if !a.Balanced() {
		t.Fatalf("ledger does not balance: %+v", a)
	}
	return a
}

// testLedgerDeferredCredit: a credit to a collecting account that asks to be deferred
// reads the same on every backend, before and after a fold. PostgreSQL keeps it beside
// the account until the fold, so concurrent commits do not queue on the account's row;
// SQLite, whose one writer commits a batch as one transaction, credits the row at once
// and writes no deferred row.
func testLedgerDeferredCredit(t *testing.T, b Backend) {
	ctx := context.Background()
	stopFolding(t, b)
	l := newLedger(t, b)
	fund(t, l, "wallet:d1", 1000)
	Must(l.Open(ctx, "settlement:d1", ledger.Settlement, false))
	for i, amount := range []int64{120, 80} {
		Must(l.Transfer(ctx, ledger.Request{Key: fmt.Sprintf("pay:d%d", i), Debit: "wallet:d1", Credit: "settlement:d1",
			Amount: amount, Code: "pay", DeferCredit: true}))
	}
	wantCredited(t, b, "settlement:d1", 200, 2)
	if a := balance(t, l, "settlement:d1"); a.Balance != 200 {
		t.Fatalf("settlement balance %d before the fold, want 200", a.Balance)
	}
	if _, err := b.DB.FoldDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if row, deferred := credited(t, b, "settlement:d1"); row != 200 || deferred != 0 {
		t.Fatalf("after the fold the row holds %d with %d deferred credits beside it, want 200 and 0", row, deferred)
	}
	if a := balance(t, l, "settlement:d1"); a.Balance != 200 {
		t.Fatalf("settlement balance %d after the fold, want 200", a.Balance)
	}
	audit(t, b)
}

// stopFolding stops the store's background folds (each second), so that a test sees
// deferred credits where they are until it folds them itself. The sqlstore tests,
// which run this suite, give the store the method.
func stopFolding(t *testing.T, b Backend) {
	t.Helper()
	s, ok := any(b.DB).(interface{ StopFolding() })
	if !ok {
		t.Fatal("the store cannot stop its folds; run the suite from the sqlstore tests")
	}
	s.StopFolding()
}

// credited is what account id's row holds and how many deferred credits are beside it.
func credited(t *testing.T, b Backend, id string) (row int64, deferred int) {
	t.Helper()
	ctx := context.Background()
	if err := b.DB.SQL().QueryRowContext(ctx, b.DB.Rebind(`SELECT balance FROM ledger_accounts WHERE id = ?`), id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.SQL().QueryRowContext(ctx, b.DB.Rebind(`SELECT COUNT(*) FROM ledger_deferred WHERE account_id = ?`), id).Scan(&deferred); err != nil {
		t.Fatal(err)
	}
	return row, deferred
}

// wantCredited checks where n deferred credits to collecting account id, sum in all,
// are before a fold: beside its row on PostgreSQL, in it on SQLite.
func wantCredited(t *testing.T, b Backend, id string, sum int64, n int) {
	t.Helper()
	wantRow, wantDeferred := int64(0), n
	if b.Name == "sqlite" {
		wantRow, wantDeferred = sum, 0
	}
	if row, deferred := credited(t, b, id); row != wantRow || deferred != wantDeferred {
		t.Fatalf("%s: %s's row holds %d with %d deferred credits beside it, want %d and %d", b.Name, id, row, deferred, wantRow, wantDeferred)
	}
}

func testLedgerBasics(t *testing.T, b Backend) {
	ctx := context.Background()
	l := newLedger(t, b)
	fund(t, l, "wallet:p1", 1000)
	Must(l.Open(ctx, "settlement:m1", ledger.Settlement, false))
	if _, err := l.Open(ctx, "settlement:m1", ledger.Wallet, false); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("reopen with another kind: %v, want Conflict", err)
	}
	Must(l.Transfer(ctx, ledger.Request{Key: "pay:1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 300, Code: "pay"}))
	if a := balance(t, l, "wallet:p1"); a.Balance != 700 {
		t.Fatalf("wallet balance %d, want 700", a.Balance)
	}
	if a := balance(t, l, "settlement:m1"); a.Balance != 300 {
		t.Fatalf("settlement balance %d, want 300", a.Balance)
	}
	bad := []struct {
		name string
		r    ledger.Request
		code errcode.Code
	}{
		{"zero", ledger.Request{Key: "b1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 0, Code: "pay"}, errcode.Invalid},
		{"negative", ledger.Request{Key: "b2", Debit: "wallet:p1", Credit: "settlement:m1", Amount: -5, Code: "pay"}, errcode.Invalid},
		{"same account", ledger.Request{Key: "b3", Debit: "wallet:p1", Credit: "wallet:p1", Amount: 5, Code: "pay"}, errcode.Invalid},
		{"no key", ledger.Request{Debit: "wallet:p1", Credit: "settlement:m1", Amount: 5, Code: "pay"}, errcode.Invalid},
		{"unknown debit", ledger.Request{Key: "b4", Debit: "wallet:nobody", Credit: "settlement:m1", Amount: 5, Code: "pay"}, errcode.NotFound},
		{"unknown credit", ledger.Request{Key: "b5", Debit: "wallet:p1", Credit: "settlement:nobody", Amount: 5, Code: "pay"}, errcode.NotFound},
		{"overdraft", ledger.Request{Key: "b6", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 701, Code: "pay"}, errcode.InsufficientFunds},
	}
	for _, c := range bad {
		if _, err := l.Transfer(ctx, c.r); !errcode.Is(err, c.code) {
			t.Errorf("%s: err = %v, want %s", c.name, err, c.code)
		}
	}
	if a := balance(t, l, "wallet:p1"); a.Balance != 700 {
		t.Fatalf("a refused transfer changed the wallet: %d", a.Balance)
	}
	a := audit(t, b)
	if a.Transfers != 2 {
		t.Fatalf("%d transfers stored, want 2 (refused ones leave nothing)", a.Transfers)
	}
}

func testLedgerIdempotency(t *testing.T, b Backend) {
	ctx := context.Background()
	l := newLedger(t, b)
	fund(t, l, "wallet:p1", 1000)
	Must(l.Open(ctx, "settlement:m1", ledger.Settlement, false))
	r := ledger.Request{Key: "pay:T1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 250, Code: "pay"}
	first := Must(l.Transfer(ctx, r))
	// 20 concurrent retries of the same request: one transfer, the same answer each time.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := l.Transfer(ctx, r)
			if err != nil || got.Key != first.Key || got.Amount != first.Amount || got.State != ledger.Posted || !got.CreatedAt.Equal(first.CreatedAt) {
				t.Errorf("retry: %+v, %v", got, err)
			}
		}()
	}
	wg.Wait()
	for _, changed := range []ledger.Request{
		{Key: "pay:T1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 251, Code: "pay"},
		{Key: "pay:T1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 250, Code: "refund"},
		{Key: "pay:T1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 250, Code: "pay", Pending: true},
	} {
		if _, err := l.Transfer(ctx, changed); !errcode.Is(err, errcode.Conflict) {
			t.Errorf("key reused with other content %+v: %v, want Conflict", changed, err)
		}
	}
	if a := balance(t, l, "wallet:p1"); a.Balance != 750 {
		t.Fatalf("wallet %d after retries, want 750: a retry charged twice", a.Balance)
	}
	// A caller that wrongly calls a used key fresh skips the lookup, but the unique key
	// still refuses it, and its transaction leaves no money moved.
	err := b.DB.InLedgerTx(ctx, func(s ledger.Store) error {
		fresh := r
		fresh.Fresh = true
		_, err := ledger.Apply(ctx, s, t0, fresh)
		return err
	})
	if !errors.Is(err, ledger.ErrDuplicateKey) {
		t.Fatalf("fresh transfer under a used key: %v, want ErrDuplicateKey", err)
	}
	if a := balance(t, l, "wallet:p1"); a.Balance != 750 {
		t.Fatalf("wallet %d after a refused fresh transfer, want 750", a.Balance)
	}
	audit(t, b)
}

func testLedgerTwoPhase(t *testing.T, b Backend) {
	ctx := context.Background()
	l := newLedger(t, b)
	fund(t, l, "wallet:p1", 1000)
	Must(l.Open(ctx, "settlement:m1", ledger.Settlement, false))
	hold := ledger.Request{Key: "pay:H1", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 600, Code: "pay", Pending: true}
	Must(l.Transfer(ctx, hold))
	w := balance(t, l, "wallet:p1")
	if w.Balance != 1000 || w.PendingDebits != 600 || w.Available() != 400 {
		t.Fatalf("after hold: %+v", w)
	}
	// The held amount is not spendable twice.
	if _, err := l.Transfer(ctx, ledger.Request{Key: "pay:H2", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 401, Code: "pay", Pending: true}); !errcode.Is(err, errcode.InsufficientFunds) {
		t.Fatalf("second hold beyond available: %v", err)
	}
	audit(t, b)
	if p := Must(l.Post(ctx, "pay:H1")); p.State != ledger.Posted {
		t.Fatalf("post: %+v", p)
	}
	if p := Must(l.Post(ctx, "pay:H1")); p.State != ledger.Posted {
		t.Fatalf("post again: %+v", p)
	}
	if _, err := l.Void(ctx, "pay:H1"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("void of posted: %v, want Conflict", err)
	}
	if replay := Must(l.Transfer(ctx, hold)); replay.State != ledger.Posted {
		t.Fatalf("replaying the hold after post gave %+v", replay)
	}
	w = balance(t, l, "wallet:p1")
	if w.Balance != 400 || w.PendingDebits != 0 {
		t.Fatalf("after post: %+v", w)
	}
	Must(l.Transfer(ctx, ledger.Request{Key: "pay:H3", Debit: "wallet:p1", Credit: "settlement:m1", Amount: 100, Code: "pay", Pending: true}))
	Must(l.Void(ctx, "pay:H3"))
	Must(l.Void(ctx, "pay:H3"))
	if _, err := l.Post(ctx, "pay:H3"); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("post of voided: %v, want Conflict", err)
	}
	if _, err := l.Post(ctx, "pay:none"); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("post of unknown: %v, want NotFound", err)
	}
	w = balance(t, l, "wallet:p1")
	if w.Balance != 400 || w.PendingDebits != 0 || balance(t, l, "settlement:m1").PendingCredits != 0 {
		t.Fatalf("after void: %+v", w)
	}
	audit(t, b)
}

func testLedgerNoOverdraft(t *testing.T, b Backend) {
	ctx := context.Background()
	l := newLedger(t, b)
	fund(t, l, "wallet:p1", 1000)
	Must(l.Open(ctx, "settlement:m1", ledger.Settlement, false))
	Must(l.Open(ctx, "settlement:m2", ledger.Settlement, false))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, poor int
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			credit := "settlement:m1"
			if i%2 == 1 {
				credit = "settlement:m2"
			}
			_, err := l.Transfer(ctx, ledger.Request{Key: fmt.Sprintf("pay:%d", i), Debit: "wallet:p1", Credit: credit, Amount: 100, Code: "pay", Pending: i%3 == 0})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errcode.Is(err, errcode.InsufficientFunds):
				poor++
			default:
				t.Errorf("transfer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 || poor != 30 {
		t.Fatalf("%d transfers succeeded and %d were refused; want exactly 10 and 30", ok, poor)
	}
	if w := balance(t, l, "wallet:p1"); w.Available() != 0 {
		t.Fatalf("wallet available %d, want 0", w.Available())
	}
	audit(t, b)
}

// testLedgerProperty runs random concurrent sequences of transfers, holds, posts, voids
// and retries, then checks the invariants: everything balances, no account that may not
// go negative did, every stored balance equals its transfers, and every key that was
// answered maps to exactly one transfer with the content first asked for.
func testLedgerProperty(t *testing.T, b Backend) {
	ctx := context.Background()
	l := newLedger(t, b)
	const wallets, workers, opsPerWorker = 6, 6, 40
	for i := range wallets {
		fund(t, l, fmt.Sprintf("wallet:%d", i), int64(500+i*100))
	}
	for _, m := range []string{"settlement:a", "settlement:b"} {
		Must(l.Open(ctx, m, ledger.Settlement, false))
	}
	Must(l.Open(ctx, "advance:pool", ledger.Advance, true))
	accounts := []string{"settlement:a", "settlement:b", "advance:pool"}
	for i := range wallets {
		accounts = append(accounts, fmt.Sprintf("wallet:%d", i))
	}

	var (
		mu       sync.Mutex
		answered = map[string]ledger.Request{} // key -> the request that created it
		holds    []string
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 0x5eed))
			for i := range opsPerWorker {
				switch op := rng.IntN(10); {
				case op < 6: // a transfer, posted or held, sent one to three times
					r := ledger.Request{
						Key:     fmt.Sprintf("k:%d:%d", w, i),
						Debit:   accounts[rng.IntN(len(accounts))],
						Credit:  accounts[rng.IntN(len(accounts))],
						Amount:  int64(1 + rng.IntN(300)),
						Code:    "prop",
						Pending: rng.IntN(3) == 0,
						// Deferred credits and folds, physical choices, must not change a figure.
						DeferCredit: rng.IntN(2) == 0,
						FoldDebit:   rng.IntN(2) == 0,
					}
					if r.Debit == r.Credit {
						continue
					}
					var first ledger.Transfer
					for try := range 1 + rng.IntN(3) {
						got, err := l.Transfer(ctx, r)
						if err != nil {
							if !errcode.Is(err, errcode.InsufficientFunds) {
								t.Errorf("transfer %s: %v", r.Key, err)
							}
							break
						}
						if try == 0 {
							first = got
							mu.Lock()
							answered[r.Key] = r
							if r.Pending {
								holds = append(holds, r.Key)
							}
							mu.Unlock()
						} else if got.Key != first.Key || got.Amount != first.Amount || !got.CreatedAt.Equal(first.CreatedAt) {
							t.Errorf("retry of %s answered differently: %+v vs %+v", r.Key, got, first)
						}
					}
				case op < 8: // settle somebody's hold, maybe twice, maybe the wrong way
					mu.Lock()
					if len(holds) == 0 {
						mu.Unlock()
						continue
					}
					key := holds[rng.IntN(len(holds))]
					mu.Unlock()
					settle := l.Post
					if rng.IntN(2) == 0 {
						settle = l.Void
					}
					if _, err := settle(ctx, key); err != nil && !errcode.Is(err, errcode.Conflict) {
						t.Errorf("settle %s: %v", key, err)
					}
				default: // reuse a key with other content: must be refused, change nothing
					mu.Lock()
					var key string
					var r ledger.Request
					for key, r = range answered {
						break
					}
					mu.Unlock()
					if key == "" {
						continue
					}
					r.Amount++
					if _, err := l.Transfer(ctx, r); !errcode.Is(err, errcode.Conflict) {
						t.Errorf("reuse of %s with other content: %v, want Conflict", key, err)
					}
				}
			}
		}()
	}
	// Folds run all the while, as the store's own folder does.
	stopFold, folded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(folded)
		for {
			select {
			case <-stopFold:
				return
			default:
			}
			if _, err := b.DB.FoldDeferred(ctx); err != nil {
				t.Errorf("fold: %v", err)
				return
			}
		}
	}()
	wg.Wait()
	close(stopFold)
	<-folded

	a := audit(t, b)
	before := map[string]int64{}
	for _, id := range accounts {
		before[id] = balance(t, l, id).Balance
	}
	if _, err := b.DB.FoldDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := b.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_deferred`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d deferred credits left after a fold (%v)", left, err)
	}
	for _, id := range accounts {
		if got := balance(t, l, id).Balance; got != before[id] {
			t.Fatalf("%s: balance %d after folding, %d before", id, got, before[id])
		}
	}
	audit(t, b)
	if a.Transfers != int64(len(answered))+wallets {
		t.Fatalf("%d transfers stored, %d answered (+%d top-ups): a transfer was applied twice or lost", a.Transfers, len(answered), wallets)
	}
	err := b.DB.InLedgerTx(ctx, func(s ledger.Store) error {
		for key, r := range answered {
			tr, found, err := s.TransferByKey(ctx, key)
			if err != nil {
				return err
			}
			if !found || tr.Debit != r.Debit || tr.Credit != r.Credit || tr.Amount != r.Amount || tr.TwoPhase != r.Pending {
				return fmt.Errorf("transfer %s stored as %+v, asked %+v", key, tr, r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = time.Second
}
