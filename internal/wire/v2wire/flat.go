package v2wire

import (
	"strings"
	"unicode/utf8"
)

// decodeFlat reads the one shape every client sends, <xml><name>value</name>...</xml>
// with plain text or one CDATA section per value, in a single pass without
// encoding/xml (which cost a tenth of the CPU of a payment). It never refuses: on
// anything outside that shape (a declaration, comments, attributes, entities, a
// carriage return, a duplicate, nesting, a character XML forbids) it answers false and
// decodeXML decides, errors included. FuzzFlatMatchesXML holds it to decodeXML's
// result on every input it accepts.
func decodeFlat(body []byte) (*Message, bool) {
	// One string of the body; names and values are slices of it, so a message costs
	// one copy of its bytes instead of two allocations per field.
	b := trimSpace(string(body))
	if !strings.HasPrefix(b, "<xml>") || !strings.HasSuffix(b, "</xml>") {
		return nil, false
	}
	b = b[len("<xml>") : len(b)-len("</xml>")]
	m := &Message{fields: make([]field, 0, strings.Count(b, "<")/2)} // two or three per field
	for {
		b = trimLeftSpace(b)
		if len(b) == 0 {
			return m, true
		}
		name, rest, ok := openTag(b)
		if !ok || m.index(name) >= 0 {
			return nil, false
		}
		value, rest, ok := fieldValue(rest)
		if !ok {
			return nil, false
		}
		// The closing tag: "</" name ">".
		if len(rest) < len(name)+3 || rest[0] != '<' || rest[1] != '/' || rest[2:2+len(name)] != name || rest[2+len(name)] != '>' {
			return nil, false
		}
		m.fields = append(m.fields, field{name: name, value: value})
		b = rest[len(name)+3:]
	}
}

// openTag reads "<name>" where name is a letter or _ then letters, digits or _.
func openTag(b string) (name, rest string, ok bool) {
	if len(b) < 3 || b[0] != '<' || !nameStart(b[1]) {
		return "", "", false
	}
	i := 2
	for i < len(b) && nameByte(b[i]) {
		i++
	}
	if i == len(b) || b[i] != '>' {
		return "", "", false
	}
	return b[1:i], b[i+1:], true
}

// fieldValue reads a value up to the next '<': plain text, or exactly one CDATA
// section.
func fieldValue(b string) (value, rest string, ok bool) {
	if strings.HasPrefix(b, "<![CDATA[") {
		b = b[len("<![CDATA["):]
		end := strings.Index(b, "]]>")
		if end < 0 || !plainChars(b[:end]) {
			return "", "", false
		}
		return b[:end], b[end+3:], true
	}
	end := strings.IndexByte(b, '<')
	if end < 0 {
		return "", "", false
	}
	v := b[:end]
	if strings.IndexByte(v, '&') >= 0 || strings.Contains(v, "]]>") || !plainChars(v) {
		return "", "", false
	}
	return v, b[end:], true
}

// plainChars reports whether v holds only characters XML allows, and no carriage
// return (which XML turns into a line feed).
func plainChars(v string) bool {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError || r > 0xD7FF && r < 0xE000 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

func nameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func nameByte(c byte) bool { return nameStart(c) || c >= '0' && c <= '9' }

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimLeftSpace(b string) string {
	for len(b) > 0 && isSpaceByte(b[0]) {
		b = b[1:]
	}
	return b
}

func trimSpace(b string) string {
	b = trimLeftSpace(b)
	for len(b) > 0 && isSpaceByte(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
