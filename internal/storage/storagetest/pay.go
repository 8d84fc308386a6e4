package storagetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openfacepay/openfacepay/internal/pay"
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
