package bill_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay/bill"
)

// The headers are copied from spec §4.2, not derived from the code under test.
const (
	headerAll            = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	headerSuccess        = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
	headerRefund         = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	headerRechargeRefund = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,返还手续费,费率,订单金额,申请退款金额"
	summaryHeader        = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)

var headers = map[string]string{
	"ALL": headerAll, "SUCCESS": headerSuccess, "REFUND": headerRefund,
	"RECHARGE_REFUND": headerRechargeRefund,
}

// workedExample is spec §7's body, byte for byte.
const workedExample = headerAll + "\n" +
	"`2026-11-22 08:15:03,`wx8888888888888888,`1900000109,`0,`kiosk-01,`4200002601202611220000000001,`FP20261122000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`SUCCESS,`CFT,`CNY,`12.00,`0.00,`0,`0,`0.00,`0.00,`,`,`午餐,`,`0.07000,`0.60%,`12.00,`0.00,`\n" +
	"`2026-11-22 12:01:47,`wx8888888888888888,`1900000109,`0,`kiosk-02,`4200002601202611220000000002,`FP20261122000002,`oUpF8uN0kZ3_Lq8vT2mWcYp5sXe1,`MICROPAY,`SUCCESS,`ICBC_DEBIT,`CNY,`8.00,`0.00,`0,`0,`0.00,`0.00,`,`,`晚餐,`table=12,`0.05000,`0.60%,`8.00,`0.00,`\n" +
	"`2026-11-22 12:30:10,`wx8888888888888888,`1900000109,`0,`kiosk-02,`4200002601202611220000000002,`FP20261122000002,`oUpF8uN0kZ3_Lq8vT2mWcYp5sXe1,`MICROPAY,`REFUND,`ICBC_DEBIT,`CNY,`0.00,`0.00,`50300002601202611220000000001,`RF20261122000001,`3.00,`0.00,`ORIGINAL,`SUCCESS,`晚餐,`table=12,`-0.02000,`0.60%,`0.00,`3.00,`\n" +
	summaryHeader + "\n" +
	"`3,`20.00,`3.00,`0.00,`0.10000,`20.00,`3.00\n"

