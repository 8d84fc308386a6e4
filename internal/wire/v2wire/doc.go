// Package v2wire owns the byte-level contract of WeChat Pay APIv2: the flat <xml>
// document (parsed into ordered name/value pairs, written the way the platform writes
// it) and the MD5 / HMAC-SHA256 parameter signatures, plus the random tokens that go
// into signed answers.
//
// It is deliberately pure: it knows no merchants, key stores, routes or HTTP. Callers
// pick the key, map a *DecodeError's Code into a return_code=FAIL answer, and decide
// which fields an answer carries; this package only guarantees that what is signed is
// exactly what is written and what was read.
package v2wire
