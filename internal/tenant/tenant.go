// Package tenant owns who may call the platform: direct merchants, service providers
// and their sub-merchants, the appids bound to them, their v2 and v3 keys, their API
// certificates, and the platform signing identities each of them trusts (platform
// certificates and the newer platform public key). It issues all of these on creation.
package tenant

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/openfacepay/openfacepay/internal/randid"
	"sort"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pki"
)

// Kind of merchant.
type Kind string

// Merchant kinds.
const (
	Direct          Kind = "direct"
	ServiceProvider Kind = "service_provider"
	SubMerchant     Kind = "sub_merchant"
)

// PlatformMode is how a merchant verifies the platform by default: with platform
// certificates downloaded from /v3/certificates, or with a configured platform public key.
type PlatformMode string

// Platform identity modes.
const (
	CertificateMode PlatformMode = "certificate"
	PublicKeyMode   PlatformMode = "public_key"
)

// Merchant is a tenant. Keys are plaintext here; storage seals them.
type Merchant struct {
	MchID        string
	Kind         Kind
	ParentMchID  string // service provider of a sub-merchant
	Name         string
	APIKey       string // v2 key, 32 characters
	APIv3Key     string // 32 characters
	PlatformMode PlatformMode
	CreatedAt    time.Time
	// AppIDs are the appids bound to it, when read with it (nil: not read, or none).
	AppIDs []string
}

// MerchantCert is a merchant API certificate known to the platform.
type MerchantCert struct {
	SerialNo string
	MchID    string
	CertPEM  []byte
	Cert     *x509.Certificate
}

// IdentityKind tells a platform certificate from a platform public key.
type IdentityKind string

// Identity kinds.
const (
	PlatformCertificate IdentityKind = "certificate"
	PlatformPublicKey   IdentityKind = "public_key"
)

// PlatformIdentity signs v3 answers and notifications for one merchant.
type PlatformIdentity struct {
	SerialNo     string // certificate serial, or PUB_KEY_ID_...
	MchID        string
	Kind         IdentityKind
	CertPEM      []byte // certificates only
	PublicKeyPEM []byte
	Key          *rsa.PrivateKey
	NotBefore    time.Time
	NotAfter     time.Time
}

// Store is the persistence tenants need.
type Store interface {
	// EnsureCA stores the CA that create returns unless one exists, and returns the stored one.
	EnsureCA(ctx context.Context, create func() (certPEM, keyPEM []byte, err error)) (certPEM, keyPEM []byte, err error)
	// CreateMerchant stores a merchant with its certificates, identities and appids;
	// errcode.Conflict when the mch_id or an appid is taken.
	CreateMerchant(ctx context.Context, m Merchant, certs []MerchantCert, ids []PlatformIdentity, appIDs []string) error
	Merchant(ctx context.Context, mchID string) (Merchant, error)
	Merchants(ctx context.Context) ([]Merchant, error)
	MerchantCert(ctx context.Context, serialNo string) (MerchantCert, error)
	PlatformIdentities(ctx context.Context, mchID string) ([]PlatformIdentity, error)
	AppIDs(ctx context.Context, mchID string) ([]string, error)
	BindAppID(ctx context.Context, appID, mchID string) error
	SetPlatformMode(ctx context.Context, mchID string, mode PlatformMode) error
	// RememberNonce records a v3 nonce; false when the merchant used it at or after notBefore.
	RememberNonce(ctx context.Context, mchID, nonce string, at, notBefore time.Time) (bool, error)
}

// Credentials is everything a merchant (and its developers) needs to call the platform,
// as `facepay admin merchant create --json` prints it.
type Credentials struct {
	MchID                 string   `json:"mch_id"`
	Kind                  Kind     `json:"kind"`
	ParentMchID           string   `json:"sp_mch_id,omitempty"`
	AppID                 string   `json:"appid"`
	APIKey                string   `json:"api_key"`
	APIv3Key              string   `json:"apiv3_key"`
	MerchantSerialNo      string   `json:"merchant_serial_no"`
	MerchantPrivateKeyPEM string   `json:"merchant_private_key_pem"`
	MerchantCertPEM       string   `json:"merchant_cert_pem"`
	MerchantCertP12       []byte   `json:"merchant_cert_p12"` // apiclient_cert.p12, password = mch_id; base64 in JSON
	PlatformMode          string   `json:"platform_mode"`
	PlatformSerialNo      string   `json:"platform_serial_no"`
	PlatformCertPEM       string   `json:"platform_cert_pem"`
	PlatformCertSerials   []string `json:"platform_cert_serial_nos"`
	PlatformPublicKeyID   string   `json:"platform_public_key_id"`
	PlatformPublicKeyPEM  string   `json:"platform_public_key_pem"`
	TLSCAPEM              string   `json:"tls_ca_pem"`
}

