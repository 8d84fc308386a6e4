package k12

import (
	"context"
	"slices"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
)

// SyncPage is how many users one sync answer carries unless the kiosk asks for
// fewer (a 512-d template is about 3 KiB in JSON); MaxSyncPage bounds what it may
// ask. A kiosk asks again with the cursor until it has the whole delta.
const (
	SyncPage    = 200
	MaxSyncPage = 500
)

// LibraryEntry is one user as a school's offline kiosk knows them. A disabled user
// stays in the library so the kiosk recognises and refuses them (271378533) instead
// of taking them for a stranger.
type LibraryEntry struct {
	UserID    string      `json:"user_id"`
	OutUserID string      `json:"out_user_id"`
	PhoneTail string      `json:"phone_tail,omitempty"`
	Status    string      `json:"status"`
	Templates [][]float32 `json:"templates"`
}

// LibraryDelta is one page of what changed in a school's library since a version.
type LibraryDelta struct {
	Version int64          `json:"version"` // the version the kiosk holds once it applied every page
	Full    bool           `json:"full"`    // replace the whole library (the first page of a full sync)
	Upserts []LibraryEntry `json:"upserts"`
	Removes []string       `json:"removes"`
	Next    string         `json:"next,omitempty"` // ask again with after=Next; empty on the last page
	Model   string         `json:"model"`          // the templates' model: the kiosk must embed with the same
}

// SyncStore reads a school's change log.
type SyncStore interface {
	// SyncVersion is the school's current version (0 before any change).
	SyncVersion(ctx context.Context, orgID string) (int64, error)
	// ChangedSince lists the users changed after version since, up to version upTo.
	ChangedSince(ctx context.Context, orgID string, since, upTo int64) ([]string, error)
	// LibraryUsers lists the school's signed users with a face, by user_id.
	LibraryUsers(ctx context.Context, orgID string) ([]string, error)
	UserByID(ctx context.Context, orgID, userID string) (User, bool, error)
}

// inLibrary tells whether a user belongs in the offline library.
func inLibrary(u User) bool { return u.ContractState == Contracted && u.FaceImageOK }

// LibraryDelta answers an offline kiosk of the authinfo's school: every user changed
// after version since (since 0, or one the school never had: everything), a page of
// limit users (0: SyncPage) at a time after the cursor.
func (s *Service) LibraryDelta(ctx context.Context, a device.AuthInfo, since int64, after string, limit int) (LibraryDelta, error) {
	switch {
	case limit == 0:
		limit = SyncPage
	case limit < 0 || limit > MaxSyncPage:
		return LibraryDelta{}, errcode.E(errcode.Invalid, "limit is 1 to %d users a page", MaxSyncPage)
	}
	if a.OrgID == "" {
		return LibraryDelta{}, errcode.E(errcode.Invalid, "this authinfo is not an offline kiosk's: get one from POST /v3/offlineface/authinfo")
	}
	if s.faces == nil {
		return LibraryDelta{}, errcode.E(errcode.Unavailable, "this server has no face library to sync")
	}
	version, err := s.syncs.SyncVersion(ctx, a.OrgID)
	if err != nil {
		return LibraryDelta{}, err
	}
	d := LibraryDelta{Version: version, Model: s.faces.Model(), Upserts: []LibraryEntry{}, Removes: []string{}}
	var ids []string
	if since <= 0 || since > version {
		d.Full = true
		ids, err = s.syncs.LibraryUsers(ctx, a.OrgID)
	} else {
		ids, err = s.syncs.ChangedSince(ctx, a.OrgID, since, version)
	}
	if err != nil {
		return LibraryDelta{}, err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	start, _ := slices.BinarySearch(ids, after)
	if after != "" && start < len(ids) && ids[start] == after {
		start++
	}
	d.Full = d.Full && after == ""
	end := min(len(ids), start+limit)
	page := ids[start:end]
	tpls, err := s.faces.Templates(ctx, Library(a.OrgID), page)
	if err != nil {
		return LibraryDelta{}, err
	}
	for _, id := range page {
		u, ok, err := s.syncs.UserByID(ctx, a.OrgID, id)
		if err != nil {
			return LibraryDelta{}, err
		}
		if !ok || !inLibrary(u) || len(tpls[id]) == 0 {
			d.Removes = append(d.Removes, id)
			continue
		}
		d.Upserts = append(d.Upserts, LibraryEntry{UserID: u.UserID, OutUserID: u.OutUserID, PhoneTail: phoneTail(u.Phone),
			Status: u.Status, Templates: tpls[id]})
	}
	if end < len(ids) {
		d.Next = ids[end-1]
	}
	return d, nil
}

func phoneTail(phone string) string {
	if len(phone) < 4 {
		return ""
	}
	return phone[len(phone)-4:]
}
