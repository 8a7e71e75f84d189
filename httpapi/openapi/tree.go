package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// node is one value of the document, as JSON sees it, with the members of
// objects kept in the order the YAML gives them (encoding/json's maps would
// sort them, and the reference page follows the file's order).
type node struct {
	kind kind
	// keys and vals are an object's members, in order.
	keys []string
	vals []*node
	// items are an array's.
	items []*node
	// text is a string's value, or a number's or a boolean's literal.
	text string
}

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// get returns the member named key of an object, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// str returns a string member's value, or "".
func (n *node) str(key string) string {
	if v := n.get(key); v != nil && v.kind == kindString {
		return v.text
	}
	return ""
}

// set replaces the value of an object's member key, or appends it.
func (n *node) set(key string, v *node) {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return
		}
	}
	n.keys, n.vals = append(n.keys, key), append(n.vals, v)
}

// clone copies n deeply enough that set on the copy leaves n as it was.
func (n *node) clone() *node {
	c := *n
	c.keys = append([]string(nil), n.keys...)
	c.vals = append([]*node(nil), n.vals...)
	return &c
}

// parseYAML reads a YAML document into a node tree. Anchors and aliases are
// resolved, and so are merge keys (<<: *anchor, or a list of them): the
// merged mapping's members come where the merge key stands, and members the
// mapping itself names win over them. Only what JSON can hold is taken: the
// scalars null, booleans, numbers and strings (timestamps are kept as
// strings), and keys that are scalars.
func parseYAML(src []byte) (*node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc, more yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || dec.Decode(&more) != io.EOF {
		return nil, fmt.Errorf("want one YAML document")
	}
	return convert(doc.Content[0], 0)
}

// maxDepth bounds the recursion, so that an alias cycle is an error rather
// than a crash.
const maxDepth = 100

func convert(y *yaml.Node, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested too deeply (an alias cycle?)", y.Line)
	}
	switch y.Kind {
	case yaml.AliasNode:
		return convert(y.Alias, depth+1)
	case yaml.SequenceNode:
		if y.ShortTag() != "!!seq" {
			return nil, fmt.Errorf("line %d: unsupported YAML tag %s", y.Line, y.ShortTag())
		}
		n := &node{kind: kindArray, items: []*node{}}
		for _, c := range y.Content {
			v, err := convert(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		if y.ShortTag() != "!!map" {
			return nil, fmt.Errorf("line %d: unsupported YAML tag %s", y.Line, y.ShortTag())
		}
		return convertMapping(y, depth)
	case yaml.ScalarNode:
		return convertScalar(y)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", y.Line)
}

func convertMapping(y *yaml.Node, depth int) (*node, error) {
	own := map[string]bool{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		if k := y.Content[i]; !isMerge(k) {
			if own[k.Value] {
				// Easy to write by hand (two "404" responses), and the
				// second would silently win.
				return nil, fmt.Errorf("line %d: %q is named twice in one mapping", k.Line, k.Value)
			}
			own[k.Value] = true
		}
	}
	n := &node{kind: kindObject}
	seen := map[string]bool{}
	add := func(key string, v *node) {
		if !seen[key] {
			seen[key] = true
			n.keys, n.vals = append(n.keys, key), append(n.vals, v)
		}
	}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if isMerge(k) {
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				m, err := convert(src, depth+1)
				if err != nil {
					return nil, err
				}
				if m.kind != kindObject {
					return nil, fmt.Errorf("line %d: a merge key needs a mapping", k.Line)
				}
				for j, mk := range m.keys {
					if !own[mk] {
						add(mk, m.vals[j])
					}
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
		}
		val, err := convert(v, depth+1)
		if err != nil {
			return nil, err
		}
		add(k.Value, val)
	}
	return n, nil
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

func convertScalar(y *yaml.Node) (*node, error) {
	switch y.ShortTag() {
	case "!!null":
		return &node{kind: kindNull}, nil
	case "!!bool":
		var b bool
		if err := y.Decode(&b); err != nil {
			return nil, err
		}
		return &node{kind: kindBool, text: strconv.FormatBool(b)}, nil
	case "!!int":
		var i int64
		if err := y.Decode(&i); err != nil {
			return nil, err
		}
		return &node{kind: kindNumber, text: strconv.FormatInt(i, 10)}, nil
	case "!!float":
		var f float64
		if err := y.Decode(&f); err != nil {
			return nil, err
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("line %d: JSON has no %v", y.Line, f)
		}
		b, _ := json.Marshal(f)
		return &node{kind: kindNumber, text: string(b)}, nil
	case "!!str", "!!timestamp", "!!binary":
		return &node{kind: kindString, text: y.Value}, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML tag %s", y.Line, y.ShortTag())
}

// writeJSON appends n to buf as JSON, indented with two spaces per level.
func (n *node) writeJSON(buf *bytes.Buffer, indent string) {
	switch n.kind {
	case kindNull:
		buf.WriteString("null")
	case kindBool, kindNumber:
		buf.WriteString(n.text)
	case kindString:
		writeString(buf, n.text)
	case kindArray:
		if len(n.items) == 0 {
			buf.WriteString("[]")
			return
		}
		buf.WriteString("[\n")
		for i, it := range n.items {
			buf.WriteString(indent + "  ")
			it.writeJSON(buf, indent+"  ")
			if i < len(n.items)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "]")
	case kindObject:
		if len(n.keys) == 0 {
			buf.WriteString("{}")
			return
		}
		buf.WriteString("{\n")
		for i, k := range n.keys {
			buf.WriteString(indent + "  ")
			writeString(buf, k)
			buf.WriteString(": ")
			n.vals[i].writeJSON(buf, indent+"  ")
			if i < len(n.keys)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "}")
	}
}

// writeString writes s as a JSON string, without escaping HTML characters
// (the document is JSON, not a page).
func writeString(buf *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
