package k12

import (
	"context"
	"github.com/openfacepay/openfacepay/internal/randid"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/notify"
)

// Contract modes and card sources, as on the wire.
const (
	LimitNone        = "LIMIT_NONE"
	LimitBankCard    = "LIMIT_BANK_CARD"
	PriorityBankCard = "PRIORITY_BANK_CARD"
)

// Contract is one signing of a user's withholding contract.
type Contract struct {
	ContractID   string
	OrgID        string
	UserID       string
	SPMchID      string
	AppID        string
	OpenID       string
	PayerID      string // the contracted wallet
	Mode         string
	CardFrom     string
	Card         string // the presign's designated card number (sealed at rest), if any
	State        string // CONTRACTED or TERMINATED
	SignedAt     time.Time
	TerminatedAt time.Time
}

// ContractStore is the storage of contracts. A change and the webhook it causes
// are written in one transaction.
type ContractStore interface {
	Token(ctx context.Context, hash string) (Token, bool, error)
	UserByID(ctx context.Context, orgID, userID string) (User, bool, error)
	Contract(ctx context.Context, id string) (Contract, bool, error)
	// SaveContract stores c (new or changed) and sets the user's contract state and
	// payer; n, when not nil, goes into the outbox in the same transaction.
	SaveContract(ctx context.Context, c Contract, u User, n *notify.Notification) error
	NotifyURL(ctx context.Context, mchID string) (string, error)
	AppIDs(ctx context.Context, mchID string) ([]string, error)
	// ContractedUsersOfPayer are the users whose contract in force is on the payer's wallet.
	ContractedUsersOfPayer(ctx context.Context, payerID string) ([]User, error)
}

// EventUserStateChange is the webhook of a contract signed or terminated.
const EventUserStateChange = "FACEPAY.USER_STATE_CHANGE"

// stateChange is FACEPAY.USER_STATE_CHANGE's resource. contract_state is ours: the
// documented payload has none, and verifiers ignore a field they do not know.
type stateChange struct {
	UserID           string `json:"user_id"`
	OutUserID        string `json:"out_user_id"`
	OrganizationID   string `json:"organization_id"`
	MchID            string `json:"mch_id"`
	NotifyCreateTime string `json:"notify_create_time"`
	AppID            string `json:"appid"`
	OpenID           string `json:"openid"`
	ContractID       string `json:"contract_id"`
	ContractState    string `json:"contract_state"`
}

var beijing = time.FixedZone("CST", 8*3600)

// stateNotification is the webhook of a contract change, or nil when the service
// provider has no notify URL.
func (s *Service) stateNotification(ctx context.Context, c Contract, u User, now time.Time) (*notify.Notification, error) {
	url, err := s.contracts.NotifyURL(ctx, c.SPMchID)
	if err != nil || url == "" {
		return nil, err
	}
	return newEvent(url, c.SPMchID, EventUserStateChange, stateChange{UserID: u.UserID, OutUserID: u.OutUserID, OrganizationID: u.OrgID,
		MchID: c.SPMchID, NotifyCreateTime: now.In(beijing).Format(time.RFC3339), AppID: c.AppID, OpenID: c.OpenID, ContractID: c.ContractID,
		ContractState: c.State}, now), nil
}

// Sign is the parent signing on the signing page (or `admin k12 parent sign`): the
// token's user gets a new contract on the payer's wallet. A token of a signed user
// cannot sign again; after a termination a fresh token signs a new contract.
func (s *Service) Sign(ctx context.Context, token, payerID string) (User, Contract, error) {
	t, ok, err := s.contracts.Token(ctx, hashToken(token))
	if err != nil {
		return User{}, Contract{}, err
	}
	now := s.clock.Now()
	if !ok || (t.Kind != "token" && t.Kind != "presign") || !now.Before(t.ExpiresAt) {
		return User{}, Contract{}, errcode.E(errcode.Invalid, "the token is not valid or has expired: ask the school for a new link")
	}
	u, ok, err := s.store.User(ctx, t.OrgID, t.OutUserID)
	if err != nil || !ok {
		return User{}, Contract{}, errcode.E(errcode.NotFound, "the token's user does not exist")
	}
	if u.ContractState == Contracted {
		return User{}, Contract{}, errcode.E(errcode.Conflict, "this user has signed already")
	}
	// One parent may sign several children, each with a fresh token, but not two
	// children of the same name [FAQ 1.23].
	if u.Name != "" {
		others, err := s.contracts.ContractedUsersOfPayer(ctx, payerID)
		if err != nil {
			return User{}, Contract{}, err
		}
		for _, o := range others {
			if o.UserID != u.UserID && o.Name == u.Name {
				return User{}, Contract{}, errcode.E(errcode.Conflict, "this wallet already signed for a child of the same name")
			}
		}
	}
	o, ok, err := s.store.Organisation(ctx, u.OrgID)
	if err != nil || !ok {
		return User{}, Contract{}, errcode.E(errcode.NotFound, "the token's organisation does not exist")
	}
	apps, err := s.contracts.AppIDs(ctx, o.SPMchID)
	if err != nil || len(apps) == 0 {
		return User{}, Contract{}, errcode.E(errcode.Internal, "the service provider %s has no appid", o.SPMchID)
	}
	c := Contract{ContractID: "C" + now.In(beijing).Format("20060102") + randid.Digits(12), OrgID: u.OrgID, UserID: u.UserID, SPMchID: o.SPMchID,
		AppID: apps[0], OpenID: s.pay.OpenID(apps[0], payerID), PayerID: payerID, Mode: LimitNone, CardFrom: "USER_SELECT_FREE",
		State: Contracted, SignedAt: now}
	if t.Kind == "presign" && t.Mode != "" {
		// Designated-card signing: the card the service provider named. Which
		// wallet holds that card is checked at debit time (the withholding step).
		c.Mode = t.Mode
		if t.Card != "" {
			c.CardFrom, c.Card = "MERCHANT_LIMITED_BANK_CARD", t.Card
		}
	}
	u.ContractState, u.ContractID, u.UpdatedAt = Contracted, c.ContractID, now
	n, err := s.stateNotification(ctx, c, u, now)
	if err != nil {
		return User{}, Contract{}, err
	}
	return u, c, s.contracts.SaveContract(ctx, c, u, n)
}

// Terminate ends a user's contract (terminate-contract).
func (s *Service) Terminate(ctx context.Context, c Caller, orgID, userID string) error {
	if _, err := s.FindOrganisation(ctx, c, orgID, ""); err != nil {
		return err
	}
	u, ok, err := s.contracts.UserByID(ctx, orgID, userID)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("the user")
	}
	if u.ContractState != Contracted {
		return errcode.E(errcode.Conflict, "the user has no contract in force")
	}
	ct, ok, err := s.contracts.Contract(ctx, u.ContractID)
	if err != nil || !ok {
		return errcode.E(errcode.Internal, "the user's contract %s is missing", u.ContractID)
	}
	now := s.clock.Now()
	ct.State, ct.TerminatedAt = Terminated, now
	u.ContractState, u.UpdatedAt = Terminated, now
	n, err := s.stateNotification(ctx, ct, u, now)
	if err != nil {
		return err
	}
	return s.contracts.SaveContract(ctx, ct, u, n)
}

// GetContract reads a contract of one of the caller's organisations.
func (s *Service) GetContract(ctx context.Context, c Caller, id string) (Contract, error) {
	ct, ok, err := s.contracts.Contract(ctx, id)
	if err != nil {
		return Contract{}, err
	}
	if !ok || ct.SPMchID != c.MchID {
		return Contract{}, notFound("the contract")
	}
	return ct, nil
}
