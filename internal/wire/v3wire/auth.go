package v3wire

import (
	"fmt"
	"strconv"
	"strings"
)

// Scheme is the only authorization scheme the APIv3 clients use.
const Scheme = "WECHATPAY2-SHA256-RSA2048"

// Authorization is the parsed request Authorization header. Fields keep their wire
// text: the signed message must be rebuilt from the exact timestamp and nonce sent.
type Authorization struct {
	MchID     string
	NonceStr  string
	Timestamp string
	SerialNo  string
	Signature string
}

const (
	keyMchID     = "mchid"
	keyNonceStr  = "nonce_str"
	keyTimestamp = "timestamp"
	keySerialNo  = "serial_no"
	keySignature = "signature"
)

// maxTimestampDigits bounds the timestamp to what fits an int64.
const maxTimestampDigits = 19

// ParseAuthorization parses `WECHATPAY2-SHA256-RSA2048 k="v",k="v",...`.
//
// Pair order is free because the spec makes it insignificant and client SDKs other
// than wechatpay-go need not follow its order. The grammar is otherwise the strict
// one of spec §2.2: one space after the scheme, no spaces around commas or '=',
// every value quoted, no quoted-pair escapes. Unknown keys are ignored, as RFC 7235 asks for
// auth-params, but must still be well-formed and not repeated; a repeated known key
// would let two parsers disagree on which value was signed.
func ParseAuthorization(h string) (Authorization, error) {
	a, err := parseAuthorization(h)
	if err != nil {
		// Partial fields must not leak: a caller logging or using them would act on
		// a header that was never accepted.
		return Authorization{}, err
	}
	return a, nil
}

func parseAuthorization(h string) (Authorization, error) {
	var a Authorization
	scheme, params, ok := strings.Cut(h, " ")
	// Auth schemes are case-insensitive (RFC 7235); nothing is gained by refusing
	// a client that spells it differently.
	if !strings.EqualFold(scheme, Scheme) {
		return a, fmt.Errorf("%w: unknown scheme", ErrInvalidAuthorization)
	}
	if !ok || params == "" {
		return a, fmt.Errorf("%w: no parameters", ErrInvalidAuthorization)
	}

	var seen [5]bool
	var unknown map[string]bool
	rest := params
	for {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return a, fmt.Errorf("%w: pair without '='", ErrInvalidAuthorization)
		}
		key := rest[:eq]
		if !validKey(key) {
			return a, fmt.Errorf("%w: bad key %q", ErrInvalidAuthorization, key)
		}
		rest = rest[eq+1:]
		if rest == "" || rest[0] != '"' {
			return a, fmt.Errorf("%w: value of %s is not quoted", ErrInvalidAuthorization, key)
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return a, fmt.Errorf("%w: unterminated value of %s", ErrInvalidAuthorization, key)
		}
		val := rest[1 : 1+end]
		if !validValue(val) {
			return a, fmt.Errorf("%w: bad character in value of %s", ErrInvalidAuthorization, key)
		}
		rest = rest[2+end:]

		var slot *string
		idx := -1
		switch key {
		case keyMchID:
			slot, idx = &a.MchID, 0
		case keyNonceStr:
			slot, idx = &a.NonceStr, 1
		case keyTimestamp:
			slot, idx = &a.Timestamp, 2
		case keySerialNo:
			slot, idx = &a.SerialNo, 3
		case keySignature:
			slot, idx = &a.Signature, 4
		}
		if idx >= 0 {
			if seen[idx] {
				return a, fmt.Errorf("%w: duplicate %s", ErrInvalidAuthorization, key)
			}
			seen[idx] = true
			*slot = val
		} else {
			if unknown == nil {
				unknown = make(map[string]bool)
			}
			if unknown[key] {
				return a, fmt.Errorf("%w: duplicate %s", ErrInvalidAuthorization, key)
			}
			unknown[key] = true
		}

		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return a, fmt.Errorf("%w: expected ',' after %s", ErrInvalidAuthorization, key)
		}
		rest = rest[1:]
	}

	for _, f := range []struct{ name, val string }{
		{keyMchID, a.MchID}, {keyNonceStr, a.NonceStr}, {keyTimestamp, a.Timestamp},
		{keySerialNo, a.SerialNo}, {keySignature, a.Signature},
	} {
		if f.val == "" {
			return a, fmt.Errorf("%w: missing or empty %s", ErrInvalidAuthorization, f.name)
		}
	}
	if !validTimestamp(a.Timestamp) {
		return a, fmt.Errorf("%w: timestamp is not a decimal Unix time", ErrInvalidAuthorization)
	}
	return a, nil
}

// TimestampUnix returns the timestamp in Unix seconds, or 0 when the field is not a
// valid decimal; a zero time is far outside any freshness window, so a caller that
// skips the error still rejects the request.
func (a Authorization) TimestampUnix() int64 {
	if !validTimestamp(a.Timestamp) {
		return 0
	}
	n, _ := strconv.ParseInt(a.Timestamp, 10, 64)
	return n
}

// String renders the header byte for byte as wechatpay-go does, so a request signed
// here is indistinguishable from one sent by the SDK.
func (a Authorization) String() string {
	var b strings.Builder
	b.Grow(len(Scheme) + 80 + len(a.MchID) + len(a.NonceStr) + len(a.Timestamp) + len(a.SerialNo) + len(a.Signature))
	b.WriteString(Scheme)
	b.WriteString(` mchid="`)
	b.WriteString(a.MchID)
	b.WriteString(`",nonce_str="`)
	b.WriteString(a.NonceStr)
	b.WriteString(`",timestamp="`)
	b.WriteString(a.Timestamp)
	b.WriteString(`",serial_no="`)
	b.WriteString(a.SerialNo)
	b.WriteString(`",signature="`)
	b.WriteString(a.Signature)
	b.WriteString(`"`)
	return b.String()
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validValue admits printable ASCII only. Backslash is refused because a client that
// meant it as a quoted-pair escape would otherwise be verified against other bytes
// than it signed.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

func validTimestamp(s string) bool {
	if s == "" || len(s) > maxTimestampDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	// 19 digits can still overflow int64.
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}
