package device

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Data the platform sends one terminal (its school's face library) is encrypted to
// that terminal's key: an ephemeral P-256 key agrees a secret with the device key
// (ECDH), HKDF-SHA256 turns it into an AES-256-GCM key, and only the terminal holding
// the private key can open it. The kiosk keeps it at rest the same way.
//
//	"DS1." base64url(ephemeral public key, 65 bytes | nonce, 12 bytes | ciphertext)
const sealedPrefix = "DS1."

var sealInfo = []byte("openfacepay device seal v1")

// ErrSealed is wrapped by every refusal to open sealed data.
var ErrSealed = errors.New("sealed data does not open with this device key")

// SealToDevice encrypts plaintext to the device key (uncompressed SEC 1 hex, as
// authinfo binds it); aad binds it to its use.
func SealToDevice(keyHex string, plaintext, aad []byte) (string, error) {
	raw, err := hex.DecodeString(keyHex)
	if err != nil {
		return "", fmt.Errorf("device key: %w", err)
	}
	pub, err := ecdh.P256().NewPublicKey(raw)
	if err != nil {
		return "", fmt.Errorf("device key: %w", err)
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	secret, err := eph.ECDH(pub)
	if err != nil {
		return "", err
	}
	aead, err := sealAEAD(secret, eph.PublicKey().Bytes(), raw)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append(append(eph.PublicKey().Bytes(), nonce...), aead.Seal(nil, nonce, plaintext, aad)...)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenOnDevice is the terminal side of SealToDevice.
func OpenOnDevice(key *ecdsa.PrivateKey, sealed string, aad []byte) ([]byte, error) {
	if !strings.HasPrefix(sealed, sealedPrefix) {
		return nil, fmt.Errorf("%w: unknown format", ErrSealed)
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed[len(sealedPrefix):])
	if err != nil || len(b) < 65+12+16 {
		return nil, fmt.Errorf("%w: malformed", ErrSealed)
	}
	priv, err := key.ECDH()
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.P256().NewPublicKey(b[:65])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	secret, err := priv.ECDH(eph)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	aead, err := sealAEAD(secret, b[:65], priv.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, b[65:65+12], b[65+12:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	return pt, nil
}

// sealAEAD derives the AES-256-GCM key from the shared secret, bound to both public keys.
func sealAEAD(secret, ephPub, devicePub []byte) (cipher.AEAD, error) {
	salt := append(append([]byte{}, ephPub...), devicePub...)
	k, err := hkdf.Key(sha256.New, secret, salt, string(sealInfo), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
