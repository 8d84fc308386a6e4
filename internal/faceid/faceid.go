// Package faceid is the platform's side of the terminal face SDK: it takes the
// template a kiosk computed from its camera (never a photo), checks that the kiosk
// ran its liveness check, identifies the person in the platform's face library of
// payers, and answers as getWxpayfaceCode (a single-use face_code, the same credential
// micropay and facepay take) or getWxpayfaceUserInfo (openid, nickname and a face
// session token) would; a look-alike asks for the phone tail first. It also opens
// member cards for a person recognised moments before.
package faceid

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/member"
	"github.com/openfacepay/openfacepay/internal/pay"
)

// PayersLibrary is the face library of the platform's payers, as WeChat's face
// library is WeChat's users.
const PayersLibrary = "payers"

// SessionTTL is how long a getWxpayfaceUserInfo recognition stays good for
// activateWxpayfaceMember (MEMBER_INFO_EXP_ERROR after it). The SDK documents the
// error but not the lifetime; 5 minutes covers a person reading the card offer.
const SessionTTL = 5 * time.Minute

// Nickname is what user info answers for a person: WeChat answers every app
// "微信用户" since it stopped sharing profile names, and the payers here have none.
const Nickname = "微信用户"

// Store is what the service reads beyond the payment service.
type Store interface {
	IsProduction(ctx context.Context, mchID string) (bool, error)
}

// Config builds a Service.
type Config struct {
	Pay     *pay.Service
	Members *member.Service
	Libs    *face.Libraries // the payers' library, kept to Model's templates
	Model   string          // the template model the library holds, e.g. open/128
	Rule    face.Rule
	Store   Store
	Sealer  device.Sealer
}

// Service identifies faces for terminals.
type Service struct{ cfg Config }

// New returns the service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Liveness is the kiosk's account of its active check.
type Liveness struct {
	Challenge string
	Passed    bool
	Off       bool // the kiosk runs with liveness off (an emulated camera)
}

// Request is one identification.
type Request struct {
	AuthInfo   device.AuthInfo // already opened and judged by the caller
	Token      string          // the authinfo as sent, for binding the face_code
	Purpose    string          // "pay" or "user_info"
	Model      string
	Template   []float32
	Liveness   *Liveness
	PhoneTail  string
	OutTradeNo string
	TotalFee   string
	AskUnionID bool
	Numeric    bool // face_code_type 1: an 18-digit numeric face_code
}

// Result is who the face is, in the terms of the SDK function that asked.
type Result struct {
	NeedPhone     bool
	FaceCode      string
	OpenID        string
	SubOpenID     string
	Nickname      string
	Token         string
	UnionIDCode   string
	TelephoneUsed int
}

// Errors with their own SDK codes (the edge maps them).
var (
	// ErrLiveness: the kiosk did not pass (or did not run) its active check.
	ErrLiveness = errors.New("the liveness check did not pass")
	// ErrModel: the template was made by another model than the library's.
	ErrModel = errors.New("the template's model is not the platform's")
	// ErrSessionExpired is MEMBER_INFO_EXP_ERROR.
	ErrSessionExpired = errors.New("the recognition is too old: recognise the face again")
)

var (
	tailRE = regexp.MustCompile(`^[0-9]{4}$`)
	feeRE  = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
)

// Identify answers one request.
func (s *Service) Identify(ctx context.Context, r Request) (Result, error) {
	if err := s.check(ctx, r); err != nil {
		return Result{}, err
	}
	id, err := s.cfg.Libs.Identify(ctx, PayersLibrary, r.Template, s.cfg.Rule)
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	var who face.Candidate
	switch {
	case id.Match != nil:
		who = *id.Match
	case id.NeedExtVerify && r.PhoneTail == "":
		return Result{NeedPhone: true}, nil
	case id.NeedExtVerify:
		if who, err = face.ResolveByTail(id, r.PhoneTail); err != nil {
			return Result{}, err
		}
		res.TelephoneUsed = 1
	default:
		return Result{}, face.ErrNoSuchTail
	}
	a := r.AuthInfo
	res.OpenID = s.cfg.Pay.OpenID(a.AppID, who.PersonID)
	if a.SubAppID != "" {
		res.SubOpenID = s.cfg.Pay.OpenID(a.SubAppID, who.PersonID)
	}
	if r.Purpose == PurposePay {
		m, err := s.cfg.Pay.MintFaceCodeAs(ctx, r.Token, who.PersonID, r.Numeric)
		if err != nil {
			return Result{}, err
		}
		res.FaceCode = m.FaceCode
		return res, nil
	}
	res.Nickname = Nickname
	if r.AskUnionID {
		res.UnionIDCode = "SUCCESS"
	}
	res.Token = s.sealSession(session{MchID: a.Owner(), AppID: a.AppID, StoreID: a.StoreID, OpenID: res.OpenID,
		At: s.cfg.Pay.Now(ctx, a.MchID).Unix()})
	return res, nil
}

