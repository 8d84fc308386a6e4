package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

func newAdmin() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate the platform's store: merchants, appids, the CA, the ledger",
		Long: `Administrative commands. Each opens the store itself (initialising it on first use),
so they work before, after and while 'facepay serve' runs on the same store.`,
	}
	cmd.AddCommand(newAdminMerchant(), newAdminAppID(), newAdminCA(), newAdminLedger())
	cmd.AddCommand(emulatorCommands()...)
	return cmd
}

// withStore opens the store for one admin command.
func withStore(ctx context.Context, f *storeFlags, fn func(db *sqlstore.DB) error) error {
	db, err := platform.OpenStore(ctx, f.config(newLogger("warn")))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := fn(db); err != nil {
		return err
	}
	// A running serve caches merchants: return once it has heard of what fn changed.
	return db.AwaitWatchers(ctx)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newAdminMerchant() *cobra.Command {
	cmd := &cobra.Command{Use: "merchant", Short: "Create and inspect merchants"}
	cmd.AddCommand(newMerchantCreate(), newMerchantList(), newMerchantMode(), newThresholdCmd(), newBillModeCmd(), newNotifyURLCmd(),
		newAdvanceFundingCmd(), newK12LimitsCmd())
	return cmd
}

func newMerchantCreate() *cobra.Command {
	var (
		store                storeFlags
		kind, name, sp, mode string
		outDir               string
		asJSON, production   bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a merchant with all its credentials",
		Long: `Create a merchant (direct, service provider, or a sub-merchant of a service provider)
with a v2 API key, an APIv3 key, a merchant API certificate and private key (PKCS#8; also
the TLS client certificate for /secapi), a new appid bound to it, and the platform's
signing identities it trusts: two platform certificates and a platform public key.
Secrets are printed once; the platform keeps them sealed and never keeps the merchant's
private key. --out DIR also writes the files WeChat hands a merchant: apiclient_cert.pem,
apiclient_key.pem and apiclient_cert.p12 (PKCS#12, password = mch_id, for clients such as
Node's tenpay that take only that); --json carries the .p12 as base64.`,
		Example: `  facepay admin merchant create --data ./data --json
  facepay admin merchant create --kind service_provider --json
  facepay admin merchant create --kind sub_merchant --sp 1912345678 --json
  facepay admin merchant create --json --out ./cert > merchant.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				svc := tenant.NewService(db, clock.Real{})
				cr, err := svc.Create(cmd.Context(), tenant.NewMerchant{
					Kind: tenant.Kind(kind), Name: name, ParentMchID: sp, PlatformMode: tenant.PlatformMode(mode),
				})
				if err != nil {
					return err
				}
				if production {
					if err := db.SetProduction(cmd.Context(), cr.MchID); err != nil {
						return err
					}
				}
				if outDir != "" {
					if err := writeMerchantFiles(outDir, cr); err != nil {
						return err
					}
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), cr)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintf(w, "mch_id\t%s\nkind\t%s\nappid\t%s\napi_key\t%s\napiv3_key\t%s\nmerchant_serial_no\t%s\nplatform_serial_no\t%s\nplatform_public_key_id\t%s\n",
					cr.MchID, cr.Kind, cr.AppID, cr.APIKey, cr.APIv3Key, cr.MerchantSerialNo, cr.PlatformSerialNo, cr.PlatformPublicKeyID)
				fmt.Fprintln(w, "(use --json for the keys and certificates in PEM)")
				return w.Flush()
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&kind, "kind", "direct", "direct, service_provider or sub_merchant")
	cmd.Flags().StringVar(&name, "name", "", "display name (defaults to the mch_id)")
	cmd.Flags().StringVar(&sp, "sp", "", "the service provider's mch_id (sub_merchant only)")
	cmd.Flags().StringVar(&mode, "platform-mode", "certificate", "how the merchant verifies the platform by default: certificate or public_key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object with every credential")
	cmd.Flags().BoolVar(&production, "production", false, "a production merchant: it can never be put on a test clock")
	cmd.Flags().StringVar(&outDir, "out", "", "also write apiclient_cert.pem, apiclient_key.pem and apiclient_cert.p12 into this folder")
	return cmd
}

// writeMerchantFiles writes the certificate files as WeChat's certificate tool names
// them; the key and the .p12 are readable by the owner only.
func writeMerchantFiles(dir string, cr tenant.Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"apiclient_cert.pem", []byte(cr.MerchantCertPEM), 0o644},
		{"apiclient_key.pem", []byte(cr.MerchantPrivateKeyPEM), 0o600},
		{"apiclient_cert.p12", cr.MerchantCertP12, 0o600},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// merchantView is a merchant without its secrets.
type merchantView struct {
	MchID        string   `json:"mch_id"`
	Kind         string   `json:"kind"`
	SPMchID      string   `json:"sp_mch_id,omitempty"`
	Name         string   `json:"name"`
	PlatformMode string   `json:"platform_mode"`
	AppIDs       []string `json:"appids"`
	CreatedAt    string   `json:"created_at"`
}

func newMerchantList() *cobra.Command {
	var (
		store  storeFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List merchants (without secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				ms, err := db.Merchants(cmd.Context())
				if err != nil {
					return err
				}
				views := []merchantView{}
				for _, m := range ms {
					apps, err := db.AppIDs(cmd.Context(), m.MchID)
					if err != nil {
						return err
					}
					views = append(views, merchantView{MchID: m.MchID, Kind: string(m.Kind), SPMchID: m.ParentMchID, Name: m.Name,
						PlatformMode: string(m.PlatformMode), AppIDs: apps, CreatedAt: m.CreatedAt.Format("2006-01-02T15:04:05Z07:00")})
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), views)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "MCH_ID\tKIND\tSP\tNAME\tPLATFORM_MODE\tAPPIDS")
				for _, v := range views {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\n", v.MchID, v.Kind, v.SPMchID, v.Name, v.PlatformMode, v.AppIDs)
				}
				return w.Flush()
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMerchantMode() *cobra.Command {
	var (
		store     storeFlags
		mch, mode string
	)
	cmd := &cobra.Command{
		Use:   "set-platform-mode",
		Short: "Choose how v3 answers are signed when a request names no platform identity",
		Long: `A v3 request that carries a Wechatpay-Serial naming one of the merchant's platform
certificates or its platform public key is answered signed with that identity. Otherwise
the merchant's platform mode decides: certificate (the newest platform certificate) or
public_key (the PUB_KEY_ID_ identity).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := tenant.NewService(db, clock.Real{}).SetPlatformMode(cmd.Context(), mch, tenant.PlatformMode(mode)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "merchant %s now uses platform mode %s\n", mch, mode)
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&mch, "mch", "", "the merchant's mch_id")
	cmd.Flags().StringVar(&mode, "mode", "", "certificate or public_key")
	_ = cmd.MarkFlagRequired("mch")
	_ = cmd.MarkFlagRequired("mode")
	return cmd
}

func newAdminAppID() *cobra.Command {
	cmd := &cobra.Command{Use: "appid", Short: "Bind appids to merchants"}
	var (
		store      storeFlags
		mch, appID string
		asJSON     bool
	)
	bind := &cobra.Command{
		Use:   "bind",
		Short: "Bind an appid (a new one when --appid is empty) to a merchant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				got, err := tenant.NewService(db, clock.Real{}).BindAppID(cmd.Context(), mch, appID)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]string{"mch_id": mch, "appid": got})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "appid %s is bound to %s\n", got, mch)
				return nil
			})
		},
	}
	store.register(bind.Flags())
	bind.Flags().StringVar(&mch, "mch", "", "the merchant's mch_id")
	bind.Flags().StringVar(&appID, "appid", "", "the appid to bind; empty issues a new one")
	bind.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = bind.MarkFlagRequired("mch")
	cmd.AddCommand(bind)
	return cmd
}

