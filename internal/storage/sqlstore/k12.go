package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/notify"
)

var _ k12.Store = (*DB)(nil)

// CreateOrganisation implements k12.Store.
func (db *DB) CreateOrganisation(ctx context.Context, o k12.Organisation) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO k12_organizations (organization_id, name, sp_mch_id, sub_mch_id, created_at) VALUES (?, ?, ?, ?, ?)`,
			o.ID, o.Name, o.SPMchID, o.SubMchID, micros(o.CreatedAt))
		return err
	})
}

const orgCols = `organization_id, name, sp_mch_id, sub_mch_id, created_at, risk_hours, risk_devices`

// orgRow holds the orgCols of one row, every one nullable, so that a LEFT JOIN that
// found no organisation scans too.
type orgRow struct {
	id, name, sp, sub, hours, devices sql.NullString
	created                           sql.NullInt64
}

func (r *orgRow) dest() []any {
	return []any{&r.id, &r.name, &r.sp, &r.sub, &r.created, &r.hours, &r.devices}
}

// org is the row's organisation; found=false when the join found none.
func (r *orgRow) org() (o k12.Organisation, found bool) {
	o = k12.Organisation{ID: r.id.String, Name: r.name.String, SPMchID: r.sp.String, SubMchID: r.sub.String,
		CreatedAt: fromMicros(r.created.Int64), RiskHours: r.hours.String}
	if r.devices.String != "" {
		o.RiskDevices = strings.Split(r.devices.String, ",")
	}
	return o, r.id.Valid
}

func scanOrg(row scanner) (k12.Organisation, bool, error) {
	var r orgRow
	err := row.Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return k12.Organisation{}, false, nil
	}
	o, _ := r.org()
	return o, err == nil, err
}

// Organisation implements k12.Store.
func (db *DB) Organisation(ctx context.Context, id string) (k12.Organisation, bool, error) {
	return scanOrg(db.row(ctx, `SELECT `+orgCols+` FROM k12_organizations WHERE organization_id = ?`, id))
}

// OrganisationByName implements k12.Store.
func (db *DB) OrganisationByName(ctx context.Context, spMchID, name string) (k12.Organisation, bool, error) {
	return scanOrg(db.row(ctx, `SELECT `+orgCols+` FROM k12_organizations WHERE sp_mch_id = ? AND name = ?`, spMchID, name))
}

// EnsureUser implements k12.Store.
func (db *DB) EnsureUser(ctx context.Context, u k12.User) (out k12.User, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO k12_users (user_id, organization_id, out_user_id, user_type, status, contract_state, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_id, out_user_id) DO NOTHING`,
			u.UserID, u.OrgID, u.OutUserID, u.UserType, u.Status, u.ContractState, micros(u.CreatedAt), micros(u.UpdatedAt)); err != nil {
			return err
		}
		var ok bool
		out, ok, err = db.scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM k12_users WHERE organization_id = ? AND out_user_id = ?`, u.OrgID, u.OutUserID))
		if err == nil && !ok {
			err = errcode.E(errcode.Internal, "k12 user %s vanished", u.OutUserID)
		}
		return err
	})
	return out, err
}

const userCols = `user_id, organization_id, out_user_id, name_sealed, phone_sealed, user_type, class_name, occupation, status,
	disabled_by, contract_state, contract_id, face_image_ok, created_at, updated_at`

// userRow holds the userCols of one row, every one nullable, so that a LEFT JOIN that
// found no user scans too.
type userRow struct {
	id, org, outID, userType, class, occupation, status, disabledBy, contractState, contractID sql.NullString
	name, phone                                                                                []byte
	faceOK, created, upd                                                                       sql.NullInt64
}

func (r *userRow) dest() []any {
	return []any{&r.id, &r.org, &r.outID, &r.name, &r.phone, &r.userType, &r.class, &r.occupation, &r.status,
		&r.disabledBy, &r.contractState, &r.contractID, &r.faceOK, &r.created, &r.upd}
}

// user opens the row's sealed fields; found=false when the join found no user.
func (db *DB) user(r *userRow) (u k12.User, found bool, err error) {
	if !r.id.Valid {
		return u, false, nil
	}
	u = k12.User{UserID: r.id.String, OrgID: r.org.String, OutUserID: r.outID.String, UserType: r.userType.String, ClassName: r.class.String,
		Occupation: r.occupation.String, Status: r.status.String, DisabledBy: r.disabledBy.String, ContractState: r.contractState.String,
		ContractID: r.contractID.String, FaceImageOK: r.faceOK.Int64 == 1, CreatedAt: fromMicros(r.created.Int64), UpdatedAt: fromMicros(r.upd.Int64)}
	for _, f := range []struct {
		sealed []byte
		field  string
		dst    *string
	}{{r.name, "name", &u.Name}, {r.phone, "phone", &u.Phone}} {
		if len(f.sealed) == 0 {
			continue
		}
		pt, err := db.sealer.Open(purpose("k12user", u.UserID, f.field), f.sealed)
		if err != nil {
			return u, false, errcode.Wrap(errcode.Internal, err, "k12 user %s: %s does not open", u.UserID, f.field)
		}
		*f.dst = string(pt)
	}
	return u, true, nil
}

func (db *DB) scanUser(row scanner) (k12.User, bool, error) {
	var r userRow
	err := row.Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return k12.User{}, false, nil
	}
	if err != nil {
		return k12.User{}, false, err
	}
	return db.user(&r)
}

// User implements k12.Store.
func (db *DB) User(ctx context.Context, orgID, outUserID string) (k12.User, bool, error) {
	return db.scanUser(db.row(ctx, `SELECT `+userCols+` FROM k12_users WHERE organization_id = ? AND out_user_id = ?`, orgID, outUserID))
}

// UpdateUser implements k12.Store: name and phone are sealed to the user's row.
func (db *DB) UpdateUser(ctx context.Context, u k12.User) error {
	var name, phone []byte
	tail := ""
	if u.Name != "" {
		name = db.sealer.Seal(purpose("k12user", u.UserID, "name"), []byte(u.Name))
	}
	if u.Phone != "" {
		phone = db.sealer.Seal(purpose("k12user", u.UserID, "phone"), []byte(u.Phone))
		tail = u.Phone[len(u.Phone)-4:]
	}
	faceOK := 0
	if u.FaceImageOK {
		faceOK = 1
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE k12_users SET name_sealed = ?, phone_sealed = ?, phone_tail = ?, user_type = ?, class_name = ?, occupation = ?,
			status = ?, disabled_by = ?, contract_state = ?, contract_id = ?, face_image_ok = ?, updated_at = ? WHERE user_id = ?`,
			name, phone, tail, u.UserType, u.ClassName, u.Occupation, u.Status, u.DisabledBy, u.ContractState, u.ContractID, faceOK,
			micros(u.UpdatedAt), u.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errcode.E(errcode.NotFound, "k12 user %s does not exist", u.UserID)
		}
		return tx.touchK12(ctx, u.OrgID, u.UserID)
	})
}

