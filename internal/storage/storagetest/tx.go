package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
)

// testTxIsolation runs many transactions at once (on SQLite they share commits) where
// some fail after writing and one panics: exactly the failed ones leave nothing, every
// other one is committed, and each caller hears its own outcome.
func testTxIsolation(t *testing.T, b Backend) {
	ctx := context.Background()
	errBody := errors.New("body failed after writing")
	const n = 60
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					results[i] = fmt.Errorf("panic reached the caller: %v", p)
				}
			}()
			results[i] = b.DB.InLedgerTx(ctx, func(s ledger.Store) error {
				if _, err := ledger.Open(ctx, s, t0, fmt.Sprintf("iso:%d", i), ledger.Wallet, false); err != nil {
					return err
				}
				switch {
				case i == 7:
					panic("a body that panics") // fails its transaction alone, on every backend
				case i%3 == 0:
					return errBody
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range n {
		_, err := b.DB.AuditLedger(ctx) // reads must not be disturbed either
		if err != nil {
			t.Fatal(err)
		}
		var acct ledger.Account
		err = b.DB.InLedgerTx(ctx, func(s ledger.Store) (err error) {
			acct, err = s.Account(ctx, fmt.Sprintf("iso:%d", i))
			return err
		})
		failedBody := i%3 == 0 || i == 7
		switch {
		case failedBody && results[i] == nil:
			t.Errorf("tx %d failed but its caller heard success", i)
		case failedBody && !errcode.Is(err, errcode.NotFound):
			t.Errorf("tx %d failed but its write is there (%v)", i, err)
		case !failedBody && results[i] != nil:
			t.Errorf("tx %d: %v", i, results[i])
		case !failedBody && (err != nil || acct.ID == ""):
			t.Errorf("tx %d succeeded but its write is missing: %v", i, err)
		}
		if i%3 == 0 && !errors.Is(results[i], errBody) {
			t.Errorf("tx %d got another's outcome: %v", i, results[i])
		}
	}
}
