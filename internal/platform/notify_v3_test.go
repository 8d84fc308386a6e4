package platform_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	wxnotify "github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// TestV3NotificationWithWechatpayGo: a v3 notification from the outbox, delivered by
// the running platform, passes wechatpay-go's own notify handler (signature, timestamp,
// decryption) in certificate mode and in public-key mode.
func TestV3NotificationWithWechatpayGo(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		for _, mode := range []tenant.PlatformMode{tenant.CertificateMode, tenant.PublicKeyMode} {
			ctx := context.Background()
			cr := b.merchant(t, tenant.NewMerchant{PlatformMode: mode})
			var verifier auth.Verifier
			if mode == tenant.CertificateMode {
				cert, _ := utils.LoadCertificate(cr.PlatformCertPEM)
				verifier = verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{cert}))
			} else {
				pub, _ := utils.LoadPublicKey(cr.PlatformPublicKeyPEM)
				verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(cr.PlatformPublicKeyID, *pub)
			}
			handler, err := wxnotify.NewRSANotifyHandler(cr.APIv3Key, verifier)
			if err != nil {
				t.Fatal(err)
			}
			type content struct {
				UserID     string `json:"user_id"`
				OutUserID  string `json:"out_user_id"`
				ContractID string `json:"contract_id"`
			}
			var (
				mu   sync.Mutex
				got  []content
				reqs []*wxnotify.Request
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var c content
				req, err := handler.ParseNotifyRequest(r.Context(), r, &c)
				if err != nil {
					t.Errorf("%s: wechatpay-go refuses the notification: %v", mode, err)
					w.WriteHeader(400)
					return
				}
				mu.Lock()
				got, reqs = append(got, c), append(reqs, req)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			resource, _ := json.Marshal(content{UserID: "WXU1", OutUserID: "STU-000123", ContractID: "CT1"})
			payload, _ := json.Marshal(notify.V3Event{Summary: "用户签约状态变更", ResourceType: "encrypt-resource", OriginalType: "facepay",
				AssociatedData: "facepay", Resource: resource})
			id := "V3-" + string(mode)
			err = b.P.DB.InTx(ctx, func(tx *sqlstore.Tx) error {
				return tx.InsertNotification(ctx, notify.Notification{ID: id, MchID: cr.MchID, Format: notify.FormatV3,
					EventType: "FACEPAY.USER_STATE_CHANGE", URL: srv.URL, Payload: payload, NextAt: time.Now(), CreatedAt: time.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, _, _ := b.P.DB.Notification(ctx, id)
				if n.State == notify.Delivered || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			srv.Close()
			mu.Lock()
			if len(got) != 1 || got[0].OutUserID != "STU-000123" || reqs[0].ID != id || reqs[0].EventType != "FACEPAY.USER_STATE_CHANGE" ||
				reqs[0].Resource.OriginalType != "facepay" || reqs[0].Resource.Algorithm != "AEAD_AES_256_GCM" {
				t.Fatalf("%s: received %+v %+v", mode, got, reqs)
			}
			mu.Unlock()
		}
	})
}
