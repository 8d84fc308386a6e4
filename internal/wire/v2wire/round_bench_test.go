package v2wire

import "testing"

// BenchmarkServerRound is the wire work of one facepay on the platform's side: read
// the request, check its HMAC-SHA256 sign, build, sign and write the answer. The
// client does the mirror image, so in `facepay bench pay` (client and server in one
// process) each payment costs this twice; allocations here are most of the garbage
// the collector then spends CPU on.
func BenchmarkServerRound(b *testing.B) {
	const key = "8934e7d15453e97507ef794cf7b0519d"
	req := NewMessage()
	for _, f := range [][2]string{{"appid", "wx2421b1c4370ec43b"}, {"mch_id", "1900000109"}, {"nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"},
		{"sign_type", "HMAC-SHA256"}, {"body", "bench"}, {"out_trade_no", "B1234567"}, {"total_fee", "1"}, {"fee_type", "CNY"},
		{"spbill_create_ip", "127.0.0.1"}, {"face_code", "FC0123456789ABCDEF0123456789ABC"}} {
		req.Set(f[0], f[1])
	}
	SignMessage(req, key, SignHMACSHA256)
	body := req.Encode()
	b.ReportAllocs()
	for b.Loop() {
		m, err := Decode(body)
		if err != nil || !Verify(m, key, SignHMACSHA256) {
			b.Fatal("the request does not verify", err)
		}
		out := NewMessage()
		out.Set("return_code", "SUCCESS")
		out.Set("return_msg", "OK")
		out.Set("appid", m.Get("appid"))
		out.Set("mch_id", m.Get("mch_id"))
		out.Set("nonce_str", "QYQGxX9uF5w8oFJtNMoSa8F1ab0t2NnO")
		out.Set("result_code", "SUCCESS")
		out.Set("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
		out.Set("is_subscribe", "N")
		out.Set("trade_type", "FACEPAY")
		out.Set("bank_type", "CFT")
		out.Set("fee_type", "CNY")
		out.SetInt("total_fee", 1)
		out.SetInt("cash_fee", 1)
		out.Set("cash_fee_type", "CNY")
		out.Set("transaction_id", "4200002026120451234567890123")
		out.Set("out_trade_no", m.Get("out_trade_no"))
		out.Set("time_end", "20261204151617")
		out.Set("sign_type", "HMAC-SHA256")
		SignMessage(out, key, SignHMACSHA256)
		if len(out.Encode()) == 0 {
			b.Fatal("empty answer")
		}
	}
}
