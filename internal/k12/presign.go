package k12

import (
	"context"
	"encoding/json"
	"github.com/openfacepay/openfacepay/internal/randid"
	"regexp"
	"strings"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// Presign is a designated-card signing request, its encrypted fields already opened.
type Presign struct {
	BusinessName   string
	OrgID          string
	OutUserID      string
	Name           string
	IDType         string
	IDNumber       string
	Phone          string
	Mode           string // LIMIT_BANK_CARD, PRIORITY_BANK_CARD or LIMIT_NONE (the default)
	CardNumber     string
	CardHolder     string
	CardHolderID   string
	CardHolderType string
	CardPhone      string
	CardValidThru  string
	CardBankType   string
}

var (
	cardRE  = regexp.MustCompile(`^[0-9]{12,19}$`)
	idNumRE = regexp.MustCompile(`^[0-9A-Za-z]{8,32}$`)
)

// identity is what a presign keeps of the person and the card holder (sealed).
type identity struct {
	Name, IDNumber, Phone, CardHolder, CardHolderID, CardPhone, ValidThru, BankType string
}

// NewPresign checks a presign and returns the presign_token that opens the signing
// page for it. The user is created when the organisation has no such out_user_id.
func (s *Service) NewPresign(ctx context.Context, c Caller, p Presign) (string, error) {
	if strings.TrimSpace(p.BusinessName) == "" {
		return "", errcode.E(errcode.Invalid, "business_name is required")
	}
	if err := CheckOutUserID(p.OutUserID); err != nil {
		return "", err
	}
	if p.IDType != "" && p.IDType != "IDCARD" || p.IDNumber != "" && p.IDType == "" {
		return "", errcode.E(errcode.Invalid, "identification_type must be IDCARD")
	}
	if p.IDNumber != "" && !idNumRE.MatchString(p.IDNumber) {
		return "", errcode.E(errcode.Invalid, "identification_number must be longer than 7 letters and digits")
	}
	for _, ph := range []string{p.Phone, p.CardPhone} {
		if ph != "" && !phoneRE.MatchString(ph) {
			return "", errcode.E(errcode.Invalid, "a phone must be an 11-digit mobile number, digits only")
		}
	}
	switch p.Mode {
	case "":
		p.Mode = LimitNone
	case LimitNone:
	case LimitBankCard, PriorityBankCard:
		if p.CardNumber == "" {
			return "", errcode.E(errcode.Invalid, "contract_mode %s needs limit_bank_card.bank_card_number", p.Mode)
		}
	default:
		return "", errcode.E(errcode.Invalid, "contract_mode must be LIMIT_BANK_CARD, PRIORITY_BANK_CARD or LIMIT_NONE")
	}
	if p.CardNumber != "" {
		if !cardRE.MatchString(p.CardNumber) {
			return "", errcode.E(errcode.Invalid, "bank_card_number must be 12 to 19 digits")
		}
		if p.CardHolderType != "IDCARD" || !idNumRE.MatchString(p.CardHolderID) {
			return "", errcode.E(errcode.Invalid, "limit_bank_card.identification needs identification_type IDCARD and a number longer than 7")
		}
	}
	o, err := s.FindOrganisation(ctx, c, p.OrgID, "")
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	u, err := s.store.EnsureUser(ctx, User{UserID: "U" + randid.Digits(15), OrgID: o.ID, OutUserID: p.OutUserID, UserType: Student,
		Status: StatusNormal, ContractState: NotContracted, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return "", err
	}
	if name := strings.TrimSpace(p.Name); u.Name == "" && name != "" {
		u.Name, u.UpdatedAt = name, now
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return "", err
		}
	}
	ident, _ := json.Marshal(identity{Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone, CardHolder: p.CardHolder,
		CardHolderID: p.CardHolderID, CardPhone: p.CardPhone, ValidThru: p.CardValidThru, BankType: p.CardBankType})
	tok := "PS" + strings.ToUpper(randid.Hex(24))
	return tok, s.store.InsertToken(ctx, Token{Hash: hashToken(tok), OrgID: o.ID, OutUserID: p.OutUserID, Kind: "presign",
		ExpiresAt: now.Add(TokenTTL), CreatedAt: now, Mode: p.Mode, Card: p.CardNumber, Identity: string(ident)})
}
