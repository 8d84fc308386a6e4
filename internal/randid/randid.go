// Package randid makes the random parts of identifiers (order and contract numbers,
// codes, tokens) from crypto/rand. A failing system random source is not an error
// any caller can handle, so it panics.
package randid

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
)

// Digits returns n random decimal digits.
func Digits(n int) string {
	b := make([]byte, n)
	ten := big.NewInt(10)
	for i := range b {
		v, err := rand.Int(rand.Reader, ten)
		if err != nil {
			panic("randid: no system randomness: " + err.Error())
		}
		b[i] = byte('0' + v.Int64())
	}
	return string(b)
}

// Hex returns n random bytes as lower-case hex (2n characters).
func Hex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("randid: no system randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}
