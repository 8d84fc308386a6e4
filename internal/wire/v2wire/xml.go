package v2wire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds a v2 body. Real messages (coupon lists, JSON detail) stay far
// below it; the bound exists so a hostile body costs bounded memory and parse time.
const MaxBodyBytes = 64 << 10

// v2 error codes a body can earn before any business check runs.
const (
	codePostDataEmpty  = "POST_DATA_EMPTY"
	codeNotUTF8        = "NOT_UTF8"
	codeXMLFormatError = "XML_FORMAT_ERROR"
)

type field struct {
	name, value string
	// bare fields are written without CDATA, because the platform writes integers
	// that way and byte-comparing clients and fixtures expect it.
	bare bool
}

// Message is a flat v2 document: ordered (name, value) pairs, as on the wire.
// The zero value is an empty message. Order is kept because the answer we write
// should look like what we were sent and what the platform sends; signatures do not
// depend on it.
type Message struct {
	fields []field
}

// NewMessage returns an empty message.
func NewMessage() *Message { return &Message{fields: make([]field, 0, 24)} } // an answer's fields, without growing

func (m *Message) index(name string) int {
	for i := range m.fields {
		if m.fields[i].name == name {
			return i
		}
	}
	return -1
}

// Get returns the value of name, "" when absent. Signatures treat "" as absent too,
// so most callers need not tell the two apart; Has does.
func (m *Message) Get(name string) string {
	if i := m.index(name); i >= 0 {
		return m.fields[i].value
	}
	return ""
}

// Has reports whether name is present, even with an empty value.
func (m *Message) Has(name string) bool { return m.index(name) >= 0 }

// Set replaces the value of name in place (keeping its position) or appends it. The
// value is written as CDATA. name must be an XML name: names are protocol constants,
// so Encode does not check them.
func (m *Message) Set(name, value string) { m.set(field{name: name, value: value}) }

// SetInt stores v as its decimal text, written bare as the platform writes integers.
func (m *Message) SetInt(name string, v int64) {
	m.set(field{name: name, value: strconv.FormatInt(v, 10), bare: true})
}

func (m *Message) set(f field) {
	if i := m.index(f.name); i >= 0 {
		m.fields[i] = f
		return
	}
	m.fields = append(m.fields, f)
}

// Del removes name, keeping the order of the other fields.
func (m *Message) Del(name string) {
	if i := m.index(name); i >= 0 {
		m.fields = append(m.fields[:i], m.fields[i+1:]...)
	}
}

// Names returns the field names in document order (a fresh slice).
func (m *Message) Names() []string {
	names := make([]string, len(m.fields))
	for i, f := range m.fields {
		names[i] = f.name
	}
	return names
}

// Len returns the number of fields, empty ones included.
func (m *Message) Len() int { return len(m.fields) }

// DecodeError carries the v2 error code for the failure: "POST_DATA_EMPTY",
// "NOT_UTF8" or "XML_FORMAT_ERROR", so the edge can answer return_code=FAIL without
// guessing from the message text.
type DecodeError struct {
	Code string
	Msg  string
}

func (e *DecodeError) Error() string { return "v2wire: " + e.Code + ": " + e.Msg }

func formatError(format string, args ...any) *DecodeError {
	return &DecodeError{Code: codeXMLFormatError, Msg: fmt.Sprintf(format, args...)}
}

var (
	utf8BOM            = []byte("\xEF\xBB\xBF")
	errForeignEncoding = errors.New("declared encoding is not UTF-8")
)

// Decode parses one request or response body into its fields.
//
// It is strict where leniency would let two parties read different parameter sets
// from the same bytes (duplicates, nesting, DTDs, text beside fields), because the
// signature covers the parameters, not the bytes. It is lenient only where no
// ambiguity can arise: a leading UTF-8 BOM, an XML declaration, comments, attributes,
// whitespace between fields.
func Decode(body []byte) (*Message, error) {
	// Checked before anything else so the cost of a hostile body is bounded.
	if len(body) > MaxBodyBytes {
		return nil, formatError("body is larger than %d bytes", MaxBodyBytes)
	}
	// Some Windows XML writers prefix a BOM; it carries no data.
	body = bytes.TrimPrefix(body, utf8BOM)
	if isXMLSpace(body) {
		return nil, &DecodeError{Code: codePostDataEmpty, Msg: "empty body"}
	}
	if !utf8.Valid(body) {
		return nil, &DecodeError{Code: codeNotUTF8, Msg: "body is not valid UTF-8"}
	}
	if m, ok := decodeFlat(body); ok {
		return m, nil
	}
	return decodeXML(body)
}

