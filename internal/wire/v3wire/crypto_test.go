package v3wire

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// Spec §9.4.
const (
	spec94Key        = "a7Rk2Qz9Lm4Xp8Vw3Nc6Bt1Yh5Jd0Fs4"
	spec94Nonce      = "fG3kL9pQ2rT7"
	spec94AAD        = "facepay"
	spec94Ciphertext = "CiuYoN27McUU/UDrdSSiqmVteUNivNqy8l8iJ04WyUh7fTjtqKtqAbtImMih/tdu5yv/BbrujgDbnTMLew8TXfEjaW74AurfPh1dTMJ9iJgTVHHQq81+ecmSbHcyCXXTpmoNNm/nDGX+493C0purtyXZc/Cg0os5P8ipOHGeOF1xiNRT9xUneljSUKSynLJg0N+06+kDaIGJRxN1bvELonVOOP7cAwVe9w6bXuIoOWyvEVnMEvL6rVxFfgidbeo+7SlYv0COknIC6SM568dfo45n3mLajZ0J38tyLvzFXCIcZ3LxgZ9V97O09C9irMQurQoQu5C2aUzc2SE5JOndSq/HCtsQ5Su2/8V3v58ZOQ=="
	spec94Plaintext  = `{"user_id":"WXU1234567890","out_user_id":"STU-000123","organization_id":"ORG-2021-0001","mch_id":"1900098765","notify_create_time":"2023-11-15T08:30:00+08:00","appid":"wx8b3a1c9d2e4f5a6b","openid":"oX1a2B3c4D5e6F7g8H9i0J","contract_id":"CT20231115000001"}`
)

func flipByte(b64 string, i int) string {
	raw, _ := base64.StdEncoding.DecodeString(b64)
	raw[i] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}

