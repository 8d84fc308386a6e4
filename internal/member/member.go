// Package member is the face member card (刷脸会员) of the terminal SDK: a merchant
// turns member cards on per store, and a person recognised by getWxpayfaceUserInfo
// can then open the merchant's card with activateWxpayfaceMember. Opening is
// idempotent per merchant and person: the same person gets the same member number.
package member

import (
	"context"
	"github.com/openfacepay/openfacepay/internal/randid"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
)

// Card is a store's member card configuration.
type Card struct {
	MchID     string    `json:"mch_id"`
	StoreID   string    `json:"store_id"`
	CardID    string    `json:"card_id"`
	EnabledAt time.Time `json:"enabled_at"`
}

// Membership is one person's card at one merchant.
type Membership struct {
	MchID     string    `json:"mch_id"`
	OpenID    string    `json:"openid"`
	CardID    string    `json:"card_id"`
	MemberNo  string    `json:"member_no"`
	StoreID   string    `json:"store_id"` // where the card was opened
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps cards and memberships.
type Store interface {
	// PutCard turns member cards on for a store, keeping an existing card id.
	PutCard(ctx context.Context, c Card) (Card, error)
	Card(ctx context.Context, mchID, storeID string) (Card, bool, error)
	// OpenMembership inserts m unless the person already has one at the merchant,
	// and returns the one that holds.
	OpenMembership(ctx context.Context, m Membership) (Membership, error)
}

// Service manages member cards.
type Service struct {
	store Store
	clock clock.Clock
}

// New returns a member service.
func New(store Store, c clock.Clock) *Service { return &Service{store: store, clock: c} }

// Enable turns member cards on for a merchant's store.
func (s *Service) Enable(ctx context.Context, mchID, storeID string) (Card, error) {
	if mchID == "" || storeID == "" || len(storeID) > 32 {
		return Card{}, errcode.E(errcode.Invalid, "a member card needs a merchant and a store id of at most 32 characters")
	}
	return s.store.PutCard(ctx, Card{MchID: mchID, StoreID: storeID, CardID: "pM" + randid.Digits(16), EnabledAt: s.clock.Now()})
}

// ErrNotConfigured is NOT_CONFIG_MEMBER_ERROR: the store has no member card.
var ErrNotConfigured = errcode.E(errcode.NotFound, "no member card is configured for this store")

// Activate opens (or finds) the person's card at the merchant's store.
func (s *Service) Activate(ctx context.Context, mchID, storeID, openID string) (Membership, error) {
	c, ok, err := s.store.Card(ctx, mchID, storeID)
	if err != nil {
		return Membership{}, err
	}
	if !ok {
		return Membership{}, ErrNotConfigured
	}
	return s.store.OpenMembership(ctx, Membership{MchID: mchID, OpenID: openID, CardID: c.CardID,
		MemberNo: randid.Digits(12), StoreID: storeID, CreatedAt: s.clock.Now()})
}
