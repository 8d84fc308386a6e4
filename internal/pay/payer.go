package pay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"github.com/openfacepay/openfacepay/internal/randid"
	"regexp"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
)

// PayerView is a payer with its wallet balance.
type PayerView struct {
	PayerID   string `json:"payer_id"`
	Balance   int64  `json:"balance"` // fen available to spend
	Held      int64  `json:"held"`    // fen held by payments waiting for the password
	PhoneTail string `json:"phone_tail,omitempty"`
	CreatedAt string `json:"created_at"`
}

var phoneRE = regexp.MustCompile(`^1[0-9]{10}$`)

// CreatePayer creates a payer whose wallet starts with balance fen, topped up from the
// outside world.
func (s *Service) CreatePayer(ctx context.Context, balance int64, phone string) (PayerView, error) {
	if balance < 0 {
		return PayerView{}, errcode.E(errcode.Invalid, "balance must be zero or more fen")
	}
	if phone != "" && !phoneRE.MatchString(phone) {
		return PayerView{}, errcode.E(errcode.Invalid, "phone must be 11 digits starting with 1")
	}
	now := s.clock.Now()
	p := Payer{PayerID: "P" + randid.Digits(12), Phone: phone, CreatedAt: now}
	if phone != "" {
		p.PhoneTail = phone[len(phone)-4:]
	}
	err := s.store.InPayTx(ctx, func(tx Tx) error {
		if err := tx.InsertPayer(ctx, p); err != nil {
			return err
		}
		if _, err := ledger.Open(ctx, tx, now, bankAccount, ledger.External, true); err != nil {
			return err
		}
		if _, err := ledger.Open(ctx, tx, now, walletAccount(p.PayerID), ledger.Wallet, false); err != nil {
			return err
		}
		if balance == 0 {
			return nil
		}
		_, err := ledger.Apply(ctx, tx, now, ledger.Request{Key: "topup:" + p.PayerID + ":initial", Debit: bankAccount,
			Credit: walletAccount(p.PayerID), Amount: balance, Code: "topup"})
		return err
	})
	if err != nil {
		return PayerView{}, err
	}
	return s.Payer(ctx, p.PayerID)
}

var cardRE = regexp.MustCompile(`^[0-9]{12,19}$`)

// CheckCard refuses what cannot be a bank card number.
func CheckCard(card string) error {
	if !cardRE.MatchString(card) {
		return errcode.E(errcode.Invalid, "a card number is 12 to 19 digits")
	}
	return nil
}

// SetCard records the bank card number a payer holds ("" forgets it).
func (s *Service) SetCard(ctx context.Context, payerID, card string) error {
	if card != "" {
		if err := CheckCard(card); err != nil {
			return err
		}
	}
	return s.store.InPayTx(ctx, func(tx Tx) error { return tx.SetPayerCard(ctx, payerID, card) })
}

// TopUp adds fen to a payer's wallet from the outside world (a bank transfer in).
func (s *Service) TopUp(ctx context.Context, payerID string, fen int64) (PayerView, error) {
	if fen <= 0 {
		return PayerView{}, errcode.E(errcode.Invalid, "a top-up is a positive number of fen")
	}
	now := s.clock.Now()
	err := s.store.InPayTx(ctx, func(tx Tx) error {
		if _, ok, err := tx.Payer(ctx, payerID); err != nil {
			return err
		} else if !ok {
			return errcode.E(errcode.NotFound, "payer %s does not exist", payerID)
		}
		_, err := ledger.Apply(ctx, tx, now, ledger.Request{Key: "topup:" + payerID + ":" + randid.Hex(8), Debit: bankAccount,
			Credit: walletAccount(payerID), Amount: fen, Code: "topup"})
		return err
	})
	if err != nil {
		return PayerView{}, err
	}
	return s.Payer(ctx, payerID)
}

// PayerCard is the card number a payer holds, "" when none.
func (s *Service) PayerCard(ctx context.Context, tx Tx, payerID string) (string, error) {
	p, ok, err := tx.Payer(ctx, payerID)
	if err != nil || !ok {
		return "", err
	}
	return p.Card, nil
}

// Payer returns a payer and its balance.
func (s *Service) Payer(ctx context.Context, payerID string) (v PayerView, err error) {
	err = s.store.InPayTx(ctx, func(tx Tx) error {
		p, ok, err := tx.Payer(ctx, payerID)
		if err != nil {
			return err
		}
		if !ok {
			return errcode.E(errcode.NotFound, "payer %s does not exist", payerID)
		}
		a, err := tx.Account(ctx, walletAccount(payerID))
		if err != nil {
			return err
		}
		v = PayerView{PayerID: p.PayerID, Balance: a.Available(), Held: a.PendingDebits, PhoneTail: p.PhoneTail,
			CreatedAt: p.CreatedAt.Format(time.RFC3339)}
		return nil
	})
	return v, err
}

// OpenID is the payer's stable id under appid: the same for one (appid, payer), unrelated
// across appids. Hex, so it can never spell anything a client mistakes for HTML.
func (s *Service) OpenID(appID, payerID string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(appID + "|" + payerID))
	return "o" + hex.EncodeToString(m.Sum(nil))[:27]
}

