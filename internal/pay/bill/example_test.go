package bill_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/openfacepay/openfacepay/internal/pay/bill"
)

// An edge answers a downloadbill request: check the fields, let the domain find the
// day's rows, format them, and turn any refusal into the FAIL body.
func ExampleFormat() {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.FixedZone("CST", 8*60*60))
	req, err := bill.CheckRequest("20261122", "SUCCESS", "", now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fee, _ := bill.Fee(1200, "0.60%")
	rows := []bill.Row{{
		Kind: bill.Payment, Time: req.Day.Add(8*time.Hour + 15*time.Minute + 3*time.Second),
		AppID: "wx8888888888888888", MchID: "1900000109", DeviceInfo: "kiosk-01",
		TransactionID: "4200002601202611220000000001", OutTradeNo: "FP20261122000001",
		OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TradeType: "MICROPAY", BankType: "CFT",
		SettlementTotalFee: 1200, TotalFee: 1200, Body: "午餐", ServiceFee: fee, Rate: "0.60%",
	}}
	text, err := bill.Format(req.BillType, bill.Direct, rows)
	var refusal *bill.Refusal
	if errors.As(err, &refusal) {
		fmt.Println(refusal.ReturnMsg, refusal.ErrorCode)
		return
	}
	fmt.Print(string(text))

	_, err = bill.Format("REFUND", bill.Direct, rows)
	if errors.As(err, &refusal) {
		fmt.Println(refusal.ReturnMsg, refusal.ErrorCode)
	}
	// Output:
	// 交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注
	// `2026-11-22 08:15:03,`wx8888888888888888,`1900000109,`0,`kiosk-01,`4200002601202611220000000001,`FP20261122000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`SUCCESS,`CFT,`CNY,`12.00,`0.00,`午餐,`,`0.07000,`0.60%,`12.00,`
	// 总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
	// `1,`12.00,`0.00,`0.00,`0.07000,`12.00,`0.00
	// No Bill Exist 20002
}
