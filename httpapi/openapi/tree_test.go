package openapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func toJSON(t *testing.T, src string) string {
	t.Helper()
	n, err := parseYAML([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n.writeJSON(&buf, "")
	var compact bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	return compact.String()
}

// TestParseYAML: the YAML the document uses becomes the JSON it means, in
// the file's order: scalars by their resolved type, anchors and aliases, and
// merge keys whose members the mapping itself overrides.
func TestParseYAML(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"order is kept", "b: 1\na: 2\nc: 3", `{"b":1,"a":2,"c":3}`},
		{"scalars", `s: text
q: "200"
i: 200
f: 1.5
b: true
n: null
nq: "null"
d: 2026-01-02
e: ""`, `{"s":"text","q":"200","i":200,"f":1.5,"b":true,"n":null,"nq":"null","d":"2026-01-02","e":""}`},
		{"integer keys are strings", "200: ok\n404: {}", `{"200":"ok","404":{}}`},
		{"empty collections", "a: []\nb: {}", `{"a":[],"b":{}}`},
		{"alias", "a: &x {k: 1}\nb: *x", `{"a":{"k":1},"b":{"k":1}}`},
		{"merge, overridden", "a: &x {k: 1, l: 2}\nb:\n  m: 0\n  <<: *x\n  l: 3", `{"a":{"k":1,"l":2},"b":{"m":0,"k":1,"l":3}}`},
		{"merge of several", "a: &x {k: 1}\nb: &y {k: 2, l: 2}\nc: {<<: [*x, *y]}", `{"a":{"k":1},"b":{"k":2,"l":2},"c":{"k":1,"l":2}}`},
		{"nested merge", "a: &x {k: 1}\nb: &y {<<: *x, l: 2}\nc: {<<: *y, m: 3}", `{"a":{"k":1},"b":{"k":1,"l":2},"c":{"k":1,"l":2,"m":3}}`},
		{"HTML characters are not escaped", "a: '<b>&'", `{"a":"<b>&"}`},
		{"block text", "a: |\n  one\n  two\n", `{"a":"one\ntwo\n"}`},
	} {
		if got := toJSON(t, tt.in); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseYAMLRefusesWhatJSONCannotHold(t *testing.T) {
	for _, in := range []string{
		"a: .inf",
		"[a, b]: 1",
		"a: !!set {x}",
		"a: 1\nb: [",
		"a: 1\n---\nb: 2",
		"a: 1\na: 2",
		"a: {<<: [1]}",
	} {
		if _, err := parseYAML([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestDocumentReads: the embedded document parses, and JSON serves it with
// the relative server or with the one given, leaving the tree as it was.
func TestDocumentReads(t *testing.T) {
	if _, err := parsed(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(JSON("https://keys.example.com/lk"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Servers) != 1 || doc.Servers[0].URL != "https://keys.example.com/lk" {
		t.Errorf("with a public URL: openapi %q, servers %+v", doc.OpenAPI, doc.Servers)
	}
	if err := json.Unmarshal(JSON(""), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("without: servers %+v, want the relative /", doc.Servers)
	}
	if strings.Contains(string(JSON("")), "<<") {
		t.Error("a merge key reached the JSON")
	}
}
