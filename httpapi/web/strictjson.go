package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds how deeply arrays and objects may nest in a request body.
// The deepest body any surface reads nests five levels (a native key's
// acl.0.scope.planId.0); metadata, which is free-form, gets the rest.
const MaxDepth = 32

// checkStrict checks that body, one JSON text, means exactly one thing and
// that decoding it loses nothing of what the client sent. encoding/json is
// lenient in ways that silently change a request: it turns invalid UTF-8
// and escapes of lone surrogates ("\ud800") into U+FFFD, keeps the last of
// two members with the same name, and rounds numbers to the nearest
// float64, down to 0 for 1e-400. Each of those would store something other
// than what was sent, so each is refused here, once for every surface:
//
//   - the body must be valid UTF-8 (RFC 8259, section 8.1);
//   - every \u escape must decode to a Unicode scalar value: a surrogate
//     only as the first half of a pair that is completed (RFC 7493, 2.1);
//   - no string, member names included, may hold U+0000: no member of any
//     surface has a use for it, and C strings, logs and headers end at it;
//   - member names are unique within each object, at any depth (RFC 7493,
//     2.3), compared as decoded ("a" and "\u0061" are one name);
//   - every number must survive decoding to a float64 and encoding again
//     as the same decimal value: finite, within double precision, not
//     rounded to 0, and not negative zero, which most encoders cannot
//     write back (RFC 7493, 2.2);
//   - arrays and objects nest at most MaxDepth levels;
//   - the text is one value, with nothing after it.
//
// It is one pass over the bytes, in the JSON grammar exactly as
// encoding/json reads it (FuzzCheckStrict holds the two to agreeing), and
// allocates nothing for a body it accepts: verify calls, at gateway rates,
// go through it. Its recursion is bounded by MaxDepth. A problem with a
// member names it in Field, as a dot path ("acl.0.scope"); the U+0000 and
// number rules mark the error Value (see BodyError).
func checkStrict(body []byte) *BodyError {
	if !utf8.Valid(body) {
		return badBody("", "Request body is not valid UTF-8.")
	}
	s := strictScanner{b: body}
	s.space()
	if err := s.value(); err != nil {
		return err
	}
	s.space()
	if s.i != len(s.b) {
		return badBody("", "Request body holds more than one JSON value, or text after it.")
	}
	return nil
}

// strictScanner is checkStrict's state.
type strictScanner struct {
	b     []byte
	i     int // the next byte to read
	depth int // arrays and objects open
	// open are the arrays and objects open, outermost first.
	open [MaxDepth]openValue
	// names[:nnames] are the member names of the objects open, outermost
	// first, each object's from its openValue.first; an object with many
	// members, or past the end of names, keeps them in openValue.set
	// instead. A fixed array, held by value, so that the scanner stays on
	// the stack (a slice's array would not: value recurses).
	names  [4 * manyNames]nameSpan
	nnames int
}

// openValue is an array or object being read, and where in it the scanner
// is: the item's index, or the member's name.
type openValue struct {
	object bool
	index  int
	name   nameSpan
	first  int                 // where its names start in strictScanner.names
	set    map[string]struct{} // its names, once it has more than manyNames
}

// manyNames is how many members an object's names are compared one by one
// for; past it they go in a map, so that an object of thousands of
// members costs no more than a map. Every body a surface reads has fewer
// members in each object.
const manyNames = 16

// nameSpan is a member name's bytes in the body, quotes excluded.
type nameSpan struct {
	start, end int
	escaped    bool // holds a backslash: compare it decoded
}

func (s *strictScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *strictScanner) syntax() *BodyError {
	return badBody("", "Request body is not valid JSON (at byte %d).", s.i)
}

