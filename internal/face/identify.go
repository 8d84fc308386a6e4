package face

import (
	"errors"
	"fmt"
)

// Rule decides an identification from the best candidates.
type Rule struct {
	Threshold float32 // a match scores at least this
	Margin    float32 // a second candidate within this of the best is a look-alike
}

// Identification is the outcome of a search.
type Identification struct {
	// Match is set when exactly one person is clearly the probe.
	Match *Candidate
	// NeedExtVerify asks for the phone tail: several people above the threshold are
	// within the margin of the best (look-alikes, twins). Candidates lists them.
	NeedExtVerify bool
	Candidates    []Candidate
}

// Decide applies the rule to candidates sorted best first.
func (r Rule) Decide(top []Candidate) Identification {
	if len(top) == 0 || top[0].Score < r.Threshold {
		return Identification{}
	}
	close := []Candidate{top[0]}
	for _, c := range top[1:] {
		if c.Score >= r.Threshold && top[0].Score-c.Score <= r.Margin {
			close = append(close, c)
		}
	}
	if len(close) == 1 {
		m := top[0]
		return Identification{Match: &m, Candidates: close}
	}
	return Identification{NeedExtVerify: true, Candidates: close}
}

// Error is a terminal SDK error with its numeric err_code.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("face: %d %s", e.Code, e.Msg) }

// The errors of phone-tail resolution, with the offline SDK's codes.
var (
	ErrSameTail   = &Error{Code: 271378587, Msg: "several users with the same phone tail and similar faces"}
	ErrNoSuchTail = &Error{Code: 271378595, Msg: "no matching user information"}
)

// ResolveByTail settles a look-alike identification with the phone tail the payer typed.
func ResolveByTail(id Identification, tail string) (Candidate, error) {
	if id.Match != nil {
		return *id.Match, nil
	}
	var found []Candidate
	for _, c := range id.Candidates {
		if c.PhoneTail != "" && c.PhoneTail == tail {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Candidate{}, ErrNoSuchTail
	}
	return Candidate{}, ErrSameTail
}

// IsCode reports whether err is a face Error with code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
