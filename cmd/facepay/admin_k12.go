package main

import (
	"fmt"
	neturl "net/url"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

func newK12Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "k12", Short: "K12 offline-face withholding: organisations (schools) of service providers"}
	org := &cobra.Command{Use: "org", Short: "Organisations: the schools and canteens a service provider runs"}
	var (
		store         storeFlags
		sp, sub, name string
		asJSON        bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Onboard an organisation for service provider --sp (optionally under its sub-merchant --sub)",
		Long: `Creates an organisation (机构) of a service provider and prints its organization_id, which
the service provider's server then uses in every K12 v3 call. Only that service provider
sees it; to any other merchant it does not exist. Names are unique per service provider.`,
		Example: `  facepay admin k12 org create --data ./data --sp 1900000100 --name 南山中兴小学部 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				m, err := db.Merchant(cmd.Context(), sp)
				if err != nil {
					return err
				}
				if m.Kind != tenant.ServiceProvider {
					return fmt.Errorf("%s is a %s merchant: organisations belong to service providers", sp, m.Kind)
				}
				if sub != "" {
					s, err := db.Merchant(cmd.Context(), sub)
					if err != nil {
						return err
					}
					if s.ParentMchID != sp {
						return fmt.Errorf("%s is not a sub-merchant of %s", sub, sp)
					}
				}
				svc, err := platform.NewPay(cmd.Context(), db, clock.Real{})
				if err != nil {
					return err
				}
				o, err := platform.NewK12(db, svc, clock.Real{}, nil).NewOrganisation(cmd.Context(), sp, sub, name)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"organization_id": o.ID, "organization_name": o.Name, "sp_mchid": o.SPMchID, "sub_mchid": o.SubMchID},
					fmt.Sprintf("organisation %s (%s) of %s", o.ID, o.Name, o.SPMchID))
			})
		},
	}
	store.register(create.Flags())
	create.Flags().StringVar(&sp, "sp", "", "the service provider's mch_id")
	create.Flags().StringVar(&sub, "sub", "", "a sub-merchant of --sp the organisation trades under")
	create.Flags().StringVar(&name, "name", "", "the organisation's name")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = create.MarkFlagRequired("sp")
	_ = create.MarkFlagRequired("name")
	org.AddCommand(create, newK12SetRiskCmd())
	cmd.AddCommand(org, newK12Parent(), newK12CredentialCmd(), newK12RecollectCmd())
	return cmd
}

func newK12Parent() *cobra.Command {
	cmd := &cobra.Command{Use: "parent", Short: "What a parent does on the pages, for scripts: collect, confirm, sign, repay"}
	var (
		store          storeFlags
		token, payerID string
		phone, card    string
		balance        int64
		asJSON         bool
	)
	sign := &cobra.Command{
		Use:   "sign",
		Short: "Sign the withholding contract of --token's user on a payer's wallet (--payer, or a new one with --balance)",
		Long: `Does what the signing page does: the token's user gets a contract (LIMIT_NONE) on the
payer's wallet, and the service provider's notify URL gets FACEPAY.USER_STATE_CHANGE. A new
payer is made with --balance (and --phone) when --payer is not given. A signed user's token
cannot sign again; after a termination, a fresh token signs a new contract.`,
		Example: `  facepay admin k12 parent sign --data ./data --token TK… --balance 20000 --phone 13800001111 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				svc, err := platform.NewPay(cmd.Context(), db, clock.Real{})
				if err != nil {
					return err
				}
				if payerID == "" {
					p, err := svc.CreatePayer(cmd.Context(), balance, phone)
					if err != nil {
						return err
					}
					payerID = p.PayerID
				}
				if card != "" {
					if err := svc.SetCard(cmd.Context(), payerID, card); err != nil {
						return err
					}
				}
				u, c, err := platform.NewK12(db, svc, clock.Real{}, nil).Sign(cmd.Context(), token, payerID)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"user_id": u.UserID, "contract_id": c.ContractID, "openid": c.OpenID, "payer_id": payerID},
					fmt.Sprintf("user %s signed contract %s on payer %s", u.UserID, c.ContractID, payerID))
			})
		},
	}
	store.register(sign.Flags())
	sign.Flags().StringVar(&token, "token", "", "the token of POST /v3/offlinefacemch/tokens")
	sign.Flags().StringVar(&payerID, "payer", "", "the payer whose wallet is contracted")
	sign.Flags().Int64Var(&balance, "balance", 0, "without --payer: a new payer with this many fen")
	sign.Flags().StringVar(&phone, "phone", "", "without --payer: the new payer's phone")
	sign.Flags().StringVar(&card, "card-number", "", "the bank card number the payer holds, as entered on the signing page (designated-card contracts debit only it)")
	sign.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = sign.MarkFlagRequired("token")
	cmd.AddCommand(sign, newK12RepayCmd(), newK12CollectCmd(), newK12ConfirmCmd())
	return cmd
}

func newNotifyURLCmd() *cobra.Command {
	var (
		store    storeFlags
		mch, url string
	)
	cmd := &cobra.Command{
		Use:     "set-notify-url",
		Short:   "Where --mch's K12 webhooks go (FACEPAY.USER_STATE_CHANGE and the debit events); empty stops them",
		Example: `  facepay admin merchant set-notify-url --data ./data --mch 1900000100 --url https://sp.example/k12/notify`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if u, err := neturl.Parse(url); url != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return fmt.Errorf("--url %q is not an http or https URL", url)
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := db.SetNotifyURL(cmd.Context(), mch, url); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "K12 webhooks of %s go to %q\n", mch, url)
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&mch, "mch", "", "the service provider")
	cmd.Flags().StringVar(&url, "url", "", "the URL (http or https)")
	_ = cmd.MarkFlagRequired("mch")
	return cmd
}
