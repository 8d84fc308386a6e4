package sqlstore

import (
	"bytes"
	"context"
	"crypto/rsa"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/pki"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

var _ tenant.Store = (*DB)(nil)

// Purposes bind each sealed value to its row and column.
func purpose(kind, id, field string) string { return kind + "/" + id + "/" + field }

// EnsureCA implements tenant.Store.
func (db *DB) EnsureCA(ctx context.Context, create func() ([]byte, []byte, error)) (certPEM, keyPEM []byte, err error) {
	if certPEM, keyPEM, err = db.loadCA(ctx); err == nil || !errors.Is(err, sql.ErrNoRows) {
		return certPEM, keyPEM, err
	}
	c, k, err := create()
	if err != nil {
		return nil, nil, err
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO platform_ca (id, cert_pem, key_sealed, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			string(c), db.sealer.Seal(purpose("ca", "1", "key"), k), micros(db.clock.Now()))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return db.loadCA(ctx) // another process may have won the race; its CA is the CA
}

func (db *DB) loadCA(ctx context.Context) ([]byte, []byte, error) {
	var (
		certPEM string
		sealed  []byte
	)
	if err := db.queryRow(ctx, `SELECT cert_pem, key_sealed FROM platform_ca WHERE id = 1`).Scan(&certPEM, &sealed); err != nil {
		return nil, nil, err
	}
	key, err := db.sealer.Open(purpose("ca", "1", "key"), sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("platform CA key: %w", err)
	}
	return []byte(certPEM), key, nil
}

// CreateMerchant implements tenant.Store.
func (db *DB) CreateMerchant(ctx context.Context, m tenant.Merchant, certs []tenant.MerchantCert, ids []tenant.PlatformIdentity, appIDs []string) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var parent any
		if m.ParentMchID != "" {
			parent = m.ParentMchID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO merchants (mch_id, kind, parent_mch_id, name, api_key_sealed, apiv3_key_sealed, platform_mode, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			m.MchID, string(m.Kind), parent, m.Name,
			db.sealer.Seal(purpose("merchant", m.MchID, "api_key"), []byte(m.APIKey)),
			db.sealer.Seal(purpose("merchant", m.MchID, "apiv3_key"), []byte(m.APIv3Key)),
			string(m.PlatformMode), micros(m.CreatedAt)); err != nil {
			return err
		}
		for _, c := range certs {
			if _, err := tx.Exec(ctx, `INSERT INTO merchant_certs (serial_no, mch_id, cert_pem, not_after) VALUES (?, ?, ?, ?)`,
				c.SerialNo, m.MchID, string(c.CertPEM), micros(c.Cert.NotAfter)); err != nil {
				return err
			}
		}
		for _, id := range ids {
			keyPEM, err := pkcs8(id)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO platform_identities (serial_no, mch_id, kind, cert_pem, public_key_pem, key_sealed, not_before, not_after)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				id.SerialNo, m.MchID, string(id.Kind), nullString(string(id.CertPEM)), nullString(string(id.PublicKeyPEM)),
				db.sealer.Seal(purpose("platform_identity", id.SerialNo, "key"), keyPEM), micros(id.NotBefore), micros(id.NotAfter)); err != nil {
				return err
			}
		}
		for _, a := range appIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO app_bindings (appid, mch_id) VALUES (?, ?)`, a, m.MchID); err != nil {
				return err
			}
		}
		return nil
	})
	if db.d.isUnique(err) {
		return errcode.Wrap(errcode.Conflict, err, "merchant %s or one of its identifiers exists", m.MchID)
	}
	return err
}

// Merchant implements tenant.Store: the merchant with its bound appids, in one
// statement (one row per appid), since every signed request resolves both.
func (db *DB) Merchant(ctx context.Context, mchID string) (tenant.Merchant, error) {
	return through(db.merchants, cacheKey{keyMerchant, mchID}, func() (tenant.Merchant, error) { return db.readMerchant(ctx, mchID) },
		func(m tenant.Merchant) string { return m.MchID },
		func(m tenant.Merchant) tenant.Merchant { m.AppIDs = slices.Clone(m.AppIDs); return m })
}

func (db *DB) readMerchant(ctx context.Context, mchID string) (tenant.Merchant, error) {
	rows, err := db.query(ctx, `SELECT m.mch_id, m.kind, COALESCE(m.parent_mch_id, ''), m.name, m.api_key_sealed, m.apiv3_key_sealed,
		m.platform_mode, m.created_at, a.appid
		FROM merchants m LEFT JOIN app_bindings a ON a.mch_id = m.mch_id WHERE m.mch_id = ? ORDER BY a.appid`, mchID)
	if err != nil {
		return tenant.Merchant{}, err
	}
	defer rows.Close()
	var (
		m     tenant.Merchant
		found bool
	)
	var apps []string
	for rows.Next() {
		// Every row carries the merchant; a merchant has one or two appids.
		var app sql.NullString
		if m, err = db.scanMerchant(withAppID{rows: rows, app: &app}); err != nil {
			return tenant.Merchant{}, err
		}
		found = true
		if app.Valid {
			apps = append(apps, app.String)
		}
	}
	m.AppIDs = apps
	if err := rows.Err(); err != nil {
		return tenant.Merchant{}, err
	}
	if !found {
		return tenant.Merchant{}, errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
	}
	return m, nil
}

// withAppID scans a merchant row that carries one more column, an appid.
type withAppID struct {
	rows *sql.Rows
	app  *sql.NullString
}

func (w withAppID) Scan(dest ...any) error { return w.rows.Scan(append(dest, w.app)...) }

// Merchants implements tenant.Store.
func (db *DB) Merchants(ctx context.Context) ([]tenant.Merchant, error) {
	rows, err := db.query(ctx, `SELECT mch_id, kind, COALESCE(parent_mch_id, ''), name, api_key_sealed, apiv3_key_sealed, platform_mode, created_at
		FROM merchants ORDER BY created_at, mch_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tenant.Merchant
	for rows.Next() {
		m, err := db.scanMerchant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func (db *DB) scanMerchant(s scanner) (tenant.Merchant, error) {
	var (
		m                tenant.Merchant
		kind, mode       string
		apiKey, apiv3Key []byte
		created          int64
	)
	if err := s.Scan(&m.MchID, &kind, &m.ParentMchID, &m.Name, &apiKey, &apiv3Key, &mode, &created); err != nil {
		return tenant.Merchant{}, err
	}
	k2, err := db.sealer.Open(purpose("merchant", m.MchID, "api_key"), apiKey)
	if err != nil {
		return tenant.Merchant{}, fmt.Errorf("merchant %s api key: %w", m.MchID, err)
	}
	k3, err := db.sealer.Open(purpose("merchant", m.MchID, "apiv3_key"), apiv3Key)
	if err != nil {
		return tenant.Merchant{}, fmt.Errorf("merchant %s apiv3 key: %w", m.MchID, err)
	}
	m.Kind, m.PlatformMode, m.APIKey, m.APIv3Key, m.CreatedAt = tenant.Kind(kind), tenant.PlatformMode(mode), string(k2), string(k3), fromMicros(created)
	return m, nil
}

// MerchantCert implements tenant.Store. Revoked certificates do not exist for callers.
func (db *DB) MerchantCert(ctx context.Context, serialNo string) (tenant.MerchantCert, error) {
	return through(db.merchants, cacheKey{keyCert, serialNo}, func() (tenant.MerchantCert, error) { return db.readMerchantCert(ctx, serialNo) },
		func(c tenant.MerchantCert) string { return c.MchID },
		func(c tenant.MerchantCert) tenant.MerchantCert { c.CertPEM = slices.Clone(c.CertPEM); return c })
}

func (db *DB) readMerchantCert(ctx context.Context, serialNo string) (tenant.MerchantCert, error) {
	var c tenant.MerchantCert
	var certPEM string
	err := db.row(ctx, `SELECT serial_no, mch_id, cert_pem FROM merchant_certs WHERE serial_no = ? AND revoked = 0`, serialNo).
		Scan(&c.SerialNo, &c.MchID, &certPEM)
	if errors.Is(err, sql.ErrNoRows) {
		return c, errcode.E(errcode.NotFound, "certificate %s does not exist", serialNo)
	}
	if err != nil {
		return c, err
	}
	c.CertPEM = []byte(certPEM)
	c.Cert, err = pki.ParseCertPEM(c.CertPEM)
	return c, err
}

// PlatformIdentities implements tenant.Store.
func (db *DB) PlatformIdentities(ctx context.Context, mchID string) ([]tenant.PlatformIdentity, error) {
	return through(db.merchants, cacheKey{keyIdentities, mchID},
		func() ([]tenant.PlatformIdentity, error) { return db.readPlatformIdentities(ctx, mchID) },
		func([]tenant.PlatformIdentity) string { return mchID }, cloneIdentities)
}

// cloneIdentities copies what a caller could change; keys and certificates are shared
// and only read.
func cloneIdentities(ids []tenant.PlatformIdentity) []tenant.PlatformIdentity {
	out := slices.Clone(ids)
	for i := range out {
		out[i].CertPEM, out[i].PublicKeyPEM = slices.Clone(out[i].CertPEM), slices.Clone(out[i].PublicKeyPEM)
	}
	return out
}

func (db *DB) readPlatformIdentities(ctx context.Context, mchID string) ([]tenant.PlatformIdentity, error) {
	rows, err := db.query(ctx, `SELECT serial_no, mch_id, kind, COALESCE(cert_pem, ''), COALESCE(public_key_pem, ''), key_sealed, not_before, not_after
		FROM platform_identities WHERE mch_id = ? ORDER BY not_before, serial_no`, mchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tenant.PlatformIdentity
	for rows.Next() {
		var (
			id               tenant.PlatformIdentity
			kind, cert, pub  string
			sealed           []byte
			notBefore, notAf int64
		)
		if err := rows.Scan(&id.SerialNo, &id.MchID, &kind, &cert, &pub, &sealed, &notBefore, &notAf); err != nil {
			return nil, err
		}
		if id.Key, err = db.platformKey(id.SerialNo, sealed); err != nil {
			return nil, err
		}
		id.Kind, id.CertPEM, id.PublicKeyPEM = tenant.IdentityKind(kind), []byte(cert), []byte(pub)
		id.NotBefore, id.NotAfter = fromMicros(notBefore), fromMicros(notAf)
		out = append(out, id)
	}
	return out, rows.Err()
}

type parsedKey struct {
	sealed []byte
	key    *rsa.PrivateKey
}

// platformKey opens and parses a platform identity's sealed key, once for as long as
// the row holds the same sealed bytes (an identity's key never changes; a new key is a
// new serial number). The key was in memory for every signature before; it now stays.
func (db *DB) platformKey(serial string, sealed []byte) (*rsa.PrivateKey, error) {
	if v, ok := db.platformKeys.Load(serial); ok && bytes.Equal(v.(parsedKey).sealed, sealed) {
		return v.(parsedKey).key, nil
	}
	keyPEM, err := db.sealer.Open(purpose("platform_identity", serial, "key"), sealed)
	if err != nil {
		return nil, fmt.Errorf("platform identity %s: %w", serial, err)
	}
	key, err := pki.ParseRSAKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	db.platformKeys.Store(serial, parsedKey{sealed: bytes.Clone(sealed), key: key})
	return key, nil
}

// AppIDs implements tenant.Store.
func (db *DB) AppIDs(ctx context.Context, mchID string) ([]string, error) {
	rows, err := db.query(ctx, `SELECT appid FROM app_bindings WHERE mch_id = ? ORDER BY appid`, mchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// changeMerchant runs fn, which changes what Merchant returns for mchID (and says so
// with merchantChanged), and forgets the cached merchant of this process once fn
// has committed.
func (db *DB) changeMerchant(ctx context.Context, fn func(*Tx) error, mchID string) error {
	err := db.InTx(ctx, fn)
	if db.merchants != nil {
		db.merchants.drop(mchID) // also on failure: the commit's outcome may be unknown
	}
	return err
}

// BindAppID implements tenant.Store; binding twice is not an error.
func (db *DB) BindAppID(ctx context.Context, appID, mchID string) error {
	return db.changeMerchant(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO app_bindings (appid, mch_id) VALUES (?, ?) ON CONFLICT (appid, mch_id) DO NOTHING`, appID, mchID); err != nil {
			return err
		}
		return tx.merchantChanged(ctx, mchID)
	}, mchID)
}

// SetPlatformMode implements tenant.Store.
func (db *DB) SetPlatformMode(ctx context.Context, mchID string, mode tenant.PlatformMode) error {
	return db.changeMerchant(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE merchants SET platform_mode = ? WHERE mch_id = ?`, string(mode), mchID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errcode.E(errcode.NotFound, "merchant %s does not exist", mchID)
		}
		return tx.merchantChanged(ctx, mchID)
	}, mchID)
}
