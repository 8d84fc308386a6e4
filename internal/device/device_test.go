package device

import (
	"bytes"
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
