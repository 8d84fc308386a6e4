package recognition_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
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

func slicePhoto(t *testing.T, name string) *vision.Image {
	return facetest.File(t, filepath.Join("..", "eval", "testdata", "deepface-slice", name))
}

// TestEnrolSeveralPhotos enrols a person from photos taken on different days,
// with a photo of someone else slipped in: that one is left out with its reason,
// the others are kept, and a third photo of the person identifies them. A
// re-enrolment from one photo replaces all the templates.
func TestEnrolSeveralPhotos(t *testing.T) {
	e := facetest.Engine(t, "")
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		rec := recognition.New(e, b.DB, func() time.Time { return t0 })
		r, err := rec.Enrol(ctx, "ORG-A", "p01", "1111", slicePhoto(t, "p01/img62.jpg"), slicePhoto(t, "p05/img46.jpg"), slicePhoto(t, "p01/img16.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Templates != 2 || len(r.Refused) != 1 || r.Refused[0].Photo != 1 || !strings.Contains(r.Refused[0].Reason, recognition.ErrNotSamePerson.Error()) {
			t.Fatalf("enrolled %+v: want 2 templates and photo 1 refused as another person", r)
		}
		storagetest.Must(rec.Enrol(ctx, "ORG-A", "p05", "2222", slicePhoto(t, "p05/img46.jpg"), slicePhoto(t, "p05/img44.jpg")))
		if got := storagetest.Must(rec.Identify(ctx, "ORG-A", slicePhoto(t, "p01/img17.jpg"), "")); got.Match == nil || got.Match.PersonID != "p01" {
			t.Fatalf("third photo of p01: %+v", got)
		}
		if got := storagetest.Must(rec.Identify(ctx, "ORG-A", slicePhoto(t, "p05/img43.jpg"), "")); got.Match == nil || got.Match.PersonID != "p05" {
			t.Fatalf("third photo of p05: %+v", got)
		}
		if n := len(rec.Libs.Vectors(ctx, "ORG-A", "p01")); n != 2 {
			t.Fatalf("p01 has %d templates, want 2", n)
		}
		storagetest.Must(rec.Enrol(ctx, "ORG-A", "p01", "1111", slicePhoto(t, "p01/img17.jpg")))
		if n := len(recognition.New(e, b.DB, time.Now).Libs.Vectors(ctx, "ORG-A", "p01")); n != 1 {
			t.Fatalf("after re-enrolment p01 has %d templates, want 1", n)
		}
		if _, err := rec.Enrol(ctx, "ORG-A", "p02", "", facetest.Photo(t, "photo-landscape")); !errors.Is(err, engine.ErrNoFace) {
			t.Fatalf("no usable photo: %v, want ErrNoFace", err)
		}
	})
}
