package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/member"
)

var _ member.Store = (*DB)(nil)

// PutCard implements member.Store.
func (db *DB) PutCard(ctx context.Context, c member.Card) (out member.Card, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM merchants WHERE mch_id = ?`, c.MchID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errcode.E(errcode.NotFound, "merchant %s does not exist", c.MchID)
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO member_cards (mch_id, store_id, card_id, enabled_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (mch_id, store_id) DO NOTHING`, c.MchID, c.StoreID, c.CardID, micros(c.EnabledAt)); err != nil {
			return err
		}
		var at int64
		out = member.Card{MchID: c.MchID, StoreID: c.StoreID}
		err := tx.QueryRow(ctx, `SELECT card_id, enabled_at FROM member_cards WHERE mch_id = ? AND store_id = ?`, c.MchID, c.StoreID).Scan(&out.CardID, &at)
		out.EnabledAt = fromMicros(at)
		return err
	})
	return out, err
}

// Card implements member.Store.
func (db *DB) Card(ctx context.Context, mchID, storeID string) (member.Card, bool, error) {
	c := member.Card{MchID: mchID, StoreID: storeID}
	var at int64
	err := db.row(ctx, `SELECT card_id, enabled_at FROM member_cards WHERE mch_id = ? AND store_id = ?`, mchID, storeID).Scan(&c.CardID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return member.Card{}, false, nil
	}
	c.EnabledAt = fromMicros(at)
	return c, err == nil, err
}

// OpenMembership implements member.Store.
func (db *DB) OpenMembership(ctx context.Context, m member.Membership) (out member.Membership, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (mch_id, openid, card_id, member_no, store_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (mch_id, openid) DO NOTHING`, m.MchID, m.OpenID, m.CardID, m.MemberNo, m.StoreID, micros(m.CreatedAt)); err != nil {
			return err
		}
		var at int64
		out = member.Membership{MchID: m.MchID, OpenID: m.OpenID}
		err := tx.QueryRow(ctx, `SELECT card_id, member_no, store_id, created_at FROM memberships WHERE mch_id = ? AND openid = ?`,
			m.MchID, m.OpenID).Scan(&out.CardID, &out.MemberNo, &out.StoreID, &at)
		out.CreatedAt = fromMicros(at)
		return err
	})
	return out, err
}
