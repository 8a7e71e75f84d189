package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestCheckStrict holds each rule of checkStrict to a body that breaks it
// (and names the member at fault) and to bodies just inside it.
func TestCheckStrict(t *testing.T) {
	deep := func(n int, open, close string) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, body string
		field      string // the member at fault; "-" when the body is fine
	}{
		{"plain", `{"a":"b","c":[1,2,{"d":null}],"e":true}`, "-"},
		{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9\u20ac"}`, "-"},
		{"a surrogate pair", `{"a":"\ud83d\udd11"}`, "-"},
		{"a pair in upper case", `{"a":"\uD83D\uDD11"}`, "-"},
		{"U+FFFD as sent", `{"a":"\ufffd` + "\uFFFD" + `"}`, "-"},
		{"UTF-8", `{"é":"ключ 🔑"}`, "-"},
		{"same names in different objects", `{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}`, "-"},
		{"numbers kept exactly", `{"a":[0,1,-1,0.1,1.5,1e20,1E+2,12345678901234567e3,9007199254740992,5e-324,1.7976931348623157e308,-0.5,0e999]}`, "-"},
		{"nesting at the limit", `{"a":` + deep(MaxDepth-1, "[", "]") + `}`, "-"},

		{"lone high surrogate", `{"a":"x\ud800y"}`, "a"},
		{"lone high surrogate at the end", `{"a":"\ud800"}`, "a"},
		{"lone low surrogate", `{"a":"\udc00"}`, "a"},
		{"two high surrogates", `{"a":"\ud800\ud800"}`, "a"},
		{"high surrogate then a letter", `{"a":"\ud800\u0041"}`, "a"},
		{"reversed pair", `{"a":"\udd11\ud83d"}`, "a"},
		{"after an escaped backslash", `{"a":"\\\ud800"}`, "a"},
		{"lone surrogate in a name", `{"\ud800":1}`, "\uFFFD"},
		{"lone surrogate deep", `{"a":[{"b":"ok"},{"c":["x","\udfff"]}]}`, "a.1.c.1"},
		{"U+0000 escaped", `{"a":"x\u0000"}`, "a"},
		{"U+0000 in a name", `{"a\u0000":1}`, "a\x00"},

		{"duplicate", `{"a":1,"a":2}`, "a"},
		{"duplicate of another type", `{"a":"x","b":1,"a":null}`, "a"},
		{"duplicate by escape", `{"a":1,"\u0061":2}`, "a"},
		{"duplicate nested", `{"s":{"x":true,"x":false}}`, "s.x"},
		{"duplicate in an array's object", `{"acl":[{"scope":{}},{"scope":{},"scope":{}}]}`, "acl.1.scope"},
		// Past manyNames members, names are kept in a map; past the shared
		// buffer, too. Duplicates are found either way, escaped or not.
		{"many members", members(0, 200, "") + `}`, "-"},
		{"a duplicate among many", members(0, 200, `,"m17":0`) + `}`, "m17"},
		{"a duplicate of the first among many", members(0, 40, `,"m0":0`) + `}`, "m0"},
		{"a duplicate after the buffer is full", `{"a":` + members(0, 15, "") + `,"b":` + members(100, 15, "") +
			`,"c":` + members(200, 15, "") + `,"d":` + members(300, 15, "") + `,"e":` + members(400, 15, `,"m410":1`) + `}}}}}}`, "a.b.c.d.e.m410"},
		{"names reused after an object closes", `{"a":` + members(0, 15, "") + `},"b":` + members(0, 15, "") + `},"c":1}`, "-"},
		{"the outer object's names after an inner one", `{"x":1,"a":{"x":1},"x":2}`, "x"},

		{"1e400", `{"n":1e400}`, "n"},
		{"-1e400", `{"n":-1e400}`, "n"},
		{"1e-400", `{"n":1e-400}`, "n"},
		{"2^64", `{"n":18446744073709551616}`, "n"},
		{"2^53+1", `{"n":9007199254740993}`, "n"},
		{"too many digits", `{"n":0.10000000000000000001}`, "n"},
		{"negative zero", `{"n":-0}`, "n"},
		{"negative zero fraction", `{"n":-0.0e5}`, "n"},
		{"huge exponent", `{"n":1e99999999999999999999}`, "n"},
		{"number in an array", `{"n":[1,2,1e-400]}`, "n.2"},

		{"nesting past the limit", `{"a":` + deep(MaxDepth, "[", "]") + `}`, "a" + strings.Repeat(".0", MaxDepth-1)},
		{"10,000 arrays", `{"a":` + deep(10_000, "[", "]") + `}`, "a" + strings.Repeat(".0", MaxDepth-1)},
		{"10,000 objects", `{"a":` + strings.Repeat(`{"a":`, 10_000) + `1` + strings.Repeat("}", 10_000) + `}`, strings.TrimSuffix(strings.Repeat("a.", MaxDepth), ".")},

		{"invalid UTF-8", "{\"a\":\"\xff\"}", ""},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", ""},
		{"UTF-8 of a surrogate", "{\"a\":\"\xed\xa0\x80\"}", ""},
		{"truncated UTF-8", "{\"a\":\"\xe2\x82\"}", ""},
		{"invalid UTF-8 in a name", "{\"\xff\":1}", ""},
		{"a raw NUL", "{\"a\":\"\x00\"}", ""},
		{"truncated", `{"a":"b"`, ""},
		{"two values", `{"a":1}{"a":2}`, ""},
		{"trailing garbage", `{"a":1} x`, ""},
		{"trailing comma", `{"a":1,}`, ""},
		{"missing colon", `{"a" 1}`, ""},
		{"bad escape", `{"a":"\x"}`, ""},
		{"short escape", `{"a":"\u12"}`, ""},
		{"single quotes", `{'a':1}`, ""},
		{"NaN", `{"a":NaN}`, ""},
		{"leading zero", `{"a":01}`, ""},
		{"plus sign", `{"a":+1}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkStrict([]byte(tc.body))
			if tc.field == "-" {
				if err != nil {
					t.Fatalf("refused: %v (field %q)", err.Message, err.Field)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Status != http.StatusBadRequest || err.Message == "" {
				t.Fatalf("error = %+v, want 400 with a message", err)
			}
			if err.Field != tc.field {
				t.Fatalf("field = %q, want %q (%s)", err.Field, tc.field, err.Message)
			}
		})
	}
}

// members is "{" and n members "m<first+i>":i, then extra: an object left
// open for the caller to close.
func members(first, n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"m%d":%d`, first+i, i)
	}
	b.WriteString(extra)
	return b.String()
}

