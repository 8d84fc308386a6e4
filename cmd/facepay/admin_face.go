package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/recognition"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// PayersLibrary is the face library of the payers of the payment path: the
// platform's own users, as WeChat's face library is WeChat's.
const PayersLibrary = "payers"

type faceFlags struct {
	pack    string
	cache   string
	threads int
	library string
}

func (f *faceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.pack, "pack", os.Getenv("FACEPAY_PACK"), "face model pack (open, faceplugin); default $FACEPAY_PACK or the default pack")
	fs.StringVar(&f.cache, "models", modelpack.CacheDir(), "model cache folder (see `facepay models`)")
	fs.IntVar(&f.threads, "threads", 0, "onnxruntime threads per model (0: all cores)")
	fs.StringVar(&f.library, "library", PayersLibrary, "face library: the payers', or an organisation's")
}

// withFace opens the store, the payment service and the face engine for one command.
func withFace(ctx context.Context, sf *storeFlags, ff *faceFlags, fn func(rec *recognition.Service, svc *pay.Service) error) error {
	e, err := engine.Open(engine.Config{Pack: ff.pack, Cache: ff.cache, Threads: ff.threads, Warn: os.Stderr})
	if err != nil {
		return err
	}
	defer e.Close()
	return withStore(ctx, sf, func(db *sqlstore.DB) error {
		svc, err := platform.NewPay(ctx, db, clock.Real{})
		if err != nil {
			return err
		}
		return fn(recognition.New(e, db, clock.Real{}.Now), svc)
	})
}

func readPhoto(path string) (*vision.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := vision.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// faceFailure prints a face SDK error as the terminal's callback carries it.
func faceFailure(cmd *cobra.Command, asJSON bool, err error) error {
	var fe *face.Error
	if !errors.As(err, &fe) {
		return err
	}
	if asJSON {
		_ = printJSON(cmd.OutOrStdout(), map[string]any{"return_code": "FAIL", "err_code": fe.Code, "return_msg": fe.Msg, "detail": err.Error()})
	}
	return err
}

func newFaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "face", Short: "Enrol, identify and delete faces in a face library, from photographs"}
	cmd.AddCommand(newFaceEnroll(), newFaceIdentify(), newFaceDelete())
	return cmd
}

