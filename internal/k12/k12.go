// Package k12 is the K12 offline-face withholding product's domain: organisations
// (schools, company canteens) run by a service provider, their users (students and
// staff) with sealed personal fields, the tokens that open the parents' collection
// and signing pages, and — in later steps — contracts, withholding, debts and
// advances. Every call names the service provider it acts for; an organisation of
// another service provider answers exactly like one that does not exist.
package k12

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/openfacepay/openfacepay/internal/randid"
	"regexp"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pay"
)

// Organisation is a school or canteen of a service provider.
type Organisation struct {
	ID        string `json:"organization_id"`
	Name      string `json:"organization_name"`
	SPMchID   string `json:"sp_mchid"`
	SubMchID  string `json:"sub_mchid,omitempty"`
	CreatedAt time.Time
	// Risk rules: the Beijing hours debits are allowed ("" any time) and the kiosks
	// (device_id of their authinfo) they may come from (none: any).
	RiskHours   string
	RiskDevices []string
}

// User states and kinds, as on the wire.
const (
	StatusNormal   = "NORMAL"
	StatusDisabled = "DISABLED"

	NotContracted = "NOT_CONTRACTED"
	Contracted    = "CONTRACTED"
	Terminated    = "TERMINATED"

	Student = "STUDENT"
	Staff   = "STAFF" // the docs also spell STUFF; accepted on input, never emitted
)

// User is a person of an organisation. Name and Phone are personal: sealed at rest.
type User struct {
	UserID        string
	OrgID         string
	OutUserID     string
	Name          string
	Phone         string
	UserType      string
	ClassName     string
	Occupation    string
	Status        string
	DisabledBy    string // "merchant" or "platform" when disabled
	ContractState string
	ContractID    string
	FaceImageOK   bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Token opens the parents' pages for one user until it expires.
type Token struct {
	Hash      string // sha256 of the token: the token itself is never stored
	OrgID     string
	OutUserID string
	Kind      string // "token" or "presign"
	ExpiresAt time.Time
	CreatedAt time.Time
	// A presign's designated signing: the contract mode, the card number (sealed at
	// rest) and the identity given (a JSON of the person's and the card holder's
	// identity numbers and phones, sealed at rest).
	Mode     string
	Card     string
	Identity string
}

// TokenTTL is how long a token opens the pages. The docs say only "short-lived";
// 30 minutes lets a parent collect a photo and sign in one sitting.
const TokenTTL = 30 * time.Minute

// Store is what the domain needs from storage. Changes of one call run in one
// transaction of the implementation.
type Store interface {
	CreateOrganisation(ctx context.Context, o Organisation) error
	Organisation(ctx context.Context, id string) (Organisation, bool, error)
	OrganisationByName(ctx context.Context, spMchID, name string) (Organisation, bool, error)
	// EnsureUser creates u unless the organisation already has that out_user_id, and
	// returns the user that holds.
	EnsureUser(ctx context.Context, u User) (User, error)
	User(ctx context.Context, orgID, outUserID string) (User, bool, error)
	UpdateUser(ctx context.Context, u User) error
	InsertToken(ctx context.Context, t Token) error
}

// Service runs the K12 rules.
type Service struct {
	store       Store
	contracts   ContractStore
	debits      DebitStore
	collections CollectionStore
	syncs       SyncStore
	faces       Faces
	pay         *pay.Service
	tenants     Tenants
	sealer      device.Sealer
	clock       clock.Clock
}

// Config builds a Service.
type Config struct {
	Store       Store
	Contracts   ContractStore
	Debits      DebitStore
	Collections CollectionStore
	Syncs       SyncStore
	Faces       Faces        // nil: this process cannot collect faces
	Pay         *pay.Service // orders, money and openids
	Clock       clock.Clock
	Tenants     Tenants
	Sealer      device.Sealer // seals device credentials (authinfo)
}

// New returns the service.
func New(cfg Config) *Service {
	return &Service{store: cfg.Store, contracts: cfg.Contracts, debits: cfg.Debits, collections: cfg.Collections, syncs: cfg.Syncs, faces: cfg.Faces, pay: cfg.Pay, tenants: cfg.Tenants, sealer: cfg.Sealer,
		clock: cfg.Clock}
}

// Caller is the merchant a v3 request authenticated as: the service provider.
type Caller struct{ MchID string }

// ErrNotFound is what a missing or foreign resource answers.
func notFound(what string) error { return errcode.E(errcode.NotFound, "%s does not exist", what) }

// NewOrganisation onboards an organisation for a service provider (an admin step).
func (s *Service) NewOrganisation(ctx context.Context, spMchID, subMchID, name string) (Organisation, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 64 {
		return Organisation{}, errcode.E(errcode.Invalid, "an organisation needs a name of 1 to 64 characters")
	}
	if spMchID == "" {
		return Organisation{}, errcode.E(errcode.Invalid, "an organisation belongs to a service provider")
	}
	if _, ok, err := s.store.OrganisationByName(ctx, spMchID, name); err != nil {
		return Organisation{}, err
	} else if ok {
		return Organisation{}, errcode.E(errcode.Conflict, "the service provider already has an organisation named %q", name)
	}
	o := Organisation{ID: "8" + randid.Digits(9), Name: name, SPMchID: spMchID, SubMchID: subMchID, CreatedAt: s.clock.Now()}
	return o, s.store.CreateOrganisation(ctx, o)
}

// FindOrganisation looks an organisation up by id or by name, for its service provider.
func (s *Service) FindOrganisation(ctx context.Context, c Caller, id, name string) (Organisation, error) {
	var (
		o   Organisation
		ok  bool
		err error
	)
	switch {
	case id != "" && name == "":
		o, ok, err = s.store.Organisation(ctx, id)
	case name != "" && id == "":
		o, ok, err = s.store.OrganisationByName(ctx, c.MchID, name)
	default:
		return Organisation{}, errcode.E(errcode.Invalid, "give organization_id or organization_name, one of them")
	}
	if err != nil {
		return Organisation{}, err
	}
	if !ok || o.SPMchID != c.MchID {
		return Organisation{}, notFound("the organisation")
	}
	return o, nil
}

var outUserRE = regexp.MustCompile(`^[0-9A-Za-z_\-]{6,64}$`)

// CheckOutUserID refuses an out_user_id the collection page could not take: the
// docs say ids of 5 characters or fewer fail there with a "network error".
func CheckOutUserID(id string) error {
	if !outUserRE.MatchString(id) {
		return errcode.E(errcode.Invalid, "out_user_id must be 6 to 64 letters, digits, '_' or '-'")
	}
	return nil
}

// IssueToken creates (or finds) the user and a token that opens the parents' pages
// for them.
func (s *Service) IssueToken(ctx context.Context, c Caller, orgID, outUserID string) (string, error) {
	if err := CheckOutUserID(outUserID); err != nil {
		return "", err
	}
	o, err := s.FindOrganisation(ctx, c, orgID, "")
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	if _, err := s.store.EnsureUser(ctx, User{UserID: "U" + randid.Digits(15), OrgID: o.ID, OutUserID: outUserID, UserType: Student,
		Status: StatusNormal, ContractState: NotContracted, CreatedAt: now, UpdatedAt: now}); err != nil {
		return "", err
	}
	tok := "TK" + strings.ToUpper(randid.Hex(24))
	return tok, s.store.InsertToken(ctx, Token{Hash: hashToken(tok), OrgID: o.ID, OutUserID: outUserID, Kind: "token",
		ExpiresAt: now.Add(TokenTTL), CreatedAt: now})
}

// GetUser reads a user of an organisation of the caller.
func (s *Service) GetUser(ctx context.Context, c Caller, orgID, outUserID string) (User, error) {
	if _, err := s.FindOrganisation(ctx, c, orgID, ""); err != nil {
		return User{}, err
	}
	u, ok, err := s.store.User(ctx, orgID, outUserID)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, notFound("the user")
	}
	return u, nil
}

