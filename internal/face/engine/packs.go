package engine

import (
	"fmt"

	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/onnx"
)

type closer interface{ Close() error }

func buildParts(p *Parts, pack string, path func(modelpack.Role) (string, error), cache string, o onnx.Options) error {
	add := func(c closer) { p.closers = append(p.closers, c.Close) }
	switch pack {
	case "open":
		// BlazeFace's nose tip follows every turn of the head (it stands out of
		// the face's plane) and, read at 256 px across the photo, wanders by
		// pixels; fitting the chip to the eyes and the mouth alone raised the
		// lowest same-person score of the real identity pairs in every condition.
		p.AlignPoints = []int{PointLeftEye, PointRightEye, PointMouth}
		dp, err := path(modelpack.RoleDetector)
		if err != nil {
			return err
		}
		det, err := NewBlazeFace(dp, o)
		if err != nil {
			return err
		}
		add(det)
		p.Detector = det
		mp, err := modelpack.Verify(cache, "dlib-manifest")
		if err != nil {
			return err
		}
		wp, err := path(modelpack.RoleEmbedder)
		if err != nil {
			return err
		}
		emb, err := NewDlib(mp, wp, o)
		if err != nil {
			return err
		}
		add(emb)
		p.Embedder = emb
		return nil
	case "faceplugin":
		// Its nose point is the mean of a 68-point model's, steady enough that
		// all four points fit better than three on the real identity pairs.
		p.AlignPoints = []int{PointLeftEye, PointRightEye, PointNose, PointMouth}
		dp, err := path(modelpack.RoleDetector)
		if err != nil {
			return err
		}
		det, err := NewUltraFace(dp, o)
		if err != nil {
			return err
		}
		add(det)
		p.Detector = det
		lp, err := path(modelpack.RoleLandmarks)
		if err != nil {
			return err
		}
		lm, err := NewLandmark68(lp, o)
		if err != nil {
			return err
		}
		add(lm)
		p.Landmarks = lm
		ep, err := path(modelpack.RoleEmbedder)
		if err != nil {
			return err
		}
		emb, err := NewMobileFaceNet(ep, o)
		if err != nil {
			return err
		}
		add(emb)
		p.Embedder = emb
		ap, err := path(modelpack.RoleAntiSpoof)
		if err != nil {
			return err
		}
		as, err := NewMiniFAS(ap, o)
		if err != nil {
			return err
		}
		add(as)
		p.AntiSpoof = as
		return nil
	}
	return fmt.Errorf("pack %q has no engine wiring", pack)
}
