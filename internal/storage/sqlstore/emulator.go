package sqlstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"database/sql"
	"errors"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// SaveEmulatorTerminal keeps the private key of a terminal `admin rawdata` made,
// sealed, so that emulator commands can later sign as that terminal.
func (db *DB) SaveEmulatorTerminal(ctx context.Context, sdkDeviceID string, key *ecdsa.PrivateKey, at int64) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	sealed := db.sealer.Seal(purpose("emulator-terminal", sdkDeviceID, "key"), der)
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO emulator_terminals (sdk_device_id, key_sealed, created_at) VALUES (?, ?, ?)`, sdkDeviceID, sealed, at)
		return err
	})
}

// EmulatorTerminal is the private key of a terminal `admin rawdata` made.
func (db *DB) EmulatorTerminal(ctx context.Context, sdkDeviceID string) (*ecdsa.PrivateKey, error) {
	var sealed []byte
	err := db.row(ctx, `SELECT key_sealed FROM emulator_terminals WHERE sdk_device_id = ?`, sdkDeviceID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errcode.E(errcode.NotFound, "terminal %s was not made by `admin rawdata` on this store, so its key is not here", sdkDeviceID)
	}
	if err != nil {
		return nil, err
	}
	der, err := db.sealer.Open(purpose("emulator-terminal", sdkDeviceID, "key"), sealed)
	if err != nil {
		return nil, err
	}
	return x509.ParseECPrivateKey(der)
}
