package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
)

func newModels() *cobra.Command {
	var cache string
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the face model packs, their files, sha256 and licences, and whether they are installed",
		Long: `A pack is a set of pinned models, one per engine role (detector, landmarks,
embedder, anti-spoof). Every file comes from a pinned registry package and is checked
by sha256 when it is installed and again when the engine loads it. The cache folder is
$FACEPAY_MODELS, else the user's cache folder.`,
		Example: `  facepay models
  facepay models install
  FACEPAY_MODELS=/srv/facepay/models facepay models install`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "cache %s\n\n", cache)
			for _, p := range modelpack.Packs() {
				def := ""
				if p.Default {
					def = " (default)"
				}
				fmt.Fprintf(out, "pack %s%s: %s\n  licence: %s\n", p.Name, def, p.Title, p.Licence)
				if p.Warning != "" {
					fmt.Fprintf(out, "  WARNING: %s\n", p.Warning)
				}
			}
			fmt.Fprintln(out)
			w := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "artefact\trole\tpackage\tsha256\tinstalled\tlicence")
			for _, st := range modelpack.Check(cache) {
				a := st.Artefact
				state := "no"
				switch {
				case st.Err != nil:
					state = "DAMAGED"
				case st.Installed:
					state = "yes"
				}
				fmt.Fprintf(w, "%s\t%s\t%s (%s)\t%s\t%s\t%s\n", a.Key, a.Role, a.Source.ID(), a.Source.Kind, a.SHA256, state, a.Source.Licence)
			}
			return w.Flush()
		},
	}
	cmd.PersistentFlags().StringVar(&cache, "cache", modelpack.CacheDir(), "model cache folder (default $FACEPAY_MODELS or the user's cache folder)")
	install := &cobra.Command{
		Use:   "install",
		Short: "Download every pinned package that is missing, check its sha256 and unpack only the pinned files",
		Long: `Fetches each registry package at most once (npm pack, which runs no install
script, or apt-get download), checks the archive's sha256, extracts the pinned files and
checks each file's sha256. A second run downloads nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return modelpack.Install(cmd.Context(), cache, os.Stderr)
		},
	}
	cmd.AddCommand(install)
	return cmd
}