var beijing = time.FixedZone("CST", 8*60*60)

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(time.DateTime, s, beijing)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustFee(t testing.TB, fen int64) int64 {
	t.Helper()
	f, err := bill.Fee(fen, "0.60%")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// exampleRows are the three trades of spec §7, as the payment domain would hand them
// over: the refund row carries the order's data as well, and Format hides what the
// refund layout does not show. The time is given in UTC to prove Format prints Beijing.
func exampleRows(t testing.TB) []bill.Row {
	t.Helper()
	lunch := bill.Row{
		Kind: bill.Payment, Time: at(t, "2026-11-22 08:15:03").UTC(),
		AppID: "wx8888888888888888", MchID: "1900000109", DeviceInfo: "kiosk-01",
		TransactionID: "4200002601202611220000000001", OutTradeNo: "FP20261122000001",
		OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TradeType: "MICROPAY", BankType: "CFT",
		SettlementTotalFee: 1200, TotalFee: 1200, Body: "午餐",
		ServiceFee: mustFee(t, 1200), Rate: "0.60%",
	}
	dinner := bill.Row{
		Kind: bill.Payment, Time: at(t, "2026-11-22 12:01:47"), TradeState: "SUCCESS",
		AppID: "wx8888888888888888", MchID: "1900000109", DeviceInfo: "kiosk-02",
		TransactionID: "4200002601202611220000000002", OutTradeNo: "FP20261122000002",
		OpenID: "oUpF8uN0kZ3_Lq8vT2mWcYp5sXe1", TradeType: "MICROPAY", BankType: "ICBC_DEBIT",
		FeeType: "CNY", SettlementTotalFee: 800, TotalFee: 800, Body: "晚餐", Attach: "table=12",
		ServiceFee: mustFee(t, 800), Rate: "0.60%",
	}
	refund := dinner
	refund.Kind = bill.Refund
	refund.TradeState = ""
	refund.Time = at(t, "2026-11-22 12:30:10")
	refund.RefundSuccess = at(t, "2026-11-22 12:30:12")
	refund.RefundID, refund.OutRefundNo = "50300002601202611220000000001", "RF20261122000001"
	refund.RefundFee, refund.RequestedRefundFee = 300, 300
	refund.RefundType, refund.RefundStatus = "ORIGINAL", "SUCCESS"
	refund.ServiceFee = mustFee(t, -300)
	return []bill.Row{lunch, dinner, refund}
}

// rechargeRefund is a 充值退款 on the lunch order, still on its way back.
func rechargeRefund(t testing.TB) bill.Row {
	r := exampleRows(t)[0]
	r.Kind, r.RechargeRefund = bill.Refund, true
	r.Time = at(t, "2026-11-22 13:00:00")
	r.RefundID, r.OutRefundNo = "50300002601202611220000000002", "RF20261122000002"
	r.RechargeRefundFee, r.RequestedRefundFee = 100, 100
	r.RefundType, r.RefundStatus = "ORIGINAL", "PROCESSING"
	r.ServiceFee = mustFee(t, -100)
	return r
}

func TestFormatWorkedExample(t *testing.T) {
	t.Parallel()
	for _, bt := range []string{"ALL", ""} {
		got, err := bill.Format(bt, bill.Direct, exampleRows(t))
		if err != nil {
			t.Fatalf("Format(%q): %v", bt, err)
		}
		if string(got) != workedExample {
			t.Errorf("Format(%q):\n%s\nwant:\n%s", bt, got, workedExample)
		}
		wellFormed(t, got, headerAll)
	}
}

func TestFormatBillTypes(t *testing.T) {
	t.Parallel()
	rows := append(exampleRows(t), rechargeRefund(t))
	const lunch = "`2026-11-22 08:15:03,`wx8888888888888888,`1900000109,`0,`kiosk-01,`4200002601202611220000000001,`FP20261122000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`SUCCESS,`CFT,`CNY,`12.00,`0.00,"
	const dinner = "`2026-11-22 12:01:47,`wx8888888888888888,`1900000109,`0,`kiosk-02,`4200002601202611220000000002,`FP20261122000002,`oUpF8uN0kZ3_Lq8vT2mWcYp5sXe1,`MICROPAY,`SUCCESS,`ICBC_DEBIT,`CNY,`8.00,`0.00,"
	tests := []struct {
		billType string
		want     string
	}{
		{"ALL", workedExample},
		{"SUCCESS", headerSuccess + "\n" +
			lunch + "`午餐,`,`0.07000,`0.60%,`12.00,`\n" +
			dinner + "`晚餐,`table=12,`0.05000,`0.60%,`8.00,`\n" +
			summaryHeader + "\n" +
			"`2,`20.00,`0.00,`0.00,`0.12000,`20.00,`0.00\n"},
		{"REFUND", headerRefund + "\n" +
			"`2026-11-22 12:30:10,`wx8888888888888888,`1900000109,`0,`kiosk-02,`4200002601202611220000000002,`FP20261122000002,`oUpF8uN0kZ3_Lq8vT2mWcYp5sXe1,`MICROPAY,`REFUND,`ICBC_DEBIT,`CNY,`0.00,`0.00," +
			"`2026-11-22 12:30:10,`2026-11-22 12:30:12,`50300002601202611220000000001,`RF20261122000001,`3.00,`0.00,`ORIGINAL,`SUCCESS,`晚餐,`table=12,`-0.02000,`0.60%,`0.00,`3.00,`\n" +
			summaryHeader + "\n" +
			"`1,`0.00,`3.00,`0.00,`-0.02000,`0.00,`3.00\n"},
		{"RECHARGE_REFUND", headerRechargeRefund + "\n" +
			"`2026-11-22 13:00:00,`wx8888888888888888,`1900000109,`0,`kiosk-01,`4200002601202611220000000001,`FP20261122000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`REFUND,`CFT,`CNY,`0.00,`0.00," +
			"`2026-11-22 13:00:00,`,`50300002601202611220000000002,`RF20261122000002,`0.00,`1.00,`ORIGINAL,`PROCESSING,`午餐,`,`-0.01000,`0.60%,`0.00,`1.00\n" +
			summaryHeader + "\n" +
			"`1,`0.00,`0.00,`1.00,`-0.01000,`0.00,`1.00\n"},
	}
	for _, tt := range tests {
		t.Run(tt.billType, func(t *testing.T) {
			t.Parallel()
			got, err := bill.Format(tt.billType, bill.Direct, rows)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			wellFormed(t, got, headers[tt.billType])
		})
	}
}

func TestFormatSelectsRows(t *testing.T) {
	t.Parallel()
	ex := exampleRows(t)
	revoked := ex[0]
	revoked.TradeState = "REVOKED"
	tests := []struct {
		name     string
		billType string
		rows     []bill.Row
		want     int // detail rows; 0 means No Bill Exist
	}{
		{"no rows", "ALL", nil, 0},
		{"success bill of a refund-only day", "SUCCESS", ex[2:], 0},
		{"refund bill of a payment-only day", "REFUND", ex[:2], 0},
		{"all bill of recharge refunds only", "ALL", []bill.Row{rechargeRefund(t)}, 0},
		{"recharge bill without recharge refunds", "RECHARGE_REFUND", ex, 0},
		{"revoked payment is in ALL", "ALL", []bill.Row{revoked}, 1},
		{"revoked payment is not a successful one", "SUCCESS", []bill.Row{revoked}, 0},
		{"refund without its payment", "ALL", ex[2:], 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := bill.Format(tt.billType, bill.Direct, tt.rows)
			if tt.want == 0 {
				var r *bill.Refusal
				if !errors.As(err, &r) || r.ReturnMsg != "No Bill Exist" || r.ErrorCode != "20002" {
					t.Fatalf("got %q, %v; want the No Bill Exist refusal", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wellFormed(t, got, headers[tt.billType])
			if n := strings.Count(string(got), "\n") - 3; n != tt.want {
				t.Errorf("%d detail rows, want %d", n, tt.want)
			}
		})
	}
}

// column returns field i of the first detail row, backtick removed.
func column(t *testing.T, text []byte, i int) string {
	t.Helper()
	_, rows, _ := parseTenpay(string(text))
	if len(rows) == 0 || i >= len(rows[0]) {
		t.Fatalf("no column %d in\n%s", i, text)
	}
	return rows[0][i]
}

func TestFormatAmounts(t *testing.T) {
	t.Parallel()
	const totalCol, feeCol = 18, 16 // in the SUCCESS layout
	tests := []struct {
		name  string
		total int64
		fee   int64
		wantT string
		wantF string
	}{
		{"zero", 0, 0, "0.00", "0.00000"},
		{"one fen", 1, 1, "0.01", "0.00001"},
		{"ten fen", 10, 1000, "0.10", "0.01000"},
		{"one yuan", 100, 100000, "1.00", "1.00000"},
		{"large", 1234567, 7407, "12345.67", "0.07407"},
		{"negative fee below one fen", 5, -1, "0.05", "-0.00001"},
		{"negative fee", 5, -2000, "0.05", "-0.02000"},
		{"extremes", math.MaxInt64, math.MinInt64, "92233720368547758.07", "-92233720368547.75808"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := exampleRows(t)[0]
			r.TotalFee, r.ServiceFee = tt.total, tt.fee
			got, err := bill.Format("SUCCESS", bill.Direct, []bill.Row{r})
			if err != nil {
				t.Fatal(err)
			}
			if v := column(t, got, totalCol); v != tt.wantT {
				t.Errorf("订单金额 %q, want %q", v, tt.wantT)
			}
			if v := column(t, got, feeCol); v != tt.wantF {
				t.Errorf("手续费 %q, want %q", v, tt.wantF)
			}
		})
	}
}

// TestFormatFeeRounding: each row's fee is rounded to fen on its own and the summary
// adds the printed fees; rounding the day's total instead would give other numbers.
func TestFormatFeeRounding(t *testing.T) {
	t.Parallel()
	base := exampleRows(t)[0]
	var rows []bill.Row
	for _, no := range []string{"A1", "A2", "A3"} {
		r := base
		r.OutTradeNo, r.TotalFee, r.SettlementTotalFee = no, 250, 250
		r.ServiceFee = mustFee(t, 250) // 1.5 fen -> 2 fen
		rows = append(rows, r)
	}
	refund := rows[0]
	refund.Kind = bill.Refund
	refund.RefundFee, refund.RequestedRefundFee = 250, 250
	refund.ServiceFee = mustFee(t, -250) // -1.5 fen -> -2 fen, not -1
	rows = append(rows, refund)
	tests := []struct {
		billType, summary string
	}{
		{"SUCCESS", "`3,`7.50,`0.00,`0.00,`0.06000,`7.50,`0.00"}, // 4.5 fen rounded once would be 0.05000
		{"REFUND", "`1,`0.00,`2.50,`0.00,`-0.02000,`0.00,`2.50"},
		{"ALL", "`4,`7.50,`2.50,`0.00,`0.04000,`7.50,`2.50"}, // 3 fen rounded once would be 0.03000
	}
	for _, tt := range tests {
		got, err := bill.Format(tt.billType, bill.Direct, rows)
		if err != nil {
			t.Fatal(err)
		}
		if last := lastLine(got); last != tt.summary {
			t.Errorf("%s summary %q, want %q", tt.billType, last, tt.summary)
		}
	}
}

func lastLine(text []byte) string {
	ls := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	return ls[len(ls)-1]
}

func TestFee(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fen     int64
		rate    string
		want    int64
		wantErr bool
	}{
		{1200, "0.60%", 7000, false}, // 7.2 fen, spec §7
		{800, "0.60%", 5000, false},  // 4.8 fen
		{-300, "0.60%", -2000, false},
		{250, "0.60%", 2000, false}, // exactly half
		{-250, "0.60%", -2000, false},
		{83, "0.60%", 0, false},    // 0.498
		{84, "0.60%", 1000, false}, // 0.504
		{1, "0.60%", 0, false},
		{0, "0.60%", 0, false},
		{100, "1.00%", 1000, false},
		{12345, "0.38%", 47000, false}, // 46.911
		{1000, "100.00%", 1000000, false},
		{1200, "0.6%", 0, true},
		{1200, "0.600%", 0, true},
		{1200, "0.60", 0, true},
		{1200, ".60%", 0, true},
		{1200, "-0.60%", 0, true},
		{1200, "1000.00%", 0, true},
		{1200, "", 0, true},
		{math.MaxInt64, "100.00%", 0, true},
		{math.MinInt64, "0.60%", 0, true},
	}
	for _, tt := range tests {
		got, err := bill.Fee(tt.fen, tt.rate)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Fee(%d, %q) = %d, %v; want %d, error %v", tt.fen, tt.rate, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errcode.Is(err, errcode.Invalid) {
			t.Errorf("Fee(%d, %q) error %v is not Invalid", tt.fen, tt.rate, err)
		}
	}
}

