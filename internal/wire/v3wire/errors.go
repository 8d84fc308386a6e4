package v3wire

import "errors"

// Callers answer every one of these with a fixed protocol error, so the sentinels
// carry the category and the wrapped text carries the detail for logs.
var (
	// ErrInvalidAuthorization: the Authorization header does not follow the grammar
	// the SDKs emit (401 SIGN_ERROR).
	ErrInvalidAuthorization = errors.New("v3wire: invalid Authorization header")
	// ErrInvalidSignature: a SHA256withRSA signature does not verify (401 SIGN_ERROR,
	// or an invalid notification on the receiving side).
	ErrInvalidSignature = errors.New("v3wire: signature verification failed")
	// ErrDecrypt: wire data that should decrypt does not (400 PARAM_ERROR for request
	// fields, an invalid notification for webhook resources).
	ErrDecrypt = errors.New("v3wire: decryption failed")
	// ErrInvalidKey: a key supplied by the caller is unusable; this is a configuration
	// fault, never the peer's.
	ErrInvalidKey = errors.New("v3wire: invalid key")
)

// Error codes of spec §8, in the domestic spelling; INVALID_REQUEST,
// RESOURCE_NOT_EXISTS and FREQUENCY_LIMITED are unconfirmed for the K12 APIs.
const (
	CodeParamError         = "PARAM_ERROR"
	CodeInvalidRequest     = "INVALID_REQUEST"
	CodeSignError          = "SIGN_ERROR"
	CodeNoAuth             = "NO_AUTH"
	CodeResourceNotExists  = "RESOURCE_NOT_EXISTS"
	CodeOrderNotExist      = "ORDER_NOT_EXIST"
	CodeFrequencyLimited   = "FREQUENCY_LIMITED"
	CodeSystemError        = "SYSTEM_ERROR"
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
)

// ErrorBody is the JSON of every 4xx/5xx answer. wechatpay-go decodes it into
// core.APIError without checking the signature, so the shape matters more than the
// content; Detail is free-form because the SDK decodes it as interface{}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}
