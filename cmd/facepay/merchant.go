package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/merchant"
)

func newMerchant() *cobra.Command {
	var (
		platformURL, credsFile, addr, logLevel string
		k12Org, k12Sub, k12Queue               string
		timeout, k12Retry                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "merchant",
		Short: "Run the reference merchant server: authinfo for kiosks, face payments settled to the end, refunds",
		Long: `The merchant server (商户server) of the face payment sequences, as an integrator would
write one, against the platform at --platform with the credentials of
'facepay admin merchant create --json' (--credentials). It serves, on --addr:

  POST /merchant/authinfo   {store_id, store_name, device_id, rawdata} -> authinfo, cached
                            per store and device until 5 minutes before expires_in
  POST /merchant/pay        {out_trade_no, total_fee, face_code, body, openid, device_id,
                            micropay} -> facepay (or micropay with the face_code); an answer
                            that is lost, USERPAYING, SYSTEMERROR or BANKERROR is settled by
                            orderquery after 5 s, then every 10 s to about 30 s, then by
                            reverse (again while recall=Y)
  GET  /merchant/orders/{out_trade_no}   orderquery
  POST /merchant/refund     {out_trade_no, out_refund_no, total_fee, refund_fee} over mutual TLS

With --k12-org ORGANIZATION_ID --k12-sub SUB_MCH_ID (credentials of a service provider
in public-key mode) it is also the service provider's K12 server of that school:

  POST /merchant/k12/authinfo   {device_id, raw_data} -> the kiosk's offline authinfo, held
                                an hour (it lives 36; the old one serves while the platform
                                is unreachable)
  POST /merchant/k12/debits     {face_token, user_id, total_fee[, out_trade_no]} -> 200 with
                                the debit's outcome, or 202 QUEUED while the platform is
                                unreachable: the credential is kept in --k12-queue and sent
                                again every --k12-retry with the same out_trade_no
  GET  /merchant/k12/debits[/{out_trade_no}]   what became of each
  POST /merchant/k12/notify     the K12 webhooks (set it with admin merchant set-notify-url)
  GET  /merchant/k12/blocked    students the platform disabled, for kiosks to refuse

Kiosk pages on 127.0.0.1 may call it from another port (CORS). It talks to the
platform with the project's v2 and v3 client code (signatures, XML, JSON), as any
merchant would.`,
		Example: `  facepay admin merchant create --data ./data --json > merchant.json
  facepay merchant --platform https://127.0.0.1:8443 --credentials merchant.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := os.ReadFile(credsFile)
			if err != nil {
				return err
			}
			var cr merchant.Credentials
			if err := json.Unmarshal(raw, &cr); err != nil || cr.MchID == "" || cr.APIKey == "" {
				return fmt.Errorf("%s is not the JSON of 'facepay admin merchant create --json'", credsFile)
			}
			c, err := merchant.NewClient(strings.TrimRight(platformURL, "/"), cr, timeout)
			if err != nil {
				return err
			}
			mc := merchant.Config{Client: c, Logger: newLogger(logLevel)}
			if k12Org != "" {
				var v3 merchant.V3Credentials
				_ = json.Unmarshal(raw, &v3)
				if k12Sub == "" || v3.PlatformPublicKeyPEM == "" {
					return fmt.Errorf("--k12-org needs --k12-sub and the credentials of a service provider with its platform public key")
				}
				vc, err := merchant.NewV3Client(strings.TrimRight(platformURL, "/"), v3, timeout)
				if err != nil {
					return err
				}
				if mc.K12, err = merchant.NewK12(merchant.K12Config{Client: vc, SubMchID: k12Sub, OrgID: k12Org, QueueFile: k12Queue, Retry: k12Retry}); err != nil {
					return err
				}
				go mc.K12.Run(cmd.Context())
			}
			srv := merchant.New(mc)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merchant server for %s on http://%s; platform %s\n", cr.MchID, ln.Addr(), platformURL)
			return serveUntilDone(cmd.Context(), ln, srv.Handler(), 40*time.Second) // a pay loop may be settling
		},
	}
	f := cmd.Flags()
	f.StringVar(&platformURL, "platform", "https://127.0.0.1:8443", "the platform's base URL")
	f.StringVar(&credsFile, "credentials", "merchant.json", "the JSON of 'facepay admin merchant create --json'")
	f.StringVar(&addr, "addr", "127.0.0.1:8700", "listen address")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "how long one call to the platform may take before its answer counts as lost")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&k12Org, "k12-org", "", "serve the K12 side of this organisation's kiosks")
	f.StringVar(&k12Sub, "k12-sub", "", "with --k12-org: the school's sub-merchant")
	f.StringVar(&k12Queue, "k12-queue", "k12-queue.json", "with --k12-org: where credentials wait until the platform has answered their debit")
	f.DurationVar(&k12Retry, "k12-retry", 10*time.Second, "with --k12-org: how often waiting debits are sent again")
	return cmd
}

// serveUntilDone serves handler on ln until ctx ends, then lets in-flight requests
// finish for up to grace.
func serveUntilDone(ctx context.Context, ln net.Listener, handler http.Handler, grace time.Duration) error {
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