func newAdminCA() *cobra.Command {
	var store storeFlags
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Print the platform CA certificate (PEM), which clients trust for HTTPS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				ca, err := tenant.NewService(db, clock.Real{}).CA(cmd.Context())
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(ca.CertPEM)
				return err
			})
		},
	}
	store.register(cmd.Flags())
	return cmd
}

func newAdminLedger() *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Inspect the double-entry ledger"}
	var (
		store  storeFlags
		asJSON bool
	)
	audit := &cobra.Command{
		Use:   "audit",
		Short: "Recompute every account from its transfers and check that everything balances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				a, err := db.AuditLedger(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if err := printJSON(cmd.OutOrStdout(), map[string]any{
						"accounts": a.Accounts, "transfers": a.Transfers, "sum_balance": a.SumBalance,
						"sum_pending_debits": a.SumPendingDebits, "sum_pending_credits": a.SumPendingCredits,
						"negative": a.Negative, "mismatched": a.Mismatched, "balanced": a.Balanced(),
					}); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%d accounts, %d transfers, sum of balances %d fen, pending %d/%d fen, balanced: %v\n",
						a.Accounts, a.Transfers, a.SumBalance, a.SumPendingDebits, a.SumPendingCredits, a.Balanced())
				}
				if !a.Balanced() {
					return fmt.Errorf("the ledger does not balance")
				}
				return nil
			})
		},
	}
	store.register(audit.Flags())
	audit.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(audit)
	return cmd
}
