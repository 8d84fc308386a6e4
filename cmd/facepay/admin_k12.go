package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/k12"
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
				o, err := k12.New(db, clock.Real{}).NewOrganisation(cmd.Context(), sp, sub, name)
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
	org.AddCommand(create)
	cmd.AddCommand(org)
	return cmd
}
