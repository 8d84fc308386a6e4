package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// withPay opens the store and the payment service for one admin command.
func withPay(ctx context.Context, f *storeFlags, fn func(svc *pay.Service) error) error {
	return withStore(ctx, f, func(db *sqlstore.DB) error {
		svc, err := platform.NewPay(ctx, db, clock.Real{})
		if err != nil {
			return err
		}
		return fn(svc)
	})
}

// emulatorCommands are the stand-ins for payers, their phones and terminals, until a
// real kiosk exists: they work on the same store while serve runs.
func emulatorCommands() []*cobra.Command {
	return []*cobra.Command{newPayerCmd(), newRawdataCmd(), newFaceCodeCmd(), newFaceCmd(), newPayCodeCmd(), newFaultCmd(), newOrderCmd(), newNotifyCmd(), newClockCmd(), newMemberCmd(), newK12Cmd()}
}

func newPayerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "payer", Short: "Create payers (people with a wallet) and look at their balance"}
	var (
		store       storeFlags
		balance     int64
		phone, card string
		asJSON      bool
	)
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a payer whose wallet holds --balance fen",
		Example: "  facepay admin payer create --data ./data --balance 10000 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if card != "" {
				if err := pay.CheckCard(card); err != nil {
					return err
				}
			}
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				v, err := svc.CreatePayer(cmd.Context(), balance, phone)
				if err != nil {
					return err
				}
				if card != "" {
					if err := svc.SetCard(cmd.Context(), v.PayerID, card); err != nil {
						return err
					}
				}
				return show(cmd, asJSON, v, fmt.Sprintf("payer %s, balance %d fen", v.PayerID, v.Balance))
			})
		},
	}
	store.register(create.Flags())
	create.Flags().Int64Var(&balance, "balance", 0, "starting wallet balance in fen")
	create.Flags().StringVar(&phone, "phone", "", "11-digit mobile number (sealed at rest; its last 4 digits resolve look-alikes)")
	create.Flags().StringVar(&card, "card-number", "", "a bank card number the payer holds (sealed at rest; K12 designated-card contracts debit only it)")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var (
		showStore storeFlags
		payerID   string
		showJSON  bool
	)
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Show a payer's balance in fen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &showStore, func(svc *pay.Service) error {
				v, err := svc.Payer(cmd.Context(), payerID)
				if err != nil {
					return err
				}
				return show(cmd, showJSON, v, fmt.Sprintf("payer %s, balance %d fen, held %d fen", v.PayerID, v.Balance, v.Held))
			})
		},
	}
	showStore.register(showCmd.Flags())
	showCmd.Flags().StringVar(&payerID, "payer", "", "payer id")
	showCmd.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	_ = showCmd.MarkFlagRequired("payer")
	cmd.AddCommand(create, showCmd, newTopUpCmd())
	return cmd
}

func newRawdataCmd() *cobra.Command {
	var (
		asJSON bool
		store  storeFlags
	)
	cmd := &cobra.Command{
		Use:   "rawdata",
		Short: "Print rawdata as a new terminal's face SDK produces it (getWxpayfaceRawdata)",
		Long: `Create a terminal identity (a P-256 key pair) and print its signed rawdata, which a
merchant server exchanges for authinfo at /face/get_wxpayface_authinfo (or a K12 service
provider at /v3/offlineface/authinfo). Each call is a new terminal. Its private key is
kept in the store, sealed, so that ` + "`admin k12 credential`" + ` can sign offline payment
credentials as this terminal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := device.NewIdentity()
			if err != nil {
				return err
			}
			now := time.Now()
			raw, err := device.MakeRawdata(id, now)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				if err := db.SaveEmulatorTerminal(cmd.Context(), id.ID, id.Key, now.UnixMicro()); err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"device_id": id.ID, "rawdata": raw}, raw)
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newFaceCodeCmd() *cobra.Command {
	var (
		store                          storeFlags
		ff                             faceFlags
		authinfo, payerID, photo, tail string
		asJSON                         bool
	)
	cmd := &cobra.Command{
		Use:   "face-code",
		Short: "Mint the face_code a terminal returns when it recognises a payer (getWxpayfaceCode)",
		Long: fmt.Sprintf(`Mint a single-use face_code bound to the payer and to the authinfo (so to its merchant,
appid and terminal), valid for %s. Expired or foreign authinfo is refused.

With --photo the payer is whoever the face engine recognises in the photo among the
enrolled payers (admin face enroll); the code is minted only if the face is recognised.
With --payer the recognition step is skipped.`, pay.FaceCodeTTL),
		Example: `  facepay admin face-code --data ./data --authinfo "$AUTHINFO" --photo alice.jpg --json
  facepay admin face-code --data ./data --authinfo "$AUTHINFO" --payer P123456789012`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (payerID == "") == (photo == "") {
				return fmt.Errorf("give exactly one of --payer and --photo")
			}
			if photo != "" {
				return faceCodeByPhoto(cmd, &store, &ff, authinfo, photo, tail, asJSON)
			}
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				m, err := svc.MintFaceCode(cmd.Context(), authinfo, payerID)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, m, m.FaceCode)
			})
		},
	}
	store.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&authinfo, "authinfo", "", "authinfo from get_wxpayface_authinfo")
	cmd.Flags().StringVar(&payerID, "payer", "", "the recognised payer (skips recognition)")
	cmd.Flags().StringVar(&photo, "photo", "", "a photo of the payer's face, recognised against the payers' library")
	cmd.Flags().StringVar(&tail, "phone-tail", "", "last 4 phone digits, when recognition asks for them (need_ext_verify)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("authinfo")
	return cmd
}

func newPayCodeCmd() *cobra.Command {
	var (
		store   storeFlags
		payerID string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "pay-code",
		Short: fmt.Sprintf("Mint an 18-digit payment code for --payer (micropay auth_code), valid for %s", pay.PayCodeTTL),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				code, err := svc.MintPayCode(cmd.Context(), payerID)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]any{"pay_code": code, "expires_in": int64(pay.PayCodeTTL / time.Second)}, code)
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&payerID, "payer", "", "payer id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("payer")
	return cmd
}

func newFaultCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "fault", Short: "Make a merchant's next calls fail or slow down, to test retry logic"}
	var (
		store          storeFlags
		mch, api, code string
		delay          time.Duration
		times          int64
		asJSON         bool
	)
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a fault rule: the next --times calls of --api by --mch answer --error (after --delay)",
		Example: `  facepay admin fault add --mch 1900000001 --api facepay --error SYSTEMERROR --times 1
  facepay admin fault add --mch 1900000001 --api orderquery --delay 3s --times 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				f, err := svc.AddFault(cmd.Context(), mch, api, code, delay, times)
				if err != nil {
					return err
				}
				view := map[string]any{"id": f.ID, "mch_id": f.MchID, "api": f.API, "error": f.ErrCode, "delay_ms": f.Delay.Milliseconds(), "times": f.Remaining}
				return show(cmd, asJSON, view, fmt.Sprintf("fault %s: next %d %s calls of %s", f.ID, f.Remaining, f.API, f.MchID))
			})
		},
	}
	store.register(add.Flags())
	add.Flags().StringVar(&mch, "mch", "", "the merchant (mch_id that signs the calls)")
	add.Flags().StringVar(&api, "api", "", fmt.Sprintf("one of %v", pay.FaultAPIs))
	add.Flags().StringVar(&code, "error", "", "err_code to answer, e.g. SYSTEMERROR, BANKERROR")
	add.Flags().DurationVar(&delay, "delay", 0, "wait this long before answering")
	add.Flags().Int64Var(&times, "times", 1, "how many calls the rule applies to")
	add.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = add.MarkFlagRequired("mch")
	_ = add.MarkFlagRequired("api")
	cmd.AddCommand(add)
	return cmd
}

func newOrderCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "order", Short: "Act as the payer on an order waiting for the password (USERPAYING)"}
	var (
		store         storeFlags
		mch, outTrade string
		refuse        bool
		asJSON        bool
	)
	confirm := &cobra.Command{
		Use:   "confirm",
		Short: "The payer enters the password (or refuses with --refuse) on a USERPAYING order",
		Long: fmt.Sprintf(`End a payer's password wait: the order is paid, or with --refuse it fails (PAYERROR).
Without either, the wait times out after %s on the merchant's clock and the order fails.
Orders wait for a password when their amount exceeds the merchant's threshold
(facepay admin merchant set-password-threshold).`, pay.PasswordTimeout),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				o, err := svc.ConfirmPassword(cmd.Context(), pay.OrderRef{MchID: mch, OutTradeNo: outTrade}, !refuse)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"out_trade_no": o.OutTradeNo, "trade_state": o.State},
					fmt.Sprintf("order %s is %s", o.OutTradeNo, o.State))
			})
		},
	}
	store.register(confirm.Flags())
	confirm.Flags().StringVar(&mch, "mch", "", "the merchant whose order it is (the sub-merchant in SP mode)")
	confirm.Flags().StringVar(&outTrade, "out-trade-no", "", "the order")
	confirm.Flags().BoolVar(&refuse, "refuse", false, "the payer refuses: the order fails")
	confirm.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = confirm.MarkFlagRequired("mch")
	_ = confirm.MarkFlagRequired("out-trade-no")
	cmd.AddCommand(confirm)
	return cmd
}

func newBillModeCmd() *cobra.Command {
	var (
		store storeFlags
		mch   string
		mode  string
	)
	cmd := &cobra.Command{
		Use:   "set-bill-mode",
		Short: "When --mch's bills can be downloaded: daily (from D+1 10:00 Beijing time, the default) or instant (at once, the trades so far)",
		Long: `WeChat makes the bill of day D available from D+1 10:00 Beijing time, so a merchant
server's reconciliation cannot be tested on the day of its trades. In instant mode the
bill of any day up to today is served at once and lists the trades made so far; daily
mode answers "Bill Creating" until D+1 10:00, as WeChat does. For a service provider,
its own mode decides for every bill it downloads.`,
		Example: `  facepay admin merchant set-bill-mode --data ./data --mch 1900000109 --mode instant`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				if err := svc.SetBillMode(cmd.Context(), mch, mode); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bills of %s are now %s\n", mch, mode)
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&mch, "mch", "", "the merchant that downloads the bills")
	cmd.Flags().StringVar(&mode, "mode", "", "instant or daily")
	_ = cmd.MarkFlagRequired("mch")
	_ = cmd.MarkFlagRequired("mode")
	return cmd
}

func newThresholdCmd() *cobra.Command {
	var (
		store storeFlags
		mch   string
		fen   int64
	)
	cmd := &cobra.Command{
		Use:   "set-password-threshold",
		Short: "Payments above --fen wait for the payer's password (USERPAYING); 0 turns it off",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPay(cmd.Context(), &store, func(svc *pay.Service) error {
				if err := svc.SetPasswordThreshold(cmd.Context(), mch, fen); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "payments of %s above %d fen now wait for the payer's password\n", mch, fen)
				return nil
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&mch, "mch", "", "the merchant (the sub-merchant in SP mode)")
	cmd.Flags().Int64Var(&fen, "fen", 0, "threshold in fen")
	_ = cmd.MarkFlagRequired("mch")
	return cmd
}

// show prints v as JSON, or the human line.
func show(cmd *cobra.Command, asJSON bool, v any, human string) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), v)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), human)
	return err
}
