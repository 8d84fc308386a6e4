package v2wire

import (
	"slices"
	"testing"
)

// FuzzFlatMatchesXML: whatever the flat scanner accepts, the full decoder accepts with
// the same fields in the same order.
func FuzzFlatMatchesXML(f *testing.F) {
	for _, s := range append(fuzzSeeds,
		"<xml><a>1</a><b><![CDATA[x<y>]]></b><c></c></xml>",
		" \n<xml>\n <a>1</a>\n</xml>\n",
		"<xml><a>x]]>y</a></xml>",
		"<xml><a>\x01</a></xml>",
		"<xml><a><![CDATA[1]]>2</a></xml>",
		"<xml><xml>1</xml></xml>",
		"<xml><a>1</a ></xml>",
		"<xml><_a9>\uFFFE</_a9></xml>",
	) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		flat, ok := decodeFlat(body)
		if !ok {
			return
		}
		full, err := decodeXML(body)
		if err != nil {
			t.Fatalf("flat accepted what the full decoder refuses (%v): %q", err, body)
		}
		if got, want := fieldsOf(flat), fieldsOf(full); !slices.Equal(got, want) {
			t.Fatalf("flat read %q, full read %q from %q", got, want, body)
		}
	})
}

// TestFlatTakesWhatClientsSend: the bodies real clients send take the fast path.
func TestFlatTakesWhatClientsSend(t *testing.T) {
	for _, body := range []string{
		specCaseABody,
		"<xml><appid>wx1</appid><body><![CDATA[午餐]]></body><total_fee>1</total_fee></xml>",
		string(newMessageWith("a", "x<y&z").Encode()),
	} {
		if _, ok := decodeFlat([]byte(body)); !ok {
			t.Errorf("flat scanner passed %q to the full decoder", body)
		}
	}
}

func newMessageWith(name, value string) *Message {
	m := NewMessage()
	m.Set(name, value)
	return m
}

func BenchmarkDecode(b *testing.B) {
	body := []byte(specCaseABody)
	b.Run("flat", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeXML(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
