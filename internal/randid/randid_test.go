package randid

import (
	"strings"
	"testing"
)

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

// Every digit is drawn with the same probability: a byte taken mod 10 without
// rejecting 250–255 favours 0–5 by 4 %, which puts the statistic near 365 here.
func TestDigitsAreUniform(t *testing.T) {
	var counts [10]int
	const draws = 100_000
	for range draws {
		for _, c := range Digits(10) {
			counts[c-'0']++
		}
	}
	want := float64(draws*10) / 10
	var chi2 float64
	for _, n := range counts {
		d := float64(n) - want
		chi2 += d * d / want
	}
	// 9 degrees of freedom: above 45 one uniform run in a million.
	if chi2 > 45 {
		t.Fatalf("digit counts %v: chi-square %.1f over 9 degrees of freedom", counts, chi2)
	}
}

func TestAlnumCoversAlphabet(t *testing.T) {
	// A modulo or indexing mistake would leave letters unreachable.
	all := Alnum(20000)
	for _, c := range alnum {
		if !strings.ContainsRune(all, c) {
			t.Fatalf("character %q never drawn in 20000", c)
		}
	}
	if strings.Trim(all, alnum) != "" {
		t.Fatal("a character outside [A-Za-z0-9]")
	}
}

func BenchmarkDigits(b *testing.B) {
	for b.Loop() {
		_ = Digits(7)
	}
}
