package v2wire

import (
	"slices"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	specCaseABody,
	"<xml><return_code>SUCCESS</return_code><return_msg>OK</return_msg></xml>",
	"<xml><z>1</z><return_msg>m</return_msg><return_code>FAIL</return_code></xml>",
	"<xml><a>p<![CDATA[<q>]]]]><![CDATA[>]]>&amp;&#13;\r\n</a><b/></xml>",
	`<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]><xml><a>&e;</a></xml>`,
	"<xml><a><b>1</b></a></xml>",
	"<xml><a>1</a><a>2</a></xml>",
	"<xml><a>1</a>",
	"<root/>",
	"\xEF\xBB\xBF<xml><a>\xff</a></xml>",
	"",
}

// wireOrder is the order Encode writes: return_code and return_msg first.
func wireOrder(m *Message) []kv {
	var head, rest []kv
	for _, f := range fieldsOf(m) {
		if f.name == "return_code" || f.name == "return_msg" {
			head = append(head, f)
		} else {
			rest = append(rest, f)
		}
	}
	slices.SortStableFunc(head, func(a, b kv) int { return strings.Compare(a.name, b.name) }) // "return_code" < "return_msg"
	return append(head, rest...)
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok || m != nil {
				t.Fatalf("Decode = %v, %T %v; want nil, *DecodeError", m, err, err)
			}
			return
		}
		enc := m.Encode()
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(m)) failed: %v\nbody: %q\nenc:  %q", err, body, enc)
		}
		if got, want := fieldsOf(back), wireOrder(m); !slices.Equal(got, want) {
			t.Fatalf("round trip changed fields\n got %q\nwant %q\nenc: %q", got, want, enc)
		}
		if again := back.Encode(); string(again) != string(enc) {
			t.Fatalf("Encode not stable\nfirst  %q\nsecond %q", enc, again)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(specCaseABody), specKey, false, byte(0))
	f.Add(caseB().Encode(), specKey, true, byte(7))
	f.Add(crossCheck().Encode(), "192006250b4c09247ec02edce69f6a2d", false, byte(1))
	f.Add(crossCheck().Encode(), "192006250b4c09247ec02edce69f6a2d", true, byte(200))
	f.Add([]byte("<xml><a>]]&gt;</a><sign>x</sign></xml>"), "", true, byte(3))
	f.Fuzz(func(t *testing.T, body []byte, key string, useHMAC bool, delta byte) {
		m, err := Decode(body)
		if err != nil {
			return
		}
		st := SignMD5
		if useHMAC {
			st = SignHMACSHA256
		}
		SignMessage(m, key, st)
		back, err := Decode(m.Encode())
		if err != nil {
			t.Fatalf("signed message does not decode: %v", err)
		}
		if !Verify(back, key, st) {
			t.Fatalf("Verify false after Encode/Decode\nkey %q\n%q", key, m.Encode())
		}
		sign := back.Get("sign")
		const hexDigits = "0123456789ABCDEF"
		for i := range len(sign) {
			// Any other upper-case hex digit, then the lower-case form of a letter.
			j := strings.IndexByte(hexDigits, sign[i])
			flips := []byte{hexDigits[(j+1+int(delta)%15)%16]}
			if sign[i] >= 'A' {
				flips = append(flips, sign[i]+'a'-'A')
			}
			for _, c := range flips {
				back.Set("sign", sign[:i]+string(c)+sign[i+1:])
				if Verify(back, key, st) {
					t.Fatalf("Verify true with sign[%d] flipped to %q", i, c)
				}
			}
		}
		back.Set("sign", sign)
		if !Verify(back, key, st) {
			t.Fatal("restoring the sign did not restore Verify")
		}
	})
}

// FuzzCDATAAsIs holds appendCDATA's short cut to the general path: a value written
// as one plain CDATA section is exactly what the general path writes for it.
func FuzzCDATAAsIs(f *testing.F) {
	for _, v := range []string{"", "午餐", "a]]b", "a]]>b", "x\ry", "\x00", "\xff", "\uFFFD", "\uFFFE", "tab\tnl\n", "]]]"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		general := string(appendCDATAMapped(nil, v))
		if cdataAsIs(v) && general != "<![CDATA["+v+"]]>" {
			t.Fatalf("%q: the short cut writes it as is, the general path %q", v, general)
		}
		if got := string(appendCDATA(nil, v)); got != general {
			t.Fatalf("%q: %q, the general path %q", v, got, general)
		}
	})
}