// decodeXML is the full decoder, for every body the flat scanner leaves to it.
func decodeXML(body []byte) (*Message, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	// encoding/xml consults CharsetReader only for a declared encoding other than
	// UTF-8. The bytes already are UTF-8, but a sender declaring GBK means something
	// else by them, so say NOT_UTF8 rather than guess. "utf8" is a common misspelling.
	foreign := ""
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf8") {
			return r, nil
		}
		foreign = label
		return nil, errForeignEncoding
	}

	const (
		inProlog = iota // before <xml>
		inRoot          // inside <xml>, between fields
		inField         // inside one field
		inEpilog        // after </xml>
	)
	var (
		m        = &Message{}
		seen     = make(map[string]bool)
		state    = inProlog
		declSeen bool
		name     string
		value    []byte
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if state != inEpilog {
				return nil, formatError("document ends before </xml>")
			}
			return m, nil
		}
		if err != nil {
			if foreign != "" {
				return nil, &DecodeError{Code: codeNotUTF8, Msg: fmt.Sprintf("declared encoding %q is not UTF-8", foreign)}
			}
			return nil, formatError("%v", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if state == inField {
				// Text and CDATA arrive as separate tokens; a value is their
				// concatenation, untrimmed, because the signature covers it raw.
				value = append(value, t...)
			} else if !isXMLSpace(t) {
				return nil, formatError("text outside a field")
			}
		case xml.Comment:
			// Carries no data anywhere; inside a value it only splits the text.
		case xml.ProcInst:
			if state != inProlog || t.Target != "xml" || declSeen {
				return nil, formatError("processing instruction <?%s?> not allowed here", t.Target)
			}
			declSeen = true
		case xml.Directive:
			// encoding/xml never expands entities, but a DTD has no place in v2 and
			// refusing it keeps an XXE probe from reaching any other parser.
			return nil, formatError("DTD or other <!...> declaration refused")
		case xml.StartElement:
			switch state {
			case inProlog:
				if t.Name.Space != "" || t.Name.Local != "xml" {
					return nil, formatError("root element is <%s>, want <xml>", qname(t.Name))
				}
				state = inRoot
			case inRoot:
				// Namespaced names would let "a:b" and "b" collide or diverge
				// between parsers; v2 names never contain a colon.
				if t.Name.Space != "" || strings.Contains(t.Name.Local, ":") {
					return nil, formatError("namespaced field <%s>", qname(t.Name))
				}
				name = t.Name.Local
				if seen[name] {
					// Two values for one name would let signer and reader disagree.
					return nil, formatError("duplicate field <%s>", name)
				}
				seen[name] = true
				value = value[:0]
				state = inField
			case inField:
				return nil, formatError("element <%s> nested in field <%s>", qname(t.Name), name)
			default:
				return nil, formatError("second root element <%s>", qname(t.Name))
			}
		case xml.EndElement:
			// Token has already checked that end tags match start tags.
			if state == inField {
				m.fields = append(m.fields, field{name: name, value: string(value)})
				state = inRoot
			} else {
				state = inEpilog
			}
		}
	}
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// Encode writes <xml>...</xml> with no indentation: return_code then return_msg
// first when present (clients and the SDKs' examples read them first), then the other
// fields in insertion order. String values go in CDATA, SetInt values bare.
func (m *Message) Encode() []byte {
	b := make([]byte, 0, 64+32*len(m.fields))
	b = append(b, "<xml>"...)
	for _, n := range [...]string{"return_code", "return_msg"} {
		if i := m.index(n); i >= 0 {
			b = appendField(b, m.fields[i])
		}
	}
	for _, f := range m.fields {
		if f.name != "return_code" && f.name != "return_msg" {
			b = appendField(b, f)
		}
	}
	return append(b, "</xml>"...)
}

func appendField(b []byte, f field) []byte {
	b = append(b, '<')
	b = append(b, f.name...)
	b = append(b, '>')
	if f.bare {
		b = append(b, f.value...) // decimal digits from strconv: nothing to escape
	} else {
		b = appendCDATA(b, f.value)
	}
	b = append(b, "</"...)
	b = append(b, f.name...)
	return append(b, '>')
}

// appendCDATA writes v so that a parser returns exactly v. Two things cannot live
// inside one CDATA section: "]]>" (it would end it: split the section between "]]"
// and ">") and "\r" (parsers turn it into "\n": write it as a character reference
// outside CDATA). Characters XML cannot carry at all become U+FFFD so the output is
// always well-formed; a caller signing such a value has a bug either way.
func appendCDATA(b []byte, v string) []byte {
	if cdataAsIs(v) {
		b = append(b, "<![CDATA["...)
		b = append(b, v...)
		return append(b, "]]>"...)
	}
	return appendCDATAMapped(b, v)
}

// appendCDATAMapped is appendCDATA for the values that need more than one plain
// CDATA section.
func appendCDATAMapped(b []byte, v string) []byte {
	v = strings.Map(func(r rune) rune {
		if isXMLChar(r) {
			return r
		}
		return utf8.RuneError
	}, v)
	for i, seg := range strings.Split(v, "\r") {
		if i > 0 {
			b = append(b, "&#13;"...)
		}
		if seg == "" && v != "" {
			continue // around a "\r": an empty section adds nothing
		}
		b = append(b, "<![CDATA["...)
		b = append(b, strings.ReplaceAll(seg, "]]>", "]]]]><![CDATA[>")...)
		b = append(b, "]]>"...)
	}
	return b
}

// cdataAsIs reports whether v can go in one CDATA section unchanged: the characters
// the flat decoder reads as they are (plainChars), no "]]>". Almost every value is.
func cdataAsIs(v string) bool { return plainChars(v) && !strings.Contains(v, "]]>") }

// isXMLChar is the XML 1.0 Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}
