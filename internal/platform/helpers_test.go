package platform_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/pki"
)

// selfSignedPair is a client certificate from a CA the platform never heard of, with
// the same subject a real merchant certificate has.
func selfSignedPair(t *testing.T) tls.Certificate {
	t.Helper()
	ca, _, err := pki.NewCA("rogue CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.IssueMerchantCert("1900000001", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(append(m.CertPEM, ca.CertPEM...), m.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// otherKey is a key that differs from k in its first character, whatever that is
// (a fixed replacement letter equals the key one time in 62).
func otherKey(k string) string {
	if k[0] == 'x' {
		return "y" + k[1:]
	}
	return "x" + k[1:]
}
