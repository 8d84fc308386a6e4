package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// A code this store minted is known to its next charge without a read, only once
// its mint committed; an entry made stale by another process never lets a used code
// pay again: the write's guard refuses it and nothing is written.
func TestMintedCodesFromTheCache(t *testing.T) {
	storagetest.Each(t, testMintedCodesFromTheCache)
}

func testMintedCodesFromTheCache(t *testing.T, b storagetest.Backend) {
	ctx := context.Background()
	m := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{Name: "Codes"})).MchID
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// Hashes as pay makes them: the cache holds only those.
	c1, c2 := pay.HashCode("C1"), pay.HashCode("C2")
	code := func(hash string) pay.Credential {
		return pay.Credential{Hash: hash, Kind: pay.FaceCode, PayerID: "P1", MchID: m, AppID: "wxA", DeviceID: "D1",
			AuthInfoHash: "AI", ExpiresAt: t0.Add(2 * time.Minute).Add(123 * time.Nanosecond), CreatedAt: t0}
	}
	err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
		if err := tx.InsertPayer(ctx, pay.Payer{PayerID: "P1", CreatedAt: t0}); err != nil {
			return err
		}
		return tx.InsertCredential(ctx, code(c1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if !b.DB.CodeCached(c1) {
		t.Fatal("a code this store minted is not cached")
	}
	state := func(hash string) pay.MerchantState {
		t.Helper()
		return storagetest.Must(b.DB.MerchantState(ctx, m, pay.APIFacePay, pay.Also{CodeHash: hash}))
	}
	// With the merchant's state cached, the code comes from the cache and reads as the
	// row does (times to the microsecond).
	warmState(t, b.DB, m, pay.APIFacePay)
	cached0, read0 := b.DB.CodeLookups()
	if st := state(c1); !st.CodeFound || st.Code.UsedBy != "" || st.Code.DeviceID != "D1" ||
		!st.Code.ExpiresAt.Equal(t0.Add(2*time.Minute)) || st.Code.ExpiresAt.Location() != time.UTC {
		t.Fatalf("cached code: %+v", st.Code)
	}
	// The lookups are counted, so `bench pay` can tell how many charges read their code.
	if cached, read := b.DB.CodeLookups(); cached != cached0+1 || read != read0 {
		t.Fatalf("after a cached code: %d cached, %d read; want %d and %d", cached, read, cached0+1, read0)
	}

	// A mint that rolled back is not known.
	errNo := errors.New("changed my mind")
	if err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
		if err := tx.InsertCredential(ctx, code(c2)); err != nil {
			return err
		}
		return errNo
	}); !errors.Is(err, errNo) {
		t.Fatal(err)
	}
	if b.DB.CodeCached(c2) || state(c2).CodeFound {
		t.Fatal("a code whose mint rolled back is known")
	}
	if cached, read := b.DB.CodeLookups(); cached != cached0+1 || read != read0+1 {
		t.Fatalf("after a code read: %d cached, %d read; want %d and %d", cached, read, cached0+1, read0+1)
	}

	// Another process uses C1: this store's entry is stale and still says unused.
	other := storagetest.Must(b.Reopen(ctx, storagetest.TestSealer(t)))
	defer other.Close()
	if err := other.InPayTx(ctx, func(tx pay.Tx) error {
		_, claimed, err := tx.ClaimCredential(ctx, c1, m+"/O1")
		if err == nil && !claimed {
			t.Fatal("the other process could not claim C1")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	warmState(t, b.DB, m, pay.APIFacePay)
	if st := state(c1); !b.DB.CodeCached(c1) || st.Code.UsedBy != "" {
		t.Fatalf("expected the stale entry to be served: %+v", st.Code)
	}
	// A charge decided on it is refused by the claim's guard and writes nothing.
	o := pay.Order{OwnerMchID: m, OutTradeNo: "O2", TransactionID: "T-O2", MchID: m, AppID: "wxA", API: pay.APIFacePay,
		TradeType: "FACEPAY", PayerID: "P1", TotalFee: 10, FeeType: "CNY", Body: "lunch", CredentialHash: c1,
		State: pay.StateSuccess, CreatedAt: t0, PaidAt: t0, UpdatedAt: t0}
	err = b.DB.ApplyPayment(ctx, pay.Payment{Order: o, CodeHash: c1, UsedBy: m + "/O2", Transfer: ledger.Transfer{
		Key: "pay:" + m + "/O2", Debit: "wallet:P1", Credit: "settle:" + m, Amount: 10, Code: "pay", State: ledger.Posted,
		CreatedAt: t0, UpdatedAt: t0}})
	if !errors.Is(err, pay.ErrNotApplied) {
		t.Fatalf("a payment with a code another process used: %v, want ErrNotApplied", err)
	}
	if _, found, err := b.DB.FindOrder(ctx, m, "O2", ""); err != nil || found {
		t.Fatalf("the refused payment wrote its order (found=%v, %v)", found, err)
	}
	// The attempt forgot the entry: the next read finds the code used.
	if st := state(c1); b.DB.CodeCached(c1) || st.Code.UsedBy != m+"/O1" {
		t.Fatalf("after the refused charge: cached=%v, %+v", b.DB.CodeCached(c1), st.Code)
	}
}
