package termwire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func keyHex(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(pub.Bytes())
}

func TestSignVerify(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	msg := Message("POST", PathIdentify, "1764748800", "0123456789abcdefXYZ", []byte(`{"a":1}`))
	sig, err := Sign(k, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(keyHex(t, k), msg, sig); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	for name, c := range map[string]struct {
		key string
		msg []byte
		sig string
	}{
		"another key":         {keyHex(t, other), msg, sig},
		"another body":        {keyHex(t, k), Message("POST", PathIdentify, "1764748800", "0123456789abcdefXYZ", []byte(`{"a":2}`)), sig},
		"another path":        {keyHex(t, k), Message("POST", PathMember, "1764748800", "0123456789abcdefXYZ", []byte(`{"a":1}`)), sig},
		"another nonce":       {keyHex(t, k), Message("POST", PathIdentify, "1764748800", "0123456789abcdefXYZ0", []byte(`{"a":1}`)), sig},
		"truncated sig":       {keyHex(t, k), msg, sig[:20]},
		"a key off the curve": {"04" + hex.EncodeToString(make([]byte, 64)), msg, sig},
		"no key":              {"", msg, sig},
	} {
		if err := Verify(c.key, c.msg, c.sig); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

func TestTemplateRoundTrip(t *testing.T) {
	v := []float32{0.5, -0.25, 1e-7, 0}
	got, err := DecodeTemplate(EncodeTemplate(v))
	if err != nil || len(got) != len(v) {
		t.Fatalf("%v %v", got, err)
	}
	for i := range v {
		if got[i] != v[i] {
			t.Fatalf("value %d: %v, want %v", i, got[i], v[i])
		}
	}
	for name, s := range map[string]string{
		"not base64": "!!",
		"empty":      "",
		"3 bytes":    "AAAA",
		"NaN":        EncodeTemplate([]float32{float32(math.NaN())}),
		"infinity":   EncodeTemplate([]float32{float32(math.Inf(1))}),
		"too many":   EncodeTemplate(make([]float32, MaxDim+1)),
	} {
		if _, err := DecodeTemplate(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNonceAndTimestamp(t *testing.T) {
	for _, ok := range []string{"0123456789abcdef", "A1b2C3d4E5f6G7h8I9j0"} {
		if err := CheckNonce(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "short", "0123456789abcde!", string(make([]byte, 65))} {
		if CheckNonce(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseTimestamp("1764748800"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "-5", "0", "12a", "9999999999999"} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("timestamp %q accepted", bad)
		}
	}
}

// fixedKey is the same in every fuzz worker, so that seeds made by one verify in another.
func fixedKey() *ecdsa.PrivateKey {
	c := elliptic.P256()
	d := new(big.Int).SetBytes([]byte("openfacepay termwire fuzz key 01"))
	k := &ecdsa.PrivateKey{D: d}
	k.Curve = c
	k.X, k.Y = c.ScalarBaseMult(d.Bytes())
	return k
}

func FuzzVerify(f *testing.F) {
	k := fixedKey()
	pub, _ := k.PublicKey.ECDH()
	kh := hex.EncodeToString(pub.Bytes())
	msg := Message("POST", PathIdentify, "1764748800", "0123456789abcdef", []byte("{}"))
	sig, _ := Sign(k, msg)
	f.Add(kh, []byte("{}"), sig)
	f.Add("04", []byte(""), "AAAA")
	f.Fuzz(func(t *testing.T, key string, body []byte, sig string) {
		m := Message("POST", PathIdentify, "1764748800", "0123456789abcdef", body)
		if err := Verify(key, m, sig); err == nil && (!strings.EqualFold(key, kh) || string(body) != "{}") {
			t.Fatalf("a forged request verified: key %q body %q", key, body)
		}
	})
}

func FuzzDecodeTemplate(f *testing.F) {
	f.Add(EncodeTemplate([]float32{1, 2, 3}))
	f.Add("AAAAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := DecodeTemplate(s)
		if err != nil {
			return
		}
		if len(v) == 0 || len(v) > MaxDim {
			t.Fatalf("accepted %d values", len(v))
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatal("accepted a value that is not finite")
			}
		}
		if again, err := DecodeTemplate(EncodeTemplate(v)); err != nil || len(again) != len(v) {
			t.Fatal("a decoded template does not round-trip")
		}
	})
}
