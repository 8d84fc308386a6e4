package v3wire

import (
	"testing"
	"time"
)

// BenchmarkSignResponse and BenchmarkVerifyResponse measure what every v3 answer costs
// the platform and its caller: an RSA-2048 signature over the answer, and its check.
// A K12 debit pays two signatures (the caller's request, the platform's answer), so on
// a machine of two cores sixteen callers in flight queue on them alone for about
// 16 × 2 × BenchmarkSignResponse / 2 (see "Measured speed" in the README).
func BenchmarkSignResponse(b *testing.B) {
	key, body, now := fixedKey(), []byte(`{"out_trade_no":"K12-1","trade_state":"SUCCESS"}`), time.Now()
	for b.Loop() {
		if _, err := SignResponse(key, "5157F09EFDC096DE15EBE81A47057A72", body, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyResponse(b *testing.B) {
	key, body, now := fixedKey(), []byte(`{"out_trade_no":"K12-1","trade_state":"SUCCESS"}`), time.Now()
	h, err := SignResponse(key, "5157F09EFDC096DE15EBE81A47057A72", body, now)
	if err != nil {
		b.Fatal(err)
	}
	msg := ResponseMessage(h.Timestamp, h.Nonce, body)
	for b.Loop() {
		if err := VerifySHA256RSA(&key.PublicKey, msg, h.Signature); err != nil {
			b.Fatal(err)
		}
	}
}
