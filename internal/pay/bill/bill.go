package bill

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// Kind tells a payment row from a refund row.
type Kind int

// The kinds of detail row.
const (
	Payment Kind = iota + 1
	Refund
)

// The values of bill_type.
const (
	TypeAll            = "ALL"
	TypeSuccess        = "SUCCESS"
	TypeRefund         = "REFUND"
	TypeRechargeRefund = "RECHARGE_REFUND"
)

// Row is one line of the detail section. Money is int64 fen except ServiceFee.
//
// A Row may carry both the order's and the refund's data: Format prints only what
// the row's Kind shows (spec §4.5: payment rows have 0 / 0.00 / empty in the refund
// columns; refund rows have 0.00 in the order-amount columns).
type Row struct {
	Kind Kind
	// Payment: time_end. Refund: when the refund was initiated, not when it arrived.
	Time time.Time
	// When the refund arrived; zero while it has not. Printed only by REFUND and
	// RECHARGE_REFUND bills.
	RefundSuccess time.Time

	AppID, MchID, SubMchID, DeviceInfo string
	TransactionID, OutTradeNo, OpenID  string

	TradeType  string // e.g. MICROPAY
	TradeState string // empty means SUCCESS on payment rows, REFUND on refund rows
	BankType   string // e.g. OTHERS
	FeeType    string // empty means CNY

	SettlementTotalFee int64 // 应结订单金额
	CouponFee          int64 // 代金券金额

	RefundID, OutRefundNo string
	RefundFee             int64  // 退款金额 (settlement_refund_fee)
	RechargeRefundFee     int64  // 充值券退款金额
	RefundType            string // ORIGINAL or BALANCE
	RefundStatus          string // SUCCESS or PROCESSING

	Body, Attach string

	// ServiceFee is 手续费 in units of 0.00001 yuan (1/1000 fen), the precision the
	// bill prints, so Format never rounds: the fee on the row is the fee printed.
	// Refund rows carry the fee given back, negative. Fee computes it as the spec does.
	ServiceFee int64
	Rate       string // 费率 as printed: digits, a point, two decimals, "%" ("0.60%")

	TotalFee           int64 // 订单金额
	RequestedRefundFee int64 // 申请退款金额
	RateRemark         string

	// RechargeRefund marks a refund as a 充值退款 order: the platform lists those only
	// in RECHARGE_REFUND bills and keeps them out of ALL and REFUND.
	RechargeRefund bool
}

// Layout is who downloads: a direct merchant or a service provider (spec §5).
type Layout int

// The layouts.
const (
	Direct Layout = iota + 1
	ServiceProvider
)

// ParseBillType validates bill_type ("" means ALL) and returns the canonical value.
func ParseBillType(s string) (string, error) {
	switch s {
	case "":
		return TypeAll, nil
	case TypeAll, TypeSuccess, TypeRefund, TypeRechargeRefund:
		return s, nil
	}
	return "", errcode.E(errcode.Invalid, "unknown bill_type %q", s)
}

// summaryHeader is the same for every bill type: the official page lists 4 values for
// SUCCESS, but WxJava's SUCCESS parser reads at least 5 and a real bill had 7 (§4.3).
const summaryHeader = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"

