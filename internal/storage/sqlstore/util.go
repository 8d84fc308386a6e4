package sqlstore

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/openfacepay/openfacepay/internal/tenant"
)

func pkcs8(id tenant.PlatformIdentity) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
