package native

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// maxMetadataBytes caps app and key metadata: 4096 bytes of its compact
// JSON, as the Sunshine surface caps app metadata.
const maxMetadataBytes = 4096

// body is a request's JSON object, its members left undecoded so that each
// is checked on its own and a wrong type is reported by name.
type body map[string]json.RawMessage

// readBody reads the request body: one JSON object of at most
// web.MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) (body, error) {
	obj, err := web.DecodeObject(w, r)
	return body(obj), err
}

func (b body) has(name string) bool { _, ok := b[name]; return ok }

func isNull(raw json.RawMessage) bool { return bytes.Equal(raw, []byte("null")) }

// onlyMembers reports every member that is neither known nor read-only.
// Unknown members are refused rather than ignored: a misspelt "allowedIps"
// would otherwise make a key usable from anywhere without a word. Read-only
// members (what a GET returns) are ignored, so that a client may send back
// what it read.
func (b body) onlyMembers(errs adder, known, readOnly []string) {
	names := make([]string, 0, len(b))
	for name := range b {
		names = append(names, name)
	}
	slices.Sort(names) // a stable order of problems
	for _, name := range names {
		if !slices.Contains(known, name) && !slices.Contains(readOnly, name) {
			errs.add(name, "Unknown member; this object takes %s.", strings.Join(known, ", "))
		}
	}
}

// adder is where problems are reported: fieldErrors, or a view of it that
// prefixes fields with the path of a nested object.
type adder interface {
	add(field, format string, args ...any)
}

// prefixed adds a path prefix to the fields it reports, so that onlyMembers
// can name members of a nested object.
type prefixed struct {
	*fieldErrors
	prefix string
}

func (p *prefixed) add(field, format string, args ...any) {
	p.fieldErrors.add(p.prefix+field, format, args...)
}

// str reads a member that must be a string.
func str(raw json.RawMessage, field string, errs *fieldErrors) (string, bool) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		errs.add(field, "Must be a string.")
		return "", false
	}
	return s, true
}

// readName reads a name: a string of 1 to maxLen characters, not blank, without
// control characters (names reach logs, terminals and dashboards).
func readName(raw json.RawMessage, field string, maxLen int, errs *fieldErrors) (string, bool) {
	s, ok := str(raw, field, errs)
	switch {
	case !ok:
		return "", false
	case strings.TrimSpace(s) == "":
		errs.add(field, "Must not be empty or blank.")
	case utf8.RuneCountInString(s) > maxLen:
		errs.add(field, "Must be at most %d characters.", maxLen)
	case core.HasControl(s):
		errs.add(field, "Must not contain control characters.")
	default:
		return s, true
	}
	return "", false
}

// metadata reads a metadata object of at most maxMetadataBytes; flat
// allows only string, number and boolean values (what an app can show on
// every surface). JSON null is the caller's to handle.
func metadata(raw json.RawMessage, field string, flat bool, errs *fieldErrors) (map[string]any, bool) {
	var md map[string]any
	if json.Unmarshal(raw, &md) != nil || md == nil {
		errs.add(field, "Must be a JSON object, or null.")
		return nil, false
	}
	ok := true
	if flat {
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch md[k].(type) {
			case string, float64, bool:
			default:
				errs.add(field+"."+k, "Must be a string, number or boolean.")
				ok = false
			}
		}
	}
	if ok && metadataSize(md) > maxMetadataBytes {
		errs.add(field, "Must be at most %d bytes as compact JSON.", maxMetadataBytes)
		ok = false
	}
	return md, ok
}

// metadataSize is the size of metadata as it is stored and shown: the UTF-8
// bytes of its compact JSON encoding, not of the request, whose whitespace
// and escapes would count and whose number literals are not kept as sent.
func metadataSize(md map[string]any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" is one byte of metadata, not the six of \u003c
	if err := enc.Encode(md); err != nil {
		return maxMetadataBytes + 1 // unreachable for decoded JSON; refuse rather than guess
	}
	return buf.Len() - 1 // Encode ends with a newline
}

// formatTime shows a time as RFC 3339 in UTC, to the second.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// formatTimePtr is formatTime, or nil (JSON null) for no time.
func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

// formatDuration shows a duration as Go parses it, without the zero units
// time.Duration.String adds: "1m" rather than "1m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