func TestDecryptAEADSpecVector(t *testing.T) {
	t.Parallel()
	got, err := DecryptAEAD(spec94Key, spec94Nonce, spec94AAD, spec94Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != spec94Plaintext || len(got) != 255 {
		t.Fatalf("plaintext (%d bytes) = %s", len(got), got)
	}

	tests := []struct {
		name, key, nonce, aad, ct string
		want                      error
	}{
		{"associated data certificate", spec94Key, spec94Nonce, "certificate", spec94Ciphertext, ErrDecrypt},
		{"empty associated data", spec94Key, spec94Nonce, "", spec94Ciphertext, ErrDecrypt},
		{"wrong key", strings.ToUpper(spec94Key), spec94Nonce, spec94AAD, spec94Ciphertext, ErrDecrypt},
		{"wrong nonce", spec94Key, "fG3kL9pQ2rT8", spec94AAD, spec94Ciphertext, ErrDecrypt},
		{"flipped first ciphertext byte", spec94Key, spec94Nonce, spec94AAD, flipByte(spec94Ciphertext, 0), ErrDecrypt},
		{"flipped middle ciphertext byte", spec94Key, spec94Nonce, spec94AAD, flipByte(spec94Ciphertext, 128), ErrDecrypt},
		{"flipped tag byte", spec94Key, spec94Nonce, spec94AAD, flipByte(spec94Ciphertext, 270), ErrDecrypt},
		{"tag missing", spec94Key, spec94Nonce, spec94AAD, base64.StdEncoding.EncodeToString(mustB64(t, spec94Ciphertext)[:255]), ErrDecrypt},
		{"shorter than a tag", spec94Key, spec94Nonce, spec94AAD, "AAAA", ErrDecrypt},
		{"empty ciphertext", spec94Key, spec94Nonce, spec94AAD, "", ErrDecrypt},
		{"not base64", spec94Key, spec94Nonce, spec94AAD, "%%%" + spec94Ciphertext, ErrDecrypt},
		// cipher.AEAD.Open panics on these; the nonce comes from the wire.
		{"11-byte nonce", spec94Key, spec94Nonce[:11], spec94AAD, spec94Ciphertext, ErrDecrypt},
		{"16-byte nonce", spec94Key, spec94Nonce + "abcd", spec94AAD, spec94Ciphertext, ErrDecrypt},
		{"empty nonce", spec94Key, "", spec94AAD, spec94Ciphertext, ErrDecrypt},
		// AES-128 would "work" with a 16-byte key and silently disagree with clients.
		{"16-byte key", spec94Key[:16], spec94Nonce, spec94AAD, spec94Ciphertext, ErrInvalidKey},
		{"33-byte key", spec94Key + "x", spec94Nonce, spec94AAD, spec94Ciphertext, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecryptAEAD(tt.key, tt.nonce, tt.aad, tt.ct)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("plaintext returned with an error: %q", got)
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAEADRoundTrip(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("-----BEGIN CERTIFICATE-----\n"), 100)
	tests := []struct {
		name      string
		aad       string
		plaintext []byte
	}{
		{"webhook json", "facepay", []byte(spec94Plaintext)},
		{"empty associated data", "", []byte(`{"a":1}`)},
		{"empty plaintext", "x", nil},
		{"certificate-sized", CertificateAssociatedData, big},
		{"non-ascii", "facepay", []byte(`{"name":"张三"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct, err := EncryptAEAD(spec94Key, spec94Nonce, tt.aad, tt.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(mustB64(t, ct)); n != len(tt.plaintext)+16 {
				t.Fatalf("sealed length = %d, want plaintext+16 = %d", n, len(tt.plaintext)+16)
			}
			got, err := DecryptAEAD(spec94Key, spec94Nonce, tt.aad, ct)
			if err != nil || !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("round trip = %q, %v", got, err)
			}
			sdk, err := utils.DecryptAES256GCM(spec94Key, tt.aad, spec94Nonce, ct)
			if err != nil || sdk != string(tt.plaintext) {
				t.Fatalf("wechatpay-go decrypt = %q, %v", sdk, err)
			}
			for _, i := range []int{0, len(tt.plaintext) / 2, len(tt.plaintext) + 15} {
				if _, err := DecryptAEAD(spec94Key, spec94Nonce, tt.aad, flipByte(ct, i)); !errors.Is(err, ErrDecrypt) {
					t.Fatalf("flipped byte %d: err = %v", i, err)
				}
			}
		})
	}

	t.Run("same inputs as the spec vector reproduce it", func(t *testing.T) {
		t.Parallel()
		ct, err := EncryptAEAD(spec94Key, spec94Nonce, spec94AAD, []byte(spec94Plaintext))
		if err != nil || ct != spec94Ciphertext {
			t.Fatalf("EncryptAEAD = %s, %v", ct, err)
		}
	})

	t.Run("invalid inputs", func(t *testing.T) {
		t.Parallel()
		if _, err := EncryptAEAD(spec94Key[:24], spec94Nonce, "", nil); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("24-byte key: err = %v", err)
		}
		if _, err := EncryptAEAD(spec94Key, "short", "", nil); err == nil {
			t.Fatal("5-byte nonce accepted")
		}
	})
}

func TestOAEP(t *testing.T) {
	t.Parallel()
	key := platformKey()
	const phone = "13800138000"

	ct, err := EncryptOAEP(&key.PublicKey, []byte(phone))
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != 344 {
		t.Fatalf("ciphertext length = %d, want 344", len(ct))
	}
	got, err := DecryptOAEP(key, ct)
	if err != nil || string(got) != phone {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	// The most common client bug: SHA-256 OAEP parameters.
	if _, err := rsa.DecryptOAEP(sha256.New(), nil, key, mustB64(t, ct), nil); err == nil {
		t.Fatal("OAEP-SHA-256 decrypted a SHA-1 ciphertext")
	}
	sha256CT, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, []byte(phone), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptOAEP(key, base64.StdEncoding.EncodeToString(sha256CT)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("DecryptOAEP of an OAEP-SHA-256 ciphertext: err = %v", err)
	}
	ct2, err := EncryptOAEP(&key.PublicKey, []byte(phone))
	if err != nil {
		t.Fatal(err)
	}
	if ct2 == ct {
		t.Fatal("two encryptions of the same plaintext are identical")
	}

	t.Run("interoperates with wechatpay-go", func(t *testing.T) {
		t.Parallel()
		sdkCT, err := utils.EncryptOAEPWithPublicKey(phone, &key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecryptOAEP(key, sdkCT); err != nil || string(got) != phone {
			t.Fatalf("decrypt SDK ciphertext = %q, %v", got, err)
		}
		if got, err := utils.DecryptOAEP(ct, key); err != nil || got != phone {
			t.Fatalf("SDK decrypt of ours = %q, %v", got, err)
		}
	})

	tests := []struct {
		name string
		priv *rsa.PrivateKey
		ct   string
		want error
	}{
		{"wrong private key", otherKey(), ct, ErrDecrypt},
		{"flipped byte", key, flipByte(ct, 100), ErrDecrypt},
		{"truncated", key, base64.StdEncoding.EncodeToString(mustB64(t, ct)[:255]), ErrDecrypt},
		{"not base64", key, "*" + ct[1:], ErrDecrypt},
		{"empty", key, "", ErrDecrypt},
		{"nil key", nil, ct, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecryptOAEP(tt.priv, tt.ct)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("DecryptOAEP = %q, %v; want error %v", got, err, tt.want)
			}
		})
	}

	t.Run("size limit", func(t *testing.T) {
		t.Parallel()
		max := bytes.Repeat([]byte("9"), 214)
		ct, err := EncryptOAEP(&key.PublicKey, max)
		if err != nil {
			t.Fatalf("214 bytes: %v", err)
		}
		if got, err := DecryptOAEP(key, ct); err != nil || !bytes.Equal(got, max) {
			t.Fatalf("214-byte round trip: %v", err)
		}
		if _, err := EncryptOAEP(&key.PublicKey, append(max, '9')); err == nil {
			t.Fatal("215 bytes encrypted under a 2048-bit key")
		}
		if _, err := EncryptOAEP(nil, max); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("nil key: err = %v", err)
		}
	})
}
