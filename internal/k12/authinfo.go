package k12

import (
	"context"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// OfflineAuthInfoTTL is the offline device credential's life: 36 hours, fetched
// hourly so a kiosk that loses the network keeps a valid one [FAQ 4.3].
const OfflineAuthInfoTTL = 36 * time.Hour

// OfflineAuthInfoRequest is POST /v3/offlineface/authinfo.
type OfflineAuthInfoRequest struct {
	SPAppID  string
	SubAppID string
	SubMchID string
	DeviceID string
	RawData  string
	OrgID    string
}

// Tenants is what the device credential reads of merchants.
type Tenants interface {
	Merchant(ctx context.Context, mchID string) (tenant.Merchant, error)
	AppIDs(ctx context.Context, mchID string) ([]string, error)
}

// OfflineAuthInfo issues the credential an offline kiosk of one organisation needs:
// it binds the service provider, its sub-merchant, the organisation and the device
// key of the rawdata, and lives 36 hours on the merchant's clock.
func (s *Service) OfflineAuthInfo(ctx context.Context, c Caller, r OfflineAuthInfoRequest) (string, time.Time, error) {
	switch {
	case r.SPAppID == "", r.SubMchID == "", r.DeviceID == "", r.RawData == "", r.OrgID == "":
		return "", time.Time{}, errcode.E(errcode.Invalid, "sp_appid, sub_mchid, device_id, raw_data and organization_id are required")
	case len(r.DeviceID) > 32:
		return "", time.Time{}, errcode.E(errcode.Invalid, "device_id is at most 32 characters")
	}
	o, err := s.FindOrganisation(ctx, c, r.OrgID, "")
	if err != nil {
		return "", time.Time{}, err
	}
	if o.SubMchID != "" && o.SubMchID != r.SubMchID {
		return "", time.Time{}, errcode.E(errcode.Invalid, "sub_mchid is not the organisation's sub-merchant")
	}
	sub, err := s.tenants.Merchant(ctx, r.SubMchID)
	if errcode.Is(err, errcode.NotFound) || (err == nil && sub.ParentMchID != c.MchID) {
		return "", time.Time{}, errcode.E(errcode.Invalid, "sub_mchid %s is not a sub-merchant of %s", r.SubMchID, c.MchID)
	} else if err != nil {
		return "", time.Time{}, err
	}
	if !s.bound(ctx, c.MchID, r.SPAppID) || (r.SubAppID != "" && !s.bound(ctx, r.SubMchID, r.SubAppID)) {
		return "", time.Time{}, errcode.E(errcode.Invalid, "sp_appid (or sub_appid) is not bound to the merchant")
	}
	raw, err := device.ParseRawdata(r.RawData)
	if err != nil {
		return "", time.Time{}, errcode.Wrap(errcode.Invalid, err, "raw_data is not valid terminal data; get it again from getWxpayfaceRawdata")
	}
	now := s.clock.Now()
	a := device.AuthInfo{MchID: c.MchID, SubMchID: r.SubMchID, AppID: r.SPAppID, SubAppID: r.SubAppID, DeviceID: r.DeviceID,
		SDKDeviceID: raw.DeviceID, DeviceKey: raw.KeyHex(), OrgID: o.ID, IssuedAt: now.Unix(), ExpiresAt: now.Add(OfflineAuthInfoTTL).Unix()}
	return a.Seal(s.sealer), now.Add(OfflineAuthInfoTTL), nil
}

func (s *Service) bound(ctx context.Context, mchID, appID string) bool {
	apps, err := s.tenants.AppIDs(ctx, mchID)
	if err != nil {
		return false
	}
	for _, a := range apps {
		if a == appID {
			return true
		}
	}
	return false
}
