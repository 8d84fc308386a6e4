package storagetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/seal"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// Run is the storage contract. open must return a fresh, isolated store each call.
func Run(t *testing.T, open func(t testing.TB) Backend) {
	tests := map[string]func(*testing.T, Backend){
		"TenantRoundTrip":      testTenantRoundTrip,
		"SecretsSealedAtRest":  testSecretsSealed,
		"WrongMasterKey":       testWrongMasterKey,
		"CAOnceUnderRace":      testCAOnce,
		"SubMerchantsAndApps":  testSubMerchants,
		"NonceReplayWindow":    testNonces,
		"LedgerBasics":         testLedgerBasics,
		"LedgerIdempotency":    testLedgerIdempotency,
		"LedgerTwoPhase":       testLedgerTwoPhase,
		"LedgerNoOverdraft":    testLedgerNoOverdraft,
		"LedgerPropertyRandom": testLedgerProperty,
		"LedgerDeferredCredit": testLedgerDeferredCredit,
		"TxIsolation":          testTxIsolation,
		"FaceTemplates":        testFaceTemplates,
		"CredentialClaim":      testCredentialClaim,
		"GuardedPayment":       testGuardedPayment,
		"GuardedDebit":         testGuardedDebit,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func newTenants(b Backend) (*tenant.Service, *clock.Fake) {
	c := clock.NewFake(time.Now())
	return tenant.NewService(b.DB, c), c
}

func testTenantRoundTrip(t *testing.T, b Backend) {
	ctx := context.Background()
	svc, _ := newTenants(b)
	cr := Must(svc.Create(ctx, tenant.NewMerchant{Name: "Canteen One"}))
	m := Must(b.DB.Merchant(ctx, cr.MchID))
	if m.APIKey != cr.APIKey || m.APIv3Key != cr.APIv3Key || m.Kind != tenant.Direct || m.Name != "Canteen One" || m.PlatformMode != tenant.CertificateMode {
		t.Fatalf("merchant read back differs: %+v", m)
	}
	if len(m.APIKey) != 32 || len(m.APIv3Key) != 32 {
		t.Fatalf("key lengths %d/%d, want 32", len(m.APIKey), len(m.APIv3Key))
	}
	if _, err := b.DB.Merchant(ctx, "1999999999"); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("unknown merchant: %v, want NotFound", err)
	}
	c := Must(b.DB.MerchantCert(ctx, cr.MerchantSerialNo))
	if c.MchID != cr.MchID || string(c.CertPEM) != cr.MerchantCertPEM {
		t.Fatalf("merchant cert read back differs: %+v", c)
	}
	ids := Must(b.DB.PlatformIdentities(ctx, cr.MchID))
	var certs, keys int
	for _, id := range ids {
		switch id.Kind {
		case tenant.PlatformCertificate:
			certs++
		case tenant.PlatformPublicKey:
			keys++
			if id.SerialNo != cr.PlatformPublicKeyID || string(id.PublicKeyPEM) != cr.PlatformPublicKeyPEM {
				t.Fatalf("public key identity differs: %s", id.SerialNo)
			}
		}
		if id.Key == nil || id.Key.N.BitLen() != 2048 {
			t.Fatalf("identity %s has no RSA-2048 key", id.SerialNo)
		}
	}
	if certs != 2 || keys != 1 {
		t.Fatalf("identities: %d certificates, %d public keys; want 2 and 1", certs, keys)
	}
	if got := tenant.Certificates(ids, time.Now()); len(got) != 2 || got[0].SerialNo != cr.PlatformSerialNo {
		t.Fatalf("valid certificates newest first: %v", got)
	}
	apps := Must(b.DB.AppIDs(ctx, cr.MchID))
	if len(apps) != 1 || apps[0] != cr.AppID {
		t.Fatalf("appids %v, want [%s]", apps, cr.AppID)
	}
	if err := b.DB.SetPlatformMode(ctx, cr.MchID, tenant.PublicKeyMode); err != nil {
		t.Fatal(err)
	}
	if m := Must(b.DB.Merchant(ctx, cr.MchID)); m.PlatformMode != tenant.PublicKeyMode {
		t.Fatalf("platform mode %s after set", m.PlatformMode)
	}
	if err := b.DB.SetPlatformMode(ctx, "1999999999", tenant.PublicKeyMode); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("set mode of unknown merchant: %v", err)
	}
	dup := tenant.Merchant{MchID: cr.MchID, Kind: tenant.Direct, Name: "x", APIKey: "k", APIv3Key: "k", PlatformMode: tenant.CertificateMode, CreatedAt: t0}
	if err := b.DB.CreateMerchant(ctx, dup, nil, nil, nil); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("duplicate mch_id: %v, want Conflict", err)
	}
	// The appids come with the merchant in its one read; a second binding adds a row.
	if err := b.DB.BindAppID(ctx, "wx0000000000000002", cr.MchID); err != nil {
		t.Fatal(err)
	}
	m = Must(b.DB.Merchant(ctx, cr.MchID))
	if !slices.Equal(m.AppIDs, []string{cr.AppID, "wx0000000000000002"}) && !slices.Equal(m.AppIDs, []string{"wx0000000000000002", cr.AppID}) {
		t.Fatalf("merchant read with appids %v, want %s and wx0000000000000002", m.AppIDs, cr.AppID)
	}
}

