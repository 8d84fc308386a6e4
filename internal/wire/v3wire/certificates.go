package v3wire

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"
)

// CertificateAssociatedData is the fixed AAD of encrypted platform certificates.
const CertificateAssociatedData = "certificate"

// chinaStandardTime is fixed rather than loaded so the output does not depend on the
// host's tzdata; China has had no DST since 1991.
var chinaStandardTime = time.FixedZone("CST", 8*3600)

// SerialOf returns the serial in the form wechatpay-go compares: upper-case hex of
// the big-endian magnitude bytes, so no leading zero byte and no sign byte.
func SerialOf(cert *x509.Certificate) string {
	if cert == nil || cert.SerialNumber == nil {
		return ""
	}
	return fmt.Sprintf("%X", cert.SerialNumber.Bytes())
}

// EncryptCertificate is the encrypted PEM inside a /v3/certificates item.
type EncryptCertificate struct {
	Algorithm      string `json:"algorithm"`
	Nonce          string `json:"nonce"`
	AssociatedData string `json:"associated_data"`
	Ciphertext     string `json:"ciphertext"`
}

// CertificateItem is one entry of the /v3/certificates answer. wechatpay-go decodes
// the times into time.Time, so they must be RFC 3339.
type CertificateItem struct {
	SerialNo           string             `json:"serial_no"`
	EffectiveTime      string             `json:"effective_time"`
	ExpireTime         string             `json:"expire_time"`
	EncryptCertificate EncryptCertificate `json:"encrypt_certificate"`
}

// CertificatesResponse is the /v3/certificates answer body.
type CertificatesResponse struct {
	Data []CertificateItem `json:"data"`
}

// NewCertificateItem encrypts certPEM for download. wechatpay-go keys the decrypted
// certificate by serial_no, not by its own reading of the PEM, so a PEM that is not
// cert would install a key under the wrong serial: the two are checked to match.
// An empty certPEM is rendered from cert.Raw.
func NewCertificateItem(apiv3Key string, cert *x509.Certificate, certPEM []byte) (CertificateItem, error) {
	if cert == nil {
		return CertificateItem{}, fmt.Errorf("v3wire: nil certificate")
	}
	if len(certPEM) == 0 {
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	} else {
		// The SDK parses only the first block, so that is the one that must match.
		block, _ := pem.Decode(certPEM)
		if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, cert.Raw) {
			return CertificateItem{}, fmt.Errorf("v3wire: certificate PEM does not encode the given certificate")
		}
	}
	nonce, err := alphanumericNonce(AEADNonceSize)
	if err != nil {
		return CertificateItem{}, err
	}
	ct, err := EncryptAEAD(apiv3Key, nonce, CertificateAssociatedData, certPEM)
	if err != nil {
		return CertificateItem{}, err
	}
	return CertificateItem{
		SerialNo:      SerialOf(cert),
		EffectiveTime: cert.NotBefore.In(chinaStandardTime).Format(time.RFC3339),
		ExpireTime:    cert.NotAfter.In(chinaStandardTime).Format(time.RFC3339),
		EncryptCertificate: EncryptCertificate{
			Algorithm:      AlgorithmAEADAES256GCM,
			Nonce:          nonce,
			AssociatedData: CertificateAssociatedData,
			Ciphertext:     ct,
		},
	}, nil
}

const alphanumerics = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// alphanumericNonce draws without modulo bias: a GCM nonce only has to be unique, but
// a uniform draw keeps the collision odds at the full 62^n.
func alphanumericNonce(n int) (string, error) {
	const limit = 256 - 256%len(alphanumerics)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphanumerics[b%byte(len(alphanumerics))])
			}
		}
	}
	return string(out), nil
}
