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

// A merchant is served from the cache once read, and a change made by another process
// (another store on the same database or SQLite file) reaches the cache: the merchant
// is dropped and read again with the change. PostgreSQL hears it by NOTIFY, SQLite by
// polling the generation the change moved on.
func TestMerchantCacheHearsOtherProcesses(t *testing.T) {
	storagetest.Each(t, testMerchantCacheHearsOtherProcesses)
}

func testMerchantCacheHearsOtherProcesses(t *testing.T, b storagetest.Backend) {
	ctx := context.Background()
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
	// The listener connects at the first read; until then nothing is cached. A signed
	// v3 request's certificate and the platform identities that sign its answer are
	// cached with the merchant, and read back as the database holds them.
	eventually("the merchant, its certificate and its platform identities are cached", func() bool {
		storagetest.Must(b.DB.Merchant(ctx, cr.MchID))
		storagetest.Must(b.DB.MerchantCert(ctx, cr.MerchantSerialNo))
		storagetest.Must(b.DB.PlatformIdentities(ctx, cr.MchID))
		return b.DB.MerchantCached(cr.MchID) && b.DB.CertCached(cr.MerchantSerialNo) && b.DB.IdentitiesCached(cr.MchID)
	})
	cert, ids := storagetest.Must(b.DB.MerchantCert(ctx, cr.MerchantSerialNo)), storagetest.Must(b.DB.PlatformIdentities(ctx, cr.MchID))
	want := storagetest.Must(other.PlatformIdentities(ctx, cr.MchID))
	if cert.MchID != cr.MchID || cert.Cert == nil || len(ids) != len(want) || len(ids) == 0 || ids[0].SerialNo != want[0].SerialNo || !ids[0].Key.Equal(want[0].Key) {
		t.Fatalf("cached certificate of %s / identities %+v, database holds %+v", cert.MchID, ids, want)
	}
	if _, err := b.DB.MerchantCert(ctx, "NOSUCHSERIAL"); err == nil || b.DB.CertCached("NOSUCHSERIAL") {
		t.Fatal("an unknown certificate serial was found or cached")
	}
	if err := other.BindAppID(ctx, "wxOTHERPROCESS", cr.MchID); err != nil {
		t.Fatal(err)
	}
	eventually("the other process's appid binding dropped everything cached of the merchant", func() bool {
		return !b.DB.MerchantCached(cr.MchID) && !b.DB.CertCached(cr.MerchantSerialNo) && !b.DB.IdentitiesCached(cr.MchID)
	})
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
