package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

func newClockCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clock",
		Short: "Put a merchant on a test clock and move it, to watch expiry and the notification schedule",
		Long: `A merchant on a test clock lives at a frozen instant until you advance it. authinfo and
face_code expiry, the payer's password wait, refund and reverse windows, and the
notification retry schedule of that merchant all follow it; a running serve sees each
change at once and delivers, in order, every notification that becomes due.
Production merchants (merchant create --production) always use the real clock.`,
	}
	var (
		store   storeFlags
		mch, at string
		asJSON  bool
	)
	show := func(cmd *cobra.Command, db *sqlstore.DB) error {
		t, ok, err := db.TestClock(cmd.Context(), mch)
		if err != nil {
			return err
		}
		v := map[string]any{"mch_id": mch, "test_clock": ok}
		human := fmt.Sprintf("merchant %s uses the real clock", mch)
		if ok {
			v["now"] = t.Format(time.RFC3339)
			human = fmt.Sprintf("merchant %s is at %s on its test clock", mch, t.Format(time.RFC3339))
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), v)
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), human)
		return err
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Freeze the merchant's clock at now (or --at)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if at != "" {
				var err error
				if start, err = time.Parse(time.RFC3339, at); err != nil {
					return errcode.E(errcode.Invalid, "--at must be RFC 3339, e.g. 2026-11-23T08:00:00+08:00")
				}
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := db.SetTestClock(cmd.Context(), mch, start); err != nil {
					return err
				}
				return show(cmd, db)
			})
		},
	}
	create.Flags().StringVar(&at, "at", "", "start instant, RFC 3339 (default: now)")
	advance := &cobra.Command{
		Use:     "advance DURATION",
		Short:   "Move the merchant's test clock forward, e.g. 3h or 24h4m",
		Example: "  facepay admin clock advance --mch 1900000001 3h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := time.ParseDuration(args[0])
			if err != nil || d < 0 {
				return errcode.E(errcode.Invalid, "DURATION must be a positive Go duration such as 15s, 3h or 24h4m")
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				t, ok, err := db.TestClock(cmd.Context(), mch)
				if err != nil {
					return err
				}
				if !ok {
					return errcode.E(errcode.Invalid, "merchant %s is not on a test clock: run facepay admin clock create first", mch)
				}
				if err := db.SetTestClock(cmd.Context(), mch, t.Add(d)); err != nil {
					return err
				}
				return show(cmd, db)
			})
		},
	}
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Show the merchant's clock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error { return show(cmd, db) })
		},
	}
	remove := &cobra.Command{
		Use:   "delete",
		Short: "Return the merchant to the real clock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := db.ClearTestClock(cmd.Context(), mch); err != nil {
					return err
				}
				return show(cmd, db)
			})
		},
	}
	for _, c := range []*cobra.Command{create, advance, showCmd, remove} {
		store.register(c.Flags())
		c.Flags().StringVar(&mch, "mch", "", "the merchant (mch_id)")
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
		_ = c.MarkFlagRequired("mch")
		cmd.AddCommand(c)
	}
	return cmd
}
