// Package device owns what a terminal proves about itself. A face SDK (the kiosk agent,
// or the emulator's `admin rawdata`) creates a P-256 key pair and an identity and emits
// rawdata: a versioned blob carrying the identity and the public key, signed by the
// private key so nobody can alter it. The platform exchanges valid rawdata for authinfo:
// a platform-sealed, expiring credential that binds merchant, appid, store and terminal;
// nobody but the platform can read or forge it.
package device

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// rawdataPrefix marks version 1 of the rawdata layout.
const rawdataPrefix = "RD1"

// MaxRawdata is the protocol's limit on rawdata length.
const MaxRawdata = 2048

// Identity is a face SDK's own identity: what the terminal keeps.
type Identity struct {
	ID  string // the SDK's device id, printable ASCII, at most 64 characters
	Key *ecdsa.PrivateKey
}

// NewIdentity creates a terminal identity with a fresh key.
func NewIdentity() (Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return Identity{ID: "SDK-" + strings.ToUpper(hex.EncodeToString(b)), Key: key}, nil
}

// Rawdata is what a terminal proves: its id and public key, at a time.
type Rawdata struct {
	DeviceID  string
	PublicKey *ecdsa.PublicKey
	Created   time.Time
}

// KeyHex is the public key in uncompressed SEC 1 form, hex; it names the terminal's key.
func (r Rawdata) KeyHex() string {
	b, _ := r.PublicKey.ECDH()
	return strings.ToUpper(hex.EncodeToString(b.Bytes()))
}

// MakeRawdata is the terminal side: it signs its identity and key.
// Layout: "RD1" + upper hex of  created(8, unix s) | nonce(8) | len(1) | id | pubkey(65) | sig(64, r||s).
func MakeRawdata(id Identity, now time.Time) (string, error) {
	if len(id.ID) == 0 || len(id.ID) > 64 {
		return "", errors.New("device: identity id must be 1 to 64 characters")
	}
	pub, err := id.Key.PublicKey.ECDH()
	if err != nil {
		return "", err
	}
	var body bytes.Buffer
	_ = binary.Write(&body, binary.BigEndian, now.Unix())
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	body.Write(nonce)
	body.WriteByte(byte(len(id.ID)))
	body.WriteString(id.ID)
	body.Write(pub.Bytes())
	digest := sha256.Sum256(body.Bytes())
	r, s, err := ecdsa.Sign(rand.Reader, id.Key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	body.Write(sig)
	return rawdataPrefix + strings.ToUpper(hex.EncodeToString(body.Bytes())), nil
}

// ErrRawdata is wrapped by every rawdata refusal.
var ErrRawdata = errors.New("rawdata is not valid terminal data")

// ParseRawdata is the platform side: it checks the layout and the signature.
func ParseRawdata(s string) (Rawdata, error) {
	bad := func(why string) (Rawdata, error) { return Rawdata{}, fmt.Errorf("%w: %s", ErrRawdata, why) }
	if len(s) > MaxRawdata {
		return bad("longer than 2048 characters")
	}
	if !strings.HasPrefix(s, rawdataPrefix) {
		return bad("unknown version")
	}
	b, err := hex.DecodeString(s[len(rawdataPrefix):])
	if err != nil {
		return bad("not hex")
	}
	if len(b) < 8+8+1+1+65+64 {
		return bad("truncated")
	}
	idLen := int(b[16])
	if idLen == 0 || len(b) != 17+idLen+65+64 {
		return bad("wrong length")
	}
	id := string(b[17 : 17+idLen])
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return bad("device id is not printable")
		}
	}
	pubBytes := b[17+idLen : 17+idLen+65]
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubBytes)
	if err != nil {
		return bad("public key is not a P-256 point")
	}
	signed, sig := b[:len(b)-64], b[len(b)-64:]
	digest := sha256.Sum256(signed)
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return bad("signature does not verify")
	}
	created := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	return Rawdata{DeviceID: id, PublicKey: pub, Created: created}, nil
}

// Sealer seals and opens platform secrets (seal.Sealer).
type Sealer interface {
	Seal(purpose string, plaintext []byte) []byte
	Open(purpose string, sealed []byte) ([]byte, error)
}

const (
	authinfoPrefix  = "AI1"
	authinfoPurpose = "device/authinfo/v1"
)

// AuthInfo is what an authinfo binds. MchID is the merchant whose key signed the
// request (a service provider in SP mode); SubMchID the sub-merchant it acted for.
type AuthInfo struct {
	MchID       string `json:"m"`
	SubMchID    string `json:"sm,omitempty"`
	AppID       string `json:"a"`
	SubAppID    string `json:"sa,omitempty"`
	StoreID     string `json:"s"`
	DeviceID    string `json:"d"`  // the merchant's terminal number
	SDKDeviceID string `json:"sd"` // the face SDK identity from rawdata
	DeviceKey   string `json:"k"`
	OrgID       string `json:"o,omitempty"` // K12: the organisation of an offline kiosk
	IssuedAt    int64  `json:"i"`
	ExpiresAt   int64  `json:"e"`
}

// Owner is the merchant whose business the authinfo serves.
func (a AuthInfo) Owner() string {
	if a.SubMchID != "" {
		return a.SubMchID
	}
	return a.MchID
}

// Seal renders the authinfo as an opaque token. Hex keeps it clear of any text a client
// could mistake for an HTML error page.
func (a AuthInfo) Seal(s Sealer) string {
	b, _ := json.Marshal(a)
	return authinfoPrefix + strings.ToUpper(hex.EncodeToString(s.Seal(authinfoPurpose, b)))
}

// Hash names an authinfo token without keeping it.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Errors of OpenAuthInfo.
var (
	ErrAuthInfoInvalid = errors.New("authinfo is not valid")
	ErrAuthInfoExpired = errors.New("authinfo has expired")
)

// OpenAuthInfo checks a token and its validity at now.
func OpenAuthInfo(s Sealer, token string, now time.Time) (AuthInfo, error) {
	a, err := UnsealAuthInfo(s, token)
	if err != nil {
		return a, err
	}
	if a.Expired(now) {
		return a, ErrAuthInfoExpired
	}
	return a, nil
}

// Expired reports whether the authinfo is no longer valid at now.
func (a AuthInfo) Expired(now time.Time) bool { return !now.Before(time.Unix(a.ExpiresAt, 0)) }

// UnsealAuthInfo opens a token without judging its age: for callers that must first
// learn whose clock to judge it by.
func UnsealAuthInfo(s Sealer, token string) (AuthInfo, error) {
	if !strings.HasPrefix(token, authinfoPrefix) || len(token) > 4096 {
		return AuthInfo{}, ErrAuthInfoInvalid
	}
	raw, err := hex.DecodeString(token[len(authinfoPrefix):])
	if err != nil {
		return AuthInfo{}, ErrAuthInfoInvalid
	}
	pt, err := s.Open(authinfoPurpose, raw)
	if err != nil {
		return AuthInfo{}, ErrAuthInfoInvalid
	}
	var a AuthInfo
	if err := json.Unmarshal(pt, &a); err != nil {
		return AuthInfo{}, ErrAuthInfoInvalid
	}
	return a, nil
}
