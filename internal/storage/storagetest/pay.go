package storagetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// testCredentialClaim: a credential is claimed once, by one of many concurrent
// claimers; a claim of a used or unknown credential changes nothing; a claim in a
// transaction that rolls back leaves the credential unused.
var errRollback = errors.New("roll back")

func testCredentialClaim(t *testing.T, b Backend) {
	ctx := context.Background()
	err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
		if err := tx.InsertPayer(ctx, pay.Payer{PayerID: "P1", CreatedAt: t0}); err != nil {
			return err
		}
		for _, h := range []string{"H1", "H2"} {
			if err := tx.InsertCredential(ctx, pay.Credential{Hash: h, Kind: pay.PayCode, PayerID: "P1", ExpiresAt: t0.Add(60e9), CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(hash, by string, fail bool) (pay.Credential, bool) {
		var (
			c  pay.Credential
			ok bool
		)
		err := b.DB.InPayTx(ctx, func(tx pay.Tx) (err error) {
			if c, ok, err = tx.ClaimCredential(ctx, hash, by); err != nil {
				return err
			}
			if fail {
				return errRollback
			}
			return nil
		})
		if err != nil && err != errRollback {
			t.Fatal(err)
		}
		return c, ok
	}
	if _, ok := claim("H1", "m/rolled-back", true); !ok {
		t.Fatal("first claim (rolled back) did not claim")
	}
	var (
		wins atomic.Int32
		wg   sync.WaitGroup
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, ok := claim("H1", "m/"+string(rune('a'+i)), false); ok {
				wins.Add(1)
				if c.PayerID != "P1" || c.Kind != pay.PayCode || c.UsedBy != "m/"+string(rune('a'+i)) {
					t.Errorf("claimed credential read back as %+v", c)
				}
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent claims won, want exactly 1", wins.Load())
	}
	if _, ok := claim("NOPE", "m/x", false); ok {
		t.Fatal("an unknown credential was claimed")
	}
	var c2 pay.Credential
	_ = b.DB.InPayTx(ctx, func(tx pay.Tx) (err error) {
		c2, _, err = tx.Credential(ctx, "H2")
		return err
	})
	if c2.UsedBy != "" {
		t.Fatalf("an unclaimed credential reads as used by %q", c2.UsedBy)
	}
}

// testGuardedPayment: a decided payment is written whole or not at all. It is not
// written when its code is used or unknown, its order number exists or its wallet is
// short, whether the other side of the race is in the same batch or committed before;
// concurrent payments from one wallet never overdraw it; the ledger balances.
func testGuardedPayment(t *testing.T, b Backend) {
	ctx := context.Background()
	stopFolding(t, b) // a fold between the payment and wantCredited would move its credit
	tenants, _ := newTenants(b)
	m := Must(tenants.Create(ctx, tenant.NewMerchant{Name: "Canteen"})).MchID
	l := newLedger(t, b)
	fund(t, l, "wallet:P1", 50)
	Must(l.Open(ctx, "settlement:"+m, ledger.Settlement, false))
	err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
		if err := tx.InsertPayer(ctx, pay.Payer{PayerID: "P1", CreatedAt: t0}); err != nil {
			return err
		}
		for i := range 20 {
			c := pay.Credential{Hash: fmt.Sprintf("C%02d", i), Kind: pay.FaceCode, PayerID: "P1", MchID: m, AppID: "wxA", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
			if err := tx.InsertCredential(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	payment := func(no, code string, fee int64) pay.Payment {
		return pay.Payment{
			Order: pay.Order{OwnerMchID: m, OutTradeNo: no, TransactionID: "T-" + no, MchID: m, AppID: "wxA", API: pay.APIFacePay,
				TradeType: "FACEPAY", PayerID: "P1", OpenID: "o1", TotalFee: fee, FeeType: "CNY", Body: "lunch", CredentialHash: code,
				RequestDigest: "d-" + no, State: pay.StateSuccess, CreatedAt: t0, PaidAt: t0, UpdatedAt: t0},
			CodeHash: code, UsedBy: m + "/" + no,
			Transfer: ledger.Transfer{Key: "pay:" + m + "/" + no, Debit: "wallet:P1", Credit: "settlement:" + m, Amount: fee, Code: "pay",
				State: ledger.Posted, CreatedAt: t0, UpdatedAt: t0},
		}
	}
	written := func(no string) bool {
		_, found := Must2(b.DB.FindOrder(ctx, m, no, ""))
		return found
	}
	usedBy := func(code string) string { return CodeUsedBy(t, b, code) }
	// The merchant's state brings the code along, as the decision reads it.
	st := Must(b.DB.MerchantState(ctx, m, pay.APIFacePay, pay.Also{CodeHash: "C00"}))
	if !st.Found || !st.CodeFound || st.Code.PayerID != "P1" || st.Code.MchID != m || st.Code.UsedBy != "" || !st.Code.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("merchant state with its code: %+v", st)
	}
	if st := Must(b.DB.MerchantState(ctx, m, pay.APIFacePay, pay.Also{CodeHash: "NOPE"})); !st.Found || st.CodeFound {
		t.Fatalf("merchant state with an unknown code: %+v", st)
	}
	if st := Must(b.DB.MerchantState(ctx, "1999999999", pay.APIFacePay, pay.Also{CodeHash: "C00"})); st.Found || st.CodeFound {
		t.Fatalf("unknown merchant's state: %+v", st)
	}
	if err := b.DB.ApplyPayment(ctx, payment("O1", "C00", 10)); err != nil {
		t.Fatal(err)
	}
	wantCredited(t, b, "settlement:"+m, 10, 1)
	if st := Must(b.DB.MerchantState(ctx, m, pay.APIFacePay, pay.Also{CodeHash: "C00"})); st.Code.UsedBy != m+"/O1" {
		t.Fatalf("a used code reads as used by %q", st.Code.UsedBy)
	}
	// ... and the order, by either of its numbers, and only its owner's.
	for _, also := range []pay.Also{{Owner: m, OutTradeNo: "O1"}, {Owner: m, TransactionID: "T-O1"}, {Owner: m, OutTradeNo: "O1", TransactionID: "T-O1"}} {
		st := Must(b.DB.MerchantState(ctx, m, "orderquery", also))
		want, _ := Must2(b.DB.FindOrder(ctx, m, "O1", ""))
		if !st.OrderFound || st.CodeFound || st.Order != want || st.Order.TotalFee != 10 || !st.Order.PaidAt.Equal(t0) || !st.Order.DecideBy.IsZero() {
			t.Fatalf("merchant state with the order (%+v): %+v", also, st)
		}
	}
	for _, also := range []pay.Also{{Owner: "1999999999", OutTradeNo: "O1"}, {Owner: m, OutTradeNo: "O9"}, {Owner: m, TransactionID: "T-O9"}, {}} {
		if st := Must(b.DB.MerchantState(ctx, m, "orderquery", also)); !st.Found || st.OrderFound {
			t.Fatalf("merchant state with an order that is not there (%+v): %+v", also, st)
		}
	}
	if !written("O1") || usedBy("C00") != m+"/O1" || balance(t, l, "wallet:P1").Balance != 40 || balance(t, l, "settlement:"+m).Balance != 10 {
		t.Fatalf("applied payment: order %v, code used by %q, wallet %d, settlement %d",
			written("O1"), usedBy("C00"), balance(t, l, "wallet:P1").Balance, balance(t, l, "settlement:"+m).Balance)
	}
	refusals := []struct {
		name string
		p    pay.Payment
		code string // must stay unused
	}{
		{"used code", payment("O2", "C00", 10), ""},
		{"unknown code", payment("O3", "NOPE", 10), ""},
		{"order number taken", payment("O1", "C01", 10), "C01"},
		{"wallet short", payment("O4", "C02", 41), "C02"},
	}
	for _, r := range refusals {
		if err := b.DB.ApplyPayment(ctx, r.p); !errors.Is(err, pay.ErrNotApplied) {
			t.Fatalf("%s: %v, want ErrNotApplied", r.name, err)
		}
		if r.p.Order.OutTradeNo != "O1" && written(r.p.Order.OutTradeNo) {
			t.Fatalf("%s: the order was written", r.name)
		}
		if r.code != "" && usedBy(r.code) != "" {
			t.Fatalf("%s: the code was claimed", r.name)
		}
	}
	// Concurrently: 8 payments of 10 from the 40 left, each with its own code; then 4
	// payments racing for one code. The writes of one batch see each other.
	if n := applyRacing(t, 8, func(i int) error {
		return b.DB.ApplyPayment(ctx, payment(fmt.Sprintf("R%d", i), fmt.Sprintf("C%02d", 3+i), 10))
	}); n != 4 {
		t.Fatalf("%d of 8 payments of 10 fen from 40 applied, want 4", n)
	}
	if w := balance(t, l, "wallet:P1"); w.Balance != 0 {
		t.Fatalf("wallet holds %d after spending it all", w.Balance)
	}
	Must(l.Transfer(ctx, ledger.Request{Key: "topup2", Debit: "external:bank", Credit: "wallet:P1", Amount: 5, Code: "topup"}))
	if n := applyRacing(t, 4, func(i int) error { return b.DB.ApplyPayment(ctx, payment(fmt.Sprintf("S%d", i), "C19", 1)) }); n != 1 {
		t.Fatalf("%d of 4 payments sharing one code applied, want 1", n)
	}
	if w, s := balance(t, l, "wallet:P1"), balance(t, l, "settlement:"+m); w.Balance != 4 || s.Balance != 51 {
		t.Fatalf("wallet %d, settlement %d; want 4 and 51", w.Balance, s.Balance)
	}
	if b.Name == "postgres" {
		// The pipeline's connection is cut between batches: the next batch finds it broken
		// before anything was committed and goes again on a new one, once.
		cutPipeline(t, b)
		if err := b.DB.ApplyPayment(ctx, payment("X1", "C18", 1)); err != nil {
			t.Fatalf("the payment after a cut connection: %v", err)
		}
		if !written("X1") || usedBy("C18") != m+"/X1" || balance(t, l, "wallet:P1").Balance != 3 {
			t.Fatalf("after a cut connection: order %v, code used by %q, wallet %d", written("X1"), usedBy("C18"), balance(t, l, "wallet:P1").Balance)
		}
	}
	audit(t, b)
}

// applyRacing runs n guarded writes at once and counts those applied; a write may
// otherwise only answer pay.ErrNotApplied.
func applyRacing(t *testing.T, n int, apply func(i int) error) int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		applied atomic.Int32
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := apply(i); {
			case err == nil:
				applied.Add(1)
			case !errors.Is(err, pay.ErrNotApplied):
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	return int(applied.Load())
}

// cutPipeline ends the server side of the store's pipeline connection.
func cutPipeline(t *testing.T, b Backend) {
	t.Helper()
	u, err := url.Parse(b.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", b.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		strings.TrimSpace(sqlstore.PipelineApp+" "+u.Query().Get("search_path"))).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("cut %d pipeline connections (%v), want 1", n, err)
	}
}

// CodeUsedBy is what the credential with hash code says used it ("" while unused).
func CodeUsedBy(t testing.TB, b Backend, code string) string {
	t.Helper()
	var c pay.Credential
	if err := b.DB.InPayTx(context.Background(), func(tx pay.Tx) (err error) {
		c, _, err = tx.Credential(context.Background(), code)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c.UsedBy
}