// TestFormatFreeText: the platform's handling of separators inside free text is
// unconfirmed; the spec's checklist (§8) removes them, so every parser it names still
// sees the header's column count. Quotes are kept: values are never quoted.
func TestFormatFreeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"plain 午餐 套餐", "plain 午餐 套餐"},
		{"a,b,,c", "abc"},
		{`say "hi", 'you'`, `say "hi" 'you'`},
		{"line1\nline2\r\nline3\r", "line1line2line3"},
		{"tick`tock", "ticktock"},
		{",`", ""},
		{"a,`b", "ab"},
		{"tab\there\x00\x7f", "tabhere"},
		{"<HTML><body>x</html>", "><body>x</html>"},
		{"<hTmL", ""},
		{"<ht<htmlml>", ">"},
		{"总交易单数", ""},
		{"总交易<html单数", ""},
		{"<ht总交易单数ml", ""},
		{"bad\xffutf8", "badutf8"},
	}
	fields := []struct {
		name string
		col  int // in the ALL layout
		set  func(*bill.Row, string)
	}{
		{"Body", 20, func(r *bill.Row, s string) { r.Body = s }},
		{"Attach", 21, func(r *bill.Row, s string) { r.Attach = s }},
		{"DeviceInfo", 4, func(r *bill.Row, s string) { r.DeviceInfo = s }},
		{"RateRemark", 26, func(r *bill.Row, s string) { r.RateRemark = s }},
	}
	for _, f := range fields {
		for _, tt := range tests {
			r := exampleRows(t)[0]
			f.set(&r, tt.in)
			got, err := bill.Format("ALL", bill.Direct, []bill.Row{r})
			if err != nil {
				t.Fatalf("%s %q: %v", f.name, tt.in, err)
			}
			wellFormed(t, got, headerAll)
			if v := column(t, got, f.col); v != tt.want {
				t.Errorf("%s %q printed as %q, want %q", f.name, tt.in, v, tt.want)
			}
		}
	}
}

func TestFormatRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		billType string
		layout   bill.Layout
		mutate   func(*bill.Row)
	}{
		{"unknown bill type", "all", bill.Direct, func(*bill.Row) {}},
		{"unknown layout", "ALL", 0, func(*bill.Row) {}},
		{"no kind", "ALL", bill.Direct, func(r *bill.Row) { r.Kind = 0 }},
		{"unknown kind", "ALL", bill.Direct, func(r *bill.Row) { r.Kind = 3 }},
		{"zero time", "ALL", bill.Direct, func(r *bill.Row) { r.Time = time.Time{} }},
		{"comma in out_trade_no", "ALL", bill.Direct, func(r *bill.Row) { r.OutTradeNo = "A,B" }},
		{"backtick in openid", "ALL", bill.Direct, func(r *bill.Row) { r.OpenID = "o`x" }},
		{"newline in transaction_id", "ALL", bill.Direct, func(r *bill.Row) { r.TransactionID = "42\n00" }},
		{"html in appid", "ALL", bill.Direct, func(r *bill.Row) { r.AppID = "<html>" }},
		{"marker in refund_id", "ALL", bill.Direct, func(r *bill.Row) { r.RefundID = "总交易单数" }},
		{"rate without two decimals", "ALL", bill.Direct, func(r *bill.Row) { r.Rate = "0.6%" }},
		{"no rate", "ALL", bill.Direct, func(r *bill.Row) { r.Rate = "" }},
		{"payment as recharge refund", "ALL", bill.Direct, func(r *bill.Row) { r.RechargeRefund = true }},
		{"service provider row without sub-merchant", "ALL", bill.ServiceProvider, func(r *bill.Row) { r.SubMchID = "" }},
		{"bad row outside the bill type", "REFUND", bill.Direct, func(r *bill.Row) { r.OpenID = "a,b" }},
		{"totals overflow", "ALL", bill.Direct, func(r *bill.Row) { r.TotalFee = math.MaxInt64 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := exampleRows(t)
			for i := range rows {
				rows[i].SubMchID = "1900000201"
			}
			tt.mutate(&rows[0])
			tt.mutate(&rows[1])
			got, err := bill.Format(tt.billType, tt.layout, rows)
			var r *bill.Refusal
			if err == nil || errors.As(err, &r) || !errcode.Is(err, errcode.Invalid) {
				t.Fatalf("got %q, %v; want an Invalid error", got, err)
			}
		})
	}
}

