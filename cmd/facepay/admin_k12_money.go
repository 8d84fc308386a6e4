package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/randid"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// withK12 opens the store and the K12 service for one admin command.
func withK12(cmd *cobra.Command, f *storeFlags, fn func(db *sqlstore.DB, svc *k12.Service, p *pay.Service) error) error {
	return withStore(cmd.Context(), f, func(db *sqlstore.DB) error {
		p, err := platform.NewPay(cmd.Context(), db, clock.Real{})
		if err != nil {
			return err
		}
		return fn(db, platform.NewK12(db, p, clock.Real{}, nil), p)
	})
}

func newK12CredentialCmd() *cobra.Command {
	var (
		store            storeFlags
		authinfo, userID string
		amount           int64
		asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "credential",
		Short: "Mint the offline payment credential the kiosk holding --authinfo makes when --user-id pays --amount fen",
		Long: `Does what a K12 kiosk's getFacePayCredential does after it recognised a user offline: it
signs, with the kiosk's device key, "this user paid this amount here, now", and prints the
credential the service provider's server sends as auth_code to POST /v3/offlineface/transactions.

The kiosk must be one ` + "`admin rawdata`" + ` made on this store (its key is kept there), and
--authinfo the offline authinfo POST /v3/offlineface/authinfo gave for its rawdata. The
credential is single use, bound to the user, the amount and the kiosk, and can be debited
for 24 hours. Any user may be named: the platform decides at debit time.`,
		Example: `  facepay admin k12 credential --data ./data --authinfo AI1… --user-id U… --amount 1500 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				a, err := device.UnsealAuthInfo(db.Sealer(), authinfo)
				if err != nil {
					return fmt.Errorf("--authinfo: %w", err)
				}
				if a.OrgID == "" {
					return fmt.Errorf("--authinfo is not an offline (K12) authinfo: get it from POST /v3/offlineface/authinfo")
				}
				key, err := db.EmulatorTerminal(cmd.Context(), a.SDKDeviceID)
				if err != nil {
					return err
				}
				cred, err := device.MintOfflineCredential(key, device.OfflineClaims{AuthInfo: authinfo, UserID: userID, Amount: amount,
					IssuedAt: time.Now().Unix(), Nonce: randid.Hex(8)})
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"auth_code": cred}, cred)
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&authinfo, "authinfo", "", "the kiosk's offline authinfo")
	cmd.Flags().StringVar(&userID, "user-id", "", "the user_id who paid")
	cmd.Flags().Int64Var(&amount, "amount", 0, "what they paid, in fen")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	for _, f := range []string{"authinfo", "user-id", "amount"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newK12SetRiskCmd() *cobra.Command {
	var (
		store      storeFlags
		org, hours string
		devices    []string
	)
	cmd := &cobra.Command{
		Use:   "set-risk",
		Short: "Risk rules of an organisation: the Beijing hours debits are allowed and the kiosks they may come from",
		Long: `Debits outside --hours (Beijing time on the service provider's clock, HH:MM-HH:MM, may wrap
midnight like 22:00-06:00) or from a kiosk not in --devices (the device_id of its offline
authinfo) are refused by risk control: PAYERROR with error_type RISK_CONTROL, neither
debited nor advanced. An empty --hours allows any time; no --devices allows any kiosk.
Each call replaces both rules.`,
		Example: `  facepay admin k12 org set-risk --data ./data --org 8123456789 --hours 06:00-20:00 --devices CANTEEN-1,CANTEEN-2`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withK12(cmd, &store, func(_ *sqlstore.DB, svc *k12.Service, _ *pay.Service) error {
				if err := svc.SetRisk(cmd.Context(), org, hours, devices); err != nil {
					return err
				}
				h, d := hours, strings.Join(devices, ",")
				if h == "" {
					h = "any time"
				}
				if d == "" {
					d = "any kiosk"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "organisation %s: debits allowed %s from %s\n", org, h, d)
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&org, "org", "", "the organization_id")
	cmd.Flags().StringVar(&hours, "hours", "", "allowed Beijing hours, HH:MM-HH:MM; empty: any time")
	cmd.Flags().StringSliceVar(&devices, "devices", nil, "allowed kiosks (device_id), comma-separated; none: any")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func newK12RepayCmd() *cobra.Command {
	var (
		store  storeFlags
		link   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "repay",
		Short: "Repay every open debt of the user of a repayment link, from the contracted payer's wallet",
		Long: `Does what the repayment page does: all of the user's advanced, unpaid debits are paid in
one repayment from the wallet of the payer who signed the contract; each gets
repayment_transaction_id and debt_state REPAID, and the service provider gets
FACEPAY.DEBT_REPAID. A user the platform disabled for debt is enabled again. It is
refused, changing nothing, when the wallet cannot cover the debt (see admin payer top-up).`,
		Example: `  facepay admin k12 parent repay --data ./data --url 'https://…/k12/repay?t=RP…' --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withK12(cmd, &store, func(_ *sqlstore.DB, svc *k12.Service, _ *pay.Service) error {
				rp, err := svc.Repay(cmd.Context(), k12.RepaymentToken(link))
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]any{"repayment_transaction_id": rp.RepaymentID, "user_id": rp.UserID, "payer_id": rp.PayerID,
					"amount": rp.Amount, "debts": rp.Debts}, fmt.Sprintf("repaid %d fen of %d debts: %s", rp.Amount, rp.Debts, rp.RepaymentID))
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&link, "url", "", "the repayment_url of POST /v3/offlineface/repayment-url")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func newAdvanceFundingCmd() *cobra.Command {
	var (
		store storeFlags
		mch   string
	)
	cmd := &cobra.Command{
		Use:   "set-advance-funding on|off",
		Short: "Whether the platform advances the money when a K12 debit of --mch's schools fails (off by default)",
		Long: `With advance funding on, a debit the wallet cannot pay is paid by the platform and the user
owes it (debt_state IN_DEBT) until the family repays; at most 3 unpaid advances per user,
never for designated-card contracts, disabled users or orders refused by risk control.`,
		Example: `  facepay admin merchant set-advance-funding --data ./data --mch 1900000100 on`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			on := args[0] == "on"
			if !on && args[0] != "off" {
				return fmt.Errorf("say on or off, not %q", args[0])
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := db.SetAdvanceFunding(cmd.Context(), mch, on); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "advance funding of %s: %s\n", mch, args[0])
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&mch, "mch", "", "the service provider")
	_ = cmd.MarkFlagRequired("mch")
	return cmd
}

func newK12LimitsCmd() *cobra.Command {
	var (
		store           storeFlags
		mch             string
		perDebit, daily int64
	)
	cmd := &cobra.Command{
		Use:   "set-k12-limits",
		Short: "The service provider's own, stricter K12 limits on top of the platform's (0: none)",
		Long: `The platform's limits are 10000 fen a debit and 50000 fen a user's Beijing day for
production service providers, and 100 fen a day for test ones. A service provider may set
stricter ones; a looser value has no effect.`,
		Example: `  facepay admin merchant set-k12-limits --data ./data --mch 1900000100 --per-debit 3000 --daily 6000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if perDebit < 0 || daily < 0 {
				return fmt.Errorf("limits are zero (none) or a positive number of fen")
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := db.SetLimits(cmd.Context(), mch, perDebit, daily); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "K12 limits of %s: %d fen a debit, %d fen a day (0: the platform's)\n", mch, perDebit, daily)
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&mch, "mch", "", "the service provider")
	cmd.Flags().Int64Var(&perDebit, "per-debit", 0, "fen a debit")
	cmd.Flags().Int64Var(&daily, "daily", 0, "fen a user's Beijing day")
	_ = cmd.MarkFlagRequired("mch")
	return cmd
}

func newTopUpCmd() *cobra.Command {
	var (
		store   storeFlags
		payerID string
		fen     int64
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:     "top-up",
		Short:   "Add --fen to a payer's wallet, as a bank transfer in",
		Example: `  facepay admin payer top-up --data ./data --payer P123456789012 --fen 5000 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				v, err := svc.TopUp(cmd.Context(), payerID, fen)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, v, fmt.Sprintf("payer %s, balance %d fen", v.PayerID, v.Balance))
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&payerID, "payer", "", "payer id")
	cmd.Flags().Int64Var(&fen, "fen", 0, "fen to add")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("payer")
	_ = cmd.MarkFlagRequired("fen")
	return cmd
}