// path is the dot path of the value being read: "" for the body itself.
// It is only built for an error.
func (s *strictScanner) path() string {
	var b strings.Builder
	for i := range s.depth {
		if i > 0 {
			b.WriteByte('.')
		}
		if o := &s.open[i]; o.object {
			b.WriteString(s.decode(o.name))
		} else {
			b.WriteString(strconv.Itoa(o.index))
		}
	}
	return b.String()
}

// decode returns a member name as decoded (a lone surrogate as U+FFFD).
func (s *strictScanner) decode(n nameSpan) string {
	if !n.escaped {
		return string(s.b[n.start:n.end])
	}
	var name string
	_ = json.Unmarshal(s.b[n.start-1:n.end+1], &name)
	return name
}

func (s *strictScanner) value() *BodyError {
	if s.i >= len(s.b) {
		return s.syntax()
	}
	switch c := s.b[s.i]; {
	case c == '{' || c == '[':
		if s.depth == MaxDepth {
			return badBody(s.path(), "Request body nests arrays and objects more than %d levels deep.", MaxDepth)
		}
		if c == '{' {
			return s.object()
		}
		return s.array()
	case c == '"':
		_, err := s.str("string")
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.syntax()
}

func (s *strictScanner) literal(word string) *BodyError {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return s.syntax()
	}
	s.i += len(word)
	return nil
}

func (s *strictScanner) object() *BodyError {
	s.i++ // '{'
	o := &s.open[s.depth]
	*o = openValue{object: true, first: s.nnames}
	s.depth++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax()
		}
		name, err := s.str("member name")
		if err != nil {
			return err
		}
		if err := s.unique(o, name); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax()
		}
		s.i++
		s.space()
		if err := s.value(); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.syntax()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
			continue
		case '}':
			s.i++
			s.nnames = o.first
			o.set = nil
			s.depth--
			return nil
		}
		return s.syntax()
	}
}

// unique records name as o's current member, refusing it if o has a
// member of that name already.
func (s *strictScanner) unique(o *openValue, name nameSpan) *BodyError {
	o.name = name
	dup := false
	switch {
	case o.set != nil:
		key := s.decode(name)
		_, dup = o.set[key]
		o.set[key] = struct{}{}
	default:
		for _, prev := range s.names[o.first:s.nnames] {
			if s.sameName(prev, name) {
				dup = true
				break
			}
		}
		if s.nnames < len(s.names) && s.nnames-o.first < manyNames {
			s.names[s.nnames] = name
			s.nnames++
			break
		}
		o.set = make(map[string]struct{}, 2*manyNames)
		for _, n := range s.names[o.first:s.nnames] {
			o.set[s.decode(n)] = struct{}{}
		}
		o.set[s.decode(name)] = struct{}{}
		s.nnames = o.first
	}
	if dup {
		where := "the request body"
		if s.depth > 1 {
			s.depth-- // the path of the object, not of its member
			where = "the object at " + s.path()
			s.depth++
		}
		return badBody(s.path(), "Member %q appears more than once in %s.", s.decode(name), where)
	}
	return nil
}

func (s *strictScanner) sameName(a, b nameSpan) bool {
	if !a.escaped && !b.escaped {
		return bytes.Equal(s.b[a.start:a.end], s.b[b.start:b.end])
	}
	return s.decode(a) == s.decode(b)
}

func (s *strictScanner) array() *BodyError {
	s.i++ // '['
	o := &s.open[s.depth]
	*o = openValue{}
	s.depth++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.syntax()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
			o.index++
			continue
		case ']':
			s.i++
			s.depth--
			return nil
		}
		return s.syntax()
	}
}