func testSecretsSealed(t *testing.T, b Backend) {
	ctx := context.Background()
	svc, _ := newTenants(b)
	cr := Must(svc.Create(ctx, tenant.NewMerchant{}))
	// Every byte column of every table: no secret appears in clear.
	for _, q := range []string{
		`SELECT api_key_sealed, apiv3_key_sealed FROM merchants`,
		`SELECT key_sealed, key_sealed FROM platform_identities`,
		`SELECT key_sealed, key_sealed FROM platform_ca`,
	} {
		rows, err := b.DB.SQL().QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var x, y []byte
			if err := rows.Scan(&x, &y); err != nil {
				t.Fatal(err)
			}
			for _, v := range [][]byte{x, y} {
				s := string(v)
				if strings.Contains(s, cr.APIKey) || strings.Contains(s, cr.APIv3Key) || strings.Contains(s, "PRIVATE KEY") {
					t.Fatalf("%s: a secret is stored in clear", q)
				}
			}
		}
		rows.Close()
	}
}

func testWrongMasterKey(t *testing.T, b Backend) {
	ctx := context.Background()
	svc, _ := newTenants(b)
	Must(svc.Create(ctx, tenant.NewMerchant{}))
	other, err := seal.New([]byte(strings.Repeat("z", 32)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Reopen(ctx, other)
	if err == nil {
		db.Close()
		t.Fatal("a store opened with the wrong master key")
	}
	if !strings.Contains(err.Error(), "master key") {
		t.Fatalf("wrong-key error does not say what is wrong: %v", err)
	}
	same, err := b.Reopen(ctx, TestSealer(t))
	if err != nil {
		t.Fatalf("reopen with the right key: %v", err)
	}
	same.Close()
}

func testCAOnce(t *testing.T, b Backend) {
	ctx := context.Background()
	svc, _ := newTenants(b)
	var wg sync.WaitGroup
	pems := make([]string, 4)
	errs := make([]error, 4)
	for i := range pems {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := svc.CA(ctx)
			if err == nil {
				pems[i] = string(ca.CertPEM)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range pems {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if pems[i] != pems[0] {
			t.Fatal("concurrent first use created two CAs")
		}
	}
}

func testSubMerchants(t *testing.T, b Backend) {
	ctx := context.Background()
	svc, _ := newTenants(b)
	sp := Must(svc.Create(ctx, tenant.NewMerchant{Kind: tenant.ServiceProvider}))
	sub := Must(svc.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID}))
	direct := Must(svc.Create(ctx, tenant.NewMerchant{}))
	if _, err := svc.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: direct.MchID}); !errcode.Is(err, errcode.Invalid) {
		t.Fatalf("sub-merchant of a direct merchant: %v, want Invalid", err)
	}
	if _, err := svc.Create(ctx, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: "1999999999"}); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("sub-merchant of nobody: %v, want NotFound", err)
	}
	extra := Must(svc.BindAppID(ctx, sp.MchID, ""))
	if again := Must(svc.BindAppID(ctx, sp.MchID, extra)); again != extra {
		t.Fatal("binding twice changed the appid")
	}
	cases := []struct {
		name                     string
		mch, app, subMch, subApp string
		want                     error
	}{
		{"direct", direct.MchID, direct.AppID, "", "", nil},
		{"sp alone", sp.MchID, extra, "", "", nil},
		{"sp for sub", sp.MchID, sp.AppID, sub.MchID, sub.AppID, nil},
		{"sp for sub without sub_appid", sp.MchID, sp.AppID, sub.MchID, "", nil},
		{"unknown mch", "1999999999", direct.AppID, "", "", tenant.ErrUnknownMerchant},
		{"foreign appid", direct.MchID, sp.AppID, "", "", tenant.ErrAppIDNotBound},
		{"sub of another sp", direct.MchID, direct.AppID, sub.MchID, "", tenant.ErrUnknownSubMerchant},
		{"sub_appid of another", sp.MchID, sp.AppID, sub.MchID, direct.AppID, tenant.ErrSubAppIDNotBound},
		{"sub_appid without sub", sp.MchID, sp.AppID, "", sub.AppID, tenant.ErrUnknownSubMerchant},
	}
	for _, c := range cases {
		caller, err := svc.Identify(ctx, c.mch, c.app, c.subMch, c.subApp)
		if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			continue
		}
		if err == nil && c.subMch != "" && (caller.Sub == nil || caller.Sub.MchID != c.subMch) {
			t.Errorf("%s: sub-merchant not resolved", c.name)
		}
	}
}

func testNonces(t *testing.T, b Backend) {
	ctx := context.Background()
	svc, _ := newTenants(b)
	cr := Must(svc.Create(ctx, tenant.NewMerchant{}))
	other := Must(svc.Create(ctx, tenant.NewMerchant{}))
	win := 5 * time.Minute
	if !Must(b.DB.RememberNonce(ctx, cr.MchID, "N1", t0, t0.Add(-win))) {
		t.Fatal("first use of a nonce refused")
	}
	if Must(b.DB.RememberNonce(ctx, cr.MchID, "N1", t0.Add(time.Minute), t0.Add(time.Minute-win))) {
		t.Fatal("a nonce replayed inside the window was accepted")
	}
	if !Must(b.DB.RememberNonce(ctx, other.MchID, "N1", t0.Add(time.Minute), t0.Add(time.Minute-win))) {
		t.Fatal("another merchant's nonce collided")
	}
	later := t0.Add(win + time.Second)
	if !Must(b.DB.RememberNonce(ctx, cr.MchID, "N1", later, later.Add(-win))) {
		t.Fatal("a nonce outside the window was still refused")
	}
	n := Must(b.DB.PruneNonces(ctx, t0.Add(2*time.Minute)))
	if n != 1 { // other's N1 (t0+1m) goes; cr's N1 was refreshed to later
		t.Fatalf("pruned %d nonces, want 1", n)
	}
	// Eight requests with one nonce at once (they may share one commit): one is fresh.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := b.DB.RememberNonce(ctx, cr.MchID, "N2", t0, t0.Add(-win))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				fresh++
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d of 8 concurrent uses of one nonce were fresh, want 1", fresh)
	}
}
