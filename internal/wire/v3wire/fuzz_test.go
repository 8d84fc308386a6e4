package v3wire

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	signed, err := SignRequest(fixedKey(), testMchID, testSerial, "POST", "/v3/offlineface/authinfo", []byte(spec91Body), time.Unix(1700000000, 0))
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		signed,
		Scheme + ` signature="SIG=",serial_no="S",timestamp="1700000000",nonce_str="N",mchid="1"`,
		Scheme + ` mchid="1",nonce_str="N",timestamp="1700000000",serial_no="S",signature="SIG=",x="a,b"`,
		"",
		Scheme,
		Scheme + " ",
		Scheme + ` mchid="1",mchid="1"`,
		Scheme + ` mchid=1`,
		Scheme + ` mchid="1`,
		Scheme + ` mchid="1",`,
		Scheme + ` mchid="1",nonce_str="N",timestamp="99999999999999999999",serial_no="S",signature="SIG="`,
		Scheme + ` mchid="a\"b",nonce_str="N",timestamp="1",serial_no="S",signature="SIG="`,
		`Bearer x`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			if !errors.Is(err, ErrInvalidAuthorization) || a != (Authorization{}) {
				t.Fatalf("error %v with fields %+v", err, a)
			}
			return
		}
		if a.MchID == "" || a.NonceStr == "" || a.Timestamp == "" || a.SerialNo == "" || a.Signature == "" {
			t.Fatalf("accepted %q with an empty field: %+v", h, a)
		}
		digits := strings.TrimLeft(a.Timestamp, "0")
		if digits == "" {
			digits = "0"
		}
		if ts := a.TimestampUnix(); strconv.FormatInt(ts, 10) != digits {
			t.Fatalf("accepted timestamp %q reads as %d", a.Timestamp, ts)
		}
		rendered := a.String()
		b, err := ParseAuthorization(rendered)
		if err != nil {
			t.Fatalf("re-rendered %q does not parse: %v", rendered, err)
		}
		if b != a {
			t.Fatalf("round trip changed fields: %+v -> %+v", a, b)
		}
		if b.String() != rendered {
			t.Fatalf("rendering is not stable: %q vs %q", b.String(), rendered)
		}
	})
}

// FuzzVerify keeps RSA signing out of the hot path: under coverage instrumentation a
// 2048-bit signature costs milliseconds and stalls input minimisation, while
// verification is cheap. Every fuzzed message or signature that differs from the
// seed pair is a modification of signed data and must not verify.
func FuzzVerify(f *testing.F) {
	key := fixedKey()
	pub := &key.PublicKey
	seedMsg := ResponseMessage("1700000001", "8f3c2a9e1b7d4c6a5e0f9b8d7c6a5e4f", []byte(`{"authinfo":"demo-authinfo"}`))
	seedSig, err := SignSHA256RSA(key, seedMsg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seedMsg, seedSig, uint(0), uint8(0))
	f.Add(seedMsg[:len(seedMsg)-1], seedSig, uint(72), uint8(7))
	f.Add([]byte{}, "", uint(1), uint8(3))
	f.Add(seedMsg, SignTestPrefix+seedSig, uint(343), uint8(1))
	f.Add(seedMsg, seedSig[:64]+"\n"+seedSig[64:], uint(5), uint8(2))
	f.Fuzz(func(t *testing.T, msg []byte, sig string, pos uint, bit uint8) {
		check := func(what string, err error, wantOK bool) {
			t.Helper()
			if wantOK && err != nil {
				t.Fatalf("%s: rejected: %v", what, err)
			}
			if !wantOK && err == nil {
				t.Fatalf("%s: verified", what)
			}
			if err != nil && !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("%s: error does not wrap ErrInvalidSignature: %v", what, err)
			}
		}
		check("fuzzed message, seed signature", VerifySHA256RSA(pub, msg, seedSig), bytes.Equal(msg, seedMsg))
		check("seed message, fuzzed signature", VerifySHA256RSA(pub, seedMsg, sig), sig == seedSig)

		// PKCS#1 v1.5 is deterministic and only canonical base64 is read, so an
		// accepted pair must be exactly what signing produces.
		if VerifySHA256RSA(pub, msg, sig) == nil {
			if good, err := SignSHA256RSA(key, msg); err != nil || good != sig {
				t.Fatalf("accepted signature %q is not the canonical one %q", sig, good)
			}
		}

		mask := byte(1) << (bit % 8)
		flipped := bytes.Clone(seedMsg)
		flipped[pos%uint(len(flipped))] ^= mask
		check("seed message with a bit flipped", VerifySHA256RSA(pub, flipped, seedSig), false)
		flippedSig := []byte(seedSig)
		flippedSig[pos%uint(len(flippedSig))] ^= mask
		check("seed signature with a bit flipped", VerifySHA256RSA(pub, seedMsg, string(flippedSig)), false)
	})
}