// TestCheckStrictKeepsWhatWasSent: whatever checkStrict accepts decodes to
// what was sent. Each string, re-encoded and decoded again, is itself, and
// each number, re-encoded, has the value of its literal.
func TestCheckStrictKeepsWhatWasSent(t *testing.T) {
	for _, body := range []string{
		`{"a":"\ud83d\udd11 é \u00e9","b":[0.1,1e20,5e-324,123456789012345680000],"c":{"d":-1.5}}`,
		`{"x":1.7976931348623157e308,"y":-2.2250738585072014e-308}`,
	} {
		if err := checkStrict([]byte(body)); err != nil {
			t.Fatalf("%s refused: %s", body, err.Message)
		}
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(v)
		var w any
		if err := json.Unmarshal(again, &w); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("%s does not survive a round trip: %s", body, again)
		}
		if err := checkStrict(again); err != nil {
			t.Fatalf("the re-encoding %s is refused: %s", again, err.Message)
		}
	}
}

func TestExactNumber(t *testing.T) {
	for lit, want := range map[string]bool{
		"0": true, "-1": true, "0.1": true, "1e2": true, "1E-2": true, "100000000000000000000": true,
		"1.7976931348623157e308": true, "4.9406564584124654e-324": false, "5e-324": true,
		"1e309": false, "1e-400": false, "-0": false, "-0.0": false, "0.0": true, "0e10": true,
		"18446744073709551616": false, "18446744073709551615": false, "9007199254740992": true,
		"9007199254740993": false, "3.141592653589793": true, "3.1415926535897932": false,
	} {
		if got := exactNumber(lit); got != want {
			t.Errorf("exactNumber(%s) = %v, want %v", lit, got, want)
		}
	}
}

// TestDecodeObjectStrict: DecodeObject applies the rules, with 400 and the
// member at fault, after the checks of size and type it always made.
func TestDecodeObjectStrict(t *testing.T) {
	decode := func(body string, header ...string) (map[string]json.RawMessage, error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return DecodeObject(httptest.NewRecorder(), r)
	}
	obj, err := decode(` {"displayName":"é\u00e9","n":1} `)
	if err != nil || string(obj["displayName"]) != `"é\u00e9"` || string(obj["n"]) != "1" {
		t.Fatalf("valid body: %v, %v", obj, err)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
		value      bool // a value that cannot be kept, in well-formed JSON
	}{
		{"invalid UTF-8", "{\"displayName\":\"a\xffb\"}", 400, "", false},
		{"lone surrogate", `{"displayName":"\ud800"}`, 400, "displayName", false},
		{"duplicate", `{"displayName":"a","displayName":"b"}`, 400, "displayName", false},
		{"duplicate in an ignored member", `{"displayName":"a","x":{"y":1,"y":2}}`, 400, "x.y", false},
		{"U+0000", `{"displayName":"a\u0000"}`, 400, "displayName", true},
		{"1e-400", `{"m":{"n":[1e-400]}}`, 400, "m.n.0", true},
		{"deep", `{"a":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`, 400, strings.TrimSuffix("a."+strings.Repeat("0.", MaxDepth-1), "."), false},
		{"1 MB", `{"displayName":"` + strings.Repeat("x", 1_000_000) + `"}`, 413, "", false},
		{"array", `[]`, 400, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(tc.body)
			be, ok := err.(*BodyError)
			if !ok || be.Status != tc.status || be.Field != tc.field || be.Message == "" || be.Value != tc.value {
				t.Fatalf("error = %#v, want %d with field %q, value %v", err, tc.status, tc.field, tc.value)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	params := []Field{{Name: "limit", Type: Integer}, {Name: "app", Type: String, Repeatable: true}}
	q, err := ParseQuery("limit=5&app=a&app=b&filter=id:a;b&other=1&other=2&sp=a+b%20c", params)
	if err != nil {
		t.Fatal(err.Message)
	}
	if q.Get("limit") != "5" || len(q["app"]) != 2 || q.Get("filter") != "id:a;b" || len(q["other"]) != 2 || q.Get("sp") != "a b c" {
		t.Fatalf("values = %v", q)
	}
	for raw, param := range map[string]string{
		"limit=1&limit=2": "limit",
		"limit=%zz":       "limit",
		"limit=%":         "limit",
		"%zz=1":           "%zz",
		"limit=%ff":       "limit",
		"limit=%00":       "limit",
		"x=%C0%AF":        "x",
	} {
		if _, err := ParseQuery(raw, params); err == nil || err.Param != param || err.Message == "" {
			t.Errorf("ParseQuery(%q) = %v, want an error on %q", raw, err, param)
		}
	}
	// WithQuery gives a handler exactly what was read, ";" included.
	r := httptest.NewRequest("GET", "/x?filter=id:a;b", nil)
	r2 := WithQuery(r, q)
	if got := r2.URL.Query(); got.Get("filter") != "id:a;b" || got.Get("sp") != "a b c" {
		t.Fatalf("WithQuery: %v", got)
	}
	if r.URL.RawQuery != "filter=id:a;b" {
		t.Fatal("WithQuery changed the request it was given")
	}
}

func TestParseInt(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "1": 1, "100": 100, "-1": -1} {
		if got, ok := ParseInt(s, -10, 1000); !ok || got != want {
			t.Errorf("ParseInt(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "-", "-0", "+1", "01", "1.0", "1e2", "0x10", " 1", "1 ", "abc", "1001", "-11",
		"18446744073709551616", "99999999999999999999999", "1e400", "true"} {
		if got, ok := ParseInt(s, -10, 1000); ok {
			t.Errorf("ParseInt(%q) = %d, want refused", s, got)
		}
	}
}

// FuzzCheckStrict holds checkStrict's grammar to encoding/json's: what it
// accepts is valid JSON that decodes, and what it refuses as malformed is
// what encoding/json refuses too (it may refuse valid JSON only for one of
// its own rules, never as malformed).
func FuzzCheckStrict(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"a":"b\u00e9\ud83d\udd11","c":[1,2.5,-3e-2,{"d":null}],"e":true,"f":false}`,
		`{"a":1,"a":2}`, `{"a":"\ud800"}`, `{"a":1e400}`, `{"a":-0}`, `[[[]]]`, `"x"`, `1`, ` {"a" : [ ] } `,
		`{"a":01}`, `{"a":"\u0000"}`, "{\"a\":\"\xff\"}", `{"a":1}x`, `{"a":"\/\b\f\n\r\t"}`, `{"a":1.}`, `{"a":.5}`,
		`{"\u0061":1,"a":2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkStrict(body)
		valid := json.Valid(body)
		if err == nil {
			var v any
			if !valid || json.Unmarshal(body, &v) != nil {
				t.Fatalf("accepted %q, which encoding/json refuses", body)
			}
			return
		}
		malformed := strings.HasPrefix(err.Message, "Request body is not valid JSON") ||
			strings.HasPrefix(err.Message, "Request body holds more than one JSON value")
		if malformed && valid {
			t.Fatalf("refused %q as malformed (%s), which encoding/json accepts", body, err.Message)
		}
	})
}
