package pay

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
)

// AuthInfoRequest is get_wxpayface_authinfo's business content.
type AuthInfoRequest struct {
	MchID, SubMchID, AppID, SubAppID string
	StoreID, StoreName, DeviceID     string
	Attach, Rawdata, Now, Version    string
}

// AuthInfoResult is the credential and its lifetime in seconds.
type AuthInfoResult struct {
	AuthInfo  string
	ExpiresIn int64
}

// AuthInfo exchanges a terminal's rawdata for authinfo, and records the store and the
// terminal under the merchant.
func (s *Service) AuthInfo(ctx context.Context, r AuthInfoRequest) (AuthInfoResult, error) {
	now := s.now(ctx, r.MchID)
	// The terminal's `now` is a fact about the real world, so it is checked against
	// the platform's clock even when the merchant is on a test clock; lifetimes
	// (the authinfo's expiry) follow the test clock.
	if err := checkAuthInfoFields(r, s.clock.Now()); err != nil {
		return AuthInfoResult{}, err
	}
	raw, err := device.ParseRawdata(r.Rawdata)
	if err != nil {
		return AuthInfoResult{}, errcode.Wrap(errcode.Invalid, err, "rawdata is not valid terminal data; get it again from getWxpayfaceRawdata")
	}
	owner := r.MchID
	if r.SubMchID != "" {
		owner = r.SubMchID
	}
	err = s.store.InPayTx(ctx, func(tx Tx) error {
		if err := tx.UpsertStore(ctx, owner, r.StoreID, r.StoreName, now); err != nil {
			return err
		}
		d, found, err := tx.Device(ctx, owner, r.DeviceID)
		if err != nil {
			return err
		}
		if found && d.SDKDeviceID != raw.DeviceID {
			return errcode.E(errcode.Conflict, "device_id %s is bound to another terminal", r.DeviceID)
		}
		if !found {
			d = Device{MchID: owner, DeviceID: r.DeviceID, SDKDeviceID: raw.DeviceID, CreatedAt: now}
		}
		d.DeviceKey, d.StoreID, d.LastSeenAt = raw.KeyHex(), r.StoreID, now
		return tx.PutDevice(ctx, d)
	})
	if err != nil {
		return AuthInfoResult{}, err
	}
	a := device.AuthInfo{
		MchID: r.MchID, SubMchID: r.SubMchID, AppID: r.AppID, SubAppID: r.SubAppID, StoreID: r.StoreID,
		DeviceID: r.DeviceID, SDKDeviceID: raw.DeviceID, DeviceKey: raw.KeyHex(),
		IssuedAt: now.Unix(), ExpiresAt: now.Add(AuthInfoTTL).Unix(),
	}
	return AuthInfoResult{AuthInfo: a.Seal(s.sealer), ExpiresIn: int64(AuthInfoTTL / time.Second)}, nil
}

func checkAuthInfoFields(r AuthInfoRequest, now time.Time) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"store_id", r.StoreID, 32}, {"store_name", r.StoreName, 128}, {"device_id", r.DeviceID, 32},
		{"rawdata", r.Rawdata, device.MaxRawdata}, {"now", r.Now, 10}, {"version", r.Version, 8},
	} {
		if f.value == "" {
			return errcode.E(errcode.Invalid, "missing required field %s", f.name)
		}
		if utf8.RuneCountInString(f.value) > f.max {
			return errcode.E(errcode.Invalid, "%s is longer than %d characters", f.name, f.max)
		}
	}
	if r.Version != "1" {
		return errcode.E(errcode.Invalid, "version must be 1")
	}
	if len(r.Now) != 10 {
		return errcode.E(errcode.Invalid, "now must be the current Unix time in 10 digits")
	}
	sec, err := strconv.ParseInt(r.Now, 10, 64)
	if err != nil {
		return errcode.E(errcode.Invalid, "now must be the current Unix time in 10 digits")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > NowSkew || d < -NowSkew {
		return errcode.E(errcode.Invalid, "now is %s away from the platform clock; check the terminal's time", d.Round(time.Second))
	}
	if r.Attach != "" && !json.Valid([]byte(r.Attach)) {
		return errcode.E(errcode.Invalid, "attach must be JSON text")
	}
	return nil
}

// errNotMine tells a credential that belongs to someone else.
var errNotMine = errors.New("credential belongs to another merchant")
