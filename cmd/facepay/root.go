package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/openfacepay/openfacepay/internal/platform"
)

// storeFlags are the flags of every command that opens the store.
type storeFlags struct {
	data string
	db   string
}

func (f *storeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.data, "data", "./data", "data directory: the SQLite store and the master key file (master.key)")
	fs.StringVar(&f.db, "db", os.Getenv("FACEPAY_DB"), "PostgreSQL URL (postgres://...) instead of SQLite; default $FACEPAY_DB")
}

func (f *storeFlags) config(log *slog.Logger) platform.StoreConfig {
	return platform.StoreConfig{DataDir: f.data, DBURL: f.db, Logger: log}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "facepay",
		Short: "OpenFacePay: a self-hostable face-payment platform that speaks the WeChat Pay face protocols",
		Long: `OpenFacePay serves the WeChat Pay v2 and v3 APIs that face-payment terminals and
merchant servers use, on an embedded SQLite store or on PostgreSQL.

Start the platform with 'facepay serve --data ./data', then create a merchant with
'facepay admin merchant create --data ./data --json' and point an unmodified client SDK
at the printed URL with the printed credentials.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newKiosk(), newMerchant(), newAdmin(), newBench(), newModels(), newDemo())
	return root
}

// newLogger writes JSON logs to stderr at the given level.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