// Format renders the bill of billType: header, one line per row that belongs to the bill
// type, summary header and summary line, each ending in "\n". Rows keep the caller's
// order, as the platform does not sort either.
//
// A bill with no row is never sent (§3.3), so Format then returns the No Bill Exist
// *Refusal. A row the bill cannot carry (unknown Kind, zero Time, a structural
// character in an identifier, no SubMchID in the ServiceProvider layout, ...) is an
// errcode.Invalid error: it is the caller's bug, not the requester's.
func Format(billType string, layout Layout, rows []Row) ([]byte, error) {
	bt, err := ParseBillType(billType)
	if err != nil {
		return nil, err
	}
	if layout != Direct && layout != ServiceProvider {
		return nil, errcode.E(errcode.Invalid, "unknown bill layout %d", layout)
	}
	for i := range rows {
		if err := check(&rows[i], layout); err != nil {
			return nil, fmt.Errorf("bill row %d: %w", i, err)
		}
	}
	cols := columns(bt)
	loc := beijing()
	var b bytes.Buffer
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.name())
	}
	b.WriteByte('\n')
	var sum summary
	for i := range rows {
		if !belongs(bt, &rows[i]) {
			continue
		}
		r := normalize(rows[i], layout)
		if err := sum.add(&r); err != nil {
			return nil, fmt.Errorf("bill row %d: %w", i, err)
		}
		for j, c := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('`')
			b.WriteString(c.value(&r, loc))
		}
		b.WriteByte('\n')
	}
	if sum.count == 0 {
		return nil, Refuse(NoBillExist)
	}
	b.WriteString(summaryHeader)
	b.WriteByte('\n')
	fmt.Fprintf(&b, "`%d,`%s,`%s,`%s,`%s,`%s,`%s\n", sum.count,
		yuan(sum.settlement), yuan(sum.refund), yuan(sum.recharge),
		feeYuan(sum.fee), yuan(sum.total), yuan(sum.requested))
	return b.Bytes(), nil
}

// Gzip compresses a bill for tar_type=GZIP: a plain RFC 1952 stream (not a zip
// archive), with no file name or time in its header so equal bills compress equally.
func Gzip(text []byte) ([]byte, error) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(text); err != nil {
		return nil, errcode.Wrap(errcode.Internal, err, "gzip bill")
	}
	if err := w.Close(); err != nil {
		return nil, errcode.Wrap(errcode.Internal, err, "gzip bill")
	}
	return b.Bytes(), nil
}

// Fee is the 手续费 of an amount at a rate written like the 费率 column ("0.60%"), in
// ServiceFee units: the spec rounds each row half-up to whole fen before printing, and
// a refund (negative amountFen) gives back the rounded fee of its amount, so the
// rounding is symmetric around zero.
func Fee(amountFen int64, rate string) (int64, error) {
	bp, ok := parseRate(rate)
	if !ok {
		return 0, errcode.E(errcode.Invalid, "rate %q is not like 0.60%%", rate)
	}
	a := uint64(amountFen)
	if amountFen < 0 {
		a = -a
	}
	hi, lo := bits.Mul64(a, uint64(bp))
	lo, carry := bits.Add64(lo, 5000, 0)
	hi += carry
	if hi >= 10000 {
		return 0, errcode.E(errcode.Invalid, "fee of %d fen overflows", amountFen)
	}
	fen, _ := bits.Div64(hi, lo, 10000)
	if fen > math.MaxInt64/1000 {
		return 0, errcode.E(errcode.Invalid, "fee of %d fen overflows", amountFen)
	}
	fee := int64(fen) * 1000
	if amountFen < 0 {
		fee = -fee
	}
	return fee, nil
}

