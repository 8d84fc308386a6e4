// Package platformtest starts a real platform for the tests of other packages
// (kiosk, merchant server): a fresh store of the named backend, the platform on
// 127.0.0.1:0, stopped when the test ends.
package platformtest

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// Start runs a platform on a fresh store of backend ("sqlite" or "postgres").
func Start(t *testing.T, backend string) *platform.Platform {
	t.Helper()
	return StartWith(t, backend, platform.Config{Addr: "127.0.0.1:0"})
}

// StartWith is Start with the platform's configuration (listeners, logger, clock).
func StartWith(t *testing.T, backend string, cfg platform.Config) *platform.Platform {
	t.Helper()
	b := storagetest.Open(t, backend)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := platform.New(ctx, b.DB, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("platform run: %v", err)
		}
	})
	return p
}

// Merchant creates a merchant and returns its credentials, and the same as the
// merchant server reads them from `merchant create --json`.
func Merchant(t *testing.T, p *platform.Platform) (tenant.Credentials, merchant.Credentials) {
	t.Helper()
	cr := storagetest.Must(p.Tenants.Create(context.Background(), tenant.NewMerchant{}))
	return cr, merchant.FromTenant(cr)
}

// TLSConfig trusts the platform's CA, for clients that reach its HTTPS listener.
func TLSConfig(p *platform.Platform) *tls.Config { return &tls.Config{RootCAs: p.CA.Pool()} }
