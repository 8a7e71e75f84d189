package sunshine

import (
	"bytes"
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// fields is a JSON object's members, checked one by one so that a wrong type
// gets a message naming the member, worded as the real service words them.
type fields map[string]json.RawMessage

func decodeBody(w http.ResponseWriter, r *http.Request) (fields, error) {
	obj, err := web.DecodeObject(w, r)
	return fields(obj), err
}

func invalid(format string, args ...any) error {
	return latchkey.Errorf(latchkey.EINVALID, format, args...)
}

func (f fields) has(name string) bool { _, ok := f[name]; return ok }

func (f fields) isNull(name string) bool { return bytes.Equal(f[name], []byte("null")) }

func (f fields) require(path, name string) error {
	if !f.has(name) {
		return invalid("should have required property '%s'", path+name)
	}
	return nil
}

func (f fields) str(path, name string) (string, error) {
	var s string
	if err := json.Unmarshal(f[name], &s); err != nil || f.isNull(name) {
		return "", invalid("%s should be string", path+name)
	}
	return s, nil
}

func (f fields) boolean(path, name string) (bool, error) {
	var b bool
	if err := json.Unmarshal(f[name], &b); err != nil || f.isNull(name) {
		return false, invalid("%s should be boolean", path+name)
	}
	return b, nil
}

func (f fields) object(path, name string) (fields, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(f[name], &obj); err != nil || obj == nil {
		return nil, invalid("%s should be object", path+name)
	}
	return obj, nil
}

func (f fields) array(path, name string) ([]json.RawMessage, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(f[name], &list); err != nil || list == nil {
		return nil, invalid("%s should be array", path+name)
	}
	return list, nil
}

// displayName reads a display name: a string of 1 to 100 characters.
func (f fields) displayName(path, name string) (string, error) {
	s, err := f.str(path, name)
	if err != nil {
		return "", err
	}
	return s, checkDisplayName(path+name, s)
}

func checkDisplayName(name, s string) error {
	switch n := utf8.RuneCountInString(s); {
	case n < 1:
		return invalid("%s should NOT be shorter than 1 characters", name)
	case n > 100:
		return invalid("%s should NOT be longer than 100 characters", name)
	case core.HasControl(s):
		return invalid("%s should NOT contain control characters", name)
	}
	return nil
}