// TestFormatServiceProvider: §5 keeps the headers; 商户号 is the provider and
// 特约商户号 the sub-merchant, where a direct merchant's bill says 0.
func TestFormatServiceProvider(t *testing.T) {
	t.Parallel()
	rows := append(exampleRows(t), rechargeRefund(t))
	for i := range rows {
		rows[i].MchID, rows[i].SubMchID = "1900000100", "1900000201"
	}
	for bt, header := range headers {
		direct, err := bill.Format(bt, bill.Direct, rows)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := bill.Format(bt, bill.ServiceProvider, rows)
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, sp, header)
		dl := strings.Split(string(direct), "\n")
		sl := strings.Split(string(sp), "\n")
		if len(dl) != len(sl) || dl[0] != sl[0] || dl[len(dl)-2] != sl[len(sl)-2] {
			t.Fatalf("%s: layouts differ beyond the sub-merchant column:\n%s\n%s", bt, direct, sp)
		}
		for i := 1; i < len(dl)-3; i++ {
			df := strings.Split(dl[i], ",`")
			sf := strings.Split(sl[i], ",`")
			if df[2] != "1900000100" || sf[2] != "1900000100" {
				t.Errorf("%s line %d: 商户号 %q / %q, want the provider's", bt, i, df[2], sf[2])
			}
			if df[3] != "0" || sf[3] != "1900000201" {
				t.Errorf("%s line %d: 特约商户号 direct %q, provider %q", bt, i, df[3], sf[3])
			}
			df[3] = sf[3]
			if strings.Join(df, ",`") != sl[i] {
				t.Errorf("%s line %d differs beyond column 4:\n%s\n%s", bt, i, dl[i], sl[i])
			}
		}
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	for _, text := range [][]byte{[]byte(workedExample), {}} {
		z, err := bill.Gzip(text)
		if err != nil {
			t.Fatal(err)
		}
		if len(z) < 2 || z[0] != 0x1f || z[1] != 0x8b {
			t.Fatalf("not a gzip stream: % x", z[:min(len(z), 4)])
		}
		again, _ := bill.Gzip(text)
		if !bytes.Equal(z, again) {
			t.Error("the same bill compressed differently twice")
		}
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("gzip header carries name %q, time %v", zr.Name, zr.ModTime)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, text) {
			t.Errorf("round trip changed the bill:\n%s", got)
		}
	}
}

