package v3wire

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Answer headers, spelled as http.Header canonicalises them so that Set and direct
// map access agree.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
)

// SignTestPrefix marks the platform's signature-probe traffic, which a correct
// verifier must refuse.
const SignTestPrefix = "WECHATPAY/SIGNTEST/"

// RequestMessage builds "METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n". Every argument is
// taken verbatim: the signature covers the bytes the client sent, so normalising the
// method, the percent-encoding of uri or the JSON of body would break clients that
// differ in those details.
func RequestMessage(method, uri, timestamp, nonce string, body []byte) []byte {
	msg := make([]byte, 0, len(method)+len(uri)+len(timestamp)+len(nonce)+len(body)+5)
	msg = append(msg, method...)
	msg = append(msg, '\n')
	msg = append(msg, uri...)
	msg = append(msg, '\n')
	msg = append(msg, timestamp...)
	msg = append(msg, '\n')
	msg = append(msg, nonce...)
	msg = append(msg, '\n')
	msg = append(msg, body...)
	msg = append(msg, '\n')
	return msg
}

// ResponseMessage builds "TIMESTAMP\nNONCE\nBODY\n", the message of answers and of
// webhooks alike; an empty body (204) still ends with "\n\n".
func ResponseMessage(timestamp, nonce string, body []byte) []byte {
	msg := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	msg = append(msg, timestamp...)
	msg = append(msg, '\n')
	msg = append(msg, nonce...)
	msg = append(msg, '\n')
	msg = append(msg, body...)
	msg = append(msg, '\n')
	return msg
}

// SignSHA256RSA returns the standard-base64 RSASSA-PKCS1-v1_5 SHA-256 signature of msg.
func SignSHA256RSA(priv *rsa.PrivateKey, msg []byte) (string, error) {
	if priv == nil {
		return "", fmt.Errorf("%w: nil RSA private key", ErrInvalidKey)
	}
	digest := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("v3wire: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifySHA256RSA checks a standard-base64 SHA256withRSA signature. Every failure
// wraps ErrInvalidSignature.
//
// Only the canonical encoding is accepted: Go's decoder skips CR/LF and ignores the
// unused bits of the last quantum, and accepting those variants would make distinct
// header values verify as the same signature.
func VerifySHA256RSA(pub *rsa.PublicKey, msg []byte, sigB64 string) error {
	if pub == nil {
		// Both sentinels: nothing verifies, and the fault is the caller's key lookup.
		return fmt.Errorf("%w (%w: nil RSA public key)", ErrInvalidSignature, ErrInvalidKey)
	}
	if strings.HasPrefix(sigB64, SignTestPrefix) {
		return fmt.Errorf("%w: signature probe", ErrInvalidSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || base64.StdEncoding.EncodeToString(sig) != sigB64 {
		return fmt.Errorf("%w: signature is not canonical base64", ErrInvalidSignature)
	}
	digest := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	return nil
}

// SignRequest is the client side of §2: it signs a request the way wechatpay-go
// does and returns the Authorization header value. method, uri and body must be
// exactly what will be sent.
func SignRequest(priv *rsa.PrivateKey, mchID, serialNo, method, uri string, body []byte, now time.Time) (string, error) {
	a := Authorization{
		MchID:     mchID,
		NonceStr:  NonceStr(),
		Timestamp: strconv.FormatInt(now.Unix(), 10),
		SerialNo:  serialNo,
	}
	sig, err := SignSHA256RSA(priv, RequestMessage(method, uri, a.Timestamp, a.NonceStr, body))
	if err != nil {
		return "", err
	}
	a.Signature = sig
	return a.String(), nil
}

// ResponseHeaders is what the platform attaches to every answer and webhook.
// Serial names the verifying key: a certificate serial or a PUB_KEY_ID_… id.
type ResponseHeaders struct {
	Timestamp string
	Nonce     string
	Signature string
	Serial    string
}

// SignResponse signs body for an answer or a webhook. now must be wall-clock time
// even under a test clock: wechatpay-go refuses answers more than 300 s from its own
// clock.
func SignResponse(priv *rsa.PrivateKey, serial string, body []byte, now time.Time) (ResponseHeaders, error) {
	h := ResponseHeaders{
		Timestamp: strconv.FormatInt(now.Unix(), 10),
		Nonce:     NonceStr(),
		Serial:    serial,
	}
	sig, err := SignSHA256RSA(priv, ResponseMessage(h.Timestamp, h.Nonce, body))
	if err != nil {
		return ResponseHeaders{}, err
	}
	h.Signature = sig
	return h, nil
}

// Apply sets the five Wechatpay-* headers, replacing any earlier values so that a
// re-signed answer never carries two signatures.
func (h ResponseHeaders) Apply(hdr http.Header) {
	hdr.Set(HeaderTimestamp, h.Timestamp)
	hdr.Set(HeaderNonce, h.Nonce)
	hdr.Set(HeaderSignature, h.Signature)
	hdr.Set(HeaderSerial, h.Serial)
	hdr.Set(HeaderSignatureType, Scheme)
}

// NonceStr returns 32 random upper-case hex characters. wechatpay-go uses 32
// alphanumerics; hex is a subset of that alphabet, so it fits any client-side check.
func NonceStr() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (it aborts the program instead).
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
