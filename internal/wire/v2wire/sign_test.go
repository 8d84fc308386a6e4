package v2wire

import (
	"strings"
	"testing"
)

// specCaseABody is the §7 case A body, byte for byte.
const specCaseABody = `<xml>
  <appid><![CDATA[wx8b3a1c9d2e4f5a6b]]></appid>
  <mch_id><![CDATA[1900012345]]></mch_id>
  <store_id><![CDATA[STORE-001]]></store_id>
  <store_name><![CDATA[南山店]]></store_name>
  <device_id><![CDATA[KIOSK-07]]></device_id>
  <rawdata><![CDATA[Rk9PQkFSMTIz]]></rawdata>
  <now>1700000000</now>
  <version><![CDATA[1]]></version>
  <nonce_str><![CDATA[5K8264ILTKCH16CQ2502SI8ZNMTM67VS]]></nonce_str>
  <sign_type><![CDATA[MD5]]></sign_type>
  <sign><![CDATA[00BC3E3B049A94F5AC1A6B3A8B437D38]]></sign>
</xml>`

const (
	specKey      = "8934e7d15453e97507ef794cf7b0519d"
	specSignA    = "00BC3E3B049A94F5AC1A6B3A8B437D38"
	specSignB    = "43E2C6677171C8491A2F912F89EBD3528D2073D7609002D643530EC0D854A9D9"
	specStringA  = "appid=wx8b3a1c9d2e4f5a6b&device_id=KIOSK-07&mch_id=1900012345&nonce_str=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&now=1700000000&rawdata=Rk9PQkFSMTIz&sign_type=MD5&store_id=STORE-001&store_name=南山店&version=1"
	specStringAB = "appid=wx8b3a1c9d2e4f5a6b&device_id=KIOSK-07&mch_id=1900012345&nonce_str=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&now=1700000000&rawdata=Rk9PQkFSMTIz&sign_type=HMAC-SHA256&store_id=STORE-001&store_name=南山店&version=1"
)

func mustDecode(t testing.TB, body string) *Message {
	t.Helper()
	m, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

// caseB is case A re-signed with HMAC-SHA256, built field by field as a caller would.
func caseB() *Message {
	m := NewMessage()
	m.Set("appid", "wx8b3a1c9d2e4f5a6b")
	m.Set("mch_id", "1900012345")
	m.Set("store_id", "STORE-001")
	m.Set("store_name", "南山店")
	m.Set("device_id", "KIOSK-07")
	m.Set("attach", "")
	m.Set("rawdata", "Rk9PQkFSMTIz")
	m.SetInt("now", 1700000000)
	m.Set("version", "1")
	m.Set("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
	m.Set("sign_type", "HMAC-SHA256")
	return m
}

func crossCheck() *Message {
	m := NewMessage()
	m.Set("appid", "wxd930ea5d5a258f4f")
	m.Set("mch_id", "10000100")
	m.Set("device_info", "1000")
	m.Set("body", "test")
	m.Set("nonce_str", "ibuaiVcKdpRxkhJA")
	return m
}

func TestSignStringSpecExamples(t *testing.T) {
	t.Parallel()
	if got, want := signString(mustDecode(t, specCaseABody), specKey), specStringA+"&key="+specKey; got != want {
		t.Errorf("case A stringSignTemp\n got %s\nwant %s", got, want)
	}
	if got, want := signString(caseB(), specKey), specStringAB+"&key="+specKey; got != want {
		t.Errorf("case B stringSignTemp\n got %s\nwant %s", got, want)
	}
}

func TestSignVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  func(t *testing.T) *Message
		key  string
		st   SignType
		want string
	}{
		{"spec case A, decoded body", func(t *testing.T) *Message { return mustDecode(t, specCaseABody) }, specKey, SignMD5, specSignA},
		{"spec case B", func(*testing.T) *Message { return caseB() }, specKey, SignHMACSHA256, specSignB},
		{"public vector MD5", func(*testing.T) *Message { return crossCheck() }, "192006250b4c09247ec02edce69f6a2d", SignMD5, "9A0A8659F005D6984697E2CA0A9CF3B7"},
		{"public vector HMAC-SHA256", func(*testing.T) *Message { return crossCheck() }, "192006250b4c09247ec02edce69f6a2d", SignHMACSHA256, "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := tc.msg(t)
			if got := Sign(m, tc.key, tc.st); got != tc.want {
				t.Fatalf("Sign = %s, want %s", got, tc.want)
			}
			SignMessage(m, tc.key, tc.st)
			if m.Get("sign") != tc.want || !Verify(m, tc.key, tc.st) {
				t.Fatalf("SignMessage/Verify: sign=%q verify=%v", m.Get("sign"), Verify(m, tc.key, tc.st))
			}
			// The signature must survive the wire.
			if back := mustDecode(t, string(m.Encode())); !Verify(back, tc.key, tc.st) {
				t.Fatalf("Verify after Encode/Decode failed:\n%s", m.Encode())
			}
		})
	}
}

