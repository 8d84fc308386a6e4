package sqlstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

const apiOrderQuery = "orderquery"

// A merchant's state (test clock, password threshold, whether a fault rule waits)
// comes from the merchant cache once read, and only the code and the order are read
// beside it. The cached path answers exactly as the full read does; a change made
// through the store is seen by its next read, and one made by another process
// reaches the cache.
func TestMerchantStateFromTheCache(t *testing.T) {
	storagetest.Each(t, testMerchantStateFromTheCache)
}

func testMerchantStateFromTheCache(t *testing.T, b storagetest.Backend) {
	ctx := context.Background()
	m := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{Name: "State"})).MchID
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	err := b.DB.InPayTx(ctx, func(tx pay.Tx) error {
		if err := tx.InsertPayer(ctx, pay.Payer{PayerID: "P1", CreatedAt: t0}); err != nil {
			return err
		}
		c := pay.Credential{Hash: "C1", Kind: pay.FaceCode, PayerID: "P1", MchID: m, AppID: "wxA", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
		if err := tx.InsertCredential(ctx, c); err != nil {
			return err
		}
		return tx.InsertOrder(ctx, pay.Order{OwnerMchID: m, OutTradeNo: "O1", TransactionID: "T-O1", MchID: m, AppID: "wxA",
			API: pay.APIFacePay, TradeType: "FACEPAY", PayerID: "P1", TotalFee: 10, FeeType: "CNY", Body: "lunch", CredentialHash: "C1",
			State: pay.StateSuccess, CreatedAt: t0, PaidAt: t0, UpdatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	other := storagetest.Must(b.Reopen(ctx, storagetest.TestSealer(t)))
	defer other.Close()

	state := func(api string, also pay.Also) pay.MerchantState {
		t.Helper()
		return storagetest.Must(b.DB.MerchantState(ctx, m, api, also))
	}
	warm := func(api string) {
		t.Helper()
		warmState(t, b.DB, m, api)
	}

	// The cached path reads what the full read reads: the code, the order by either
	// number and only its owner's, nothing for unknown ones.
	warm(pay.APIFacePay)
	for _, also := range []pay.Also{
		{CodeHash: "C1", Owner: m, OutTradeNo: "O1"}, {CodeHash: "C1"}, {CodeHash: "NOPE", Owner: m, TransactionID: "T-O1"},
		{Owner: m, OutTradeNo: "O1"}, {Owner: m, TransactionID: "T-O1"}, {Owner: m, OutTradeNo: "O1", TransactionID: "T-O1"},
		{Owner: "1999999999", OutTradeNo: "O1"}, {Owner: m, OutTradeNo: "O9"}, {Owner: m, TransactionID: "T-O9"}, {},
	} {
		b.DB.DropCached(m)
		full := state(pay.APIFacePay, also)
		if !b.DB.StateCached(m, pay.APIFacePay) {
			t.Fatalf("%+v: the full read did not store the state", also)
		}
		if cached := state(pay.APIFacePay, also); !reflect.DeepEqual(cached, full) {
			t.Fatalf("%+v: from the cache %+v, full read %+v", also, cached, full)
		}
		wantCode, wantOrder := also.CodeHash == "C1", also.Owner == m && (also.OutTradeNo == "O1" || also.TransactionID == "T-O1")
		if !full.Found || full.CodeFound != wantCode || full.OrderFound != wantOrder ||
			wantOrder && (full.Order.OutTradeNo != "O1" || full.Order.TotalFee != 10 || !full.Order.PaidAt.Equal(t0)) ||
			wantCode && (full.Code.PayerID != "P1" || !full.Code.ExpiresAt.Equal(t0.Add(time.Hour))) {
			t.Fatalf("%+v: %+v", also, full)
		}
	}

	// This store's own changes are read back at once.
	clockAt := func(st pay.MerchantState) time.Time {
		if !st.OnTestClock {
			return time.Time{}
		}
		return st.TestClock
	}
	inTx := func(db *sqlstore.DB, fn func(pay.Tx) error) {
		t.Helper()
		if err := db.InPayTx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	fault := func(id, api string) pay.Fault {
		return pay.Fault{ID: id, MchID: m, API: api, ErrCode: "SYSTEMERROR", Remaining: 1, CreatedAt: t0}
	}
	take := func(db *sqlstore.DB, api string) {
		t.Helper()
		inTx(db, func(tx pay.Tx) error {
			_, found, err := tx.TakeFault(ctx, m, api)
			if err == nil && !found {
				t.Fatalf("no fault rule for %s to take", api)
			}
			return err
		})
	}
	warm(apiOrderQuery)
	if err := b.DB.SetTestClock(ctx, m, t0); err != nil {
		t.Fatal(err)
	}
	if got := clockAt(state(apiOrderQuery, pay.Also{})); !got.Equal(t0) {
		t.Fatalf("test clock right after this store set it: %v", got)
	}
	inTx(b.DB, func(tx pay.Tx) error { return tx.InsertFault(ctx, fault("F1", apiOrderQuery)) })
	if !state(apiOrderQuery, pay.Also{}).FaultLive {
		t.Fatal("a fault rule this store added is not seen")
	}
	take(b.DB, apiOrderQuery)
	if state(apiOrderQuery, pay.Also{}).FaultLive {
		t.Fatal("a fault rule used up by this store is still seen")
	}
	inTx(b.DB, func(tx pay.Tx) error { return tx.SetPasswordThreshold(ctx, m, 500) })
	if got := state(apiOrderQuery, pay.Also{}).PasswordThreshold; got != 500 {
		t.Fatalf("password threshold right after this store set it: %d", got)
	}
	if err := b.DB.ClearTestClock(ctx, m); err != nil {
		t.Fatal(err)
	}
	if st := state(apiOrderQuery, pay.Also{}); st.OnTestClock {
		t.Fatalf("still on a test clock after this store cleared it: %v", st.TestClock)
	}

	// Another process's changes reach it, and have reached it when that process's
	// AwaitWatchers returns (an admin command waits so before it exits).
	settled := func() {
		t.Helper()
		if err := other.AwaitWatchers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t1 := t0.Add(24 * time.Hour)
	warm(apiOrderQuery)
	if err := other.SetTestClock(ctx, m, t1); err != nil {
		t.Fatal(err)
	}
	settled()
	if got := clockAt(state(apiOrderQuery, pay.Also{})); !got.Equal(t1) {
		t.Fatalf("test clock after another process moved it: %v", got)
	}
	warm(apiOrderQuery)
	inTx(other, func(tx pay.Tx) error { return tx.InsertFault(ctx, fault("F2", apiOrderQuery)) })
	settled()
	if !state(apiOrderQuery, pay.Also{}).FaultLive {
		t.Fatal("another process's fault rule is not seen")
	}
	warm(apiOrderQuery)
	take(other, apiOrderQuery)
	settled()
	if state(apiOrderQuery, pay.Also{}).FaultLive {
		t.Fatal("a fault rule another process used up is still seen")
	}
	warm(apiOrderQuery)
	inTx(other, func(tx pay.Tx) error { return tx.SetPasswordThreshold(ctx, m, 700) })
	settled()
	if got := state(apiOrderQuery, pay.Also{}).PasswordThreshold; got != 700 {
		t.Fatalf("password threshold after another process set it: %d", got)
	}
}

// warmState reads mchID's state for api until the store serves it from its cache
// (a SQLite store caches only once its first poll of the generation is in).
func warmState(t *testing.T, db *sqlstore.DB, mchID, api string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !db.StateCached(mchID, api); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the merchant's state for %s is not cached within 10 s", api)
		}
		if _, err := db.MerchantState(context.Background(), mchID, api, pay.Also{}); err != nil {
			t.Fatal(err)
		}
	}
}
