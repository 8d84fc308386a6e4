package pki

import (
	"crypto/rsa"
	"crypto/x509"
	"regexp"
	"testing"
	"time"
)

func TestIssueChain(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca, keyPEM, err := NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA(ca.CertPEM, keyPEM)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
	m, err := ca.IssueMerchantCert("1900000001", now)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(m.Serial) || SerialHex(m.Cert) != m.Serial {
		t.Fatalf("serial %q, from cert %q", m.Serial, SerialHex(m.Cert))
	}
	if m.Key.N.BitLen() != 2048 || m.Cert.Subject.CommonName != "1900000001" {
		t.Fatalf("merchant cert: %d bits, CN %q", m.Key.N.BitLen(), m.Cert.Subject.CommonName)
	}
	if _, err := m.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
		t.Fatalf("merchant cert does not chain to the CA: %v", err)
	}
	k, err := ParseRSAKeyPEM(m.KeyPEM)
	if err != nil || !k.Equal(m.Key) {
		t.Fatalf("PKCS#8 key round trip: %v", err)
	}
	other, _, _ := NewCA("other CA", now)
	if _, err := m.Cert.Verify(x509.VerifyOptions{Roots: other.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("merchant cert verified against a foreign CA")
	}
	srv, err := ca.ServerCert(now, "pay.example.test")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(srv.Certificate[0])
	for _, h := range []string{"localhost", "127.0.0.1", "pay.example.test"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("server cert not valid for %s: %v", h, err)
		}
	}
}

func TestPublicKeyIdentity(t *testing.T) {
	t.Parallel()
	id, err := NewPublicKeyIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^PUB_KEY_ID_[0-9]{32}$`).MatchString(id.ID) {
		t.Fatalf("id %q", id.ID)
	}
	if _, ok := id.Key.Public().(*rsa.PublicKey); !ok {
		t.Fatal("not RSA")
	}
}