// InsertToken implements k12.Store: a presign's card and identity are sealed to the token.
func (db *DB) InsertToken(ctx context.Context, t k12.Token) error {
	var card, ident []byte
	if t.Card != "" {
		card = db.sealer.Seal(purpose("k12token", t.Hash, "card"), []byte(t.Card))
	}
	if t.Identity != "" {
		ident = db.sealer.Seal(purpose("k12token", t.Hash, "identity"), []byte(t.Identity))
	}
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO k12_tokens (token_hash, organization_id, out_user_id, kind, expires_at, created_at, contract_mode, card_sealed, identity_sealed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.OrgID, t.OutUserID, t.Kind, micros(t.ExpiresAt), micros(t.CreatedAt), t.Mode, card, ident)
		return err
	})
}

var _ k12.ContractStore = (*DB)(nil)

// Token implements k12.ContractStore.
func (db *DB) Token(ctx context.Context, hash string) (k12.Token, bool, error) {
	t := k12.Token{Hash: hash}
	var exp, created int64
	var card []byte
	err := db.row(ctx, `SELECT organization_id, out_user_id, kind, expires_at, created_at, contract_mode, card_sealed FROM k12_tokens WHERE token_hash = ?`, hash).
		Scan(&t.OrgID, &t.OutUserID, &t.Kind, &exp, &created, &t.Mode, &card)
	if errors.Is(err, sql.ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	if len(card) > 0 {
		pt, err := db.sealer.Open(purpose("k12token", hash, "card"), card)
		if err != nil {
			return t, false, errcode.Wrap(errcode.Internal, err, "a presign card does not open")
		}
		t.Card = string(pt)
	}
	t.ExpiresAt, t.CreatedAt = fromMicros(exp), fromMicros(created)
	return t, true, nil
}

// sqlUserByID reads a user by its key alone. With organization_id in the WHERE clause
// too, PostgreSQL's generic plan, made on a small table, took the (organization_id,
// out_user_id) index and filtered every user of the organisation: a kiosk's library
// sync, which reads each changed user, read the organisation once per user.
const sqlUserByID = `SELECT ` + userCols + ` FROM k12_users WHERE user_id = ?`

// UserByID implements k12.ContractStore: another organisation's user is not found.
func (db *DB) UserByID(ctx context.Context, orgID, userID string) (k12.User, bool, error) {
	u, found, err := db.scanUser(db.row(ctx, sqlUserByID, userID))
	if err != nil || !found || u.OrgID != orgID {
		return k12.User{}, false, err
	}
	return u, true, nil
}

const contractCols = `contract_id, organization_id, user_id, sp_mch_id, appid, openid, payer_id, contract_mode, card_from, state, signed_at,
	terminated_at, card_sealed`

// contractRow holds the contractCols of one row, every one nullable, so that a LEFT
// JOIN that found no contract scans too.
type contractRow struct {
	id, org, user, sp, app, openID, payer, mode, cardFrom, state sql.NullString
	signed, term                                                 sql.NullInt64
	card                                                         []byte
}

func (r *contractRow) dest() []any {
	return []any{&r.id, &r.org, &r.user, &r.sp, &r.app, &r.openID, &r.payer, &r.mode, &r.cardFrom, &r.state, &r.signed, &r.term, &r.card}
}

// contract opens the row's contract; found=false when the join found none.
func (db *DB) contract(r *contractRow) (c k12.Contract, found bool, err error) {
	c = k12.Contract{ContractID: r.id.String, OrgID: r.org.String, UserID: r.user.String, SPMchID: r.sp.String, AppID: r.app.String,
		OpenID: r.openID.String, PayerID: r.payer.String, Mode: r.mode.String, CardFrom: r.cardFrom.String, State: r.state.String,
		SignedAt: fromMicros(r.signed.Int64)}
	if !r.id.Valid {
		return c, false, nil
	}
	if r.term.Valid {
		c.TerminatedAt = fromMicros(r.term.Int64)
	}
	if len(r.card) > 0 {
		pt, err := db.sealer.Open(purpose("k12contract", c.ContractID, "card"), r.card)
		if err != nil {
			return c, false, errcode.Wrap(errcode.Internal, err, "contract %s: the card does not open", c.ContractID)
		}
		c.Card = string(pt)
	}
	return c, true, nil
}

func (db *DB) scanContract(row scanner) (k12.Contract, bool, error) {
	var r contractRow
	err := row.Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return k12.Contract{}, false, nil
	}
	if err != nil {
		return k12.Contract{}, false, err
	}
	return db.contract(&r)
}