func TestParseBillType(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "ALL"}, {"ALL", "ALL"}, {"SUCCESS", "SUCCESS"}, {"REFUND", "REFUND"},
		{"RECHARGE_REFUND", "RECHARGE_REFUND"},
		{"all", ""}, {"REVOKED", ""}, {" ALL", ""},
	}
	for _, tt := range tests {
		got, err := bill.ParseBillType(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("ParseBillType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if err != nil && !errcode.Is(err, errcode.Invalid) {
			t.Errorf("ParseBillType(%q) error %v is not Invalid", tt.in, err)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	ready := at(t, "2026-11-23 10:00:00") // D+1 10:00 for 20261122
	tests := []struct {
		name                       string
		date, billType, tarType    string
		now                        time.Time
		wantMsg, wantCode, wantDay string // wantMsg "" means accepted
		wantType                   string
		wantGzip                   bool
	}{
		{"accepted at D+1 10:00:00", "20261122", "", "", ready, "", "", "2026-11-22 00:00:00", "ALL", false},
		{"gzip", "20261122", "REFUND", "GZIP", ready, "", "", "2026-11-22 00:00:00", "REFUND", true},
		{"D+1 09:59:59", "20261122", "SUCCESS", "", ready.Add(-time.Second), "Bill Creating", "", "2026-11-22 00:00:00", "SUCCESS", false},
		{"D+1 09:59:59 given in UTC", "20261122", "", "", time.Date(2026, 11, 23, 1, 59, 59, 0, time.UTC), "Bill Creating", "", "2026-11-22 00:00:00", "ALL", false},
		{"D+1 10:00:00 given in UTC", "20261122", "", "", time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC), "", "", "2026-11-22 00:00:00", "ALL", false},
		{"today", "20261123", "", "", at(t, "2026-11-23 23:59:59"), "Bill Creating", "", "2026-11-23 00:00:00", "ALL", false},
		{"today in Beijing, yesterday in UTC", "20261124", "", "", time.Date(2026, 11, 23, 16, 30, 0, 0, time.UTC), "Bill Creating", "", "2026-11-24 00:00:00", "ALL", false},
		{"tomorrow", "20261124", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"exactly 3 months back", "20260823", "", "", ready, "", "", "2026-08-23 00:00:00", "ALL", false},
		{"3 months and a day back", "20260822", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"3 months back from May 31 clamps to Feb 28", "20260228", "", "", at(t, "2026-05-31 12:00:00"), "", "", "2026-02-28 00:00:00", "ALL", false},
		{"a day before the clamped edge", "20260227", "", "", at(t, "2026-05-31 12:00:00"), "invalid bill_date", "20001", "", "", false},
		{"leap year edge", "20280229", "", "", at(t, "2028-05-31 12:00:00"), "", "", "2028-02-29 00:00:00", "ALL", false},
		{"missing bill_date", "", "ALL", "", ready, "missing parameter", "20001", "", "", false},
		{"short date", "2026112", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"dashed date", "2026-11-22", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"no such day", "20261131", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"signed year", "+0261122", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"month 13", "20261322", "", "", ready, "invalid bill_date", "20001", "", "", false},
		{"bad date before bad type", "2026112x", "FOO", "ZIP", ready, "invalid bill_date", "20001", "", "", false},
		{"lower-case bill_type", "20261122", "all", "", ready, "invalid bill_type", "20001", "", "", false},
		{"unknown bill_type", "20261122", "REVOKED", "", ready, "invalid bill_type", "20001", "", "", false},
		{"bad type before bad tar", "20261122", "FOO", "ZIP", ready, "invalid bill_type", "20001", "", "", false},
		{"lower-case tar_type", "20261122", "", "gzip", ready, "invalid tar_type, Only GZIP supported", "20001", "", "", false},
		{"zip tar_type", "20261122", "", "ZIP", ready, "invalid tar_type, Only GZIP supported", "20001", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := bill.CheckRequest(tt.date, tt.billType, tt.tarType, tt.now)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				var r *bill.Refusal
				if !errors.As(err, &r) {
					t.Fatalf("got %v, want refusal %q", err, tt.wantMsg)
				}
				if r.ReturnMsg != tt.wantMsg || r.ErrorCode != tt.wantCode {
					t.Fatalf("refusal %q/%q, want %q/%q", r.ReturnMsg, r.ErrorCode, tt.wantMsg, tt.wantCode)
				}
			}
			wantDay := time.Time{}
			if tt.wantDay != "" {
				wantDay = at(t, tt.wantDay)
			}
			if !req.Day.Equal(wantDay) || req.BillType != tt.wantType || req.Gzip != tt.wantGzip {
				t.Errorf("request %+v, want day %s type %q gzip %v", req, tt.wantDay, tt.wantType, tt.wantGzip)
			}
			if tt.wantDay != "" && req.Day.Format("-07:00") != "+08:00" {
				t.Errorf("day %v is not in Beijing time", req.Day)
			}
		})
	}
}

func TestRefuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg, text, code string
		domain          errcode.Code
	}{
		{bill.NoBillExist, "No Bill Exist", "20002", errcode.NotFound},
		{bill.BillCreating, "Bill Creating", "", errcode.Unavailable},
		{bill.InvalidBillDate, "invalid bill_date", "20001", errcode.Invalid},
		{bill.InvalidBillType, "invalid bill_type", "20001", errcode.Invalid},
		{bill.InvalidTarType, "invalid tar_type, Only GZIP supported", "20001", errcode.Invalid},
		{bill.NonceTooLong, "nonce_str too long", "20001", errcode.Invalid},
		{bill.SignError, "sign error", "20001", errcode.Unauthenticated},
		{bill.MissingParameter, "missing parameter", "20001", errcode.Invalid},
		{bill.InvalidAppID, "invalid appid", "20001", errcode.Invalid},
		{bill.InvalidParameter, "invalid parameter", "20001", errcode.Invalid},
		{bill.DataFormatError, "data format error", "20001", errcode.Invalid},
		{bill.EmptyPostData, "empty post data", "20001", errcode.Invalid},
		{bill.RequirePOST, "require POST method", "20001", errcode.Invalid},
		{bill.PermissionClosed, "当前商户号账单API权限已经关闭", "", errcode.Forbidden},
		{bill.CompressGZipError, "CompressGZip Error", "", errcode.Unavailable},
		{bill.UnCompressGZipError, "UnCompressGZip Error", "", errcode.Unavailable},
		{bill.SystemError, "system error", "", errcode.Unavailable},
	}
	for _, tt := range tests {
		r := bill.Refuse(tt.msg)
		if r.ReturnMsg != tt.text || r.ErrorCode != tt.code {
			t.Errorf("Refuse(%q) = %+v, want %q/%q", tt.msg, *r, tt.text, tt.code)
		}
		if got := errcode.CodeOf(r); got != tt.domain {
			t.Errorf("Refuse(%q) has domain code %s, want %s", tt.msg, got, tt.domain)
		}
		if !strings.Contains(r.Error(), tt.text) {
			t.Errorf("Refuse(%q).Error() = %q", tt.msg, r.Error())
		}
	}
}

// parseTenpay reads a bill as node-tenpay's _parseBill does (spec §8).
func parseTenpay(text string) (header []string, rows [][]string, summary []string) {
	var ls []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if l = strings.TrimSuffix(l, "\r"); l != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) < 3 {
		return nil, nil, nil
	}
	header = strings.Split(ls[0], ",")
	for _, l := range ls[1 : len(ls)-2] {
		rows = append(rows, strings.Split(l[1:], ",`"))
	}
	summary = strings.Split(ls[len(ls)-1][1:], ",`")
	return header, rows, summary
}

// parseWxJava reads a bill as WxPayBillResult.fromRawBillResultString does (spec §8).
func parseWxJava(text string) (cols int, rows [][]string, summary []string, ok bool) {
	cut := strings.Index(text, "总交易单数")
	if cut < 0 {
		return 0, nil, nil, false
	}
	chunks := strings.Split(strings.ReplaceAll(text[:cut], ",", " "), "`")
	cols = len(strings.Fields(chunks[0]))
	data := chunks[1:]
	if cols == 0 || len(data)%cols != 0 {
		return cols, nil, nil, false
	}
	for i := 0; i < len(data); i += cols {
		row := make([]string, cols)
		for j := range row {
			row[j] = strings.TrimSpace(data[i+j])
		}
		rows = append(rows, row)
	}
	for _, v := range strings.Split(strings.ReplaceAll(text[cut:], ",", " "), "`")[1:] {
		summary = append(summary, strings.TrimSpace(v))
	}
	return cols, rows, summary, len(summary) >= 5
}

// wellFormed checks what every client of §8 relies on, and that two of them read the
// same rows.
func wellFormed(t *testing.T, text []byte, header string) {
	t.Helper()
	s := string(text)
	if !utf8.ValidString(s) || strings.HasPrefix(s, "\uFEFF") || strings.HasPrefix(s, "<") {
		t.Fatalf("not plain UTF-8 text that cannot pass for XML:\n%q", s)
	}
	if strings.Contains(s, "\r") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("line ends are not \\n with a final \\n:\n%q", s)
	}
	if strings.Contains(strings.ToLower(s), "<html") {
		t.Fatalf("gopay would reject a body with <html:\n%s", s)
	}
	if strings.Count(s, "总交易单数") != 1 {
		t.Fatalf("WxJava cuts at the first 总交易单数; found %d:\n%s", strings.Count(s, "总交易单数"), s)
	}
	ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(ls) < 4 || ls[0] != header || ls[len(ls)-2] != summaryHeader {
		t.Fatalf("not header, rows, summary header, summary:\n%s", s)
	}
	n := strings.Count(header, ",") + 1
	backtickValues := func(l string, want int) {
		if !strings.HasPrefix(l, "`") || strings.Count(l, "`") != want || strings.Count(l, ",")+1 != want {
			t.Fatalf("line has not %d backtick values:\n%s", want, l)
		}
	}
	for _, l := range ls[1 : len(ls)-2] {
		backtickValues(l, n)
	}
	backtickValues(ls[len(ls)-1], 7)
	th, trows, tsum := parseTenpay(s)
	cols, wrows, wsum, ok := parseWxJava(s)
	if !ok || cols != n || len(th) != n || len(tsum) != 7 || len(wsum) != 7 {
		t.Fatalf("parsers disagree on the shape: WxJava ok %v cols %d, tenpay header %d, summaries %d/%d", ok, cols, len(th), len(tsum), len(wsum))
	}
	if len(trows) != len(ls)-3 || len(wrows) != len(trows) {
		t.Fatalf("rows: %d lines, tenpay %d, WxJava %d", len(ls)-3, len(trows), len(wrows))
	}
	for i := range trows {
		for j := range trows[i] {
			if strings.TrimSpace(trows[i][j]) != wrows[i][j] {
				t.Fatalf("row %d column %d: tenpay %q, WxJava %q", i, j, trows[i][j], wrows[i][j])
			}
		}
	}
}

