package storagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/openfacepay/openfacepay/internal/face"
)

// testFaceTemplates: templates survive a restart (a new index loads them), changes are
// incremental, and no vector is stored in clear. The vectors are fixed test values:
// this checks storage, not recognition.
func testFaceTemplates(t *testing.T, b Backend) {
	ctx := context.Background()
	const dim = 8
	vec := func(i int) []float32 {
		v := make([]float32, dim)
		v[i%dim] = 1
		return v
	}
	libs := face.NewLibraries(b.DB, dim)
	for i, id := range []string{"P1", "P2", "P3"} {
		if err := libs.Enrol(ctx, face.Enrolment{Library: "ORG-1", PersonID: id, PhoneTail: "000" + id[1:], Vectors: [][]float32{vec(i)}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := libs.Enrol(ctx, face.Enrolment{Library: "ORG-2", PersonID: "Q1", Vectors: [][]float32{vec(0)}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	Must(libs.Delete(ctx, "ORG-1", "P3"))
	rule := face.Rule{Threshold: 0.9, Margin: 0.01}
	fresh := face.NewLibraries(b.DB, dim) // as after a restart
	id := Must(fresh.Identify(ctx, "ORG-1", vec(1), rule))
	if id.Match == nil || id.Match.PersonID != "P2" || id.Match.PhoneTail != "0002" {
		t.Fatalf("after reload: %+v", id)
	}
	if id := Must(fresh.Identify(ctx, "ORG-1", vec(2), rule)); id.Match != nil {
		t.Fatalf("a deleted person is still found: %+v", id)
	}
	if id := Must(fresh.Identify(ctx, "ORG-3", vec(0), rule)); id.Match != nil {
		t.Fatalf("another library answered: %+v", id)
	}
	// Several templates per person: any of them identifies; a re-enrolment
	// replaces them all, also after a reload.
	if err := libs.Enrol(ctx, face.Enrolment{Library: "ORG-1", PersonID: "P4", PhoneTail: "0004", Vectors: [][]float32{vec(3), vec(4), vec(5)}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 4, 5} {
		id := Must(face.NewLibraries(b.DB, dim).Identify(ctx, "ORG-1", vec(i), rule))
		if id.Match == nil || id.Match.PersonID != "P4" {
			t.Fatalf("template %d of P4 after reload: %+v", i, id)
		}
	}
	if err := libs.Enrol(ctx, face.Enrolment{Library: "ORG-1", PersonID: "P4", PhoneTail: "0004", Vectors: [][]float32{vec(6)}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*face.Libraries{libs, face.NewLibraries(b.DB, dim)} {
		if id := Must(l.Identify(ctx, "ORG-1", vec(4), rule)); id.Match != nil {
			t.Fatalf("a replaced template still matches: %+v", id)
		}
		if id := Must(l.Identify(ctx, "ORG-1", vec(6), rule)); id.Match == nil || id.Match.PersonID != "P4" {
			t.Fatalf("the new template does not match: %+v", id)
		}
	}
	if ok := Must(libs.Delete(ctx, "ORG-1", "P4")); !ok {
		t.Fatal("deleting P4 found nothing")
	}
	if id := Must(face.NewLibraries(b.DB, dim).Identify(ctx, "ORG-1", vec(6), rule)); id.Match != nil {
		t.Fatalf("a deleted person is still found after reload: %+v", id)
	}
	// Two processes on one store (serve and an admin command, two instances): a
	// change made through one is seen by the other at its next search.
	other := face.NewLibraries(b.DB, dim)
	if id := Must(other.Identify(ctx, "ORG-1", vec(7), rule)); id.Match != nil {
		t.Fatalf("nobody enrolled yet: %+v", id)
	}
	if err := libs.Enrol(ctx, face.Enrolment{Library: "ORG-1", PersonID: "P7", Vectors: [][]float32{vec(7)}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if id := Must(other.Identify(ctx, "ORG-1", vec(7), rule)); id.Match == nil || id.Match.PersonID != "P7" {
		t.Fatalf("an enrolment by another process is not seen: %+v", id)
	}
	Must(libs.Delete(ctx, "ORG-1", "P7"))
	if id := Must(other.Identify(ctx, "ORG-1", vec(7), rule)); id.Match != nil {
		t.Fatalf("a deletion by another process is not seen: %+v", id)
	}
	raw := make([]byte, 4*dim)
	for i, v := range vec(1) {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	rows, err := b.DB.SQL().QueryContext(ctx, `SELECT vector_sealed FROM face_templates`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sealed []byte
		if err := rows.Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, raw) {
			t.Fatal("a template is stored in clear")
		}
	}
}
