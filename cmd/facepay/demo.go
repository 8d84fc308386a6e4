package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/demo"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/eval"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
)

func newDemo() *cobra.Command {
	var (
		dir, pack, cache string
		keep             bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A whole school in one command: platform, service provider, kiosks, students, and the K12 product walked through",
		Long: `Starts the platform on a temporary SQLite store (or --data), a service provider with a
school, the service provider's server, a canteen kiosk (the K12 offline SDK) and a shop
kiosk (the online SDK), both with still cameras showing real photographs (six people of
the regression slice, MIT-licensed); enrols and signs five students through the parents'
pages' API; then walks through, printing each step: an online face payment and its
refund at the shop; offline recognition and a debit at the canteen; a look-alike settled
by the phone tail; a cut line to the platform during which a student still pays, the
debit sent once the line is back; an empty wallet whose lunch is advance-funded, then
repaid on the repayment page. It prints the URLs of the kiosks' pages and the parents'
pages and runs until Ctrl-C. The face models must be installed (facepay models install).`,
		Example: `  facepay demo
  make demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "facepay-demo")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					defer os.RemoveAll(d)
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "loading the face models...")
			e, err := engine.Open(engine.Config{Pack: pack, Cache: cache, Warn: os.Stderr})
			if err != nil {
				return err
			}
			defer e.Close()
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			u, stop, err := demo.Run(ctx, demo.Config{Dir: dir, Engine: e, Photos: eval.Slice(), Out: out})
			if err != nil {
				return err
			}
			defer stop()
			fmt.Fprintf(out, `
Open these (Ctrl-C ends the demo):
  canteen kiosk page      %s/
  shop kiosk page         %s/
  collection page         %s
  signing page            %s
  repayment page          %s
  service provider        %s/merchant/k12/debits
  platform                %s   (v2, v3 and terminal APIs; its CA: facepay admin ca --data %s)
`, u.CanteenKiosk, u.ShopKiosk, u.Collect, u.Sign, u.Repay, u.Merchant, u.Platform, dir)
			<-ctx.Done()
			fmt.Fprintln(out, "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "", "keep the demo's store and kiosks here (default: a temporary folder, removed at the end)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary folder at the end")
	cmd.Flags().StringVar(&pack, "pack", os.Getenv("FACEPAY_PACK"), "face model pack (open, faceplugin)")
	cmd.Flags().StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder (see `facepay models`)")
	return cmd
}