// TestSignCoverage checks which fields the signature covers, by comparing the
// signature of a variant with that of the spec's case A.
func TestSignCoverage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(m *Message)
		sameAs bool
	}{
		{"empty attach is excluded", func(m *Message) { m.Set("attach", "") }, true},
		{"empty field re-sent in the middle", func(m *Message) { m.Set("device_info", ""); m.Set("zz", "") }, true},
		{"old sign value is excluded", func(m *Message) { m.Set("sign", "WHATEVER") }, true},
		{"missing sign is excluded", func(m *Message) { m.Del("sign") }, true},
		{"field order is irrelevant", func(m *Message) { v := m.Get("appid"); m.Del("appid"); m.Set("appid", v) }, true},
		{"bare versus CDATA is irrelevant", func(m *Message) { m.Set("now", "1700000000") }, true},
		{"unknown field is included", func(m *Message) { m.Set("future_field", "x") }, false},
		{"zero is not empty", func(m *Message) { m.SetInt("attach", 0) }, false},
		{"sign_type is signed", func(m *Message) { m.Set("sign_type", "HMAC-SHA256") }, false},
		{"absent sign_type changes the string", func(m *Message) { m.Del("sign_type") }, false},
		{"names are case-sensitive", func(m *Message) { v := m.Get("appid"); m.Del("appid"); m.Set("AppID", v) }, false},
		{"values are not trimmed", func(m *Message) { m.Set("store_id", "STORE-001 ") }, false},
		{"values are not URL-decoded", func(m *Message) { m.Set("store_name", "%E5%8D%97%E5%B1%B1%E5%BA%97") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mustDecode(t, specCaseABody)
			tc.edit(m)
			got := Sign(m, specKey, SignMD5)
			if (got == specSignA) != tc.sameAs {
				t.Fatalf("Sign = %s; same as case A = %v, want %v", got, got == specSignA, tc.sameAs)
			}
		})
	}
}

func TestSignEmptyAttachOnTheWire(t *testing.T) {
	t.Parallel()
	body := strings.Replace(specCaseABody, "<rawdata>", "<attach></attach><rawdata>", 1)
	m := mustDecode(t, body)
	if !m.Has("attach") || m.Get("attach") != "" {
		t.Fatalf("attach not decoded as present and empty")
	}
	if !Verify(m, specKey, SignMD5) {
		t.Fatal("empty <attach></attach> broke the case A signature")
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(m *Message)
		key  string
		st   SignType
		want bool
	}{
		{"case A as sent", nil, specKey, SignMD5, true},
		{"lower-case hex refused", func(m *Message) { m.Set("sign", strings.ToLower(specSignA)) }, specKey, SignMD5, false},
		{"wrong key", nil, "8934e7d15453e97507ef794cf7b0519e", SignMD5, false},
		{"key of other case", nil, strings.ToUpper(specKey), SignMD5, false},
		{"wrong algorithm", nil, specKey, SignHMACSHA256, false},
		{"unknown algorithm", nil, specKey, SignType("SHA1"), false},
		{"missing sign", func(m *Message) { m.Del("sign") }, specKey, SignMD5, false},
		{"empty sign", func(m *Message) { m.Set("sign", "") }, specKey, SignMD5, false},
		{"sign with trailing space", func(m *Message) { m.Set("sign", specSignA+" ") }, specKey, SignMD5, false},
		{"truncated sign", func(m *Message) { m.Set("sign", specSignA[:31]) }, specKey, SignMD5, false},
		{"tampered value", func(m *Message) { m.Set("mch_id", "1900012346") }, specKey, SignMD5, false},
		{"added unknown field", func(m *Message) { m.Set("sub_mch_id", "1900098765") }, specKey, SignMD5, false},
		{"dropped field", func(m *Message) { m.Del("device_id") }, specKey, SignMD5, false},
		{"sign_type swapped after signing", func(m *Message) { m.Set("sign_type", "HMAC-SHA256") }, specKey, SignMD5, false},
		{"added empty field still fine", func(m *Message) { m.Set("attach", "") }, specKey, SignMD5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mustDecode(t, specCaseABody)
			if tc.edit != nil {
				tc.edit(m)
			}
			if got := Verify(m, tc.key, tc.st); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSignUnknownTypePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("Sign with an unknown SignType did not panic")
		}
	}()
	Sign(crossCheck(), "k", SignType("md5"))
}

func TestParseSignType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want SignType
		ok   bool
	}{
		{"", SignMD5, true},
		{"MD5", SignMD5, true},
		{"HMAC-SHA256", SignHMACSHA256, true},
		{"md5", "", false},
		{"hmac-sha256", "", false},
		{"HMAC_SHA256", "", false},
		{"SHA256", "", false},
		{" MD5", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseSignType(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ParseSignType(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func TestNonceStr(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 2000 {
		s := NonceStr()
		if len(s) != 32 {
			t.Fatalf("len(%q) = %d, want 32", s, len(s))
		}
		if strings.Trim(s, alnum) != "" {
			t.Fatalf("%q has characters outside [A-Za-z0-9]", s)
		}
		if strings.Contains(strings.ToLower(s), "html") {
			t.Fatalf("%q spells html", s)
		}
		if seen[s] {
			t.Fatalf("%q repeated", s)
		}
		seen[s] = true
	}
}

func TestHexToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, wantLen int
	}{{-1, 0}, {0, 0}, {1, 2}, {16, 32}, {32, 64}}
	for _, tc := range tests {
		a, b := HexToken(tc.n), HexToken(tc.n)
		if len(a) != tc.wantLen {
			t.Fatalf("len(HexToken(%d)) = %d, want %d", tc.n, len(a), tc.wantLen)
		}
		if strings.Trim(a, "0123456789ABCDEF") != "" {
			t.Fatalf("HexToken(%d) = %q is not upper-case hex", tc.n, a)
		}
		if tc.n >= 16 && a == b {
			t.Fatalf("HexToken(%d) repeated %q", tc.n, a)
		}
	}
}

func signString(m *Message, key string) string { return string(appendSignString(nil, m, key)) }
