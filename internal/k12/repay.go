package k12

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/randid"
)

// RepaymentTTL is how long a repayment link opens the repayment page. The docs
// publish only expire_at; the link is forwarded by hand to the family, so it lives
// three days.
const RepaymentTTL = 72 * time.Hour

// RepaymentPath is where the repayment page is served; the link carries its token as t.
const RepaymentPath = "/k12/repay"

// RepaymentURL is POST /v3/offlineface/repayment-url: a link that lets the family of
// a user in debt repay it. base is the platform's public address as the caller
// reached it.
func (s *Service) RepaymentURL(ctx context.Context, c Caller, orgID, outUserID, base string) (string, time.Time, error) {
	if orgID == "" || outUserID == "" {
		return "", time.Time{}, errcode.E(errcode.Invalid, "organization_id and out_user_id are required")
	}
	u, err := s.GetUser(ctx, c, orgID, outUserID)
	if err != nil {
		return "", time.Time{}, err
	}
	if u.ContractID == "" {
		return "", time.Time{}, errcode.E(errcode.Conflict, "the user never signed a contract, so owes nothing")
	}
	now := s.clock.Now()
	tok := "RP" + strings.ToUpper(randid.Hex(24))
	exp := now.Add(RepaymentTTL)
	if err := s.store.InsertToken(ctx, Token{Hash: hashToken(tok), OrgID: u.OrgID, OutUserID: u.OutUserID, Kind: "repay",
		ExpiresAt: exp, CreatedAt: now}); err != nil {
		return "", time.Time{}, err
	}
	return strings.TrimRight(base, "/") + RepaymentPath + "?t=" + url.QueryEscape(tok), exp, nil
}

// RepaymentToken reads the token out of a repayment link (or takes a bare token).
func RepaymentToken(link string) string {
	if u, err := url.Parse(link); err == nil && u.Query().Get("t") != "" {
		return u.Query().Get("t")
	}
	return link
}

// Debts is what the repayment page shows: the user and the open debts.
type Debts struct {
	User   User
	Orders []pay.Order
	Total  int64
}

func (s *Service) repayToken(ctx context.Context, token string) (Token, User, error) {
	t, ok, err := s.contracts.Token(ctx, hashToken(token))
	if err != nil {
		return Token{}, User{}, err
	}
	if !ok || t.Kind != "repay" || !s.clock.Now().Before(t.ExpiresAt) {
		return Token{}, User{}, errcode.E(errcode.Invalid, "the repayment link is not valid or has expired: ask the school for a new one")
	}
	u, ok, err := s.store.User(ctx, t.OrgID, t.OutUserID)
	if err != nil || !ok {
		return Token{}, User{}, errcode.E(errcode.NotFound, "the link's user does not exist")
	}
	return t, u, nil
}

// OpenDebts lists what a repayment link's user owes.
func (s *Service) OpenDebts(ctx context.Context, token string) (Debts, error) {
	_, u, err := s.repayToken(ctx, token)
	if err != nil {
		return Debts{}, err
	}
	var d Debts
	err = s.debits.InDebitTx(ctx, func(tx DebitTx) error {
		orders, err := tx.OpenDebts(ctx, u.UserID)
		d = Debts{User: u, Orders: orders}
		for _, o := range orders {
			d.Total += o.Owed()
		}
		return err
	})
	return d, err
}

// Repay pays every open debt of the link's user from the contracted payer's wallet in
// one repayment. A user the platform disabled for debt is enabled again; one the
// service provider disabled stays disabled.
func (s *Service) Repay(ctx context.Context, token string) (Repayment, error) {
	_, u, err := s.repayToken(ctx, token)
	if err != nil {
		return Repayment{}, err
	}
	o, ok, err := s.store.Organisation(ctx, u.OrgID)
	if err != nil || !ok {
		return Repayment{}, errcode.E(errcode.NotFound, "the link's organisation does not exist")
	}
	url, err := s.contracts.NotifyURL(ctx, o.SPMchID)
	if err != nil {
		return Repayment{}, err
	}
	now := s.clock.Now()
	var rp Repayment
	err = s.inDebitTx(ctx, func(tx DebitTx) error {
		u, ok, err := tx.LockUser(ctx, u.UserID)
		if err != nil || !ok {
			return errcode.E(errcode.NotFound, "the link's user does not exist")
		}
		ct, ok, err := tx.ContractInTx(ctx, u.ContractID)
		if err != nil || !ok {
			return errcode.E(errcode.Conflict, "the user has no contract, so no wallet to repay from")
		}
		debts, err := tx.OpenDebts(ctx, u.UserID)
		if err != nil {
			return err
		}
		rp = Repayment{RepaymentID: "4300" + now.In(beijing).Format("20060102") + randid.Digits(16), UserID: u.UserID, PayerID: ct.PayerID,
			Debts: int64(len(debts)), CreatedAt: now}
		if rp.Amount, err = s.pay.RepayInTx(ctx, tx, ct.PayerID, rp.RepaymentID, debts, now); err != nil {
			return err
		}
		if err := tx.InsertRepayment(ctx, rp); err != nil {
			return err
		}
		if err := s.queue(ctx, tx, url, o.SPMchID, EventDebtRepaid, repaidView(u, rp), now); err != nil {
			return err
		}
		if u.Status != StatusDisabled || u.DisabledBy != disabledByPlatform {
			return nil
		}
		u.Status, u.DisabledBy, u.UpdatedAt = StatusNormal, "", now
		if err := tx.SetUserStatus(ctx, u); err != nil {
			return err
		}
		return s.queue(ctx, tx, url, o.SPMchID, EventUserEnabled, userStatusView(u, "REPAID"), now)
	})
	return rp, err
}

// DebtRepaid is the resource of FACEPAY.DEBT_REPAID.
type DebtRepaid struct {
	UserID                 string `json:"user_id"`
	OutUserID              string `json:"out_user_id"`
	OrganizationID         string `json:"organization_id"`
	RepaymentTransactionID string `json:"repayment_transaction_id"`
	Amount                 int64  `json:"amount"`
	Debts                  int64  `json:"debts"`
	SuccessTime            string `json:"success_time"`
}

func repaidView(u User, rp Repayment) DebtRepaid {
	return DebtRepaid{UserID: u.UserID, OutUserID: u.OutUserID, OrganizationID: u.OrgID, RepaymentTransactionID: rp.RepaymentID,
		Amount: rp.Amount, Debts: rp.Debts, SuccessTime: rp.CreatedAt.In(beijing).Format(time.RFC3339)}
}
