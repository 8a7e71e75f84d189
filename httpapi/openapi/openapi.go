// Package openapi is the description of Latchkey's HTTP API: one OpenAPI 3.1
// document (JSON Schema 2020-12) covering all three surfaces, the Sunshine
// Conversations v2 key API, Rebilly's api-keys and the native /v1 API, plus
// the server's health routes.
//
// The document is written by hand in openapi.yaml, embedded in the binary,
// and served two ways without credentials: as JSON at GET /openapi.json
// (cacheable, with an ETag), and as a server-rendered reference page at GET
// /docs (html/template, one stylesheet from this server, no script), under
// the same strict Content-Security-Policy as the dashboard.
//
// Two tests keep it true. The package's own tests check that every route in
// every surface's route table is documented, with its path parameters and
// operation id, and that every documented operation is served by a real
// server. The end-to-end suite validates every response it provokes against
// the document (tests/e2e/apicheck).
package openapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

//go:embed openapi.yaml
var source []byte

// parsed is the document as a tree, read once.
var parsed = sync.OnceValues(func() (*node, error) {
	doc, err := parseYAML(source)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
})

// tree returns the document. The file is embedded, so a failure to read it
// is a bug in this package, which its tests catch: it panics.
func tree() *node {
	doc, err := parsed()
	if err != nil {
		panic(err)
	}
	return doc
}

// JSON returns the document as JSON. With serverURL not "", the document's
// servers list that URL alone (a server's public URL); otherwise the
// relative "/", which clients resolve against the URL they fetched the
// document from.
func JSON(serverURL string) []byte {
	doc := tree()
	if serverURL != "" {
		doc = doc.clone()
		server := &node{kind: kindObject}
		server.set("url", &node{kind: kindString, text: serverURL})
		server.set("description", &node{kind: kindString, text: "This server."})
		doc.set("servers", &node{kind: kindArray, items: []*node{server}})
	}
	var pretty, compact bytes.Buffer
	doc.writeJSON(&pretty, "")
	// Compact: half the bytes of the indented form. Readers have /docs,
	// and jq.
	if err := json.Compact(&compact, pretty.Bytes()); err != nil {
		panic("openapi: " + err.Error()) // writeJSON writes valid JSON
	}
	compact.WriteByte('\n')
	return compact.Bytes()
}
