package tenant

import (
	"context"
	"errors"
	"slices"

	"github.com/openfacepay/openfacepay/internal/errcode"
)

// Reasons a v2 caller is refused; edges map them to the protocol's own codes.
var (
	ErrUnknownMerchant    = errors.New("mch_id does not exist")
	ErrAppIDNotBound      = errors.New("appid is not bound to mch_id")
	ErrUnknownSubMerchant = errors.New("sub_mch_id is not a sub-merchant of mch_id")
	ErrSubAppIDNotBound   = errors.New("sub_appid is not bound to sub_mch_id")
)

// Caller is an identified v2 caller: the merchant whose key signs (a service provider
// signs for its sub-merchants) and, in service-provider mode, the sub-merchant.
type Caller struct {
	Merchant Merchant
	Sub      *Merchant
}

// Identify resolves the merchant fields of a v2 request and checks every binding.
func (s *Service) Identify(ctx context.Context, mchID, appID, subMchID, subAppID string) (Caller, error) {
	m, err := s.store.Merchant(ctx, mchID)
	if errcode.Is(err, errcode.NotFound) {
		return Caller{}, errcode.Wrap(errcode.NotFound, ErrUnknownMerchant, "mch_id %s does not exist", mchID)
	}
	if err != nil {
		return Caller{}, err
	}
	return s.IdentifyAs(ctx, m, appID, subMchID, subAppID)
}

// IdentifyAs is Identify for a caller whose merchant the edge has already loaded
// (to check its signature).
func (s *Service) IdentifyAs(ctx context.Context, m Merchant, appID, subMchID, subAppID string) (Caller, error) {
	if err := s.checkApp(ctx, appID, m, ErrAppIDNotBound); err != nil {
		return Caller{}, err
	}
	c := Caller{Merchant: m}
	if subMchID == "" {
		if subAppID != "" {
			return Caller{}, errcode.Wrap(errcode.Invalid, ErrUnknownSubMerchant, "sub_appid needs sub_mch_id")
		}
		return c, nil
	}
	sub, err := s.store.Merchant(ctx, subMchID)
	if err != nil && !errcode.Is(err, errcode.NotFound) {
		return Caller{}, err
	}
	if err != nil || sub.ParentMchID != m.MchID {
		return Caller{}, errcode.Wrap(errcode.NotFound, ErrUnknownSubMerchant, "sub_mch_id %s is not a sub-merchant of %s", subMchID, m.MchID)
	}
	if subAppID != "" {
		if err := s.checkApp(ctx, subAppID, sub, ErrSubAppIDNotBound); err != nil {
			return Caller{}, err
		}
	}
	c.Sub = &sub
	return c, nil
}

// checkApp uses the appids read with the merchant, and reads them when there were none
// (a refusal may cost a statement; a request that passes costs none).
func (s *Service) checkApp(ctx context.Context, appID string, m Merchant, reason error) error {
	if slices.Contains(m.AppIDs, appID) {
		return nil
	}
	apps, err := s.store.AppIDs(ctx, m.MchID)
	if err != nil {
		return err
	}
	if !slices.Contains(apps, appID) {
		return errcode.Wrap(errcode.Forbidden, reason, "appid %s is not bound to %s", appID, m.MchID)
	}
	return nil
}
