package v3wire

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/credentials"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
)

const (
	testMchID  = "1900012345"
	testSerial = "3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C8B"
)

func TestParseAuthorizationFromSDK(t *testing.T) {
	t.Parallel()
	key := fixedKey()
	cred := credentials.WechatPayCredentials{Signer: &signers.SHA256WithRSASigner{
		MchID: testMchID, CertificateSerialNo: testSerial, PrivateKey: key,
	}}
	tests := []struct {
		name, method, uri, body string
	}{
		// wechatpay-go appends "\n" to JSON bodies and signs it; see client-compatibility.md.
		{"post json", "POST", "/v3/offlineface/authinfo", spec91Body + "\n"},
		{"get with query", "GET", "/v3/offlineface/transactions/out-trade-no/K12-20231115-0001?sp_mchid=1900012345&sub_mchid=1900098765&business_product_id=2", ""},
		{"certificates", "GET", "/v3/certificates", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now().Unix()
			h, err := cred.GenerateAuthorizationHeader(context.Background(), tt.method, tt.uri, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			a, err := ParseAuthorization(h)
			if err != nil {
				t.Fatalf("parse %q: %v", h, err)
			}
			if a.MchID != testMchID || a.SerialNo != testSerial {
				t.Fatalf("mchid/serial = %q/%q", a.MchID, a.SerialNo)
			}
			if ts := a.TimestampUnix(); ts < before || ts > time.Now().Unix() {
				t.Fatalf("timestamp %d outside [%d, now]", ts, before)
			}
			if len(a.NonceStr) != 32 || len(a.Signature) != 344 {
				t.Fatalf("nonce %q, signature length %d", a.NonceStr, len(a.Signature))
			}
			if got := a.String(); got != h {
				t.Fatalf("String() differs from the SDK header:\n got %s\nwant %s", got, h)
			}
			msg := RequestMessage(tt.method, tt.uri, a.Timestamp, a.NonceStr, []byte(tt.body))
			if err := VerifySHA256RSA(&key.PublicKey, msg, a.Signature); err != nil {
				t.Fatalf("SDK signature does not verify over the rebuilt message: %v", err)
			}
		})
	}
}

func TestParseAuthorizationAnyOrder(t *testing.T) {
	t.Parallel()
	want := Authorization{MchID: testMchID, NonceStr: "593BEC0C930BF1AFEB40B4A08C8FB242", Timestamp: "1700000000", SerialNo: testSerial, Signature: "c2lnbmF0dXJl+/=="}
	pairs := []string{
		`mchid="` + want.MchID + `"`,
		`nonce_str="` + want.NonceStr + `"`,
		`timestamp="` + want.Timestamp + `"`,
		`serial_no="` + want.SerialNo + `"`,
		`signature="` + want.Signature + `"`,
	}
	n := 0
	permute(pairs, 0, func(p []string) {
		n++
		h := Scheme + " " + strings.Join(p, ",")
		got, err := ParseAuthorization(h)
		if err != nil {
			t.Fatalf("parse %q: %v", h, err)
		}
		if got != want {
			t.Fatalf("parse %q = %+v", h, got)
		}
	})
	if n != 120 {
		t.Fatalf("tried %d orders, want 120", n)
	}
}

func permute(s []string, k int, visit func([]string)) {
	if k == len(s) {
		visit(s)
		return
	}
	for i := k; i < len(s); i++ {
		s[k], s[i] = s[i], s[k]
		permute(s, k+1, visit)
		s[k], s[i] = s[i], s[k]
	}
}

