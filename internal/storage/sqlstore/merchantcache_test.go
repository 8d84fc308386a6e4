package sqlstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// On PostgreSQL a merchant is served from the cache once read, and a change made by
// another process (another store on the same database) reaches the cache: the
// merchant is dropped and read again with the change.
func TestMerchantCacheHearsOtherProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := storagetest.Open(t, "postgres")
	cr := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{Name: "Cached"}))
	other := storagetest.Must(b.Reopen(ctx, storagetest.TestSealer(t)))
	defer other.Close()

	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10 s: %s", what)
			}
		}
	}
	// The listener connects at the first read; until then nothing is cached.
	eventually("the merchant is cached", func() bool {
		storagetest.Must(b.DB.Merchant(ctx, cr.MchID))
		return b.DB.MerchantCached(cr.MchID)
	})
	if err := other.BindAppID(ctx, "wxOTHERPROCESS", cr.MchID); err != nil {
		t.Fatal(err)
	}
	eventually("the other process's appid binding dropped the cached merchant", func() bool { return !b.DB.MerchantCached(cr.MchID) })
	if m := storagetest.Must(b.DB.Merchant(ctx, cr.MchID)); !slices.Contains(m.AppIDs, "wxOTHERPROCESS") {
		t.Fatalf("appids after the other process bound one: %v", m.AppIDs)
	}

	eventually("the merchant is cached again", func() bool {
		storagetest.Must(b.DB.Merchant(ctx, cr.MchID))
		return b.DB.MerchantCached(cr.MchID)
	})
	if err := other.SetPlatformMode(ctx, cr.MchID, tenant.PublicKeyMode); err != nil {
		t.Fatal(err)
	}
	eventually("the other process's platform mode reaches this one", func() bool {
		return storagetest.Must(b.DB.Merchant(ctx, cr.MchID)).PlatformMode == tenant.PublicKeyMode
	})

	// A change through the store itself is seen at once, without waiting for its
	// own notification.
	eventually("the merchant is cached again", func() bool {
		storagetest.Must(b.DB.Merchant(ctx, cr.MchID))
		return b.DB.MerchantCached(cr.MchID)
	})
	if err := b.DB.SetPlatformMode(ctx, cr.MchID, tenant.CertificateMode); err != nil {
		t.Fatal(err)
	}
	if m := storagetest.Must(b.DB.Merchant(ctx, cr.MchID)); m.PlatformMode != tenant.CertificateMode {
		t.Fatalf("platform mode right after this store changed it: %s", m.PlatformMode)
	}
}
