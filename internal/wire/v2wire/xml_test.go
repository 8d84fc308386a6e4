package v2wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

type kv struct{ name, value string }

func fieldsOf(m *Message) []kv {
	out := make([]kv, 0, m.Len())
	for _, n := range m.Names() {
		out = append(out, kv{n, m.Get(n)})
	}
	return out
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, code string
	}{
		{"nil body", "", codePostDataEmpty},
		{"whitespace only", " \r\n\t ", codePostDataEmpty},
		{"BOM only", "\xEF\xBB\xBF\n", codePostDataEmpty},
		{"invalid UTF-8 (GBK bytes)", "<xml><store_name>\xc4\xcf\xc9\xbd</store_name></xml>", codeNotUTF8},
		{"lone continuation byte", "<xml><a>\x80</a></xml>", codeNotUTF8},
		{"declared GBK", `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`, codeNotUTF8},
		{"truncated", "<xml><appid><![CDATA[wx]]></appid>", codeXMLFormatError},
		{"truncated inside CDATA", "<xml><appid><![CDATA[wx", codeXMLFormatError},
		{"truncated tag", "<xml><appid", codeXMLFormatError},
		{"mismatched end tag", "<xml><a>1</b></xml>", codeXMLFormatError},
		{"not XML", `{"appid":"wx"}`, codeXMLFormatError},
		{"declaration only", `<?xml version="1.0"?>`, codeXMLFormatError},
		{"wrong root", "<root><a>1</a></root>", codeXMLFormatError},
		{"root of other case", "<XML><a>1</a></XML>", codeXMLFormatError},
		{"namespaced root", `<xml xmlns="urn:x"><a>1</a></xml>`, codeXMLFormatError},
		{"two roots", "<xml><a>1</a></xml><xml><b>2</b></xml>", codeXMLFormatError},
		{"text after root", "<xml><a>1</a></xml>junk", codeXMLFormatError},
		{"text beside fields", "<xml>junk<a>1</a></xml>", codeXMLFormatError},
		{"DOCTYPE", `<!DOCTYPE xml><xml><a>1</a></xml>`, codeXMLFormatError},
		{"XXE entity", `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`, codeXMLFormatError},
		{"undeclared entity", `<xml><a>&xxe;</a></xml>`, codeXMLFormatError},
		{"bare ampersand", `<xml><a>x & y</a></xml>`, codeXMLFormatError},
		{"nested element", "<xml><detail><goods>1</goods></detail></xml>", codeXMLFormatError},
		{"nested empty element", "<xml><detail>x<br/></detail></xml>", codeXMLFormatError},
		{"duplicate field", "<xml><mch_id>1</mch_id><mch_id>2</mch_id></xml>", codeXMLFormatError},
		{"duplicate empty field", "<xml><attach/><attach>x</attach></xml>", codeXMLFormatError},
		{"namespaced field", `<xml xmlns:p="urn:p"><p:a>1</p:a></xml>`, codeXMLFormatError},
		{"prefixed field", `<xml><p:a>1</p:a></xml>`, codeXMLFormatError},
		{"processing instruction in field", `<xml><a><?php x?></a></xml>`, codeXMLFormatError},
		{"second declaration", `<?xml version="1.0"?><?xml version="1.0"?><xml/>`, codeXMLFormatError},
		{"control character", "<xml><a>\x01</a></xml>", codeXMLFormatError},
		{"NUL character reference", "<xml><a>&#0;</a></xml>", codeXMLFormatError},
		{"oversize", "<xml><a>" + strings.Repeat("x", MaxBodyBytes) + "</a></xml>", codeXMLFormatError},
		{"oversize whitespace", strings.Repeat(" ", MaxBodyBytes+1), codeXMLFormatError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Decode([]byte(tc.body))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %v, %v; want *DecodeError %s", m, err, tc.code)
			}
			if m != nil || de.Code != tc.code {
				t.Fatalf("Decode code = %s (%v), want %s", de.Code, err, tc.code)
			}
			if !strings.Contains(de.Error(), tc.code) {
				t.Fatalf("Error() = %q lacks the code", de.Error())
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       []kv
	}{
		{"CDATA and bare text", "<xml><a><![CDATA[x]]></a><b>1</b></xml>", []kv{{"a", "x"}, {"b", "1"}}},
		{"mixed text and CDATA concatenate", "<xml><a>p<![CDATA[<q>]]>r<![CDATA[s]]></a></xml>", []kv{{"a", "p<q>rs"}}},
		{"entities decoded", "<xml><a>&lt;&amp;&gt;&quot;&apos;&#x4E2D;&#25991;</a></xml>", []kv{{"a", `<&>"'中文`}}},
		{"value whitespace kept", "<xml><a>  x \n</a><b><![CDATA[ ]]></b></xml>", []kv{{"a", "  x \n"}, {"b", " "}}},
		{"root whitespace ignored", "\n <xml>\n\t<a>1</a>\r\n  <b>2</b>\n</xml>\n\n", []kv{{"a", "1"}, {"b", "2"}}},
		{"XML declaration", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n<xml><a>1</a></xml>", []kv{{"a", "1"}}},
		{"utf8 spelled without dash", `<?xml version="1.0" encoding="utf8"?><xml><a>1</a></xml>`, []kv{{"a", "1"}}},
		{"leading BOM", "\xEF\xBB\xBF<xml><a>1</a></xml>", []kv{{"a", "1"}}},
		{"comments ignored", "<!--c--><xml><!--c--><a>x<!--c-->y</a></xml><!--c-->", []kv{{"a", "xy"}}},
		{"attributes ignored", `<xml v="1"><a type="int">5</a></xml>`, []kv{{"a", "5"}}},
		{"empty forms", "<xml><a></a><b/><c><![CDATA[]]></c></xml>", []kv{{"a", ""}, {"b", ""}, {"c", ""}}},
		{"empty root", "<xml></xml>", []kv{}},
		{"self-closing root", "<xml/>", []kv{}},
		{"unknown fields kept in order", "<xml><z>1</z><return_code>SUCCESS</return_code><a>2</a></xml>", []kv{{"z", "1"}, {"return_code", "SUCCESS"}, {"a", "2"}}},
		{"Chinese", "<xml><store_name>南山店</store_name></xml>", []kv{{"store_name", "南山店"}}},
		{"JSON value", `<xml><detail><![CDATA[{"a":[1,"<b>"]}]]></detail></xml>`, []kv{{"detail", `{"a":[1,"<b>"]}`}}},
		{"CRLF in value normalised", "<xml><a>x\r\ny</a></xml>", []kv{{"a", "x\ny"}}},
		{"CR by reference kept", "<xml><a>x&#13;y</a></xml>", []kv{{"a", "x\ry"}}},
		{"exactly MaxBodyBytes", "<xml><a>" + strings.Repeat("x", MaxBodyBytes-len("<xml><a></a></xml>")) + "</a></xml>",
			[]kv{{"a", strings.Repeat("x", MaxBodyBytes-len("<xml><a></a></xml>"))}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mustDecode(t, tc.body)
			if got := fieldsOf(m); !slices.Equal(got, tc.want) {
				t.Fatalf("fields = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEncodeExact(t *testing.T) {
	t.Parallel()
	m := NewMessage()
	m.Set("appid", "wx1")
	m.SetInt("total_fee", 1)
	m.Set("return_msg", "OK")
	m.SetInt("refund_fee", -5)
	m.Set("attach", "")
	m.Set("return_code", "SUCCESS")
	want := "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg>" +
		"<appid><![CDATA[wx1]]></appid><total_fee>1</total_fee><refund_fee>-5</refund_fee><attach><![CDATA[]]></attach></xml>"
	if got := string(m.Encode()); got != want {
		t.Fatalf("Encode\n got %s\nwant %s", got, want)
	}
	if got := string(NewMessage().Encode()); got != "<xml></xml>" {
		t.Fatalf("empty Encode = %s", got)
	}
	var zero Message
	if got := string(zero.Encode()); got != "<xml></xml>" {
		t.Fatalf("zero Message Encode = %s", got)
	}
}

func TestEncodeValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, wire string
	}{
		{"markup", "<a>&amp;", "<![CDATA[<a>&amp;]]>"},
		{"CDATA terminator", "x]]>y", "<![CDATA[x]]]]><![CDATA[>y]]>"},
		{"two terminators", "]]>]]>", "<![CDATA[]]]]><![CDATA[>]]]]><![CDATA[>]]>"},
		{"carriage return", "a\r\nb", "<![CDATA[a]]>&#13;<![CDATA[\nb]]>"},
		{"lone carriage return", "\r", "&#13;"},
		{"Chinese", "南山店", "<![CDATA[南山店]]>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMessage()
			m.Set("v", tc.value)
			enc := string(m.Encode())
			if want := "<xml><v>" + tc.wire + "</v></xml>"; enc != want {
				t.Fatalf("Encode\n got %s\nwant %s", enc, want)
			}
			if got := mustDecode(t, enc).Get("v"); got != tc.value {
				t.Fatalf("round trip = %q, want %q", got, tc.value)
			}
		})
	}
}

func TestEncodeReplacesUnencodableCharacters(t *testing.T) {
	t.Parallel()
	m := NewMessage()
	m.Set("v", "a\x00b\xffc\uFFFEd")
	back := mustDecode(t, string(m.Encode()))
	if got, want := back.Get("v"), "a\uFFFDb\uFFFDc\uFFFDd"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	m := NewMessage()
	m.Set("appid", "wx8b3a1c9d2e4f5a6b")
	m.Set("store_name", "南山店 <旗舰> & co")
	m.Set("detail", `{"goods_detail":[{"goods_name":"a]]>b","price":1}]}`)
	m.SetInt("total_fee", 1700000000)
	m.SetInt("coupon_fee_0", 0)
	m.Set("attach", "")
	m.Set("return_code", "FAIL")
	m.Set("multi", "line1\nline2\r\n\ttab ")
	m.Set("return_msg", "签名错误")
	enc := m.Encode()
	if !strings.HasPrefix(string(enc), "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>") {
		t.Fatalf("return_code/return_msg not first: %s", enc)
	}
	if !strings.Contains(string(enc), "<total_fee>1700000000</total_fee><coupon_fee_0>0</coupon_fee_0>") {
		t.Fatalf("integers not bare: %s", enc)
	}
	back := mustDecode(t, string(enc))
	want := []kv{{"return_code", "FAIL"}, {"return_msg", "签名错误"}}
	for _, f := range fieldsOf(m) {
		if f.name != "return_code" && f.name != "return_msg" {
			want = append(want, f)
		}
	}
	if got := fieldsOf(back); !slices.Equal(got, want) {
		t.Fatalf("round trip\n got %q\nwant %q", got, want)
	}
	if Sign(back, "k", SignHMACSHA256) != Sign(m, "k", SignHMACSHA256) {
		t.Fatal("signature changed across the round trip")
	}
}

func TestMessageOps(t *testing.T) {
	t.Parallel()
	m := NewMessage()
	m.Set("a", "1")
	m.SetInt("b", 2)
	m.Set("c", "3")
	m.Set("a", "one") // in place
	m.Set("b", "two") // bare -> CDATA, in place
	if got := m.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Names = %q", got)
	}
	if m.Get("a") != "one" || m.Get("b") != "two" || m.Len() != 3 {
		t.Fatalf("Get/Len wrong: %q %q %d", m.Get("a"), m.Get("b"), m.Len())
	}
	if got := string(m.Encode()); !strings.Contains(got, "<b><![CDATA[two]]></b>") {
		t.Fatalf("Set after SetInt still bare: %s", got)
	}
	m.SetInt("a", 7)
	if got := string(m.Encode()); !strings.HasPrefix(got, "<xml><a>7</a>") {
		t.Fatalf("SetInt in place: %s", got)
	}
	names := m.Names()
	names[0] = "mutated"
	if m.Names()[0] != "a" {
		t.Fatal("Names exposes internal storage")
	}
	m.Del("b")
	m.Del("missing")
	if m.Has("b") || m.Get("b") != "" || m.Len() != 2 || !slices.Equal(m.Names(), []string{"a", "c"}) {
		t.Fatalf("after Del: %q", m.Names())
	}
	m.Set("e", "")
	if !m.Has("e") || m.Has("f") {
		t.Fatal("Has does not tell empty from absent")
	}
}