// Patch is a PATCH of a user: nil fields do not change.
type Patch struct {
	Name       *string
	Phone      *string
	UserType   *string
	ClassName  *string
	Occupation *string
	Status     *string
}

var phoneRE = regexp.MustCompile(`^1[0-9]{10}$`)

// PatchUser updates a user. A merchant's DISABLED is remembered as the merchant's,
// so that repaying a debt (which lifts the platform's disabling) does not lift it.
func (s *Service) PatchUser(ctx context.Context, c Caller, orgID, outUserID string, p Patch) error {
	u, err := s.GetUser(ctx, c, orgID, outUserID)
	if err != nil {
		return err
	}
	if p.Name != nil {
		if n := strings.TrimSpace(*p.Name); n == "" || len([]rune(n)) > 64 {
			return errcode.E(errcode.Invalid, "user_name must be 1 to 64 characters")
		}
		u.Name = strings.TrimSpace(*p.Name)
	}
	if p.Phone != nil {
		if !phoneRE.MatchString(*p.Phone) {
			return errcode.E(errcode.Invalid, "phone must be an 11-digit mobile number")
		}
		u.Phone = *p.Phone
	}
	if p.UserType != nil {
		switch *p.UserType {
		case Student:
			u.UserType = Student
		case Staff, "STUFF":
			u.UserType = Staff
		default:
			return errcode.E(errcode.Invalid, "user_type must be STUDENT or STAFF")
		}
	}
	if p.ClassName != nil {
		u.ClassName = *p.ClassName
	}
	if p.Occupation != nil {
		u.Occupation = *p.Occupation
	}
	if p.Status != nil {
		switch *p.Status {
		case StatusNormal:
			u.Status, u.DisabledBy = StatusNormal, ""
		case StatusDisabled:
			u.Status, u.DisabledBy = StatusDisabled, "merchant"
		default:
			return errcode.E(errcode.Invalid, "status must be NORMAL or DISABLED")
		}
	}
	u.UpdatedAt = s.clock.Now()
	return s.store.UpdateUser(ctx, u)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}