// Contract implements k12.ContractStore.
func (db *DB) Contract(ctx context.Context, id string) (k12.Contract, bool, error) {
	return db.scanContract(db.row(ctx, `SELECT `+contractCols+` FROM k12_contracts WHERE contract_id = ?`, id))
}

// SaveContract implements k12.ContractStore: contract, user and webhook in one transaction.
func (db *DB) SaveContract(ctx context.Context, c k12.Contract, u k12.User, n *notify.Notification) error {
	var term any
	if !c.TerminatedAt.IsZero() {
		term = micros(c.TerminatedAt)
	}
	var card []byte
	if c.Card != "" {
		card = db.sealer.Seal(purpose("k12contract", c.ContractID, "card"), []byte(c.Card))
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO k12_contracts (contract_id, organization_id, user_id, sp_mch_id, appid, openid, payer_id, contract_mode,
			card_from, state, signed_at, terminated_at, card_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (contract_id) DO UPDATE SET state = excluded.state, terminated_at = excluded.terminated_at`,
			c.ContractID, c.OrgID, c.UserID, c.SPMchID, c.AppID, c.OpenID, c.PayerID, c.Mode, c.CardFrom, c.State, micros(c.SignedAt), term, card); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE k12_users SET contract_state = ?, contract_id = ?, payer_id = ?, updated_at = ? WHERE user_id = ?`,
			u.ContractState, u.ContractID, c.PayerID, micros(u.UpdatedAt), u.UserID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return errcode.E(errcode.NotFound, "k12 user %s does not exist", u.UserID)
		}
		if err := tx.touchK12(ctx, c.OrgID, u.UserID); err != nil {
			return err
		}
		if n != nil {
			return tx.InsertNotification(ctx, *n)
		}
		return nil
	})
}

// NotifyURL implements k12.ContractStore.
func (db *DB) NotifyURL(ctx context.Context, mchID string) (string, error) {
	var u string
	err := db.row(ctx, `SELECT notify_url FROM merchants WHERE mch_id = ?`, mchID).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return u, err
}

// SetNotifyURL sets where a merchant's K12 webhooks go ("" stops them).
func (db *DB) SetNotifyURL(ctx context.Context, mchID, url string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE merchants SET notify_url = ? WHERE mch_id = ?`, url, mchID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
		}
		return nil
	})
}