// NewMerchant is what creating a merchant takes.
type NewMerchant struct {
	Kind         Kind   // Direct when empty
	Name         string // defaults to the mch_id
	ParentMchID  string // required for SubMerchant: its service provider
	PlatformMode PlatformMode
}

// Service creates and looks up tenants.
type Service struct {
	store Store
	clock clock.Clock
}

// NewService returns a Service.
func NewService(s Store, c clock.Clock) *Service {
	if c == nil {
		c = clock.Real{}
	}
	return &Service{store: s, clock: c}
}

// CA returns the platform CA, creating it on first use.
func (s *Service) CA(ctx context.Context) (*pki.CA, error) {
	certPEM, keyPEM, err := s.store.EnsureCA(ctx, func() ([]byte, []byte, error) {
		ca, keyPEM, err := pki.NewCA("OpenFacePay CA", s.clock.Now())
		if err != nil {
			return nil, nil, err
		}
		return ca.CertPEM, keyPEM, nil
	})
	if err != nil {
		return nil, fmt.Errorf("platform CA: %w", err)
	}
	return pki.LoadCA(certPEM, keyPEM)
}

// Create issues a merchant with fresh keys, an API certificate, two platform
// certificates (an older one still valid, as during rotation, and the current one) and
// a platform public key, and binds one new appid to it.
func (s *Service) Create(ctx context.Context, in NewMerchant) (Credentials, error) {
	if in.Kind == "" {
		in.Kind = Direct
	}
	if in.PlatformMode == "" {
		in.PlatformMode = CertificateMode
	}
	if err := s.checkNew(ctx, in); err != nil {
		return Credentials{}, err
	}
	ca, err := s.CA(ctx)
	if err != nil {
		return Credentials{}, err
	}
	for attempt := 0; ; attempt++ {
		creds, err := s.create(ctx, ca, in)
		if errcode.Is(err, errcode.Conflict) && attempt < 3 {
			continue // a random mch_id or appid collided
		}
		return creds, err
	}
}

func (s *Service) checkNew(ctx context.Context, in NewMerchant) error {
	switch in.Kind {
	case Direct, ServiceProvider:
		if in.ParentMchID != "" {
			return errcode.E(errcode.Invalid, "only a sub-merchant has a service provider")
		}
	case SubMerchant:
		sp, err := s.store.Merchant(ctx, in.ParentMchID)
		if err != nil {
			return fmt.Errorf("service provider %s: %w", in.ParentMchID, err)
		}
		if sp.Kind != ServiceProvider {
			return errcode.E(errcode.Invalid, "merchant %s is not a service provider", in.ParentMchID)
		}
	default:
		return errcode.E(errcode.Invalid, "unknown merchant kind %q (direct, service_provider, sub_merchant)", in.Kind)
	}
	if in.PlatformMode != CertificateMode && in.PlatformMode != PublicKeyMode {
		return errcode.E(errcode.Invalid, "unknown platform mode %q (certificate, public_key)", in.PlatformMode)
	}
	return nil
}

func (s *Service) create(ctx context.Context, ca *pki.CA, in NewMerchant) (Credentials, error) {
	now := s.clock.Now()
	mchID := "19" + randid.Digits(8)
	m := Merchant{
		MchID: mchID, Kind: in.Kind, ParentMchID: in.ParentMchID, Name: in.Name,
		APIKey: randid.Alnum(32), APIv3Key: randid.Alnum(32), PlatformMode: in.PlatformMode, CreatedAt: now,
	}
	if m.Name == "" {
		m.Name = mchID
	}
	mc, err := ca.IssueMerchantCert(mchID, now)
	if err != nil {
		return Credentials{}, err
	}
	older, err := ca.IssuePlatformCert(mchID, now.AddDate(-1, 0, 0), now.AddDate(0, 1, 0))
	if err != nil {
		return Credentials{}, err
	}
	current, err := ca.IssuePlatformCert(mchID, now.Add(-time.Minute), now.AddDate(5, 0, 0))
	if err != nil {
		return Credentials{}, err
	}
	pub, err := pki.NewPublicKeyIdentity()
	if err != nil {
		return Credentials{}, err
	}
	ids := []PlatformIdentity{certIdentity(mchID, older), certIdentity(mchID, current), {
		SerialNo: pub.ID, MchID: mchID, Kind: PlatformPublicKey, PublicKeyPEM: pub.PubPEM, Key: pub.Key,
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(20, 0, 0),
	}}
	p12, err := pki.PKCS12(mc, mchID)
	if err != nil {
		return Credentials{}, err
	}
	appID := "wx" + hex.EncodeToString(randomBytes(8))
	certs := []MerchantCert{{SerialNo: mc.Serial, MchID: mchID, CertPEM: mc.CertPEM, Cert: mc.Cert}}
	if err := s.store.CreateMerchant(ctx, m, certs, ids, []string{appID}); err != nil {
		return Credentials{}, fmt.Errorf("create merchant: %w", err)
	}
	return Credentials{
		MchID: mchID, Kind: m.Kind, ParentMchID: m.ParentMchID, AppID: appID,
		APIKey: m.APIKey, APIv3Key: m.APIv3Key,
		MerchantSerialNo: mc.Serial, MerchantPrivateKeyPEM: string(mc.KeyPEM), MerchantCertPEM: string(mc.CertPEM),
		MerchantCertP12:  p12,
		PlatformMode:     string(m.PlatformMode),
		PlatformSerialNo: current.Serial, PlatformCertPEM: string(current.CertPEM),
		PlatformCertSerials: []string{current.Serial, older.Serial},
		PlatformPublicKeyID: pub.ID, PlatformPublicKeyPEM: string(pub.PubPEM),
		TLSCAPEM: string(ca.CertPEM),
	}, nil
}