func FuzzFormat(f *testing.F) {
	f.Add("ALL", false, "晚餐", "table=12", "kiosk-02", "", "FP20261122000002", int64(800), int64(5000), int64(300), false)
	f.Add("SUCCESS", true, "a,b`c\nd", "<html>", "总交易单数", ",`", "FP1", int64(1), int64(-1), int64(0), false)
	f.Add("REFUND", false, "\r\n", "\xff", "", "x", "RF1", int64(math.MaxInt64), int64(math.MinInt64), int64(-5), false)
	f.Add("RECHARGE_REFUND", true, "<ht<htmlml>", "总交易<html单数", "k", "", "FP2", int64(0), int64(0), int64(100), true)
	f.Add("", false, "", "", "", "", "", int64(0), int64(0), int64(0), true)
	f.Fuzz(func(t *testing.T, billType string, sp bool, body, attach, device, remark, outTradeNo string, total, fee, refundFee int64, recharge bool) {
		pay := bill.Row{
			Kind: bill.Payment, Time: time.Unix(total%(1<<40), 0),
			AppID: "wx8888888888888888", MchID: "1900000109", SubMchID: "1900000201",
			DeviceInfo: device, OutTradeNo: outTradeNo, TradeType: "MICROPAY",
			SettlementTotalFee: total, TotalFee: total, Body: body, Attach: attach,
			ServiceFee: fee, Rate: "0.60%", RateRemark: remark,
		}
		refund := pay
		refund.Kind, refund.RechargeRefund = bill.Refund, recharge
		refund.RefundFee, refund.RequestedRefundFee, refund.RechargeRefundFee = refundFee, refundFee, refundFee
		refund.ServiceFee = -fee
		layout := bill.Direct
		if sp {
			layout = bill.ServiceProvider
		}
		text, err := bill.Format(billType, layout, []bill.Row{pay, refund})
		if err != nil {
			if c := errcode.CodeOf(err); c != errcode.Invalid && c != errcode.NotFound {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		bt, _ := bill.ParseBillType(billType)
		wellFormed(t, text, headers[bt])
	})
}

func FuzzCheckRequest(f *testing.F) {
	f.Add("20261122", "ALL", "GZIP", int64(1795399200))
	f.Add("", "", "", int64(0))
	f.Add("+0261122", "all", "gzip", int64(-1))
	f.Fuzz(func(t *testing.T, date, billType, tarType string, unix int64) {
		req, err := bill.CheckRequest(date, billType, tarType, time.Unix(unix, 0))
		var r *bill.Refusal
		if err != nil && !errors.As(err, &r) {
			t.Fatalf("error %v is not a refusal", err)
		}
		if err == nil || r.ReturnMsg == bill.BillCreating {
			if req.Day.Format("20060102") != date {
				t.Fatalf("day %v for bill_date %q", req.Day, date)
			}
		}
	})
}

func FuzzFee(f *testing.F) {
	f.Add(int64(1200), "0.60%")
	f.Add(int64(-250), "0.60%")
	f.Add(int64(math.MinInt64), "999.99%")
	f.Fuzz(func(t *testing.T, fen int64, rate string) {
		fee, err := bill.Fee(fen, rate)
		if err != nil {
			return
		}
		if fee%1000 != 0 || (fee > 0 && fen < 0) || (fee < 0 && fen > 0) {
			t.Fatalf("Fee(%d, %q) = %d: not whole fen of the amount's sign", fen, rate, fee)
		}
	})
}

func BenchmarkFormat(b *testing.B) {
	ex := exampleRows(b)
	rows := make([]bill.Row, 0, 3000)
	for range 1000 {
		rows = append(rows, ex...)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bill.Format("ALL", bill.Direct, rows); err != nil {
			b.Fatal(err)
		}
	}
}
