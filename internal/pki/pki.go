// Package pki is the platform's own certificate authority. It issues the merchant API
// certificates (RSA-2048, also the TLS client certificates of /secapi), the per-merchant
// platform certificates and public keys that sign v3 answers, and the HTTPS server
// certificate. Serials are 20 random bytes whose first byte is below 0x80 and non-zero,
// so the 40-character upper-case hex that clients compute from the bytes is stable.
package pki

import (
	"software.sslmate.com/src/go-pkcs12"

	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// PublicKeyIDPrefix starts every platform public key id, as WeChat's do.
const PublicKeyIDPrefix = "PUB_KEY_ID_"

// CA signs certificates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// Issued is a freshly issued certificate with its private key.
type Issued struct {
	Serial  string // 40 upper-case hex characters
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *rsa.PrivateKey
	KeyPEM  []byte // PKCS#8, the form wechatpay-go loads
}

// NewCA creates a CA valid for 20 years from now and returns it with its key as PKCS#8 PEM.
// ECDSA keeps full TLS handshakes cheap; the certificates it issues carry RSA keys where
// the protocol needs RSA.
func NewCA(name string, now time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := NewSerial()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"OpenFacePay"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := pkcs8PEM(key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := LoadCA(pemBlock("CERTIFICATE", der), keyPEM)
	return ca, keyPEM, err
}

// LoadCA reads a CA from its certificate and PKCS#8 key.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// Pool returns a pool holding only this CA, for TLS clients and for verifying client certificates.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueMerchantCert issues a merchant API certificate: it authenticates the merchant's v3
// signatures and is the TLS client certificate for /secapi.
func (ca *CA) IssueMerchantCert(mchID string, now time.Time) (Issued, error) {
	return ca.issueRSA(pkix.Name{CommonName: mchID, Organization: []string{"OpenFacePay merchant"}},
		now.Add(-time.Hour), now.AddDate(5, 0, 0), []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
}

// IssuePlatformCert issues a platform certificate that signs v3 answers for one merchant.
func (ca *CA) IssuePlatformCert(mchID string, notBefore, notAfter time.Time) (Issued, error) {
	return ca.issueRSA(pkix.Name{CommonName: "OpenFacePay platform for " + mchID, Organization: []string{"OpenFacePay"}},
		notBefore, notAfter, nil)
}

func (ca *CA) issueRSA(subject pkix.Name, notBefore, notAfter time.Time, eku []x509.ExtKeyUsage) (Issued, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Issued{}, err
	}
	serial, hexSerial := NewSerial()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Issued{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Issued{}, err
	}
	keyPEM, err := pkcs8PEM(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{Serial: hexSerial, Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), Key: key, KeyPEM: keyPEM}, nil
}

// ServerCert issues a short-lived ECDSA certificate for the HTTPS listener, valid for
// localhost, 127.0.0.1, ::1 and any extra host names or addresses given.
func (ca *CA) ServerCert(now time.Time, hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := NewSerial()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"OpenFacePay"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key}, nil
}

// PublicKeyIdentity is the newer platform signing identity: a bare RSA key named by an id.
type PublicKeyIdentity struct {
	ID     string
	Key    *rsa.PrivateKey
	KeyPEM []byte // PKCS#8
	PubPEM []byte // PKIX "PUBLIC KEY", what integrators configure
}

// NewPublicKeyIdentity creates a platform public key with a fresh PUB_KEY_ID_ id.
func NewPublicKeyIdentity() (PublicKeyIdentity, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return PublicKeyIdentity{}, err
	}
	keyPEM, err := pkcs8PEM(key)
	if err != nil {
		return PublicKeyIdentity{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return PublicKeyIdentity{}, err
	}
	return PublicKeyIdentity{ID: PublicKeyIDPrefix + randomDigits(32), Key: key, KeyPEM: keyPEM, PubPEM: pemBlock("PUBLIC KEY", pub)}, nil
}

// NewSerial returns a 20-byte positive serial and its 40-character upper-case hex form.
func NewSerial() (*big.Int, string) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[0] = 0x10 | (b[0] & 0x6f) // non-zero and below 0x80: no sign byte, no dropped leading zero
	return new(big.Int).SetBytes(b), fmt.Sprintf("%X", b)
}

// SerialHex is the serial as WeChat clients compute it from a certificate.
func SerialHex(cert *x509.Certificate) string { return fmt.Sprintf("%X", cert.SerialNumber.Bytes()) }

// ParseCertPEM parses the first certificate in a PEM text.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("pki: no CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// ParseKeyPEM parses a PKCS#8 private key.
func ParseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("pki: no PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("pki: key cannot sign")
	}
	return s, nil
}

// ParseRSAKeyPEM parses a PKCS#8 RSA private key.
func ParseRSAKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	s, err := ParseKeyPEM(b)
	if err != nil {
		return nil, err
	}
	k, ok := s.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("pki: not an RSA key")
	}
	return k, nil
}

func pkcs8PEM(key any) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomDigits(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// PKCS12 packs a merchant's certificate and key as WeChat hands them out in
// apiclient_cert.p12, protected by the password (the mch_id). 3DES for both bags
// keeps it readable by OpenSSL 3 without its legacy provider (Node's pfx option)
// and by the older readers that predate AES in PKCS#12.
func PKCS12(i Issued, password string) ([]byte, error) {
	return pkcs12.LegacyDES.Encode(i.Key, i.Cert, nil, password)
}

// ParseRSAPublicKeyPEM reads an RSA public key (PKIX "PUBLIC KEY" or a certificate's).
func ParseRSAPublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("pki: no PEM block")
	}
	var key any
	var err error
	if block.Type == "CERTIFICATE" {
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = c.PublicKey
		}
	} else {
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("pki: not an RSA public key")
	}
	return pub, nil
}
