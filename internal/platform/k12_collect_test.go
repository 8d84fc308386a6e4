package platform_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/facetest"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

func slicePhoto(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "face", "eval", "testdata", "deepface-slice", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// token is a fresh collection and signing token of a (new or existing) user.
func (s *school) token(t *testing.T, out string) string {
	t.Helper()
	r, err := s.c.Post(context.Background(), k12Base+"/tokens", map[string]any{"web_init_data": map[string]string{"out_user_id": out, "organization_id": s.org.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	decodeResult(t, r, &v)
	return v["token"]
}

// TestK12Collection: a parent's photo, through the open pack's enrolment gates,
// becomes the user's face in the organisation's library, and another photo of the
// same child is recognised there; photos without one good face are refused with the
// reason; a signed user's new face waits for the parent's confirmation
// (COLLECTION_REQUIRED → PHOTO_UPLOADED → COMPLETE), listed and detailed by
// face-collections with paging, and sealed at rest until it is dropped; one wallet
// signs two children, but not two of the same name.
func TestK12Collection(t *testing.T) {
	t.Parallel()
	e := facetest.Engine(t, "")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, backend, platform.Config{FaceEngine: e})
			ctx := context.Background()
			s := newSchool(t, b, true)
			tok := s.token(t, "stu-collect-1")
			if _, err := b.P.K12.Collect(ctx, tok, slicePhoto(t, "p01/img62.jpg"), false); err == nil {
				t.Fatal("a photo was taken without the parent's consent")
			}
			var blank bytes.Buffer
			img := image.NewGray(image.Rect(0, 0, 320, 240))
			for i := range img.Pix {
				img.Pix[i] = 128
			}
			img.Set(1, 1, color.Gray{Y: 0})
			_ = png.Encode(&blank, img)
			if _, err := b.P.K12.Collect(ctx, tok, blank.Bytes(), true); err == nil {
				t.Fatal("a photo without a face was collected")
			}
			got, err := b.P.K12.Collect(ctx, tok, slicePhoto(t, "p01/img62.jpg"), true)
			if err != nil || got.State != k12.CollectionComplete {
				t.Fatalf("collect: %+v %v", got, err)
			}
			user := storagetest.Must(b.P.K12.GetUser(ctx, k12.Caller{MchID: s.sp.MchID}, s.org.ID, "stu-collect-1"))
			if !user.FaceImageOK {
				t.Fatal("face_image_ok after collection")
			}
			pk, _ := modelpack.Find("")
			libs := face.NewLibraries(b.P.DB, pk.Dim).ForModel(pk.Model())
			probe := storagetest.Must(e.Probe(facetest.File(t, filepath.Join("..", "face", "eval", "testdata", "deepface-slice", "p01", "img17.jpg"))))
			id := storagetest.Must(libs.Identify(ctx, k12.Library(s.org.ID), probe.Embedding, face.Rule{Threshold: pk.Threshold, Margin: pk.Margin}))
			if id.Match == nil || id.Match.PersonID != user.UserID {
				t.Fatalf("another photo of the child is not recognised in the school's library: %+v", id)
			}

			// Signed, then asked to re-collect.
			payer := storagetest.Must(b.P.Pay.CreatePayer(ctx, 1000, "")).PayerID
			if _, _, err := b.P.K12.Sign(ctx, tok, payer); err != nil {
				t.Fatal(err)
			}
			made := storagetest.Must(b.P.K12.RequireRecollection(ctx, s.org.ID, nil))
			if len(made) != 1 || made[0].State != k12.CollectionRequired || made[0].UserID != user.UserID {
				t.Fatalf("re-collection requested: %+v", made)
			}
			var list struct {
				FaceCollections []map[string]string `json:"face_collections"`
				TotalCount      int                 `json:"total_count"`
			}
			r, err := s.c.Get(ctx, offlineBase+"/face-collections?organization_id="+s.org.ID+"&offset=0&limit=1")
			if err != nil {
				t.Fatal(err)
			}
			decodeResult(t, r, &list)
			if list.TotalCount != 1 || len(list.FaceCollections) != 1 || list.FaceCollections[0]["collection_state"] != "COLLECTION_REQUIRED" {
				t.Fatalf("face-collections: %+v", list)
			}
			_, err = other(t, b).Get(ctx, offlineBase+"/face-collections?organization_id="+s.org.ID)
			wantAPIError(t, "another service provider's list", err, 404, "RESOURCE_NOT_EXISTS")
			_, err = other(t, b).Get(ctx, offlineBase+"/face-collections/"+made[0].ID)
			wantAPIError(t, "another service provider's collection", err, 404, "RESOURCE_NOT_EXISTS")
			_, err = s.c.Get(ctx, offlineBase+"/face-collections?organization_id="+s.org.ID+"&limit=101")
			wantAPIError(t, "a limit over 100", err, 400, "PARAM_ERROR")

			before := libs.Vectors(ctx, k12.Library(s.org.ID), user.UserID)
			tok2 := s.token(t, "stu-collect-1")
			up, err := b.P.K12.Collect(ctx, tok2, slicePhoto(t, "p01/img16.jpg"), true)
			if err != nil || up.State != k12.PhotoUploaded || up.CollectionID != made[0].ID {
				t.Fatalf("re-collection upload: %+v %v", up, err)
			}
			var detail map[string]string
			r, _ = s.c.Get(ctx, offlineBase+"/face-collections/"+made[0].ID)
			decodeResult(t, r, &detail)
			if detail["collection_state"] != "PHOTO_UPLOADED" || detail["register_photo_upload_time"] == "" || detail["confirm_time"] != "" {
				t.Fatalf("detail after upload: %v", detail)
			}
			var sealed []byte
			if err := b.P.DB.SQL().QueryRowContext(ctx, `SELECT photo_sealed FROM k12_collections`).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if len(sealed) == 0 || bytes.Contains(sealed, slicePhoto(t, "p01/img16.jpg")[:64]) {
				t.Fatal("the uploaded photo is not sealed at rest")
			}
			if now := libs.Vectors(ctx, k12.Library(s.org.ID), user.UserID); !sameVectors(now, before) {
				t.Fatal("the new face took effect before the parent confirmed")
			}
			c, err := b.P.K12.ConfirmCollection(ctx, tok2)
			if err != nil || c.State != k12.CollectionComplete {
				t.Fatalf("confirm: %+v %v", c, err)
			}
			if now := libs.Vectors(ctx, k12.Library(s.org.ID), user.UserID); sameVectors(now, before) {
				t.Fatal("the confirmed face did not replace the old one")
			}
			r, _ = s.c.Get(ctx, offlineBase+"/face-collections/"+made[0].ID)
			decodeResult(t, r, &detail)
			if detail["collection_state"] != "COMPLETE" || detail["confirm_time"] == "" {
				t.Fatalf("detail after confirmation: %v", detail)
			}
			if err := b.P.DB.SQL().QueryRowContext(ctx, `SELECT photo_sealed FROM k12_collections`).Scan(&sealed); err != nil || sealed != nil {
				t.Fatalf("the photo is kept after confirmation: %d bytes %v", len(sealed), err)
			}
			if _, err := b.P.K12.ConfirmCollection(ctx, tok2); err == nil {
				t.Fatal("confirmed twice")
			}
			unsigned := s.token(t, "stu-collect-2")
			storagetest.Must(b.P.K12.Collect(ctx, unsigned, slicePhoto(t, "p02/img12.jpg"), true))
			u2 := storagetest.Must(b.P.K12.GetUser(ctx, k12.Caller{MchID: s.sp.MchID}, s.org.ID, "stu-collect-2"))
			if _, err := b.P.K12.RequireRecollection(ctx, s.org.ID, []string{u2.UserID}); err == nil {
				t.Fatal("an unsigned user was asked to re-collect")
			}

			// One wallet, two children; not two of the same name.
			name := "张小明"
			for _, out := range []string{"stu-name-1", "stu-name-2", "stu-name-3"} {
				s.token(t, out)
				if err := b.P.K12.PatchUser(ctx, k12.Caller{MchID: s.sp.MchID}, s.org.ID, out, k12.Patch{Name: &name}); err != nil {
					t.Fatal(err)
				}
			}
			other2 := "张小红"
			if err := b.P.K12.PatchUser(ctx, k12.Caller{MchID: s.sp.MchID}, s.org.ID, "stu-name-3", k12.Patch{Name: &other2}); err != nil {
				t.Fatal(err)
			}
			parent := storagetest.Must(b.P.Pay.CreatePayer(ctx, 1000, "")).PayerID
			if _, _, err := b.P.K12.Sign(ctx, s.token(t, "stu-name-1"), parent); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.P.K12.Sign(ctx, s.token(t, "stu-name-2"), parent); err == nil {
				t.Fatal("one wallet signed two children of the same name")
			}
			if _, _, err := b.P.K12.Sign(ctx, s.token(t, "stu-name-3"), parent); err != nil {
				t.Fatalf("one wallet, a second child: %v", err)
			}
		})
	}
}

func sameVectors(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}
