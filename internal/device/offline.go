package device

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// An offline payment credential is what a K12 kiosk hands its service provider after
// recognising a user without the network (getFacePayCredential): the service
// provider's server sends it as auth_code to offlineface/transactions. It is the
// kiosk's signed statement "this user paid this amount here, then":
//
//	"OF1." base64url(claims JSON) "." base64url(P-256 signature, r||s)
//
// The claims carry the kiosk's offline authinfo, so the platform learns from the
// credential alone which service provider, sub-merchant, organisation and device key
// it belongs to; the signature is made with the device key that authinfo binds.
// Nobody without the kiosk's private key can mint one; the platform keeps each used
// credential's hash so it pays once.
const offlinePrefix = "OF1."

// OfflineCredentialTTL is how long after minting a credential may still be debited:
// a kiosk that lost the network uploads its credentials when it comes back, and a
// school day is the longest a canteen runs offline before someone notices.
const OfflineCredentialTTL = 24 * time.Hour

// MaxOfflineCredential bounds what the platform reads.
const MaxOfflineCredential = 4096

// OfflineClaims is what a credential states.
type OfflineClaims struct {
	AuthInfo string `json:"ai"`
	UserID   string `json:"u"`
	Amount   int64  `json:"a"` // fen
	IssuedAt int64  `json:"t"` // unix seconds on the kiosk's clock
	Nonce    string `json:"n"`
}

// ErrOfflineCredential is wrapped by every refusal of a credential's form or signature.
var ErrOfflineCredential = errors.New("the offline payment credential is not valid")

// MintOfflineCredential is the kiosk side.
func MintOfflineCredential(key *ecdsa.PrivateKey, c OfflineClaims) (string, error) {
	if c.AuthInfo == "" || c.UserID == "" || c.Amount <= 0 || c.Nonce == "" {
		return "", fmt.Errorf("%w: authinfo, user, a positive amount and a nonce are required", ErrOfflineCredential)
	}
	body, _ := json.Marshal(c)
	claims := base64.RawURLEncoding.EncodeToString(body)
	sig, err := termwire.Sign(key, []byte(offlinePrefix+claims))
	if err != nil {
		return "", err
	}
	raw, _ := base64.StdEncoding.DecodeString(sig)
	return offlinePrefix + claims + "." + base64.RawURLEncoding.EncodeToString(raw), nil
}

// ParseOfflineCredential reads a credential's claims without judging them; Verify
// checks the signature once the authinfo's device key is known.
func ParseOfflineCredential(s string) (OfflineClaims, error) {
	bad := func(why string) (OfflineClaims, error) {
		return OfflineClaims{}, fmt.Errorf("%w: %s", ErrOfflineCredential, why)
	}
	if len(s) > MaxOfflineCredential || !strings.HasPrefix(s, offlinePrefix) {
		return bad("not an offline payment credential of this platform")
	}
	claims, sig, ok := strings.Cut(s[len(offlinePrefix):], ".")
	if !ok || strings.Contains(sig, ".") {
		return bad("malformed")
	}
	body, err := base64.RawURLEncoding.DecodeString(claims)
	if err != nil {
		return bad("malformed claims")
	}
	if _, err := base64.RawURLEncoding.DecodeString(sig); err != nil {
		return bad("malformed signature")
	}
	var c OfflineClaims
	if err := json.Unmarshal(body, &c); err != nil || c.AuthInfo == "" || c.UserID == "" || c.Amount <= 0 || c.Nonce == "" {
		return bad("incomplete claims")
	}
	return c, nil
}

// VerifyOfflineCredential checks the credential's signature with the device key
// (uncompressed SEC 1 hex, as authinfo binds it).
func VerifyOfflineCredential(s, keyHex string) error {
	claims, sig, ok := strings.Cut(strings.TrimPrefix(s, offlinePrefix), ".")
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil {
		return fmt.Errorf("%w: malformed signature", ErrOfflineCredential)
	}
	if err := termwire.Verify(keyHex, []byte(offlinePrefix+claims), base64.StdEncoding.EncodeToString(raw)); err != nil {
		return fmt.Errorf("%w: %v", ErrOfflineCredential, err)
	}
	return nil
}

// HashOfflineCredential names a credential in storage: only its hash is kept.
func HashOfflineCredential(s string) string {
	h := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", h)
}
