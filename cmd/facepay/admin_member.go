package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/member"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

func newMemberCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "member", Short: "Face member cards (刷脸会员) per merchant and store"}
	var (
		store     storeFlags
		mch, shop string
		asJSON    bool
	)
	enable := &cobra.Command{
		Use:   "enable",
		Short: "Turn member cards on for --mch's store --store; without it activateWxpayfaceMember answers NOT_CONFIG_MEMBER_ERROR",
		Long: `A kiosk's app calls getWxpayfaceUserInfo, then activateWxpayfaceMember with the openid it got,
to offer the merchant's member card. That needs a card configured for the kiosk's store
(the store_id of its authinfo); this command configures one (again: the same card). The
same person always gets the same member number at one merchant.`,
		Example: `  facepay admin member enable --data ./data --mch 1900000109 --store STORE-001 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				c, err := member.New(db, clock.Real{}).Enable(cmd.Context(), mch, shop)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, c, fmt.Sprintf("member card %s on for %s store %s", c.CardID, c.MchID, c.StoreID))
			})
		},
	}
	store.register(enable.Flags())
	enable.Flags().StringVar(&mch, "mch", "", "the merchant (the sub-merchant in SP mode)")
	enable.Flags().StringVar(&shop, "store", "", "the store_id the kiosk's authinfo names")
	enable.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = enable.MarkFlagRequired("mch")
	_ = enable.MarkFlagRequired("store")
	cmd.AddCommand(enable)
	return cmd
}