func newFaceEnroll() *cobra.Command {
	var (
		sf      storeFlags
		ff      faceFlags
		payerID string
		photos  []string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Enrol --payer's face from one or more --photo (each with exactly one face, passing the enrolment gates)",
		Long: `Detect, align and embed the one face of each photo, check the enrolment gates (face size,
blur, frontal pose) and store every good face as one of the payer's templates, sealed, in
the library; identification compares a probe with all of them. A new enrolment replaces
every earlier template. Photos from different days (light, hair, glasses) raise the
recognition rate. The payer's phone tail is stored with them, to resolve look-alikes.

A photo with no face, several faces, a face failing a gate, or a face too unlike the
first kept photo (someone else) is left out with the reason; the enrolment fails only
when no photo is kept. JPEG (turned upright by its EXIF orientation), PNG and WebP are
read whatever the file is named.`,
		Example: `  facepay admin face enroll --data ./data --payer P123456789012 --photo alice.jpg --json
  facepay admin face enroll --data ./data --payer P123456789012 --photo alice-2024.jpg --photo alice-2025.jpg --photo alice-glasses.jpg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(photos) > face.MaxTemplates {
				return fmt.Errorf("at most %d photos per person, got %d", face.MaxTemplates, len(photos))
			}
			var imgs []*vision.Image
			for _, p := range photos {
				img, err := readPhoto(p)
				if err != nil {
					return err
				}
				imgs = append(imgs, img)
			}
			return withFace(cmd.Context(), &sf, &ff, func(rec *recognition.Service, svc *pay.Service) error {
				p, err := svc.Payer(cmd.Context(), payerID)
				if err != nil {
					return err
				}
				r, err := rec.Enrol(cmd.Context(), ff.library, p.PayerID, p.PhoneTail, imgs...)
				if err != nil {
					return err
				}
				for _, ref := range r.Refused {
					fmt.Fprintf(cmd.ErrOrStderr(), "left out %s: %s\n", photos[ref.Photo], ref.Reason)
				}
				return show(cmd, asJSON, r, fmt.Sprintf("enrolled %s in %s with %d template(s) (%s)", r.PersonID, r.Library, r.Templates, r.Model))
			})
		},
	}
	sf.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&payerID, "payer", "", "payer id (admin payer create)")
	cmd.Flags().StringArrayVar(&photos, "photo", nil, fmt.Sprintf("photo with exactly one face (JPEG, PNG or WebP); repeat for up to %d", face.MaxTemplates))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("payer")
	_ = cmd.MarkFlagRequired("photo")
	return cmd
}

func newFaceIdentify() *cobra.Command {
	var (
		sf     storeFlags
		ff     faceFlags
		photo  string
		tail   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "identify",
		Short: "Identify the face in --photo against the library: candidates, scores and timings",
		Long: `Takes the largest face passing the quality gates and searches the library. A match needs
the pack's threshold and no second candidate within the margin; otherwise the answer has
need_ext_verify and the candidates, and --phone-tail resolves it (several candidates
with that tail is error 271378587, none is 271378595). No usable face is 271378526.`,
		Example: `  facepay admin face identify --data ./data --photo probe.jpg --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			img, err := readPhoto(photo)
			if err != nil {
				return err
			}
			return withFace(cmd.Context(), &sf, &ff, func(rec *recognition.Service, _ *pay.Service) error {
				r, err := rec.Identify(cmd.Context(), ff.library, img, tail)
				if err != nil {
					return faceFailure(cmd, asJSON, err)
				}
				human := "need_ext_verify: ask for the phone tail (--phone-tail)"
				if r.Match != nil {
					human = fmt.Sprintf("%s (score %.3f)", r.Match.PersonID, r.Match.Score)
				}
				return show(cmd, asJSON, r, human)
			})
		},
	}
	sf.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&photo, "photo", "", "photo (JPEG, PNG or WebP)")
	cmd.Flags().StringVar(&tail, "phone-tail", "", "last 4 digits of the payer's phone, to settle a look-alike")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("photo")
	return cmd
}

func newFaceDelete() *cobra.Command {
	var (
		sf      storeFlags
		ff      faceFlags
		payerID string
	)
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete --payer's template from the library",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &sf, func(db *sqlstore.DB) error {
				ok, _, err := db.DeleteTemplate(cmd.Context(), ff.library, payerID)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no template of %s in %s", payerID, ff.library)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted %s from %s\n", payerID, ff.library)
				return err
			})
		},
	}
	sf.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&payerID, "payer", "", "payer id")
	_ = cmd.MarkFlagRequired("payer")
	return cmd
}

// faceCodeByPhoto recognises the photo's face and mints a face_code for that payer.
func faceCodeByPhoto(cmd *cobra.Command, sf *storeFlags, ff *faceFlags, authinfo, photo, tail string, asJSON bool) error {
	img, err := readPhoto(photo)
	if err != nil {
		return err
	}
	return withFace(cmd.Context(), sf, ff, func(rec *recognition.Service, svc *pay.Service) error {
		r, err := rec.Identify(cmd.Context(), ff.library, img, tail)
		if err != nil {
			return faceFailure(cmd, asJSON, err)
		}
		if r.Match == nil {
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"return_code": "SUCCESS", "need_ext_verify": true, "candidates": len(r.Candidates)})
			}
			return fmt.Errorf("need_ext_verify: %d look-alike candidates; give --phone-tail", len(r.Candidates))
		}
		m, err := svc.MintFaceCode(cmd.Context(), authinfo, r.Match.PersonID)
		if err != nil {
			return err
		}
		view := map[string]any{"return_code": "SUCCESS", "face_code": m.FaceCode, "openid": m.OpenID, "expires_in": m.ExpiresIn,
			"score": r.Match.Score, "need_ext_verify": r.NeedExtVerify, "timings_ms": r.Timings}
		if m.SubOpenID != "" {
			view["sub_openid"] = m.SubOpenID
		}
		return show(cmd, asJSON, view, m.FaceCode)
	})
}
