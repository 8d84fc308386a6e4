// Package errcode is the one error type of the domain: a small set of codes and a
// message for humans. Each protocol edge maps codes to its own wire format in one table.
package errcode

import (
	"errors"
	"fmt"
)

// Code classifies a domain error.
type Code string

// The codes. Edges must map every one of them.
const (
	Invalid           Code = "invalid"            // the request is malformed or breaks a rule
	NotFound          Code = "not_found"          // no such thing, or not visible to this tenant
	Conflict          Code = "conflict"           // same business key, different content; or a state that forbids the change
	Unauthenticated   Code = "unauthenticated"    // signature, certificate or key check failed
	Forbidden         Code = "forbidden"          // authenticated but not allowed
	InsufficientFunds Code = "insufficient_funds" // an account that may not go negative would
	LimitExceeded     Code = "limit_exceeded"     // a quota or limit would be exceeded
	Unavailable       Code = "unavailable"        // try again later
	Internal          Code = "internal"           // a bug or an infrastructure failure
)

// Error is a domain error.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, if any; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error with a formatted message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an error that keeps err as its cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, Internal when there is none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the human message of the first *Error in err's chain; for anything
// else a generic text, so internal details never reach a client.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }
