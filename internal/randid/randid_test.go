package randid

import "testing"

func TestShapes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		d := Digits(12)
		if len(d) != 12 {
			t.Fatalf("%q", d)
		}
		for _, c := range d {
			if c < '0' || c > '9' {
				t.Fatalf("%q has a non-digit", d)
			}
		}
		if seen[d] {
			t.Fatalf("%q twice in 200 draws", d)
		}
		seen[d] = true
	}
	if h := Hex(8); len(h) != 16 {
		t.Fatalf("%q", h)
	}
}
