// Package randid makes the random parts of identifiers (order and contract numbers,
// codes, tokens) from crypto/rand. A failing system random source is not an error
// any caller can handle, so it panics.
package randid

import (
	"crypto/rand"
	"encoding/hex"
)

// alnum is the alphabet of Alnum.
const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Digits returns n random decimal digits.
func Digits(n int) string { return From("0123456789", n) }

// Alnum returns n random characters of [A-Za-z0-9].
func Alnum(n int) string { return From(alnum, n) }

// From returns n characters of alphabet (at most 256 of them), each drawn uniformly:
// a random byte below the largest multiple of len(alphabet) that fits in a byte picks
// alphabet[byte % len], and the bytes above it are drawn again. Random bytes are read
// a few dozen at a time: a big.Int draw per character cost a read and allocations
// each (1.9 µs for the seven digits of every payment's transaction id, 0.11 µs now).
func From(alphabet string, n int) string {
	size := len(alphabet)
	limit := 256 / size * size
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		// What is still missing and a little over, so one read usually suffices.
		r := buf[:min(len(buf), n-len(out)+2)]
		if _, err := rand.Read(r); err != nil {
			panic("randid: no system randomness: " + err.Error())
		}
		for _, c := range r {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%size])
			}
		}
	}
	return string(out)
}

// Hex returns n random bytes as lower-case hex (2n characters).
func Hex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("randid: no system randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}
