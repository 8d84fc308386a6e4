package v3wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
)

const (
	// AlgorithmAEADAES256GCM names the cipher in webhook resources and certificates.
	AlgorithmAEADAES256GCM = "AEAD_AES_256_GCM"
	// APIv3KeySize is the length of the shared APIv3 key; its ASCII bytes are the AES-256 key.
	APIv3KeySize = 32
	// AEADNonceSize is the nonce length: a 12-character string is the 96-bit GCM nonce.
	AEADNonceSize = 12
)

func newGCM(apiv3Key string) (cipher.AEAD, error) {
	// aes.NewCipher would also accept 16 and 24 bytes and silently downgrade to
	// AES-128/192, which no client would decrypt.
	if len(apiv3Key) != APIv3KeySize {
		return nil, fmt.Errorf("%w: APIv3 key must be %d bytes, got %d", ErrInvalidKey, APIv3KeySize, len(apiv3Key))
	}
	block, err := aes.NewCipher([]byte(apiv3Key))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return cipher.NewGCM(block)
}

// EncryptAEAD seals plaintext with AEAD_AES_256_GCM (spec §6) and returns standard
// base64 of ciphertext‖tag.
func EncryptAEAD(apiv3Key, nonce, associatedData string, plaintext []byte) (ciphertextB64 string, err error) {
	gcm, err := newGCM(apiv3Key)
	if err != nil {
		return "", err
	}
	if len(nonce) != AEADNonceSize {
		return "", fmt.Errorf("v3wire: AEAD nonce must be %d bytes, got %d", AEADNonceSize, len(nonce))
	}
	sealed := gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// DecryptAEAD opens an AEAD_AES_256_GCM ciphertext. Failures caused by the data
// wrap ErrDecrypt; a bad APIv3 key wraps ErrInvalidKey.
func DecryptAEAD(apiv3Key, nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	gcm, err := newGCM(apiv3Key)
	if err != nil {
		return nil, err
	}
	// The nonce arrives from the wire and cipher.AEAD.Open panics on a wrong length.
	if len(nonce) != AEADNonceSize {
		return nil, fmt.Errorf("%w: nonce must be %d bytes, got %d", ErrDecrypt, AEADNonceSize, len(nonce))
	}
	sealed, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext is not base64", ErrDecrypt)
	}
	plain, err := gcm.Open(nil, []byte(nonce), sealed, []byte(associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return plain, nil
}

// EncryptOAEP encrypts a sensitive field with RSAES-OAEP, SHA-1 and MGF1-SHA-1
// (spec §5): the parameters every WeChat Pay SDK uses, despite SHA-1. At most 214
// bytes fit a 2048-bit key.
func EncryptOAEP(pub *rsa.PublicKey, plaintext []byte) (string, error) {
	if pub == nil {
		return "", fmt.Errorf("%w: nil RSA public key", ErrInvalidKey)
	}
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, plaintext, nil)
	if err != nil {
		return "", fmt.Errorf("v3wire: OAEP encrypt: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// DecryptOAEP reverses EncryptOAEP. Failures caused by the data wrap ErrDecrypt.
func DecryptOAEP(priv *rsa.PrivateKey, ciphertextB64 string) ([]byte, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: nil RSA private key", ErrInvalidKey)
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext is not base64", ErrDecrypt)
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, priv, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return plain, nil
}
