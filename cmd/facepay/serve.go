package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/platform"
)

func newServe() *cobra.Command {
	var (
		store    storeFlags
		addr     string
		httpAddr string
		hosts    []string
		logLevel string
		grace    time.Duration
		lease    time.Duration
		pack     string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the platform: v2 and v3 APIs over HTTPS",
		Long: `Run the platform. It serves HTTPS on --addr with a certificate for localhost and
127.0.0.1 issued by the platform CA (print it with 'facepay admin ca'), asks clients for a
certificate so /secapi can require the merchant's, and optionally plain HTTP on
--http-addr for everything except /secapi. GET /healthz answers 200 when ready.
SIGTERM or Ctrl-C drains in-flight requests, then exits.`,
		Example: `  facepay serve --data ./data
  facepay serve --db postgres://postgres@127.0.0.1:5432/facepay --data ./data --addr 0.0.0.0:8443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := newLogger(logLevel)
			db, err := platform.OpenStore(ctx, store.config(log))
			if err != nil {
				return err
			}
			defer db.Close()
			p, err := platform.New(ctx, db, platform.Config{Addr: addr, HTTPAddr: httpAddr, Hosts: hosts, Logger: log, NotifyLease: lease, FacePack: pack})
			if err != nil {
				return err
			}
			where := "SQLite in " + store.data
			if db.Backend() == "postgres" {
				where = "PostgreSQL"
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "OpenFacePay listening on %s (%s)\n", p.Server.URL(), where)
			if u := p.Server.HTTPURL(); u != "" {
				fmt.Fprintf(out, "plain HTTP (no /secapi) on %s\n", u)
			}
			dbFlag := ""
			if store.db != "" {
				dbFlag = " --db " + redactURL(store.db)
			}
			fmt.Fprintf(out, "next: %s admin merchant create --data %s%s --json   (then point a client SDK at %s)\n", os.Args[0], store.data, dbFlag, p.Server.URL())
			log.Info("serving", "url", p.Server.URL(), "backend", db.Backend())
			return p.Run(ctx, grace)
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8443", "HTTPS listen address (port 0 picks a free port)")
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "optional plain HTTP listen address (everything except /secapi)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "extra host names or IPs for the server certificate")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	cmd.Flags().StringVar(&pack, "pack", os.Getenv("FACEPAY_PACK"), "face model pack whose templates kiosks send (open, faceplugin); default $FACEPAY_PACK or the default pack")
	cmd.Flags().DurationVar(&lease, "notify-lease", 30*time.Second, "how long a notification attempt may run before a crashed instance's work is retried")
	return cmd
}

// redactURL drops a password from a database URL before it is printed.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	cred := u[scheme+3 : at]
	if i := strings.Index(cred, ":"); i >= 0 {
		return u[:scheme+3] + cred[:i] + ":***" + u[at:]
	}
	return u
}
