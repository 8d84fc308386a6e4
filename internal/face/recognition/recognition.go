// Package recognition joins the engine (photo → template) to the face libraries
// (template → person): enrolment of one good face, identification with the
// threshold and look-alike rule, and phone-tail resolution with the offline face
// SDK's error codes. It is what a kiosk and the admin commands call.
package recognition

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// ErrNoFace is the offline SDK's "no face recognised" (restartable): no face, or
// none that passed the quality gates.
var ErrNoFace = &face.Error{Code: 271378526, Msg: "no face recognised"}

// Service recognises faces against libraries.
type Service struct {
	Engine *engine.Engine
	Libs   *face.Libraries
	Rule   face.Rule
	Now    func() time.Time
}

// New builds a service whose rule is the pack's measured threshold and margin.
func New(e *engine.Engine, store face.Store, now func() time.Time) *Service {
	return &Service{Engine: e, Libs: face.NewLibraries(store, e.Dim()).ForModel(e.Model()),
		Rule: face.Rule{Threshold: e.Pack.Threshold, Margin: e.Pack.Margin}, Now: now}
}

// Enrolled describes the stored templates of a person (never the templates).
type Enrolled struct {
	Library   string         `json:"library"`
	PersonID  string         `json:"person_id"`
	Model     string         `json:"model"`
	Templates int            `json:"templates"`
	Refused   []Refusal      `json:"refused,omitempty"`
	Quality   engine.Quality `json:"quality"` // of the first kept photo
	Timings   timingsMS      `json:"timings_ms"`
}

// Refusal says why one enrolment photo was not kept.
type Refusal struct {
	Photo  int    `json:"photo"` // 0-based, in the order given
	Reason string `json:"reason"`
}

// ErrNotSamePerson refuses an enrolment photo whose face is too unlike the first
// kept one: several photos of one person must be of that person.
var ErrNotSamePerson = errors.New("not the same person as the first photo")

// Enrol stores the one good face of each photo as personID's templates in
// library, replacing any earlier enrolment. Photos that fail (no face, several,
// a gate, another person than the first kept photo) are left out and reported;
// when none is kept the enrolment fails with the first photo's reason.
func (s *Service) Enrol(ctx context.Context, library, personID, phoneTail string, imgs ...*vision.Image) (Enrolled, error) {
	if len(imgs) == 0 || len(imgs) > face.MaxTemplates {
		return Enrolled{}, fmt.Errorf("enrolment takes 1 to %d photos, not %d", face.MaxTemplates, len(imgs))
	}
	r := Enrolled{Library: library, PersonID: personID, Model: s.Engine.Model()}
	var kept [][]float32
	var first error
	for i, img := range imgs {
		f, err := s.Engine.Enrol(img)
		if err == nil && len(kept) > 0 && dot(kept[0], f.Embedding) < s.Engine.Pack.SamePerson {
			err = fmt.Errorf("%w (score %.3f, need %.3f)", ErrNotSamePerson, dot(kept[0], f.Embedding), s.Engine.Pack.SamePerson)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			r.Refused = append(r.Refused, Refusal{Photo: i, Reason: err.Error()})
			continue
		}
		if len(kept) == 0 {
			r.Quality, r.Timings = f.Quality, toMS(f.Timings, 0)
		}
		kept = append(kept, f.Embedding)
	}
	if len(kept) == 0 {
		return r, first
	}
	e := face.Enrolment{Library: library, PersonID: personID, PhoneTail: phoneTail, Vectors: kept, CreatedAt: s.Now()}
	if err := s.Libs.Enrol(ctx, e); err != nil {
		return Enrolled{}, err
	}
	r.Templates = len(kept)
	return r, nil
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Result is an identification.
type Result struct {
	Match         *face.Candidate  `json:"match,omitempty"`
	NeedExtVerify bool             `json:"need_ext_verify"`
	Candidates    []face.Candidate `json:"candidates"`
	Threshold     float32          `json:"threshold"`
	Margin        float32          `json:"margin"`
	Box           vision.Rect      `json:"face_rect"`
	Quality       engine.Quality   `json:"quality"`
	Timings       timingsMS        `json:"timings_ms"`
}

// Identify finds the person in img. A look-alike result (need_ext_verify) is
// resolved by phoneTail when one is given; without it the caller must ask.
func (s *Service) Identify(ctx context.Context, library string, img *vision.Image, phoneTail string) (Result, error) {
	f, err := s.Engine.Probe(img)
	var rej *engine.RejectedError
	if errors.Is(err, engine.ErrNoFace) || errors.As(err, &rej) {
		return Result{}, fmt.Errorf("%w: %v", ErrNoFace, err)
	}
	if err != nil {
		return Result{}, err
	}
	t := time.Now()
	id, err := s.Libs.Identify(ctx, library, f.Embedding, s.Rule)
	if err != nil {
		return Result{}, err
	}
	r := Result{Match: id.Match, NeedExtVerify: id.NeedExtVerify, Candidates: id.Candidates,
		Threshold: s.Rule.Threshold, Margin: s.Rule.Margin, Box: f.Box, Quality: f.Quality, Timings: toMS(f.Timings, time.Since(t))}
	if r.Candidates == nil {
		r.Candidates = []face.Candidate{}
	}
	if id.Match == nil && !id.NeedExtVerify {
		return r, face.ErrNoSuchTail
	}
	if id.NeedExtVerify && phoneTail != "" {
		c, err := face.ResolveByTail(id, phoneTail)
		if err != nil {
			return r, err
		}
		r.Match = &c
	}
	return r, nil
}

type timingsMS struct {
	Detect    float64 `json:"detect"`
	Landmarks float64 `json:"landmarks"`
	Align     float64 `json:"align"`
	Embed     float64 `json:"embed"`
	AntiSpoof float64 `json:"anti_spoof"`
	Search    float64 `json:"search"`
}

func toMS(t engine.Timings, search time.Duration) timingsMS {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return timingsMS{Detect: ms(t.Detect), Landmarks: ms(t.Landmarks), Align: ms(t.Align), Embed: ms(t.Embed),
		AntiSpoof: ms(t.AntiSpoof), Search: ms(search)}
}
