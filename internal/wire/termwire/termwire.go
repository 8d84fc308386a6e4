// Package termwire is the terminal API's wire format: what a kiosk's face SDK sends
// the platform and what it gets back. A request is JSON, carries the authinfo its
// merchant server obtained, and is signed with the device key whose public half the
// authinfo binds, so the platform knows it comes from that terminal; a timestamp and
// a nonce keep it from being replayed. The kiosk sends a face template, never a
// photograph. Pure: no HTTP, no domain.
package termwire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Headers of a signed request.
const (
	HeaderTimestamp = "Facepay-Timestamp" // Unix seconds
	HeaderNonce     = "Facepay-Nonce"     // 16 to 64 characters of [0-9A-Za-z]
	HeaderSignature = "Facepay-Signature" // base64 of the ECDSA P-256 r||s over Message
)

// Paths of the terminal API.
const (
	PathIdentify    = "/terminal/v1/identify"
	PathMember      = "/terminal/v1/member"
	PathOfflineSync = "/terminal/v1/offline/sync"
)

// OfflineSyncRequest asks for a page of what changed in the school's face library
// since the version the kiosk holds (0: everything), after the cursor of the
// previous page.
type OfflineSyncRequest struct {
	AuthInfo string `json:"authinfo"`
	Since    int64  `json:"since"`
	After    string `json:"after,omitempty"`
	Limit    int    `json:"limit,omitempty"` // users a page; 0 is the platform's default
}

// OfflineSyncResponse carries the page sealed to the device key (device.SealToDevice,
// associated data LibraryAAD of the school): only the kiosk holding the key reads it.
type OfflineSyncResponse struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	ErrCode    int    `json:"err_code,omitempty"`
	Sealed     string `json:"sealed,omitempty"`
}

// LibraryAAD binds a sealed library page to its school.
func LibraryAAD(orgID string) []byte { return []byte("k12-library:" + orgID) }

// Message is what the device key signs: the method, the path, the timestamp, the
// nonce and the body, each on its own line after a version line.
func Message(method, path, timestamp, nonce string, body []byte) []byte {
	var b strings.Builder
	b.WriteString("FPT1\n")
	for _, s := range []string{method, path, timestamp, nonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.Write(body)
	return []byte(b.String())
}

// Sign signs msg with the device key.
func Sign(key *ecdsa.PrivateKey, msg []byte) (string, error) {
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ErrSignature is returned for every signature that does not verify.
var ErrSignature = errors.New("termwire: the signature does not verify with the device key")

// Verify checks sig over msg with the device key given as uncompressed SEC 1 hex (as
// authinfo carries it).
func Verify(keyHex string, msg []byte, sig string) error {
	raw, err := hex.DecodeString(keyHex)
	if err != nil || len(raw) != 65 || raw[0] != 4 {
		return fmt.Errorf("%w: the device key is malformed", ErrSignature)
	}
	x, y := new(big.Int).SetBytes(raw[1:33]), new(big.Int).SetBytes(raw[33:])
	if !elliptic.P256().IsOnCurve(x, y) {
		return fmt.Errorf("%w: the device key is not on P-256", ErrSignature)
	}
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(s) != 64 {
		return fmt.Errorf("%w: malformed signature", ErrSignature)
	}
	d := sha256.Sum256(msg)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
	if !ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:])) {
		return ErrSignature
	}
	return nil
}

// ParseTimestamp reads the timestamp header.
func ParseTimestamp(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, errors.New("termwire: the timestamp is not Unix seconds")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, errors.New("termwire: the timestamp is not Unix seconds")
	}
	return v, nil
}

// CheckNonce accepts 16 to 64 ASCII letters and digits.
func CheckNonce(s string) error {
	if len(s) < 16 || len(s) > 64 {
		return errors.New("termwire: the nonce must be 16 to 64 letters and digits")
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return errors.New("termwire: the nonce must be 16 to 64 letters and digits")
		}
	}
	return nil
}

// EncodeTemplate packs a template as base64 of little-endian float32.
func EncodeTemplate(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// MaxDim bounds a template's length.
const MaxDim = 2048

// DecodeTemplate unpacks a template, refusing a wrong length and non-finite values.
func DecodeTemplate(s string) ([]float32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || len(b)%4 != 0 || len(b) > 4*MaxDim {
		return nil, errors.New("termwire: the template is not base64 of 1 to 2048 float32")
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		x := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, errors.New("termwire: the template holds a value that is not finite")
		}
		v[i] = x
	}
	return v, nil
}

// Purposes of an identification.
const (
	PurposePay      = "pay"       // getWxpayfaceCode: a face_code
	PurposeUserInfo = "user_info" // getWxpayfaceUserInfo: openid and nickname
)

// Liveness is the kiosk's account of its active check.
type Liveness struct {
	Challenge string `json:"challenge"`
	Passed    bool   `json:"passed"`
	Frames    int    `json:"frames"`
	// Off is set by a kiosk whose liveness was turned off (emulated cameras).
	Off bool `json:"off,omitempty"`
}

// IdentifyRequest asks the platform who a face is.
type IdentifyRequest struct {
	AuthInfo   string    `json:"authinfo"`
	Purpose    string    `json:"purpose"`
	Model      string    `json:"model"`    // the pack and dimension that made the template, e.g. open/128
	Template   string    `json:"template"` // EncodeTemplate
	Liveness   *Liveness `json:"liveness"`
	PhoneTail  string    `json:"phone_tail,omitempty"` // the last 4 digits the person typed, when asked
	Telephone  string    `json:"telephone,omitempty"`  // a whole number, pre-filled or typed
	OutTradeNo string    `json:"out_trade_no,omitempty"`
	TotalFee   string    `json:"total_fee,omitempty"`
	AskUnionID bool      `json:"ask_unionid,omitempty"`
	// FaceCodeType "1" asks for an 18-digit numeric face_code (getWxpayfaceCode).
	FaceCodeType string `json:"face_code_type,omitempty"`
}

// IdentifyResponse is the platform's answer, in the SDK's own terms.
type IdentifyResponse struct {
	ReturnCode    string `json:"return_code"`
	ReturnMsg     string `json:"return_msg"`
	ErrCode       int    `json:"err_code,omitempty"`
	NeedPhone     bool   `json:"need_phone,omitempty"` // a look-alike: ask for the phone tail and send again
	FaceCode      string `json:"face_code,omitempty"`
	OpenID        string `json:"openid,omitempty"`
	SubOpenID     string `json:"sub_openid,omitempty"`
	Nickname      string `json:"nickname,omitempty"`
	Token         string `json:"token,omitempty"`
	UnionIDCode   string `json:"unionid_code,omitempty"`
	UnionIDMsg    string `json:"unionid_msg,omitempty"`
	TelephoneUsed int    `json:"telephone_used"`
	UnderageState int    `json:"underage_state"`
}

// MemberRequest asks for the member card offer (activateWxpayfaceMember).
type MemberRequest struct {
	AuthInfo string `json:"authinfo"`
	StoreID  string `json:"store_id"`
	OpenID   string `json:"openid"`
	Token    string `json:"token"` // from the getWxpayfaceUserInfo that recognised openid
}

// MemberResponse is the member card's answer; failures carry the member codes
// (PARAMS_INVALID, MEMBER_INFO_EXP_ERROR, GET_MEMBER_INFO_FAIL_ERROR,
// NOT_CONFIG_MEMBER_ERROR) in return_code.
type MemberResponse struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	ErrCode    int    `json:"err_code,omitempty"`
	CardID     string `json:"card_id,omitempty"`
	MemberNo   string `json:"member_no,omitempty"`
}
