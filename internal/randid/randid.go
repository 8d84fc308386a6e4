// Package randid makes the random parts of identifiers (order and contract numbers,
// codes, tokens) from crypto/rand. A failing system random source is not an error
// any caller can handle, so it panics.
package randid

import (
	"crypto/rand"
	"encoding/hex"
)

// Digits returns n random decimal digits, each uniform: a random byte below 250 gives
// its value mod 10, and the six above it are drawn again. Every payment's transaction
// id takes seven; one read of random bytes serves them, where a big.Int draw per digit
// cost a read and an allocation each.
func Digits(n int) string {
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		r := buf[:min(len(buf), n-len(out)+n/16+1)]
		if _, err := rand.Read(r); err != nil {
			panic("randid: no system randomness: " + err.Error())
		}
		for _, c := range r {
			if c < 250 && len(out) < n {
				out = append(out, '0'+c%10)
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
