package v2wire

import (
	"bytes"
	"crypto/aes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// reqInfoKey is the refund notification key: the lower-case hex MD5 of the API key,
// its 32 ASCII characters used as an AES-256 key.
func reqInfoKey(apiKey string) []byte {
	sum := md5.Sum([]byte(apiKey))
	return []byte(hex.EncodeToString(sum[:]))
}

// EncryptReqInfo seals a refund notification's req_info: AES-256-ECB with exact
// PKCS#7 padding, standard base64.
func EncryptReqInfo(apiKey string, plaintext []byte) string {
	block, _ := aes.NewCipher(reqInfoKey(apiKey)) // 32-byte key: cannot fail
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(n)}, n)...)
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// ErrReqInfo means req_info does not decrypt with the key.
var ErrReqInfo = errors.New("v2wire: req_info does not decrypt")

// DecryptReqInfo opens a req_info, checking the padding exactly.
func DecryptReqInfo(apiKey, reqInfo string) ([]byte, error) {
	buf, err := base64.StdEncoding.DecodeString(reqInfo)
	if err != nil || len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, ErrReqInfo
	}
	block, _ := aes.NewCipher(reqInfoKey(apiKey))
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Decrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	n := int(buf[len(buf)-1])
	if n == 0 || n > aes.BlockSize || !bytes.Equal(buf[len(buf)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, ErrReqInfo
	}
	return buf[:len(buf)-n], nil
}
