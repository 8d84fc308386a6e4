// Package v3wire holds the byte-exact security formats of WeChat Pay APIv3 as the
// official SDKs produce and check them: the signed request and response messages, the
// Authorization header, the Wechatpay-* answer headers, AEAD_AES_256_GCM, RSA-OAEP and
// the /v3/certificates answer, plus the error body.
//
// It is deliberately pure: it knows no merchants, clocks, replay windows or routes.
// Callers look up keys by mchid and serial, decide whether a timestamp is fresh and
// whether a nonce was seen, and map the sentinel errors to HTTP answers.
package v3wire
