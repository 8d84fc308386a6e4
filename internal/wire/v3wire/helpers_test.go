package v3wire

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedKeyPEM is a throw-away RSA-2048 key. It is fixed so that fuzz seeds signed in
// one process verify in the fuzz workers; "TESTING KEY" keeps secret scanners quiet.
const fixedKeyPEM = `
-----BEGIN TESTING KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDIwIG3rJPoMFlq
hRREP3CC7bKDBN/YLCW5qgT9ElAJ2RIka7t+3Q9Bvy9g9t2Z8kfjInDZ08S7bWxt
ehSgD+yxSRLNbCQOxwfzNbb+iSoJiCmc1RhTmF7mRLLxrTiHTr2CBFY3ScCA0g0a
vMkQ+e7eW+DLEWCteJngywuIQ8U64tD7ftztLLQa0SEwHMevnyQwumn5BnWm6AiZ
Qm1B49A5LDU3Np9m/wP5EMHRIXJgPWPqHcdNS/I3BMs4W2ZLnVWvlqND63Dxb6aH
O1NIXPGEu/gkpoRLaKPM3Cr1uvYt4PhG88oY0D89iaw/D4Zw8WtDAqjRJzHfe8PM
J4bKDpBvAgMBAAECggEAUCZXw/LhjIq9MGOYf1UKwSNQqbGpA0BBAZsJadbFYOEr
NqJSleiBXmEL8/0r5XpPTDZkcvtzKNebuivLD0q8V93SZXSfAs1g9a/E82PlBjA4
WPbVQw7rGKll/kqH7rG3xLChkWpfMq9qbvnflukKfvmUys6R2EB1w0Odw5Y3KPZO
g3OTcv1XO9/m0J+5HQ387SCyaqA4p+SHEU1i51z2b3EpS4ItQdcnasSfbAymSkLc
GgRsmMwTsEtbnCFxvHVglpBj/nS642h0ohjM+VomQ02zPAifKbfaDflyxz09xSiu
6RFtfwmnDP9Wo3Lqb3jH/jRft6dB2fBnlYpqXJWt4QKBgQD9/cVXPu2ARiHoFXAC
NOlduwSfUM0AgFnxO3P3N1q6dlrv3EJ3I131nrTPvmveiTQsLuBCEnf2XNd9NjF6
Fy8u2Omgf8heXTnhOReckZXIKWz3sPLuzpuiaCcUXfF6eF081pKfVpHtMaWZWF1M
Yces1S/mqKGht0sKS+grstnPzwKBgQDKVvKn9nQ1lbvSpa8O+l07OW4ym47QdR9m
23ESbdfXn+IYzEBU+fAWcyuxzla/tPURs+Mxz3BERNSepbNh7iRNdMOOo1CWtDWx
KiPwJNInEVVEmWjzWwbXFG9/eqfF1mnPIuhTZDvOH8SXxy6KtrW2W4EX2uCMWCD6
LESAyvW9YQKBgQDiZMDx83VfUSQH6pPcY61fjsOf/jW8rKt/Cq9jPEPy0GxeQMY9
y5iExuIECoe75DBM8buTKUMkpbyuLxAK839rEo2sMjo3YoGk727McDhCIiqu3Vqs
4hx3tr6euN31fDQfdmNbA58u/YHOHaWL39xLgfsgbk8kBm0s0FwyF0luoQKBgBcu
8Syng1ckadnP3Af2TbpccTDhO/LMiKWLXSBEb6eoDQrUVEaoQIcB+S6tOqlKfY3i
s5RgdTeNP2NSDwSYeZZaW5G7Sp+J1GERN/7q6R1K0h9DCJBhjJ4WHFRZ5GE5mPP/
xujPIj8Syr6tNrr0Bkv3ngnyrSnHazfe3JZ5KsDhAoGAERxqh9JkKHrfJWPoo7qR
hYwN2DNIqf97vauK9cp1ZwTTqC22c4xOBG/Hjcn2VvuD9yEx16hHFWf3NdQKos9h
zFPQJi7glkYilBEdENoOjjd231D/Y6g3qCW6n83SKCLQADCi/p5OZldPdCXmaa/7
YGIczv9iliH1dm+SYiYW6Dw=
-----END TESTING KEY-----
`

var fixedKey = sync.OnceValue(func() *rsa.PrivateKey {
	block, _ := pem.Decode([]byte(strings.ReplaceAll(fixedKeyPEM, "TESTING KEY", "PRIVATE KEY")))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	return k.(*rsa.PrivateKey)
})

func genKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// Generated keys are shared by all tests: RSA-2048 generation dominates test time.
var (
	otherKey    = sync.OnceValue(genKey)
	platformKey = sync.OnceValue(genKey)
)

// newCert self-signs a certificate for key; tests need real DER so that the SDK's
// parsers and serial logic run on it.
func newCert(t testing.TB, key *rsa.PrivateKey, serial *big.Int, notBefore, notAfter time.Time) (*x509.Certificate, []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "v3wire test", Organization: []string{"OpenFacePay"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func mustSerial(t testing.TB, hexStr string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(hexStr, 16)
	if !ok {
		t.Fatalf("bad serial %q", hexStr)
	}
	return n
}
