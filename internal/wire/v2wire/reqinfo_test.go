package v2wire

import (
	"errors"
	"testing"

	"github.com/go-pay/gopay/wechat"
)

func TestReqInfoRoundTripWithGopay(t *testing.T) {
	t.Parallel()
	const key = "8934e7d15453e97507ef794cf7b0519d"
	m := NewMessage()
	m.Set("out_refund_no", "R-1")
	m.Set("out_trade_no", "T-1")
	m.Set("refund_id", "50300000000000000000000000001")
	m.Set("transaction_id", "4200000000000000000000000001")
	m.SetInt("refund_fee", 300)
	m.SetInt("total_fee", 1000)
	m.Set("refund_status", "SUCCESS")
	m.Set("refund_recv_accout", "支付用户零钱")
	m.Set("success_time", "2026-11-23 10:00:00")
	pt := m.Encode()
	for _, plain := range [][]byte{pt, pt[:32], pt[:33]} { // whole blocks get a full block of padding
		enc := EncryptReqInfo(key, plain)
		got, err := DecryptReqInfo(key, enc)
		if err != nil || string(got) != string(plain) {
			t.Fatalf("round trip of %d bytes: %v", len(plain), err)
		}
	}
	// gopay's own helper reads what we send.
	n, err := wechat.DecryptRefundNotifyReqInfo(EncryptReqInfo(key, pt), key)
	if err != nil || n.OutRefundNo != "R-1" || n.RefundFee != "300" || n.RefundStatus != "SUCCESS" || n.RefundRecvAccout != "支付用户零钱" {
		t.Fatalf("gopay decrypts %+v, %v", n, err)
	}
	enc := EncryptReqInfo(key, pt)
	for name, c := range map[string]struct{ key, v string }{
		"wrong key":  {"x" + key[1:], enc},
		"not base64": {key, "%%%"},
		"not blocks": {key, enc[:len(enc)-4]},
		"empty":      {key, ""},
	} {
		if _, err := DecryptReqInfo(c.key, c.v); !errors.Is(err, ErrReqInfo) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
