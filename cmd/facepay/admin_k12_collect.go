package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// withK12Faces opens the store, the face engine and the K12 service that collects
// with them, for one admin command.
func withK12Faces(cmd *cobra.Command, sf *storeFlags, ff *faceFlags, fn func(svc *k12.Service) error) error {
	e, err := engine.Open(engine.Config{Pack: ff.pack, Cache: ff.cache, Threads: ff.threads, Warn: os.Stderr})
	if err != nil {
		return err
	}
	defer e.Close()
	return withStore(cmd.Context(), sf, func(db *sqlstore.DB) error {
		p, err := platform.NewPay(cmd.Context(), db, clock.Real{})
		if err != nil {
			return err
		}
		faces, err := platform.NewK12Faces(db, ff.pack, e, time.Now)
		if err != nil {
			return err
		}
		return fn(platform.NewK12(db, p, clock.Real{}, faces))
	})
}

func newK12CollectCmd() *cobra.Command {
	var (
		store  storeFlags
		ff     faceFlags
		token  string
		photo  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Collect the face of --token's user from --photo, as the collection page does after the parent consents",
		Long: `Does what the collection page does: the photo (exactly one face, passing the enrolment
gates) becomes the user's face in the organisation's face library, and the user query says
face_image_ok. For a signed user who already has a face it is a re-collection: the photo
waits (PHOTO_UPLOADED) until the parent confirms it (admin k12 parent confirm).
Running this command is the parent's consent.`,
		Example: `  facepay admin k12 parent collect --data ./data --token TK… --photo child.jpg --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(photo)
			if err != nil {
				return err
			}
			return withK12Faces(cmd, &store, &ff, func(svc *k12.Service) error {
				p, err := svc.PageOf(cmd.Context(), token)
				if err != nil {
					return err
				}
				r, err := svc.Collect(cmd.Context(), token, b, true)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"user_id": p.User.UserID, "collection_state": r.State, "collection_id": r.CollectionID},
					fmt.Sprintf("user %s: %s %s", p.User.UserID, r.State, r.CollectionID))
			})
		},
	}
	store.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&token, "token", "", "the token of POST /v3/offlinefacemch/tokens (or a presign_token)")
	cmd.Flags().StringVar(&photo, "photo", "", "the photo (JPEG, PNG or WebP)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("token")
	_ = cmd.MarkFlagRequired("photo")
	return cmd
}

func newK12ConfirmCmd() *cobra.Command {
	var (
		store  storeFlags
		ff     faceFlags
		token  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "confirm",
		Short:   "Confirm the re-collected photo of --token's user: the new face replaces the old one (COMPLETE)",
		Example: `  facepay admin k12 parent confirm --data ./data --token TK… --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withK12Faces(cmd, &store, &ff, func(svc *k12.Service) error {
				c, err := svc.ConfirmCollection(cmd.Context(), token)
				if err != nil {
					return err
				}
				return show(cmd, asJSON, map[string]string{"collection_id": c.ID, "collection_state": c.State, "user_id": c.UserID},
					fmt.Sprintf("collection %s of %s: %s", c.ID, c.UserID, c.State))
			})
		},
	}
	store.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&token, "token", "", "the token the photo was collected with")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

func newK12RecollectCmd() *cobra.Command {
	var (
		store  storeFlags
		org    string
		users  []string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "recollect",
		Short: "Ask signed users of an organisation to take their face photo again (COLLECTION_REQUIRED)",
		Long: `What the platform does when early photos are too poor for a new recognition model: each
signed user with a face (all of --org's, or the --user-id given) gets a re-collection in
state COLLECTION_REQUIRED, which the service provider lists with GET
/v3/offlineface/face-collections and sends the family a collection link for.`,
		Example: `  facepay admin k12 recollect --data ./data --org 8123456789 --user-id U123… --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				p, err := platform.NewPay(cmd.Context(), db, clock.Real{})
				if err != nil {
					return err
				}
				made, err := platform.NewK12(db, p, clock.Real{}, nil).RequireRecollection(cmd.Context(), org, users)
				if err != nil {
					return err
				}
				ids := []string{}
				for _, c := range made {
					ids = append(ids, c.ID)
				}
				return show(cmd, asJSON, map[string]any{"collection_ids": ids}, fmt.Sprintf("%d re-collections requested: %v", len(ids), ids))
			})
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&org, "org", "", "the organization_id")
	cmd.Flags().StringSliceVar(&users, "user-id", nil, "only these users (user_id, comma-separated)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}
