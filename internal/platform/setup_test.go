package platform_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// bundle is a running platform on one backend and what tests need to call it.
type bundle struct {
	P       *platform.Platform
	URL     string
	HTTPURL string
	Logs    *syncBuffer
	CAPool  *x509.CertPool
}

// syncBuffer collects the platform's JSON logs so tests can look for leaked secrets.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup starts a platform on a fresh store of the named backend, on 127.0.0.1:0.
func setup(t *testing.T, backend string) *bundle { return setupClock(t, backend, nil) }

// setupClock is setup with the platform's business clock (nil: the wall clock).
func setupClock(t *testing.T, backend string, c clock.Clock) *bundle {
	return setupWith(t, backend, platform.Config{Clock: c})
}

// setupWith is setup with cfg's clock and face engine.
func setupWith(t *testing.T, backend string, cfg platform.Config) *bundle {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Addr, cfg.HTTPAddr, cfg.Logger = "127.0.0.1:0", "127.0.0.1:0", log
	p := platformtest.StartWith(t, backend, cfg)
	return &bundle{P: p, URL: p.Server.URL(), HTTPURL: p.Server.HTTPURL(), Logs: logs, CAPool: p.CA.Pool()}
}

func (b *bundle) merchant(t *testing.T, in tenant.NewMerchant) tenant.Credentials {
	t.Helper()
	return storagetest.Must(b.P.Tenants.Create(context.Background(), in))
}

// httpsClient trusts the platform CA and presents cert when given.
func (b *bundle) httpsClient(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: b.CAPool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// eachBackend runs fn on a fresh platform over SQLite and over PostgreSQL, in parallel.
func eachBackend(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Helper()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, name))
		})
	}
}
