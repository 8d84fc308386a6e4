package recognition_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/recognition"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func mirror(img *vision.Image) *vision.Image {
	return vision.Warp(img, vision.Affine{A: -1, C: float64(img.W - 1), E: 1}, img.W, img.H)
}

// TestLibrariesWithRealFaces enrols real photographs on both backends with each
// pack, and checks identification, library isolation, reload and deletion.
func TestLibrariesWithRealFaces(t *testing.T) {
	grace := facetest.Photo(t, "photo-grace-hopper")
	astronaut := facetest.Photo(t, "photo-astronaut")
	probe := mirror(grace)
	for _, pack := range facetest.Packs() {
		t.Run(pack, func(t *testing.T) {
			e := facetest.Engine(t, pack)
			storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
				ctx := context.Background()
				now := func() time.Time { return t0 }
				rec := recognition.New(e, b.DB, now)
				storagetest.Must(rec.Enrol(ctx, "ORG-A", "grace", "1111", grace))
				storagetest.Must(rec.Enrol(ctx, "ORG-A", "astronaut", "2222", astronaut))
				storagetest.Must(rec.Enrol(ctx, "ORG-B", "twin", "3333", grace))

				r := storagetest.Must(rec.Identify(ctx, "ORG-A", probe, ""))
				if r.Match == nil || r.Match.PersonID != "grace" || r.Match.Score < e.Pack.Threshold {
					t.Fatalf("ORG-A: %+v", r)
				}
				r = storagetest.Must(rec.Identify(ctx, "ORG-B", probe, ""))
				if r.Match == nil || r.Match.PersonID != "twin" {
					t.Fatalf("ORG-B answered with another library's person: %+v", r)
				}
				if _, err := rec.Identify(ctx, "ORG-C", probe, ""); !face.IsCode(err, 271378595) {
					t.Fatalf("empty library: %v, want 271378595", err)
				}
				if _, err := rec.Identify(ctx, "ORG-A", facetest.Photo(t, "photo-landscape"), ""); !face.IsCode(err, 271378526) {
					t.Fatalf("no face: %v, want 271378526", err)
				}

				fresh := recognition.New(e, b.DB, now) // as after a restart
				if r := storagetest.Must(fresh.Identify(ctx, "ORG-A", astronaut, "")); r.Match == nil || r.Match.PersonID != "astronaut" {
					t.Fatalf("after reload: %+v", r)
				}
				storagetest.Must(fresh.Libs.Delete(ctx, "ORG-A", "grace"))
				if _, err := fresh.Identify(ctx, "ORG-A", probe, ""); !face.IsCode(err, 271378595) {
					t.Fatalf("deleted person: %v, want 271378595", err)
				}
				if _, err := rec.Enrol(ctx, "ORG-A", "crowd", "", facetest.Photo(t, "photo-sample1")); !errors.Is(err, engine.ErrManyFaces) {
					t.Fatalf("enrolling a group photo: %v", err)
				}
			})
		})
	}
}
