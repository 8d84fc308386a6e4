package v2http

import (
	"errors"
	"testing"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

func TestErrCodeTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code     errcode.Code
		notFound string
		want     string
	}{
		{errcode.Invalid, "", "PARAM_ERROR"},
		{errcode.NotFound, "", "ORDERNOTEXIST"},
		{errcode.NotFound, "REFUNDNOTEXIST", "REFUNDNOTEXIST"},
		{errcode.Conflict, "", "INVALID_REQUEST"},
		{errcode.Unauthenticated, "", "SIGNERROR"},
		{errcode.Forbidden, "", "NOAUTH"},
		{errcode.InsufficientFunds, "", "NOTENOUGH"},
		{errcode.LimitExceeded, "", "FREQUENCY_LIMITED"},
		{errcode.Unavailable, "", "SYSTEMERROR"},
		{errcode.Internal, "", "SYSTEMERROR"},
	}
	for _, c := range cases {
		got, des := ErrCode(errcode.E(c.code, "human text"), c.notFound)
		if got != c.want {
			t.Errorf("%s -> %s, want %s", c.code, got, c.want)
		}
		if c.code != errcode.Internal && c.code != errcode.Unavailable && des != "human text" {
			t.Errorf("%s: description %q lost the message", c.code, des)
		}
	}
	// Internal details never reach the client.
	if _, des := ErrCode(errors.New("pq: password=secret"), ""); des == "" || des == "pq: password=secret" {
		t.Errorf("internal error leaked as %q", des)
	}
}
