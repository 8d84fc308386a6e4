// Package notifyhttp renders outbox notifications on the wire: v2 refund notifications
// (XML with req_info sealed by the merchant's API key) and v3 notifications (a JSON
// envelope whose resource is AEAD_AES_256_GCM-encrypted with the APIv3 key, signed
// with the platform identity the merchant trusts). It also judges the answers:
// return_code SUCCESS for v2, any 2xx for v3.
package notifyhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
	"github.com/openfacepay/openfacepay/internal/wire/v3wire"
)

// Renderer implements notify.Renderer.
type Renderer struct {
	Store tenant.Store
}

var _ notify.Renderer = Renderer{}

var beijing = time.FixedZone("CST", 8*3600)

// Render implements notify.Renderer.
func (r Renderer) Render(ctx context.Context, n notify.Notification) ([]byte, http.Header, error) {
	m, err := r.Store.Merchant(ctx, n.MchID)
	if err != nil {
		return nil, nil, err
	}
	switch n.Format {
	case notify.FormatV2Refund:
		return renderV2Refund(m, n)
	case notify.FormatV3:
		return r.renderV3(ctx, m, n)
	}
	return nil, nil, fmt.Errorf("notifyhttp: unknown format %q", n.Format)
}

func renderV2Refund(m tenant.Merchant, n notify.Notification) ([]byte, http.Header, error) {
	var p notify.V2Refund
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		return nil, nil, err
	}
	info := v2wire.NewMessage()
	for _, f := range p.ReqInfo {
		info.Set(f.Name, f.Value)
	}
	// req_info's plaintext is the inner XML fragment, root element included.
	out := v2wire.NewMessage()
	out.Set("return_code", "SUCCESS")
	out.Set("return_msg", "OK")
	for _, f := range p.Outer {
		out.Set(f.Name, f.Value)
	}
	out.Set("nonce_str", v2wire.NonceStr())
	out.Set("req_info", v2wire.EncryptReqInfo(m.APIKey, info.Encode()))
	return out.Encode(), http.Header{"Content-Type": {"text/xml; charset=utf-8"}}, nil
}

// v3Envelope is the notification body, as wechatpay-go's notify handler reads it.
type v3Envelope struct {
	ID           string     `json:"id"`
	CreateTime   string     `json:"create_time"`
	EventType    string     `json:"event_type"`
	ResourceType string     `json:"resource_type"`
	Summary      string     `json:"summary"`
	Resource     v3Resource `json:"resource"`
}

type v3Resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
	OriginalType   string `json:"original_type"`
}

func (r Renderer) renderV3(ctx context.Context, m tenant.Merchant, n notify.Notification) ([]byte, http.Header, error) {
	var p notify.V3Event
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		return nil, nil, err
	}
	nonce := v3wire.NonceStr()[:12]
	ct, err := v3wire.EncryptAEAD(m.APIv3Key, nonce, p.AssociatedData, p.Resource)
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(v3Envelope{
		ID: n.ID, CreateTime: n.CreatedAt.In(beijing).Format(time.RFC3339), EventType: n.EventType,
		ResourceType: p.ResourceType, Summary: p.Summary,
		Resource: v3Resource{Algorithm: "AEAD_AES_256_GCM", Ciphertext: ct, AssociatedData: p.AssociatedData, Nonce: nonce, OriginalType: p.OriginalType},
	})
	if err != nil {
		return nil, nil, err
	}
	ids, err := r.Store.PlatformIdentities(ctx, m.MchID)
	if err != nil {
		return nil, nil, err
	}
	// Signed at wall-clock time: receivers check it against their own clock.
	now := time.Now()
	id, err := tenant.SigningIdentity(ids, m, "", now)
	if err != nil {
		return nil, nil, err
	}
	sig, err := v3wire.SignResponse(id.Key, id.SerialNo, body, now)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{"Content-Type": {"application/json"}, "Request-Id": {n.ID}}
	sig.Apply(h)
	return body, h, nil
}

// Success implements notify.Renderer.
func (Renderer) Success(format string, status int, body []byte) bool {
	if format == notify.FormatV3 {
		return status >= 200 && status < 300
	}
	if status != http.StatusOK {
		return false
	}
	m, err := v2wire.Decode([]byte(strings.TrimSpace(string(body))))
	return err == nil && m.Get("return_code") == "SUCCESS"
}
