package terminal

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openfacepay/openfacepay/internal/device"
)

// identityFile keeps the device's id and key in the kiosk's data dir, readable by
// the kiosk's user only: the key is what every terminal request is signed with.
const identityFile = "device.json"

type identityJSON struct {
	ID     string `json:"device_id"`
	KeyPEM string `json:"key_pem"` // PKCS#8
}

// LoadIdentity reads the device identity from dir, creating it the first time.
func LoadIdentity(dir string) (device.Identity, error) {
	path := filepath.Join(dir, identityFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createIdentity(dir, path)
	}
	if err != nil {
		return device.Identity{}, err
	}
	var j identityJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return device.Identity{}, fmt.Errorf("%s: %w", path, err)
	}
	block, _ := pem.Decode([]byte(j.KeyPEM))
	if block == nil {
		return device.Identity{}, fmt.Errorf("%s: no key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return device.Identity{}, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || j.ID == "" {
		return device.Identity{}, fmt.Errorf("%s: not a P-256 device identity", path)
	}
	return device.Identity{ID: j.ID, Key: key}, nil
}

func createIdentity(dir, path string) (device.Identity, error) {
	id, err := device.NewIdentity()
	if err != nil {
		return id, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return id, err
	}
	b, _ := json.MarshalIndent(identityJSON{ID: id.ID, KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return id, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return id, err
	}
	return id, nil
}
