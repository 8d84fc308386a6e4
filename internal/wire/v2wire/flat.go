package v2wire

import (
	"bytes"
	"unicode/utf8"
)

// decodeFlat reads the one shape every client sends, <xml><name>value</name>...</xml>
// with plain text or one CDATA section per value, in a single pass without
// encoding/xml (which cost a tenth of the CPU of a payment). It never refuses: on
// anything outside that shape (a declaration, comments, attributes, entities, a
// carriage return, a duplicate, nesting, a character XML forbids) it answers false and
// decodeXML decides, errors included. FuzzFlatMatchesXML holds it to decodeXML's
// result on every input it accepts.
func decodeFlat(b []byte) (*Message, bool) {
	b = trimSpace(b)
	if !bytes.HasPrefix(b, []byte("<xml>")) || !bytes.HasSuffix(b, []byte("</xml>")) {
		return nil, false
	}
	b = b[len("<xml>") : len(b)-len("</xml>")]
	m := &Message{fields: make([]field, 0, 16)}
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
		if len(rest) < len(name)+3 || rest[0] != '<' || rest[1] != '/' || string(rest[2:2+len(name)]) != name || rest[2+len(name)] != '>' {
			return nil, false
		}
		m.fields = append(m.fields, field{name: name, value: value})
		b = rest[len(name)+3:]
	}
}

// openTag reads "<name>" where name is a letter or _ then letters, digits or _.
func openTag(b []byte) (string, []byte, bool) {
	if len(b) < 3 || b[0] != '<' || !nameStart(b[1]) {
		return "", nil, false
	}
	i := 2
	for i < len(b) && nameByte(b[i]) {
		i++
	}
	if i == len(b) || b[i] != '>' {
		return "", nil, false
	}
	return string(b[1:i]), b[i+1:], true
}

// fieldValue reads a value up to the next '<': plain text, or exactly one CDATA
// section.
func fieldValue(b []byte) (string, []byte, bool) {
	if bytes.HasPrefix(b, []byte("<![CDATA[")) {
		b = b[len("<![CDATA["):]
		end := bytes.Index(b, []byte("]]>"))
		if end < 0 || !plainChars(b[:end]) {
			return "", nil, false
		}
		return string(b[:end]), b[end+3:], true
	}
	end := bytes.IndexByte(b, '<')
	if end < 0 {
		return "", nil, false
	}
	v := b[:end]
	if bytes.IndexByte(v, '&') >= 0 || bytes.Contains(v, []byte("]]>")) || !plainChars(v) {
		return "", nil, false
	}
	return string(v), b[end:], true
}

// plainChars reports whether v holds only characters XML allows, and no carriage
// return (which XML turns into a line feed).
func plainChars(v []byte) bool {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(v[i:])
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

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && isSpaceByte(b[0]) {
		b = b[1:]
	}
	return b
}

func trimSpace(b []byte) []byte {
	b = trimLeftSpace(b)
	for len(b) > 0 && isSpaceByte(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
