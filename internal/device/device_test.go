package device

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/seal"
)

func TestRawdataRoundTrip(t *testing.T) {
	t.Parallel()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	raw, err := MakeRawdata(id, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > MaxRawdata {
		t.Fatalf("rawdata is %d characters", len(raw))
	}
	got, err := ParseRawdata(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeviceID != id.ID || !got.PublicKey.Equal(&id.Key.PublicKey) || !got.Created.Equal(now) {
		t.Fatalf("parsed %+v", got)
	}
	other, _ := NewIdentity()
	otherRaw, _ := MakeRawdata(other, now)
	// Any single changed character is refused; so is a key swapped in from another terminal.
	swapped := raw[:len(raw)-128-130] + otherRaw[len(otherRaw)-128-130:len(otherRaw)-128] + raw[len(raw)-128:]
	cases := map[string]string{
		"empty":       "",
		"bad prefix":  "RD2" + raw[3:],
		"not hex":     raw[:10] + "ZZ" + raw[12:],
		"truncated":   raw[:len(raw)-2],
		"flipped id":  raw[:40] + flip(raw[40]) + raw[41:],
		"flipped sig": raw[:len(raw)-1] + flip(raw[len(raw)-1]),
		"swapped key": swapped,
		"too long":    raw + strings.Repeat("0", MaxRawdata),
	}
	for name, s := range cases {
		if _, err := ParseRawdata(s); !errors.Is(err, ErrRawdata) {
			t.Errorf("%s: %v, want ErrRawdata", name, err)
		}
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func FuzzParseRawdata(f *testing.F) {
	id, _ := NewIdentity()
	raw, _ := MakeRawdata(id, time.Unix(1700000000, 0))
	f.Add(raw)
	f.Add("RD1")
	f.Add("RD1" + strings.Repeat("00", 200))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRawdata(s)
		if err == nil && (r.PublicKey == nil || r.DeviceID == "") {
			t.Fatal("accepted rawdata without identity")
		}
	})
}

func TestAuthInfo(t *testing.T) {
	t.Parallel()
	s, _ := seal.New(bytes.Repeat([]byte{1}, 32))
	now := time.Unix(1700000000, 0)
	a := AuthInfo{MchID: "1900000001", AppID: "wx1", StoreID: "S1", DeviceID: "D1", SDKDeviceID: "SDK-1", IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	tok := a.Seal(s)
	if strings.Contains(strings.ToLower(tok), "html") || strings.Contains(tok, "1900000001") {
		t.Fatalf("token is not opaque hex: %s", tok)
	}
	got, err := OpenAuthInfo(s, tok, now.Add(time.Hour-time.Second))
	if err != nil || got != a {
		t.Fatalf("open: %+v %v", got, err)
	}
	if _, err := OpenAuthInfo(s, tok, now.Add(time.Hour)); !errors.Is(err, ErrAuthInfoExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	other, _ := seal.New(bytes.Repeat([]byte{2}, 32))
	for name, c := range map[string]struct {
		s   Sealer
		tok string
	}{
		"another platform": {other, tok},
		"tampered":         {s, tok[:len(tok)-1] + flip(tok[len(tok)-1])},
		"garbage":          {s, "AI1XYZ"},
		"no prefix":        {s, tok[3:]},
	} {
		if _, err := OpenAuthInfo(c.s, c.tok, now); !errors.Is(err, ErrAuthInfoInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzOfflineCredential: whatever a service provider sends as auth_code, parsing
// never panics, and nothing but the kiosk's own signature verifies.
func FuzzOfflineCredential(f *testing.F) {
	id, _ := NewIdentity()
	other, _ := NewIdentity()
	good, _ := MintOfflineCredential(id.Key, OfflineClaims{AuthInfo: "AI1ABCD", UserID: "U1", Amount: 100, IssuedAt: 1, Nonce: "n"})
	f.Add(good)
	f.Add("OF1.e30.AAAA")
	f.Add("OF1..")
	keyHex := Rawdata{PublicKey: &id.Key.PublicKey}.KeyHex()
	otherHex := Rawdata{PublicKey: &other.Key.PublicKey}.KeyHex()
	f.Fuzz(func(t *testing.T, s string) {
		_, perr := ParseOfflineCredential(s)
		verr := VerifyOfflineCredential(s, keyHex)
		if verr == nil && perr == nil && s != good {
			// Only an encoding variant of the one good credential could verify.
			c, _ := ParseOfflineCredential(s)
			if c.UserID != "U1" || c.Amount != 100 {
				t.Fatalf("a forged credential verifies: %q", s)
			}
		}
		if VerifyOfflineCredential(s, otherHex) == nil {
			t.Fatalf("a credential verifies with another kiosk's key: %q", s)
		}
	})
}

func TestOfflineCredential(t *testing.T) {
	id, _ := NewIdentity()
	c := OfflineClaims{AuthInfo: "AI1ABCD", UserID: "U1", Amount: 100, IssuedAt: 1700000000, Nonce: "n1"}
	s, err := MintOfflineCredential(id.Key, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseOfflineCredential(s)
	if err != nil || got != c {
		t.Fatalf("parse: %+v %v", got, err)
	}
	if err := VerifyOfflineCredential(s, Rawdata{PublicKey: &id.Key.PublicKey}.KeyHex()); err != nil {
		t.Fatal(err)
	}
	// Raising the amount in the claims breaks the signature.
	c.Amount = 10000
	forged, _ := MintOfflineCredential(id.Key, c)
	tampered := forged[:strings.LastIndex(forged, ".")] + s[strings.LastIndex(s, "."):]
	if VerifyOfflineCredential(tampered, Rawdata{PublicKey: &id.Key.PublicKey}.KeyHex()) == nil {
		t.Fatal("claims with another amount verify under the first signature")
	}
	if _, err := MintOfflineCredential(id.Key, OfflineClaims{AuthInfo: "A", UserID: "U", Amount: 0, Nonce: "n"}); err == nil {
		t.Fatal("a credential for 0 fen was minted")
	}
}

// TestSealToDevice: data sealed to a terminal's key opens only with that terminal's
// private key and the same associated data, and any change to it is refused.
func TestSealToDevice(t *testing.T) {
	id, _ := NewIdentity()
	other, _ := NewIdentity()
	keyHex := Rawdata{PublicKey: &id.Key.PublicKey}.KeyHex()
	msg := []byte(`{"users":[{"user_id":"U2026120300000001"}]}`)
	s, err := SealToDevice(keyHex, msg, []byte("library:8001"))
	if err != nil {
		t.Fatal(err)
	}
	// Neither the text nor its bytes under the encoding show through.
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "DS1."))
	if strings.Contains(s, "U2026120300000001") || bytes.Contains(raw, []byte("U2026120300000001")) {
		t.Fatal("sealed data shows its plaintext")
	}
	got, err := OpenOnDevice(id.Key, s, []byte("library:8001"))
	if err != nil || string(got) != string(msg) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := OpenOnDevice(other.Key, s, []byte("library:8001")); err == nil {
		t.Fatal("another terminal's key opened it")
	}
	if _, err := OpenOnDevice(id.Key, s, []byte("library:8002")); err == nil {
		t.Fatal("it opened for another school's library")
	}
	b := []byte(s)
	b[len(b)-3] ^= 1
	if _, err := OpenOnDevice(id.Key, string(b), []byte("library:8001")); err == nil {
		t.Fatal("altered data opened")
	}
	if s2, _ := SealToDevice(keyHex, msg, []byte("library:8001")); s2 == s {
		t.Fatal("two sealings are identical: the ephemeral key is not fresh")
	}
}