func TestParseAuthorizationAccepted(t *testing.T) {
	t.Parallel()
	const tail = `nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`
	base := Authorization{MchID: "1", NonceStr: "N", Timestamp: "1700000000", SerialNo: "S", Signature: "SIG="}
	tests := []struct {
		name string
		h    string
		want Authorization
	}{
		{"canonical", Scheme + ` mchid="1",` + tail, base},
		{"scheme in lower case", strings.ToLower(Scheme) + ` mchid="1",` + tail, base},
		{"unknown key ignored", Scheme + ` mchid="1",` + tail + `,extra="x"`, base},
		{"comma and equals inside a quoted unknown value", Scheme + ` x="a,b=c",mchid="1",` + tail, base},
		{"unknown key with empty value", Scheme + ` x="",mchid="1",` + tail, base},
		{"leading zeros in timestamp", Scheme + ` mchid="1",nonce_str="N",timestamp="0001700000000",serial_no="S",signature="SIG="`,
			Authorization{MchID: "1", NonceStr: "N", Timestamp: "0001700000000", SerialNo: "S", Signature: "SIG="}},
		{"largest int64 timestamp", Scheme + ` mchid="1",nonce_str="N",timestamp="9223372036854775807",serial_no="S",signature="SIG="`,
			Authorization{MchID: "1", NonceStr: "N", Timestamp: "9223372036854775807", SerialNo: "S", Signature: "SIG="}},
		{"public key id as serial", Scheme + ` mchid="1",nonce_str="N",timestamp="1700000000",serial_no="PUB_KEY_ID_01",signature="SIG="`,
			Authorization{MchID: "1", NonceStr: "N", Timestamp: "1700000000", SerialNo: "PUB_KEY_ID_01", Signature: "SIG="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAuthorization(tt.h)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.h, err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseAuthorizationMalformed(t *testing.T) {
	t.Parallel()
	const ok = `mchid="1",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`
	withTS := func(ts string) string {
		return Scheme + ` mchid="1",nonce_str="N",timestamp="` + ts + `",serial_no="S",signature="SIG="`
	}
	tests := []struct{ name, h string }{
		{"empty", ""},
		{"other scheme", `Bearer ` + ok},
		{"v2-looking scheme", `WECHATPAY2-SHA256-RSA ` + ok},
		{"scheme glued to params", Scheme + ok},
		{"scheme only", Scheme},
		{"scheme and space only", Scheme + " "},
		{"two spaces after scheme", Scheme + "  " + ok},
		{"tab after scheme", Scheme + "\t" + ok},
		{"leading space", " " + Scheme + " " + ok},
		{"missing mchid", Scheme + ` nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"missing nonce_str", Scheme + ` mchid="1",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"missing timestamp", Scheme + ` mchid="1",nonce_str="N",serial_no="S",signature="SIG="`},
		{"missing serial_no", Scheme + ` mchid="1",nonce_str="N",timestamp="1700000000",signature="SIG="`},
		{"missing signature", Scheme + ` mchid="1",nonce_str="N",timestamp="1700000000",serial_no="S"`},
		{"empty mchid", Scheme + ` mchid="",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"empty signature", Scheme + ` mchid="1",nonce_str="N",timestamp="1700000000",serial_no="S",signature=""`},
		{"duplicate known key", Scheme + ` ` + ok + `,mchid="2"`},
		{"duplicate known key, same value", Scheme + ` ` + ok + `,signature="SIG="`},
		{"duplicate unknown key", Scheme + ` x="1",` + ok + `,x="2"`},
		{"unquoted value", Scheme + ` mchid=1,nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"single-quoted value", Scheme + ` mchid='1',nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"unterminated quote", Scheme + ` mchid="1",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG=`},
		{"garbage after value", Scheme + ` mchid="1"x,nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"trailing comma", Scheme + ` ` + ok + `,`},
		{"space after comma", Scheme + ` mchid="1", nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"space around equals", Scheme + ` mchid = "1",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"pair without equals", Scheme + ` mchid,` + ok},
		{"empty key", Scheme + ` ="x",` + ok},
		{"semicolon separator", Scheme + ` mchid="1";nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"escaped quote", Scheme + ` x="a\"b",` + ok},
		{"backslash in value", Scheme + ` mchid="1\\",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"control byte in value", Scheme + ` mchid="1\x00",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"non-ascii in value", Scheme + ` mchid="一",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"upper-case key", Scheme + ` MCHID="1",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG="`},
		{"timestamp with letter", withTS("17000000a0")},
		{"negative timestamp", withTS("-1700000000")},
		{"signed timestamp", withTS("+1700000000")},
		{"fractional timestamp", withTS("1700000000.5")},
		{"timestamp in ms, 20 digits", withTS("17000000000000000000")},
		{"19-digit timestamp overflowing int64", withTS("9223372036854775808")},
		{"spaced timestamp", withTS(" 1700000000")},
		{"empty timestamp", withTS("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAuthorization(tt.h)
			if !errors.Is(err, ErrInvalidAuthorization) {
				t.Fatalf("parse %q: err = %v, want ErrInvalidAuthorization", tt.h, err)
			}
			if got != (Authorization{}) {
				t.Fatalf("parse %q returned fields %+v alongside an error", tt.h, got)
			}
		})
	}
}

func TestTimestampUnix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ts   string
		want int64
	}{
		{"1700000000", 1700000000},
		{"0", 0},
		{"9223372036854775807", math.MaxInt64},
		{"9223372036854775808", 0},
		{"", 0},
		{"-5", 0},
		{"17e8", 0},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.ts), func(t *testing.T) {
			t.Parallel()
			if got := (Authorization{Timestamp: tt.ts}).TimestampUnix(); got != tt.want {
				t.Fatalf("TimestampUnix() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAuthorizationString(t *testing.T) {
	t.Parallel()
	a := Authorization{MchID: "1900012345", NonceStr: "593BEC0C930BF1AFEB40B4A08C8FB242", Timestamp: "1700000000", SerialNo: testSerial, Signature: "AB+/=="}
	want := `WECHATPAY2-SHA256-RSA2048 mchid="1900012345",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1700000000",serial_no="3A1F0C9B7E2D4C5A6B8F9E0D1C2B3A4F5E6D7C8B",signature="AB+/=="`
	if got := a.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
}
