package terminal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/wire/termwire"
)

// Client is the kiosk's side of the terminal API: every request is signed with the
// device key whose public half the authinfo binds.
type Client struct {
	Base     string // the platform's base URL
	HTTP     *http.Client
	Identity device.Identity
	Now      func() time.Time // real time; the platform refuses a clock 5 minutes off
}

// NewRequest builds a signed request for path with v as its JSON body. The body
// is returned too, so that a request can be sent again (tests of replay).
func (c *Client) NewRequest(ctx context.Context, path string, v any) (*http.Request, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	ts := strconv.FormatInt(c.Now().Unix(), 10)
	nonce := nonceStr()
	sig, err := termwire.Sign(c.Identity.Key, termwire.Message(http.MethodPost, path, ts, nonce, body))
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(termwire.HeaderTimestamp, ts)
	req.Header.Set(termwire.HeaderNonce, nonce)
	req.Header.Set(termwire.HeaderSignature, sig)
	return req, body, nil
}

// Do sends a request built by NewRequest and decodes the SDK map it answers into out.
func (c *Client) Do(req *http.Request, out any) error { return c.do(req, out, 1<<20) }

func (c *Client) do(req *http.Request, out any, limit int64) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the platform answered HTTP %d without the terminal API's JSON", resp.StatusCode)
	}
	return nil
}

// ErrUnreachable: the platform could not be reached or did not finish answering.
var ErrUnreachable = fmt.Errorf("the platform is unreachable")

// Identify asks the platform who a face template is.
func (c *Client) Identify(ctx context.Context, r termwire.IdentifyRequest) (termwire.IdentifyResponse, error) {
	var out termwire.IdentifyResponse
	req, _, err := c.NewRequest(ctx, termwire.PathIdentify, r)
	if err != nil {
		return out, err
	}
	return out, c.Do(req, &out)
}

// Member asks for the member card of a recognised person.
func (c *Client) Member(ctx context.Context, r termwire.MemberRequest) (termwire.MemberResponse, error) {
	var out termwire.MemberResponse
	req, _, err := c.NewRequest(ctx, termwire.PathMember, r)
	if err != nil {
		return out, err
	}
	return out, c.Do(req, &out)
}

// OfflineSync fetches the school's face library from version since: every page, opened
// with the device key, in order. The last page's version is the one to ask from next.
func (c *Client) OfflineSync(ctx context.Context, authinfo, orgID string, since int64, pageSize int) ([]k12.LibraryDelta, error) {
	var pages []k12.LibraryDelta
	after := ""
	for {
		req, _, err := c.NewRequest(ctx, termwire.PathOfflineSync, termwire.OfflineSyncRequest{AuthInfo: authinfo, Since: since, After: after, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		var out termwire.OfflineSyncResponse
		if err := c.do(req, &out, 16<<20); err != nil {
			return nil, err
		}
		if out.ReturnCode != "SUCCESS" {
			return nil, fmt.Errorf("library sync refused: %s %s", out.ReturnCode, out.ReturnMsg)
		}
		plain, err := device.OpenOnDevice(c.Identity.Key, out.Sealed, termwire.LibraryAAD(orgID))
		if err != nil {
			return nil, err
		}
		var d k12.LibraryDelta
		if err := json.Unmarshal(plain, &d); err != nil {
			return nil, fmt.Errorf("library page: %w", err)
		}
		pages = append(pages, d)
		if d.Next == "" {
			return pages, nil
		}
		after = d.Next
	}
}

func nonceStr() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Health checks that the platform answers (through the proxy, when there is one).
func (c *Client) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: /healthz answered %s", ErrUnreachable, resp.Status)
	}
	return nil
}
