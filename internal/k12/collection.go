package k12

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/randid"
)

// Re-collection states, as on the wire.
const (
	CollectionRequired = "COLLECTION_REQUIRED"
	PhotoUploaded      = "PHOTO_UPLOADED"
	CollectionComplete = "COMPLETE"
)

// MaxPhoto bounds a collection photo (bytes of JPEG, PNG or WebP).
const MaxPhoto = 8 << 20

// Collection is a re-collection of a signed user's face: the platform asks for it
// (COLLECTION_REQUIRED), the parent uploads a new photo (PHOTO_UPLOADED) and confirms
// it (COMPLETE); only then does the new face replace the old one. The photo and its
// template are sealed at rest and dropped once confirmed.
type Collection struct {
	ID          string
	OrgID       string
	UserID      string
	State       string
	Photo       []byte
	Template    []float32
	RequestedAt time.Time
	UploadedAt  time.Time
	ConfirmedAt time.Time
}

// Faces turns a parent's photo into a face template and keeps an organisation's face
// library (which its kiosks sync for offline recognition).
type Faces interface {
	// Template runs the enrolment gates on the photo: the template of its one face,
	// or an error whose text says what is wrong with the photo.
	Template(ctx context.Context, photo []byte) ([]float32, error)
	// Enrol replaces a person's templates in a library.
	Enrol(ctx context.Context, library, personID string, templates [][]float32) error
	// Templates are some people's templates in a library (absent when not enrolled).
	Templates(ctx context.Context, library string, personIDs []string) (map[string][][]float32, error)
	// Model names the templates' model (pack and dimension).
	Model() string
}

// ErrPhoto wraps every refusal of a photo, with the gate's reason.
var ErrPhoto = errors.New("the photo cannot be used")

// CollectionStore keeps collections.
type CollectionStore interface {
	SaveCollection(ctx context.Context, c Collection) error
	Collection(ctx context.Context, id string) (Collection, bool, error)
	// OpenCollection is the user's collection not yet COMPLETE, if any.
	OpenCollection(ctx context.Context, userID string) (Collection, bool, error)
	Collections(ctx context.Context, orgID string, offset, limit int) ([]Collection, int, error)
}

// Library is the face library of an organisation's users.
func Library(orgID string) string { return "k12:" + orgID }

// Page is what the parents' pages show for a token: whose it is and where they stand.
type Page struct {
	User       User
	Org        Organisation
	Kind       string // "token" or "presign"
	Mode       string // a presign's contract mode
	CardTail   string // a presign's designated card, last 4 digits
	Collection *Collection
	ExpiresAt  time.Time
	// The limits the contract signs up to: the platform's for the provider, or its own.
	PerDebit, PerDay int64
}

// PageOf opens a token (tokens or presign) for the collection and signing pages.
func (s *Service) PageOf(ctx context.Context, token string) (Page, error) {
	t, ok, err := s.contracts.Token(ctx, hashToken(token))
	if err != nil {
		return Page{}, err
	}
	if !ok || (t.Kind != "token" && t.Kind != "presign") || !s.clock.Now().Before(t.ExpiresAt) {
		return Page{}, errcode.E(errcode.Invalid, "the link is not valid or has expired: ask the school for a new one")
	}
	u, ok, err := s.store.User(ctx, t.OrgID, t.OutUserID)
	if err != nil || !ok {
		return Page{}, errcode.E(errcode.NotFound, "the link's user does not exist")
	}
	o, ok, err := s.store.Organisation(ctx, t.OrgID)
	if err != nil || !ok {
		return Page{}, errcode.E(errcode.NotFound, "the link's organisation does not exist")
	}
	settings, err := s.debits.Settings(ctx, o.SPMchID)
	if err != nil {
		return Page{}, err
	}
	p := Page{User: u, Org: o, Kind: t.Kind, Mode: t.Mode, ExpiresAt: t.ExpiresAt}
	p.PerDebit, p.PerDay = settings.limits()
	if len(t.Card) >= 4 {
		p.CardTail = t.Card[len(t.Card)-4:]
	}
	if c, ok, err := s.collections.OpenCollection(ctx, u.UserID); err != nil {
		return Page{}, err
	} else if ok {
		p.Collection = &c
	}
	return p, nil
}

// Collected is what a collection did: the face is in use (COMPLETE), or, for a
// signed user's new face, it waits for the parent's confirmation (PHOTO_UPLOADED).
type Collected struct {
	State        string
	CollectionID string
}

