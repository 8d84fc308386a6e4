package pay

import (
	"context"
	"time"

	"github.com/openfacepay/openfacepay/internal/pay/bill"
)

// BillRate is the fee rate the bills show: the ledger takes no fee, so neither do they.
const BillRate = "0.00%"

// BillRows returns the detail rows of the owners' bill for the Beijing day starting
// at day: payments paid that day and refunds made that day.
func (s *Service) BillRows(ctx context.Context, owners []string, day time.Time) ([]bill.Row, error) {
	end := day.Add(24 * time.Hour)
	var rows []bill.Row
	for _, owner := range owners {
		orders, err := s.store.OrdersPaidBetween(ctx, owner, day, end)
		if err != nil {
			return nil, err
		}
		for _, o := range orders {
			state := StateSuccess
			if o.State == StateRevoked {
				state = StateRevoked
			}
			rows = append(rows, billRow(o, bill.Payment, o.PaidAt, state))
		}
		refunds, err := s.store.RefundsCreatedBetween(ctx, owner, day, end)
		if err != nil {
			return nil, err
		}
		for _, rf := range refunds {
			var o Order
			err := s.store.InPayTx(ctx, func(tx Tx) (err error) {
				o, _, err = tx.Order(ctx, owner, rf.OutTradeNo)
				return err
			})
			if err != nil {
				return nil, err
			}
			r := billRow(o, bill.Refund, rf.CreatedAt, StateRefund)
			r.RefundSuccess, r.RefundID, r.OutRefundNo = rf.SuccessAt, rf.RefundID, rf.OutRefundNo
			r.RefundFee, r.RequestedRefundFee, r.RefundType, r.RefundStatus = rf.RefundFee, rf.RefundFee, "ORIGINAL", rf.Status
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func billRow(o Order, kind bill.Kind, at time.Time, state string) bill.Row {
	return bill.Row{
		Kind: kind, Time: at, AppID: o.AppID, MchID: o.MchID, SubMchID: o.SubMchID, DeviceInfo: o.DeviceInfo,
		TransactionID: o.TransactionID, OutTradeNo: o.OutTradeNo, OpenID: o.OpenID, TradeType: o.TradeType,
		TradeState: state, BankType: "OTHERS", FeeType: o.FeeType, SettlementTotalFee: o.TotalFee,
		Body: o.Body, Attach: o.Attach, Rate: BillRate, TotalFee: o.TotalFee,
	}
}
