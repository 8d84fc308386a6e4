package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
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

const orgCols = `organization_id, name, sp_mch_id, sub_mch_id, created_at`

func scanOrg(row *sql.Row) (k12.Organisation, bool, error) {
	var o k12.Organisation
	var at int64
	err := row.Scan(&o.ID, &o.Name, &o.SPMchID, &o.SubMchID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	o.CreatedAt = fromMicros(at)
	return o, err == nil, err
}

// Organisation implements k12.Store.
func (db *DB) Organisation(ctx context.Context, id string) (k12.Organisation, bool, error) {
	return scanOrg(db.queryRow(ctx, `SELECT `+orgCols+` FROM k12_organizations WHERE organization_id = ?`, id))
}

// OrganisationByName implements k12.Store.
func (db *DB) OrganisationByName(ctx context.Context, spMchID, name string) (k12.Organisation, bool, error) {
	return scanOrg(db.queryRow(ctx, `SELECT `+orgCols+` FROM k12_organizations WHERE sp_mch_id = ? AND name = ?`, spMchID, name))
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

func (db *DB) scanUser(row *sql.Row) (k12.User, bool, error) {
	var (
		u            k12.User
		name, phone  []byte
		faceOK       int64
		created, upd int64
	)
	err := row.Scan(&u.UserID, &u.OrgID, &u.OutUserID, &name, &phone, &u.UserType, &u.ClassName, &u.Occupation, &u.Status,
		&u.DisabledBy, &u.ContractState, &u.ContractID, &faceOK, &created, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	if err != nil {
		return u, false, err
	}
	for _, f := range []struct {
		sealed []byte
		field  string
		dst    *string
	}{{name, "name", &u.Name}, {phone, "phone", &u.Phone}} {
		if len(f.sealed) == 0 {
			continue
		}
		pt, err := db.sealer.Open(purpose("k12user", u.UserID, f.field), f.sealed)
		if err != nil {
			return u, false, errcode.Wrap(errcode.Internal, err, "k12 user %s: %s does not open", u.UserID, f.field)
		}
		*f.dst = string(pt)
	}
	u.FaceImageOK, u.CreatedAt, u.UpdatedAt = faceOK == 1, fromMicros(created), fromMicros(upd)
	return u, true, nil
}

// User implements k12.Store.
func (db *DB) User(ctx context.Context, orgID, outUserID string) (k12.User, bool, error) {
	return db.scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM k12_users WHERE organization_id = ? AND out_user_id = ?`, orgID, outUserID))
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
		return nil
	})
}

// InsertToken implements k12.Store.
func (db *DB) InsertToken(ctx context.Context, t k12.Token) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO k12_tokens (token_hash, organization_id, out_user_id, kind, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			t.Hash, t.OrgID, t.OutUserID, t.Kind, micros(t.ExpiresAt), micros(t.CreatedAt))
		return err
	})
}