func certIdentity(mchID string, c pki.Issued) PlatformIdentity {
	return PlatformIdentity{
		SerialNo: c.Serial, MchID: mchID, Kind: PlatformCertificate, CertPEM: c.CertPEM,
		PublicKeyPEM: nil, Key: c.Key, NotBefore: c.Cert.NotBefore, NotAfter: c.Cert.NotAfter,
	}
}

// Merchant returns one merchant.
func (s *Service) Merchant(ctx context.Context, mchID string) (Merchant, error) {
	return s.store.Merchant(ctx, mchID)
}

// Merchants lists every merchant.
func (s *Service) Merchants(ctx context.Context) ([]Merchant, error) { return s.store.Merchants(ctx) }

// BindAppID binds an appid to a merchant; an empty appid gets a fresh one. It returns the appid.
func (s *Service) BindAppID(ctx context.Context, mchID, appID string) (string, error) {
	if _, err := s.store.Merchant(ctx, mchID); err != nil {
		return "", err
	}
	if appID == "" {
		appID = "wx" + hex.EncodeToString(randomBytes(8))
	}
	if len(appID) > 32 {
		return "", errcode.E(errcode.Invalid, "appid is longer than 32 characters")
	}
	return appID, s.store.BindAppID(ctx, appID, mchID)
}

// SetPlatformMode changes how the platform signs answers for a merchant whose request
// does not name a platform identity.
func (s *Service) SetPlatformMode(ctx context.Context, mchID string, mode PlatformMode) error {
	if mode != CertificateMode && mode != PublicKeyMode {
		return errcode.E(errcode.Invalid, "unknown platform mode %q (certificate, public_key)", mode)
	}
	return s.store.SetPlatformMode(ctx, mchID, mode)
}

// ErrNoIdentity means a merchant has no usable platform identity of the kind asked for.
var ErrNoIdentity = errors.New("tenant: no usable platform identity")

// SigningIdentity picks the identity that signs an answer: the one the client named
// (its Wechatpay-Serial) when the merchant has it and it is valid now; otherwise the
// newest valid identity of the merchant's default mode.
func SigningIdentity(ids []PlatformIdentity, m Merchant, wanted string, now time.Time) (PlatformIdentity, error) {
	var best *PlatformIdentity
	kind := PlatformCertificate
	if m.PlatformMode == PublicKeyMode {
		kind = PlatformPublicKey
	}
	for i := range ids {
		id := &ids[i]
		if now.Before(id.NotBefore) || !now.Before(id.NotAfter) {
			continue
		}
		if wanted != "" && strings.EqualFold(id.SerialNo, wanted) {
			return *id, nil
		}
		if id.Kind == kind && (best == nil || id.NotAfter.After(best.NotAfter)) {
			best = id
		}
	}
	if best == nil {
		return PlatformIdentity{}, ErrNoIdentity
	}
	return *best, nil
}

// Certificates returns the merchant's valid platform certificates, newest first.
func Certificates(ids []PlatformIdentity, now time.Time) []PlatformIdentity {
	var out []PlatformIdentity
	for _, id := range ids {
		if id.Kind == PlatformCertificate && !now.Before(id.NotBefore) && now.Before(id.NotAfter) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NotAfter.After(out[j].NotAfter) })
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