// Collect takes the parent's photo of the token's user, after the parent consented
// (for a minor, the parent consents and signs for the child). A user without a
// contract or without a face gets it at once; a signed user's new face is a
// re-collection that takes effect when the parent confirms it.
func (s *Service) Collect(ctx context.Context, token string, photo []byte, consent bool) (Collected, error) {
	if !consent {
		return Collected{}, errcode.E(errcode.Invalid, "the parent must consent to the face collection first")
	}
	if len(photo) == 0 || len(photo) > MaxPhoto {
		return Collected{}, errcode.E(errcode.Invalid, "a photo of 1 byte to 8 MB is required")
	}
	if s.faces == nil {
		return Collected{}, errcode.E(errcode.Unavailable, "face collection is not available on this server: it has no face models")
	}
	p, err := s.PageOf(ctx, token)
	if err != nil {
		return Collected{}, err
	}
	tpl, err := s.faces.Template(ctx, photo)
	if err != nil {
		return Collected{}, errcode.Wrap(errcode.Invalid, err, "%v: %v", ErrPhoto, err)
	}
	now := s.clock.Now()
	u := p.User
	if u.ContractState == Contracted && u.FaceImageOK {
		c := Collection{ID: "FC" + now.In(beijing).Format("20060102") + randid.Digits(12), OrgID: u.OrgID, UserID: u.UserID, RequestedAt: now}
		if p.Collection != nil {
			c = *p.Collection
		}
		c.State, c.Photo, c.Template, c.UploadedAt = PhotoUploaded, photo, tpl, now
		return Collected{State: c.State, CollectionID: c.ID}, s.collections.SaveCollection(ctx, c)
	}
	if err := s.faces.Enrol(ctx, Library(u.OrgID), u.UserID, [][]float32{tpl}); err != nil {
		return Collected{}, err
	}
	u.FaceImageOK, u.UpdatedAt = true, now
	return Collected{State: CollectionComplete}, s.store.UpdateUser(ctx, u)
}

// ConfirmCollection is the parent confirming the uploaded photo of a re-collection:
// the new face replaces the old one in the organisation's library.
func (s *Service) ConfirmCollection(ctx context.Context, token string) (Collection, error) {
	p, err := s.PageOf(ctx, token)
	if err != nil {
		return Collection{}, err
	}
	c := p.Collection
	if c == nil || c.State != PhotoUploaded {
		return Collection{}, errcode.E(errcode.Conflict, "there is no uploaded photo waiting for confirmation")
	}
	if s.faces == nil {
		return Collection{}, errcode.E(errcode.Unavailable, "face collection is not available on this server: it has no face models")
	}
	if err := s.faces.Enrol(ctx, Library(c.OrgID), c.UserID, [][]float32{c.Template}); err != nil {
		return Collection{}, err
	}
	c.State, c.ConfirmedAt, c.Photo, c.Template = CollectionComplete, s.clock.Now(), nil, nil
	return *c, s.collections.SaveCollection(ctx, *c)
}

// RequireRecollection asks the signed users with a face of an organisation (all, or
// those named) to take their photo again: a COLLECTION_REQUIRED collection each,
// unless one is already open. It returns the collections made.
func (s *Service) RequireRecollection(ctx context.Context, orgID string, userIDs []string) ([]Collection, error) {
	if _, ok, err := s.store.Organisation(ctx, orgID); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound("the organisation")
	}
	if len(userIDs) == 0 {
		all, err := s.syncs.LibraryUsers(ctx, orgID)
		if err != nil {
			return nil, err
		}
		userIDs = all
	}
	now := s.clock.Now()
	var made []Collection
	for _, id := range userIDs {
		u, ok, err := s.contracts.UserByID(ctx, orgID, id)
		if err != nil {
			return nil, err
		}
		if !ok || u.ContractState != Contracted || !u.FaceImageOK {
			return nil, errcode.E(errcode.Invalid, "user %s is not a signed user with a face: only they are re-collected", id)
		}
		if _, open, err := s.collections.OpenCollection(ctx, id); err != nil {
			return nil, err
		} else if open {
			continue
		}
		c := Collection{ID: "FC" + now.In(beijing).Format("20060102") + randid.Digits(12), OrgID: orgID, UserID: id, State: CollectionRequired,
			RequestedAt: now}
		if err := s.collections.SaveCollection(ctx, c); err != nil {
			return nil, err
		}
		made = append(made, c)
	}
	return made, nil
}

// ListCollections is GET /v3/offlineface/face-collections for an organisation of
// the caller: newest first.
func (s *Service) ListCollections(ctx context.Context, c Caller, orgID string, offset, limit int) ([]Collection, int, error) {
	if strings.TrimSpace(orgID) == "" {
		return nil, 0, errcode.E(errcode.Invalid, "organization_id is required")
	}
	if offset < 0 || limit < 1 || limit > 100 {
		return nil, 0, errcode.E(errcode.Invalid, "offset must be 0 or more and limit 1 to 100")
	}
	if _, err := s.FindOrganisation(ctx, c, orgID, ""); err != nil {
		return nil, 0, err
	}
	return s.collections.Collections(ctx, orgID, offset, limit)
}

// GetCollection is GET /v3/offlineface/face-collections/{collection_id}.
func (s *Service) GetCollection(ctx context.Context, c Caller, id string) (Collection, error) {
	col, ok, err := s.collections.Collection(ctx, id)
	if err != nil {
		return Collection{}, err
	}
	if !ok {
		return Collection{}, notFound("the collection")
	}
	if _, err := s.FindOrganisation(ctx, c, col.OrgID, ""); err != nil {
		return Collection{}, notFound("the collection")
	}
	return col, nil
}