// str reads a string (s.b[s.i] is its opening quote); what says what it
// is, for messages. A member name's span is returned, and is already the
// current member when an error names its path.
func (s *strictScanner) str(what string) (nameSpan, *BodyError) {
	s.i++ // '"'
	span := nameSpan{start: s.i}
	var lone string // the first escape of a lone surrogate
	nul := false
	for {
		if s.i >= len(s.b) {
			return span, s.syntax()
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			span.end = s.i
			s.i++
			if what == "member name" {
				s.open[s.depth-1].name = span
			}
			switch {
			case nul:
				e := badBody(s.path(), "A %s%s holds U+0000, which no member takes.", what, at(s.path()))
				e.Value = true
				return span, e
			case lone != "":
				return span, badBody(s.path(), "A %s%s has the escape %s, a lone surrogate that is no Unicode character.",
					what, at(s.path()), lone)
			}
			return span, nil
		case c < 0x20: // control characters must be escaped
			return span, s.syntax()
		case c != '\\':
			s.i++
			continue
		}
		// An escape.
		span.escaped = true
		if s.i+1 >= len(s.b) {
			return span, s.syntax()
		}
		switch s.b[s.i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.i += 2
			continue
		case 'u':
		default:
			return span, s.syntax()
		}
		r, ok := s.hex(s.i + 2)
		if !ok {
			return span, s.syntax()
		}
		esc := s.i
		s.i += 6
		switch {
		case r == 0:
			nul = true
		case r >= 0xDC00 && r <= 0xDFFF:
			if lone == "" {
				lone = string(s.b[esc:s.i])
			}
		case r >= 0xD800 && r <= 0xDBFF:
			// Its low half must follow at once, or it is lone (and what
			// follows is read on its own, as a new escape).
			if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
				if low, ok := s.hex(s.i + 2); ok && low >= 0xDC00 && low <= 0xDFFF {
					s.i += 6
					continue
				}
			}
			if lone == "" {
				lone = string(s.b[esc:s.i])
			}
		}
	}
}

// hex reads the four hex digits at i.
func (s *strictScanner) hex(i int) (rune, bool) {
	if i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number reads a number in JSON's grammar and checks it is kept exactly.
func (s *strictScanner) number() *BodyError {
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		return s.syntax()
	}
	plain := true // an integer: no fraction, no exponent
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		plain = false
		if digits() == 0 {
			return s.syntax()
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		plain = false
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.syntax()
		}
	}
	lit := s.b[start:s.i]
	// Integers of up to 15 digits are exact in a float64; only "-0" is not
	// kept. Anything else takes the exact check.
	if plain && len(lit) <= 15 && string(lit) != "-0" {
		return nil
	}
	if !exactNumber(string(lit)) {
		e := badBody(s.path(), "The number %s%s cannot be kept exactly: it is out of range, beyond double precision, or negative zero.",
			truncate(string(lit), 40), at(s.path()))
		e.Value = true
		return e
	}
	return nil
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return " at " + path
}

// exactNumber reports whether the JSON number lit, decoded to a float64 and
// encoded again (as encoding/json and the stores do), has the same decimal
// value: finite, neither rounded nor underflowed, and not negative zero.
func exactNumber(lit string) bool {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || (f == 0 && math.Signbit(f)) {
		return false
	}
	a, ok := parseDecimal(lit)
	if !ok {
		return false
	}
	b, _ := parseDecimal(strconv.FormatFloat(f, 'g', -1, 64))
	return a == b
}

// decimal is a number's exact value: sign, significant digits (no leading
// or trailing zeros; "" for zero) and the power of ten they are scaled by.
type decimal struct {
	neg    bool
	digits string
	scale  int
}

// parseDecimal reads a JSON number, or a Go float's 'g' form, exactly.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	s, d.neg = strings.CutPrefix(s, "-")
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return decimal{neg: d.neg}, true // zero, whatever its exponent
	}
	e := 0
	if hasExp {
		var err error
		if e, err = strconv.Atoi(exp); err != nil || e > 1e6 || e < -1e6 {
			return d, false
		}
	}
	d.digits = trimmed
	d.scale = e - len(frac) + (len(digits) - len(trimmed))
	return d, true
}

func badBody(field, format string, args ...any) *BodyError {
	return &BodyError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Field: field}
}

// truncate shortens s to at most n bytes for a message, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