// parseRate reads "0.60%" as 60 hundredths of a percent. Exactly two decimals, because
// that is how the bill prints the rate and a "0.6%" would print differently.
func parseRate(s string) (int64, bool) {
	whole, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, false
	}
	whole, frac, ok := strings.Cut(whole, ".")
	if !ok || len(frac) != 2 || len(whole) < 1 || len(whole) > 3 || !digits(whole) || !digits(frac) {
		return 0, false
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func check(r *Row, layout Layout) error {
	if r.Kind != Payment && r.Kind != Refund {
		return errcode.E(errcode.Invalid, "unknown row kind %d", r.Kind)
	}
	if r.Time.IsZero() {
		return errcode.E(errcode.Invalid, "row has no time")
	}
	if r.RechargeRefund && r.Kind != Refund {
		return errcode.E(errcode.Invalid, "a payment row cannot be a recharge refund")
	}
	if layout == ServiceProvider && r.SubMchID == "" {
		return errcode.E(errcode.Invalid, "a service-provider bill row needs its sub-merchant")
	}
	if _, ok := parseRate(r.Rate); !ok {
		return errcode.E(errcode.Invalid, "rate %q is not like 0.60%%", r.Rate)
	}
	ids := [...]struct{ name, v string }{
		{"appid", r.AppID}, {"mch_id", r.MchID}, {"sub_mch_id", r.SubMchID},
		{"transaction_id", r.TransactionID}, {"out_trade_no", r.OutTradeNo},
		{"openid", r.OpenID}, {"trade_type", r.TradeType}, {"trade_state", r.TradeState},
		{"bank_type", r.BankType}, {"fee_type", r.FeeType}, {"refund_id", r.RefundID},
		{"out_refund_no", r.OutRefundNo}, {"refund_type", r.RefundType},
		{"refund_status", r.RefundStatus},
	}
	// Identifiers are scrubbed nowhere: silently changing one would point the merchant
	// at another order, so a structural character in one is refused instead.
	for _, id := range ids {
		if scrub(id.v) != id.v {
			return errcode.E(errcode.Invalid, "%s %q has characters a bill cannot carry", id.name, id.v)
		}
	}
	return nil
}

func belongs(billType string, r *Row) bool {
	switch billType {
	case TypeSuccess:
		return r.Kind == Payment && (r.TradeState == "" || r.TradeState == "SUCCESS")
	case TypeRefund:
		return r.Kind == Refund && !r.RechargeRefund
	case TypeRechargeRefund:
		return r.RechargeRefund
	}
	return !r.RechargeRefund
}

// normalize applies the per-kind rules of §4.5 and scrubs free text, so that the
// columns print plain fields and the summary adds exactly what was printed.
func normalize(r Row, layout Layout) Row {
	if layout == Direct {
		r.SubMchID = "0"
	}
	if r.FeeType == "" {
		r.FeeType = "CNY"
	}
	r.DeviceInfo = scrub(r.DeviceInfo)
	r.Body = scrub(r.Body)
	r.Attach = scrub(r.Attach)
	r.RateRemark = scrub(r.RateRemark)
	if r.Kind == Payment {
		if r.TradeState == "" {
			r.TradeState = "SUCCESS"
		}
		r.RefundSuccess = time.Time{}
		r.RefundID, r.OutRefundNo = "0", "0"
		r.RefundFee, r.RechargeRefundFee, r.RequestedRefundFee = 0, 0, 0
		r.RefundType, r.RefundStatus = "", ""
		return r
	}
	if r.TradeState == "" {
		r.TradeState = "REFUND"
	}
	r.SettlementTotalFee, r.CouponFee, r.TotalFee = 0, 0, 0
	return r
}

// scrub removes what would break a client parser (§8): "`" and "," split columns;
// control characters (CR, LF above all) split lines; "<html" makes gopay reject the
// whole body; "总交易单数" is where WxJava cuts off the details. Invalid UTF-8 goes
// too, because the bill is declared UTF-8. Removal repeats until nothing changes, since
// cutting one marker can join the halves of another.
func scrub(s string) string {
	for {
		t := strings.Map(func(c rune) rune {
			if c == '`' || c == ',' || c < 0x20 || c == 0x7f || c == utf8.RuneError {
				return -1
			}
			return c
		}, s)
		t = strings.ReplaceAll(dropHTML(t), "总交易单数", "")
		if t == s {
			return t
		}
		s = t
	}
}

// dropHTML removes "<html" in any letter case. It scans bytes: ASCII bytes never
// occur inside a multi-byte UTF-8 sequence.
func dropHTML(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isHTMLAt(s, i) {
			i += len("<html") - 1
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHTMLAt(s string, i int) bool {
	if len(s)-i < len("<html") || s[i] != '<' {
		return false
	}
	for j := 0; j < len("html"); j++ {
		if s[i+1+j]|0x20 != "html"[j] {
			return false
		}
	}
	return true
}

type summary struct {
	count                                               int
	settlement, refund, recharge, fee, total, requested int64
}

func (s *summary) add(r *Row) error {
	pairs := [...]struct {
		sum *int64
		v   int64
	}{
		{&s.settlement, r.SettlementTotalFee}, {&s.refund, r.RefundFee},
		{&s.recharge, r.RechargeRefundFee}, {&s.fee, r.ServiceFee},
		{&s.total, r.TotalFee}, {&s.requested, r.RequestedRefundFee},
	}
	for _, p := range pairs {
		n := *p.sum + p.v
		if (p.v > 0 && n < *p.sum) || (p.v < 0 && n > *p.sum) {
			return errcode.E(errcode.Invalid, "bill totals overflow")
		}
		*p.sum = n
	}
	s.count++
	return nil
}

// yuan prints fen as yuan with exactly two decimals ("12.00", "-0.05").
func yuan(fen int64) string { return decimal(fen, 100, 2) }

// feeYuan prints ServiceFee units (0.00001 yuan) with the five decimals of 手续费.
func feeYuan(units int64) string { return decimal(units, 100000, 5) }

func decimal(n int64, scale uint64, places int) string {
	u := uint64(n)
	sign := ""
	if n < 0 {
		u, sign = -u, "-"
	}
	return fmt.Sprintf("%s%d.%0*d", sign, u/scale, places, u%scale)
}

func stamp(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.DateTime)
}

// beijing is the zone of every bill date and time. A fixed offset rather than
// Asia/Shanghai because China has no DST and the host may lack tzdata.
func beijing() *time.Location { return time.FixedZone("CST", 8*60*60) }

// col is one bill column; bill types differ only in which columns they list.
type col int

const (
	colTime col = iota
	colAppID
	colMchID
	colSubMchID
	colSubMchIDOld // the RECHARGE_REFUND layout still says 子商户号
	colDevice
	colTransactionID
	colOutTradeNo
	colOpenID
	colTradeType
	colTradeState
	colBank
	colFeeType
	colSettlement
	colCoupon
	colRefundApplied
	colRefundSuccess
	colRefundID
	colOutRefundNo
	colRefundFee
	colRechargeRefund
	colRefundType
	colRefundStatus
	colBody
	colAttach
	colFee
	colFeeReturned // the RECHARGE_REFUND layout says 返还手续费
	colRate
	colTotal
	colRequested
	colRateRemark
)

// columns lists §4.2's current ("免充值券") format, the only one an emulator emits.
func columns(billType string) []col {
	cols := []col{colTime, colAppID, colMchID, colSubMchID, colDevice, colTransactionID,
		colOutTradeNo, colOpenID, colTradeType, colTradeState, colBank, colFeeType,
		colSettlement, colCoupon}
	switch billType {
	case TypeSuccess:
		return append(cols, colBody, colAttach, colFee, colRate, colTotal, colRateRemark)
	case TypeRefund:
		return append(cols, colRefundApplied, colRefundSuccess, colRefundID, colOutRefundNo,
			colRefundFee, colRechargeRefund, colRefundType, colRefundStatus, colBody,
			colAttach, colFee, colRate, colTotal, colRequested, colRateRemark)
	case TypeRechargeRefund:
		cols[3] = colSubMchIDOld
		return append(cols, colRefundApplied, colRefundSuccess, colRefundID, colOutRefundNo,
			colRefundFee, colRechargeRefund, colRefundType, colRefundStatus, colBody,
			colAttach, colFeeReturned, colRate, colTotal, colRequested)
	}
	return append(cols, colRefundID, colOutRefundNo, colRefundFee, colRechargeRefund,
		colRefundType, colRefundStatus, colBody, colAttach, colFee, colRate, colTotal,
		colRequested, colRateRemark)
}

func (c col) name() string {
	switch c {
	case colTime:
		return "交易时间"
	case colAppID:
		return "公众账号ID"
	case colMchID:
		return "商户号"
	case colSubMchID:
		return "特约商户号"
	case colSubMchIDOld:
		return "子商户号"
	case colDevice:
		return "设备号"
	case colTransactionID:
		return "微信订单号"
	case colOutTradeNo:
		return "商户订单号"
	case colOpenID:
		return "用户标识"
	case colTradeType:
		return "交易类型"
	case colTradeState:
		return "交易状态"
	case colBank:
		return "付款银行"
	case colFeeType:
		return "货币种类"
	case colSettlement:
		return "应结订单金额"
	case colCoupon:
		return "代金券金额"
	case colRefundApplied:
		return "退款申请时间"
	case colRefundSuccess:
		return "退款成功时间"
	case colRefundID:
		return "微信退款单号"
	case colOutRefundNo:
		return "商户退款单号"
	case colRefundFee:
		return "退款金额"
	case colRechargeRefund:
		return "充值券退款金额"
	case colRefundType:
		return "退款类型"
	case colRefundStatus:
		return "退款状态"
	case colBody:
		return "商品名称"
	case colAttach:
		return "商户数据包"
	case colFee:
		return "手续费"
	case colFeeReturned:
		return "返还手续费"
	case colRate:
		return "费率"
	case colTotal:
		return "订单金额"
	case colRequested:
		return "申请退款金额"
	case colRateRemark:
		return "费率备注"
	}
	return ""
}

func (c col) value(r *Row, loc *time.Location) string {
	switch c {
	case colTime, colRefundApplied:
		return stamp(r.Time, loc)
	case colRefundSuccess:
		if r.RefundSuccess.IsZero() {
			return ""
		}
		return stamp(r.RefundSuccess, loc)
	case colAppID:
		return r.AppID
	case colMchID:
		return r.MchID
	case colSubMchID, colSubMchIDOld:
		return r.SubMchID
	case colDevice:
		return r.DeviceInfo
	case colTransactionID:
		return r.TransactionID
	case colOutTradeNo:
		return r.OutTradeNo
	case colOpenID:
		return r.OpenID
	case colTradeType:
		return r.TradeType
	case colTradeState:
		return r.TradeState
	case colBank:
		return r.BankType
	case colFeeType:
		return r.FeeType
	case colSettlement:
		return yuan(r.SettlementTotalFee)
	case colCoupon:
		return yuan(r.CouponFee)
	case colRefundID:
		return r.RefundID
	case colOutRefundNo:
		return r.OutRefundNo
	case colRefundFee:
		return yuan(r.RefundFee)
	case colRechargeRefund:
		return yuan(r.RechargeRefundFee)
	case colRefundType:
		return r.RefundType
	case colRefundStatus:
		return r.RefundStatus
	case colBody:
		return r.Body
	case colAttach:
		return r.Attach
	case colFee, colFeeReturned:
		return feeYuan(r.ServiceFee)
	case colRate:
		return r.Rate
	case colTotal:
		return yuan(r.TotalFee)
	case colRequested:
		return yuan(r.RequestedRefundFee)
	case colRateRemark:
		return r.RateRemark
	}
	return ""
}

// The return_msg texts of §3.3, exactly as the platform writes them.
const (
	NoBillExist         = "No Bill Exist" // not the old docs' "NO Bill Exist"
	BillCreating        = "Bill Creating"
	InvalidBillDate     = "invalid bill_date"
	InvalidBillType     = "invalid bill_type"
	InvalidTarType      = "invalid tar_type, Only GZIP supported"
	NonceTooLong        = "nonce_str too long"
	SignError           = "sign error" // WxJava spells it SIGN ERROR; case unconfirmed
	MissingParameter    = "missing parameter"
	InvalidAppID        = "invalid appid"
	InvalidParameter    = "invalid parameter"
	DataFormatError     = "data format error"
	EmptyPostData       = "empty post data"
	RequirePOST         = "require POST method"
	PermissionClosed    = "当前商户号账单API权限已经关闭"
	CompressGZipError   = "CompressGZip Error"
	UnCompressGZipError = "UnCompressGZip Error"
	SystemError         = "system error" // the spec also lists SYSTEMERROR; unconfirmed which
)

// Refusal is a FAIL answer of downloadbill: an unsigned XML with return_code FAIL,
// return_msg and error_code. An empty ErrorCode means the spec knows none for the
// message, and the edge should leave error_code out rather than invent one.
type Refusal struct {
	ReturnMsg string
	ErrorCode string
}

// Refuse returns the FAIL answer for one of the return_msg constants.
func Refuse(returnMsg string) *Refusal {
	code := ""
	switch returnMsg {
	case NoBillExist:
		code = "20002"
	case InvalidBillDate, InvalidBillType, InvalidTarType, NonceTooLong, SignError,
		MissingParameter, InvalidAppID, InvalidParameter, DataFormatError, EmptyPostData,
		RequirePOST:
		// Confirmed only for bill_date and sign errors; the spec infers it for the rest.
		code = "20001"
	}
	return &Refusal{ReturnMsg: returnMsg, ErrorCode: code}
}

func (r *Refusal) Error() string {
	if r.ErrorCode == "" {
		return "downloadbill: " + r.ReturnMsg
	}
	return "downloadbill: " + r.ReturnMsg + " (" + r.ErrorCode + ")"
}

// Unwrap gives the refusal a domain code, so code that only knows errcode (logs,
// other edges) still tells "retry later" from "fix the request".
func (r *Refusal) Unwrap() error {
	code := errcode.Invalid
	switch r.ReturnMsg {
	case NoBillExist:
		code = errcode.NotFound
	case BillCreating, CompressGZipError, UnCompressGZipError, SystemError:
		code = errcode.Unavailable
	case SignError:
		code = errcode.Unauthenticated
	case PermissionClosed:
		code = errcode.Forbidden
	}
	return errcode.E(code, "%s", r.ReturnMsg)
}

// Request is a downloadbill request that passed CheckRequest.
type Request struct {
	Day      time.Time // bill_date at 00:00 Beijing time; the bill covers [Day, Day+24h)
	BillType string    // canonical bill_type
	Gzip     bool      // tar_type=GZIP
}

// CheckRequest validates the bill fields of a request at now. A non-nil error is always
// a *Refusal. Checks run in field order (bill_date, bill_type, tar_type), then timing.
//
// The bill of day D is available from D+1 10:00 Beijing time, back to the same day of
// the month three months before today (clamped to the month's end; that day included).
// Before 10:00 the answer is Bill Creating; the Request is then still filled in, so an
// emulator that serves bills at once can ignore that one refusal.
func CheckRequest(billDate, billType, tarType string, now time.Time) (Request, error) {
	if billDate == "" {
		return Request{}, Refuse(MissingParameter)
	}
	loc := beijing()
	day, ok := parseDate(billDate, loc)
	if !ok {
		return Request{}, Refuse(InvalidBillDate)
	}
	bt, err := ParseBillType(billType)
	if err != nil {
		return Request{}, Refuse(InvalidBillType)
	}
	if tarType != "" && tarType != "GZIP" {
		return Request{}, Refuse(InvalidTarType)
	}
	now = now.In(loc)
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if day.After(today) || day.Before(monthsBefore(today, 3)) {
		return Request{}, Refuse(InvalidBillDate)
	}
	req := Request{Day: day, BillType: bt, Gzip: tarType == "GZIP"}
	if now.Before(day.AddDate(0, 0, 1).Add(10 * time.Hour)) {
		return req, Refuse(BillCreating)
	}
	return req, nil
}

// parseDate reads yyyyMMdd. The digit check comes first because time.Parse would
// accept a sign in the year.
func parseDate(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != 8 || !digits(s) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("20060102", s, loc)
	return t, err == nil
}

// monthsBefore steps back whole months and clamps to the target month's last day,
// where AddDate would spill over (May 31 - 3 months must not become March 3).
func monthsBefore(day time.Time, n int) time.Time {
	y, m, d := day.Date()
	first := time.Date(y, m-time.Month(n), 1, 0, 0, 0, 0, day.Location())
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, day.Location())
}