// Purposes of an identification.
const (
	PurposePay      = "pay"
	PurposeUserInfo = "user_info"
)

func (s *Service) check(ctx context.Context, r Request) error {
	if r.Purpose != PurposePay && r.Purpose != PurposeUserInfo {
		return errcode.E(errcode.Invalid, "purpose must be %s or %s", PurposePay, PurposeUserInfo)
	}
	if r.Model != s.cfg.Model || len(r.Template) == 0 {
		return fmt.Errorf("%w: the template is %s, the platform's library %s", ErrModel, r.Model, s.cfg.Model)
	}
	if r.PhoneTail != "" && !tailRE.MatchString(r.PhoneTail) {
		return errcode.E(errcode.Invalid, "phone_tail must be the last 4 digits of the phone number")
	}
	if r.Purpose == PurposePay && (r.OutTradeNo != "" || r.TotalFee != "") && !feeRE.MatchString(r.TotalFee) {
		return errcode.E(errcode.Invalid, "total_fee must be a positive whole number of fen")
	}
	switch {
	case r.Liveness == nil:
		return fmt.Errorf("%w: the kiosk sent no liveness result", ErrLiveness)
	case r.Liveness.Off:
		// Emulated cameras (tests, demos) cannot pass an active check; only a merchant
		// that is not in production may take their faces.
		prod, err := s.cfg.Store.IsProduction(ctx, r.AuthInfo.MchID)
		if err != nil {
			return err
		}
		if prod {
			return fmt.Errorf("%w: a production merchant's kiosks must run the liveness check", ErrLiveness)
		}
	case !r.Liveness.Passed:
		return fmt.Errorf("%w (challenge %s)", ErrLiveness, r.Liveness.Challenge)
	}
	return nil
}

// session is what a user-info token seals: who was recognised, where and when.
type session struct {
	MchID   string `json:"m"`
	AppID   string `json:"a"`
	StoreID string `json:"s"`
	OpenID  string `json:"o"`
	At      int64  `json:"t"`
}

const sessionPurpose = "faceid-session"

func (s *Service) sealSession(ss session) string {
	b, _ := json.Marshal(ss)
	return "FS1" + strings.ToUpper(hex.EncodeToString(s.cfg.Sealer.Seal(sessionPurpose, b)))
}

func (s *Service) openSession(token string) (session, bool) {
	var ss session
	if !strings.HasPrefix(token, "FS1") || len(token) > 1024 {
		return ss, false
	}
	raw, err := hex.DecodeString(token[3:])
	if err != nil {
		return ss, false
	}
	pt, err := s.cfg.Sealer.Open(sessionPurpose, raw)
	if err != nil || json.Unmarshal(pt, &ss) != nil {
		return ss, false
	}
	return ss, true
}

// MemberRequest is activateWxpayfaceMember.
type MemberRequest struct {
	AuthInfo device.AuthInfo
	StoreID  string
	OpenID   string
	Token    string // the token of the getWxpayfaceUserInfo that recognised OpenID
}

// ErrMemberParams is PARAMS_INVALID.
var ErrMemberParams = errors.New("the member card parameters are not valid")

// ActivateMember opens the merchant's member card for a person the kiosk recognised
// within SessionTTL.
func (s *Service) ActivateMember(ctx context.Context, r MemberRequest) (member.Membership, error) {
	a := r.AuthInfo
	if r.StoreID == "" || r.OpenID == "" || r.StoreID != a.StoreID {
		return member.Membership{}, fmt.Errorf("%w: store_id must be the authinfo's store and openid is required", ErrMemberParams)
	}
	ss, ok := s.openSession(r.Token)
	if !ok || ss.OpenID != r.OpenID || ss.MchID != a.Owner() || ss.AppID != a.AppID {
		return member.Membership{}, fmt.Errorf("%w: the openid was not recognised by getWxpayfaceUserInfo on this merchant", ErrMemberParams)
	}
	if s.cfg.Pay.Now(ctx, a.MchID).Sub(time.Unix(ss.At, 0)) > SessionTTL {
		return member.Membership{}, ErrSessionExpired
	}
	return s.cfg.Members.Activate(ctx, a.Owner(), r.StoreID, r.OpenID)
}
