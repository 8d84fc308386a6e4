package platform_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// TestServiceProviderPaysForSubMerchant: a service provider signs with its own key for
// a sub-merchant; the order is the sub-merchant's, sub_openid follows sub_appid.
func TestServiceProviderPaysForSubMerchant(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		sp := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		sub := b.merchant(t, tenant.NewMerchant{Kind: tenant.SubMerchant, ParentMchID: sp.MchID})
		s := &shop{b: b, cr: sp, c: gopayClient(t, b.URL, sp, true), clock: clock.Real{}}
		id, _ := device.NewIdentity()
		raw, _ := device.MakeRawdata(id, time.Now())
		bm := gopay.BodyMap{"store_id": "S", "store_name": "n", "device_id": "D", "rawdata": raw, "now": strconv.FormatInt(time.Now().Unix(), 10),
			"version": "1", "sub_mch_id": sub.MchID, "sub_appid": sub.AppID}
		ai := s.post(t, "/face/get_wxpayface_authinfo", bm, wechat.SignType_MD5)
		if ai.GetString("sub_mch_id") != sub.MchID || ai.GetString("authinfo") == "" {
			t.Fatalf("SP authinfo: %v", ai)
		}
		s.authinfo = ai.GetString("authinfo")
		p := s.payer(t, 1000)
		fc := s.faceCode(t, p)
		if fc.SubOpenID == "" || fc.SubOpenID == fc.OpenID || fc.SubOpenID != b.P.Pay.OpenID(sub.AppID, p) {
			t.Fatalf("sub_openid: %+v", fc)
		}
		res := s.post(t, "/pay/facepay", gopay.BodyMap{"body": "b", "out_trade_no": "SP-1", "total_fee": 100, "fee_type": "CNY",
			"spbill_create_ip": "1.1.1.1", "face_code": fc.FaceCode, "sub_mch_id": sub.MchID, "sub_appid": sub.AppID}, wechat.SignType_HMAC_SHA256)
		if res.GetString("result_code") != "SUCCESS" || res.GetString("sub_openid") != fc.SubOpenID || res.GetString("sub_mch_id") != sub.MchID {
			t.Fatalf("SP facepay: %v", res)
		}
		if q := s.post(t, "/pay/orderquery", gopay.BodyMap{"out_trade_no": "SP-1", "sub_mch_id": sub.MchID}, wechat.SignType_MD5); q.GetString("trade_state") != "SUCCESS" {
			t.Fatalf("SP query for its sub-merchant: %v", q)
		}
		if q := s.post(t, "/pay/orderquery", gopay.BodyMap{"out_trade_no": "SP-1"}, wechat.SignType_MD5); q.GetString("err_code") != "ORDERNOTEXIST" {
			t.Fatalf("the order is the sub-merchant's, not the SP's own: %v", q)
		}
		// Another service provider cannot name this sub-merchant at all.
		sp2 := b.merchant(t, tenant.NewMerchant{Kind: tenant.ServiceProvider})
		s2 := &shop{b: b, cr: sp2, c: gopayClient(t, b.URL, sp2, false), clock: clock.Real{}}
		if q := s2.post(t, "/pay/orderquery", gopay.BodyMap{"out_trade_no": "SP-1", "sub_mch_id": sub.MchID}, wechat.SignType_MD5); q.GetString("return_code") != "FAIL" {
			t.Fatalf("another SP's query: %v", q)
		}
		// The sub-merchant's own face code does not pay for the SP's own sales.
		if res := s.facepay(t, "SP-2", 100, s.faceCode(t, p).FaceCode); res.GetString("err_code") != "AUTH_CODE_INVALID" {
			t.Fatalf("sub-merchant face code used for the SP itself: %v", res)
		}
		if v := storagetest.Must(b.P.Pay.Payer(ctx, p)); v.Balance != 900 {
			t.Fatalf("payer balance %d, want 900", v.Balance)
		}
		mustAudit(t, b)
	})
}