// MintedCode is what a terminal returns when it recognises a payer.
type MintedCode struct {
	FaceCode  string `json:"face_code"`
	OpenID    string `json:"openid"`
	SubOpenID string `json:"sub_openid,omitempty"`
	ExpiresIn int64  `json:"expires_in"`
}

// MintFaceCode is what getWxpayfaceCode does once it has recognised payerID on the
// terminal holding authinfo: a single-use face_code bound to that payer and authinfo.
func (s *Service) MintFaceCode(ctx context.Context, authinfo, payerID string) (MintedCode, error) {
	return s.MintFaceCodeAs(ctx, authinfo, payerID, false)
}

// MintFaceCodeAs mints a face code, as 18 digits when numeric (getWxpayfaceCode's
// face_code_type 1: a code a payment-code field takes; "14" and 16 digits here, beside
// the wallets' "13" payment codes) or as FC and 30 hex digits otherwise.
func (s *Service) MintFaceCodeAs(ctx context.Context, authinfo, payerID string, numeric bool) (MintedCode, error) {
	codes, err := s.mintFaceCodes(ctx, authinfo, []string{payerID}, numeric)
	if err != nil {
		return MintedCode{}, err
	}
	return codes[0], nil
}

// MintFaceCodes mints a face code for each of payerIDs (a payer may repeat), in that
// order and in one transaction, or none when a payer does not exist: benchmarks
// prepare payments with it without measuring the minting, and choose the order in
// which the codes' rows are written.
func (s *Service) MintFaceCodes(ctx context.Context, authinfo string, payerIDs []string) ([]MintedCode, error) {
	return s.mintFaceCodes(ctx, authinfo, payerIDs, false)
}

func (s *Service) mintFaceCodes(ctx context.Context, authinfo string, payerIDs []string, numeric bool) ([]MintedCode, error) {
	a, err := s.OpenAuthInfo(ctx, authinfo)
	if err != nil {
		return nil, err
	}
	now := s.now(ctx, a.MchID)
	out := make([]MintedCode, len(payerIDs))
	err = s.store.InPayTx(ctx, func(tx Tx) error {
		known := make(map[string]bool)
		for i, payerID := range payerIDs {
			if !known[payerID] {
				if _, ok, err := tx.Payer(ctx, payerID); err != nil {
					return err
				} else if !ok {
					return errcode.E(errcode.NotFound, "payer %s does not exist", payerID)
				}
				known[payerID] = true
			}
			out[i] = MintedCode{OpenID: s.OpenID(a.AppID, payerID), ExpiresIn: int64(FaceCodeTTL / time.Second),
				FaceCode: "FC" + strings.ToUpper(randid.Hex(15))}
			if a.SubAppID != "" {
				out[i].SubOpenID = s.OpenID(a.SubAppID, payerID)
			}
			if numeric {
				out[i].FaceCode = "14" + randid.Digits(16)
			}
			if err := tx.InsertCredential(ctx, Credential{Hash: HashCode(out[i].FaceCode), Kind: FaceCode, PayerID: payerID, MchID: a.Owner(),
				AppID: a.AppID, DeviceID: a.DeviceID, AuthInfoHash: device.Hash(authinfo), ExpiresAt: now.Add(FaceCodeTTL), CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpenAuthInfo opens an authinfo token and judges its age by its merchant's clock.
func (s *Service) OpenAuthInfo(ctx context.Context, authinfo string) (device.AuthInfo, error) {
	a, err := device.UnsealAuthInfo(s.sealer, authinfo)
	if err != nil {
		return a, errcode.Wrap(errcode.Invalid, err, "authinfo is not valid")
	}
	if a.Expired(s.now(ctx, a.MchID)) {
		return a, errcode.Wrap(errcode.Invalid, device.ErrAuthInfoExpired, "authinfo has expired; get a new one")
	}
	return a, nil
}

// Now is the time for a merchant: its test clock when it is on one.
func (s *Service) Now(ctx context.Context, mchID string) time.Time { return s.now(ctx, mchID) }

// NowWith is the merchant's clock given its test clock as the caller read it (with
// other columns of the merchant, in one statement).
func (s *Service) NowWith(testClock time.Time, onTestClock bool) time.Time {
	if onTestClock {
		return testClock
	}
	return s.clock.Now()
}

// MintPayCode issues an 18-digit payment code for payerID, as a wallet app shows one.
func (s *Service) MintPayCode(ctx context.Context, payerID string) (string, error) {
	now := s.clock.Now()
	code := "13" + randid.Digits(16)
	err := s.store.InPayTx(ctx, func(tx Tx) error {
		if _, ok, err := tx.Payer(ctx, payerID); err != nil {
			return err
		} else if !ok {
			return errcode.E(errcode.NotFound, "payer %s does not exist", payerID)
		}
		return tx.InsertCredential(ctx, Credential{Hash: HashCode(code), Kind: PayCode, PayerID: payerID, ExpiresAt: now.Add(PayCodeTTL), CreatedAt: now})
	})
	return code, err
}

// HashCode is what a credential is stored and looked up by: the code itself never is.
func HashCode(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}
