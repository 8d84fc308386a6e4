package v2wire

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/openfacepay/openfacepay/internal/randid"
)

// SignType names a v2 signature algorithm as spelled in the sign_type field.
type SignType string

const (
	SignMD5        SignType = "MD5"
	SignHMACSHA256 SignType = "HMAC-SHA256"
)

// ParseSignType maps a sign_type value to its algorithm. An absent sign_type means
// MD5 (the v2 default); any other spelling, including other letter cases, is refused
// because the platform documents only these exact values.
func ParseSignType(s string) (SignType, bool) {
	switch s {
	case "", string(SignMD5):
		return SignMD5, true
	case string(SignHMACSHA256):
		return SignHMACSHA256, true
	}
	return "", false
}

// appendSignString appends stringSignTemp to dst. Every non-empty field except sign is
// covered, unknown ones included, so that a verifier accepts fields added in the
// future and a field nobody signed cannot be slipped in. Values are raw: no escaping,
// no trimming. Up to 32 fields sort on the stack.
func appendSignString(dst []byte, m *Message, key string) []byte {
	var stack [32]field
	fs := stack[:0]
	n := len("&key=") + len(key)
	for _, f := range m.fields {
		if f.name == "sign" || f.value == "" {
			continue
		}
		fs = append(fs, f)
		n += len(f.name) + len(f.value) + 2
	}
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.name, b.name) })
	dst = slices.Grow(dst, n)
	for i, f := range fs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, f.name...)
		dst = append(dst, '=')
		dst = append(dst, f.value...)
	}
	dst = append(dst, "&key="...)
	return append(dst, key...)
}

// Sign computes the v2 signature of m under key: upper-case hex of MD5, or of
// HMAC-SHA256 keyed with key, over the same stringSignTemp (the key is both the HMAC
// key and appended, as the public test vector shows). An unknown st is a programming
// error (use the constants or ParseSignType) and panics rather than emit a signature
// no client can check.
func Sign(m *Message, key string, st SignType) string {
	var buf [512]byte // most messages' stringSignTemp fits: no allocation for it
	msg := appendSignString(buf[:0], m, key)
	var sum [sha256.Size]byte
	var n int
	switch st {
	case SignMD5:
		s := md5.Sum(msg)
		n = copy(sum[:], s[:])
	case SignHMACSHA256:
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(msg)
		n = len(mac.Sum(sum[:0]))
	default:
		panic("v2wire: unknown sign type " + strconv.Quote(string(st)))
	}
	const upperHex = "0123456789ABCDEF"
	var out [2 * sha256.Size]byte
	for i, c := range sum[:n] {
		out[2*i], out[2*i+1] = upperHex[c>>4], upperHex[c&0x0f]
	}
	return string(out[:2*n])
}

// SignMessage sets m's sign field to Sign(m, key, st). Any earlier sign is ignored by
// Sign and replaced in place. Fields set afterwards are not covered, so sign last.
func SignMessage(m *Message, key string, st SignType) {
	m.Set("sign", Sign(m, key, st))
}

// Verify reports whether m's sign matches. Only upper-case hex is accepted: the
// platform emits upper case, and accepting variants would only widen what a forger
// may send. An unknown st or a missing sign is simply false.
func Verify(m *Message, key string, st SignType) bool {
	if st != SignMD5 && st != SignHMACSHA256 {
		return false
	}
	got := m.Get("sign")
	if got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(Sign(m, key, st))) == 1
}

// NonceStr returns 32 random characters from [A-Za-z0-9], the longest nonce_str v2
// allows. Draws that contain "html" in any letter case are repeated: gopay takes any
// answer containing "html" or "HTML" for an error page, and nonce_str is echoed in
// answers. That costs about 2e-6 of the draws, a negligible loss of entropy.
func NonceStr() string {
	for {
		s := randid.Alnum(32)
		if !strings.Contains(strings.ToLower(s), "html") {
			return s
		}
	}
}

// HexToken returns the upper-case hex of nBytes random bytes ("" for nBytes <= 0).
// Use it for opaque tokens in v2 answers (authinfo, ids): the alphabet 0-9A-F cannot
// spell "html", which base64 or alphanumerics can.
func HexToken(nBytes int) string {
	if nBytes <= 0 {
		return ""
	}
	b := make([]byte, nBytes)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
