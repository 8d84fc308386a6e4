// Package seal encrypts secrets and biometric data at rest. One 32-byte master key,
// from configuration, seals every value with AES-256-GCM; the purpose of a value (for
// example "merchant/1900000001/api_key") is the associated data, so a sealed value
// copied into another row or column does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvKey names the environment variable that overrides the key file.
const EnvKey = "FACEPAY_MASTER_KEY"

// KeyFile is the key file's name inside the data directory.
const KeyFile = "master.key"

// version prefixes every sealed value so the format can change without ambiguity.
const version byte = 1

// ErrOpen means a sealed value did not authenticate: wrong key, wrong purpose or tampering.
var ErrOpen = errors.New("seal: value does not open with this key")

// Sealer seals and opens values. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext for purpose.
func (s *Sealer) Seal(purpose string, plaintext []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.aead.Seal(out, out[1:], plaintext, []byte(purpose))
}

// Open decrypts a value sealed for purpose.
func (s *Sealer) Open(purpose string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// LoadKey returns the master key: the environment variable EnvKey (64 hex characters or
// standard base64 of 32 bytes) when set, otherwise the file KeyFile in dataDir, created
// with fresh random bytes the first time. Several processes may race to create it; the
// loser reads the winner's key.
func LoadKey(dataDir string, getenv func(string) string) ([]byte, error) {
	if v := strings.TrimSpace(getenv(EnvKey)); v != "" {
		return parseKey(v)
	}
	if dataDir == "" {
		return nil, fmt.Errorf("seal: no %s and no data directory for %s", EnvKey, KeyFile)
	}
	path := filepath.Join(dataDir, KeyFile)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("seal: write %s: %w", path, werr)
		}
		return key, nil
	case errors.Is(err, fs.ErrExist):
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		return parseKey(strings.TrimSpace(string(b)))
	default:
		return nil, fmt.Errorf("seal: %w", err)
	}
}

func parseKey(v string) ([]byte, error) {
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("seal: master key must be 32 bytes as 64 hex characters or base64")
}
