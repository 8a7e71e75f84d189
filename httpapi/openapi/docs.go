package openapi

import (
	"bytes"
	_ "embed"
	"html"
	"html/template"
	"regexp"
	"strings"
)

//go:embed docs.html
var pageTemplate string

var page = template.Must(template.New("docs").Parse(pageTemplate))

// The page's view of the document.
type (
	docsView struct {
		Title, Version, Summary string
		Description             template.HTML
		Stylesheet              string
		Servers                 []string
		Security                []securityView
		Tags                    []tagView
		Responses               []responseView
		Schemas                 []schemaView
	}
	securityView struct {
		Name, Kind  string
		Description template.HTML
	}
	tagView struct {
		Name        string
		Description template.HTML
		Operations  []operationView
	}
	operationView struct {
		Anchor, Method, Path, Summary, OperationID, Permission string
		Description                                            template.HTML
		Public                                                 bool
		Parameters                                             []fieldView
		Body                                                   []mediaView
		BodyRequired                                           bool
		Responses                                              []responseView
	}
	// fieldView is a row of a table: a parameter, a header or a property.
	fieldView struct {
		Name, In    string
		Depth       int
		Required    bool
		Type        template.HTML
		Description template.HTML
	}
	mediaView struct {
		MediaType string
		Schema    template.HTML
	}
	// responseView is an operation's response, or (with Name) one of the
	// document's shared responses, which operations link to by Ref.
	responseView struct {
		Status, Name, Ref string
		Description       template.HTML
		Headers           []fieldView
		Bodies            []mediaView
	}
	schemaView struct {
		Name        string
		Description template.HTML
		Type        template.HTML
		Properties  []fieldView
	}
)

var methods = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

// renderPage renders the reference page of doc; stylesheet is the URL of
// its stylesheet.
func renderPage(doc *node, stylesheet string) []byte {
	info := doc.get("info")
	v := docsView{
		Title: info.str("title"), Version: info.str("version"), Summary: info.str("summary"),
		Description: prose(info.str("description")), Stylesheet: stylesheet,
	}
	for _, s := range items(doc.get("servers")) {
		v.Servers = append(v.Servers, s.str("url"))
	}
	schemes := doc.get("components").get("securitySchemes")
	for i, name := range keys(schemes) {
		s := schemes.vals[i]
		kind := s.str("type")
		switch kind {
		case "http":
			kind = "HTTP " + s.str("scheme")
		case "apiKey":
			kind = "header " + s.str("name")
		}
		v.Security = append(v.Security, securityView{Name: name, Kind: kind, Description: prose(s.str("description"))})
	}
	tags := map[string]int{}
	for _, t := range items(doc.get("tags")) {
		tags[t.str("name")] = len(v.Tags)
		v.Tags = append(v.Tags, tagView{Name: t.str("name"), Description: prose(t.str("description"))})
	}
	paths := doc.get("paths")
	for i, path := range keys(paths) {
		item := paths.vals[i]
		for _, m := range methods {
			op := item.get(m)
			if op == nil {
				continue
			}
			ov := operation(doc, path, m, item, op)
			tag := "other"
			if t := items(op.get("tags")); len(t) > 0 {
				tag = t[0].text
			}
			idx, ok := tags[tag]
			if !ok {
				idx, tags[tag] = len(v.Tags), len(v.Tags)
				v.Tags = append(v.Tags, tagView{Name: tag})
			}
			v.Tags[idx].Operations = append(v.Tags[idx].Operations, ov)
		}
	}
	shared := doc.get("components").get("responses")
	for i, name := range keys(shared) {
		rv := response(doc, shared.vals[i])
		rv.Name = name
		v.Responses = append(v.Responses, rv)
	}
	schemas := doc.get("components").get("schemas")
	for i, name := range keys(schemas) {
		s := schemas.vals[i]
		sv := schemaView{Name: name, Description: prose(s.str("description")), Type: typeHTML(s)}
		sv.Properties = properties(doc, s, "", 0)
		v.Schemas = append(v.Schemas, sv)
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		panic("openapi: rendering /docs: " + err.Error()) // the page's data is the embedded document: a bug, caught by the tests
	}
	return buf.Bytes()
}

func operation(doc *node, path, method string, item, op *node) operationView {
	ov := operationView{
		Anchor: "op-" + op.str("operationId"), Method: strings.ToUpper(method), Path: path,
		Summary: op.str("summary"), OperationID: op.str("operationId"), Permission: op.str("x-latchkey-operation"),
		Description: prose(op.str("description")),
	}
	if sec := op.get("security"); sec != nil && len(sec.items) == 0 {
		ov.Public = true
	}
	for _, p := range append(items(item.get("parameters")), items(op.get("parameters"))...) {
		p = resolve(doc, p)
		ov.Parameters = append(ov.Parameters, fieldView{
			Name: p.str("name"), In: p.str("in"), Required: p.get("required") != nil && p.get("required").text == "true",
			Type: typeHTML(p.get("schema")), Description: prose(p.str("description")),
		})
	}
	if body := resolve(doc, op.get("requestBody")); body != nil {
		ov.BodyRequired = body.get("required") != nil && body.get("required").text == "true"
		ov.Body = media(body.get("content"))
	}
	responses := op.get("responses")
	for i, status := range keys(responses) {
		r := responses.vals[i]
		if ref := r.str("$ref"); strings.HasPrefix(ref, "#/components/responses/") {
			ov.Responses = append(ov.Responses, responseView{Status: status, Ref: strings.TrimPrefix(ref, "#/components/responses/"),
				Description: prose(resolve(doc, r).str("description"))})
			continue
		}
		rv := response(doc, r)
		rv.Status = status
		ov.Responses = append(ov.Responses, rv)
	}
	return ov
}

// response describes a response: its description, headers and bodies.
func response(doc, r *node) responseView {
	r = resolve(doc, r)
	rv := responseView{Description: prose(r.str("description")), Bodies: media(r.get("content"))}
	if note := r.str("x-latchkey-empty-body"); note != "" {
		rv.Description += prose(note)
	}
	headers := r.get("headers")
	for j, name := range keys(headers) {
		h := resolve(doc, headers.vals[j])
		rv.Headers = append(rv.Headers, fieldView{
			Name: name, Required: h.get("required") != nil && h.get("required").text == "true",
			Type: typeHTML(h.get("schema")), Description: prose(h.str("description")),
		})
	}
	return rv
}

func media(content *node) []mediaView {
	var out []mediaView
	for i, mt := range keys(content) {
		out = append(out, mediaView{MediaType: mt, Schema: typeHTML(content.vals[i].get("schema"))})
	}
	return out
}

// properties lists the properties of schema s as table rows, inline
// objects (and arrays of them) expanded beneath their property, named by
// dotted path. Properties reached through allOf are listed with the
// schema's own; $refs are links, not expanded.
func properties(doc, s *node, prefix string, depth int) []fieldView {
	if s == nil || depth > 4 || s.get("$ref") != nil {
		return nil
	}
	required := map[string]bool{}
	for _, r := range items(s.get("required")) {
		required[r.text] = true
	}
	var rows []fieldView
	props := s.get("properties")
	for i, name := range keys(props) {
		p := props.vals[i]
		rows = append(rows, fieldView{Name: prefix + name, Depth: depth, Required: required[name],
			Type: typeHTML(p), Description: prose(p.str("description"))})
		inner := p
		suffix := "."
		if p.get("items") != nil && p.get("properties") == nil {
			inner, suffix = p.get("items"), "[]."
		}
		if inner.get("properties") != nil {
			rows = append(rows, properties(doc, inner, prefix+name+suffix, depth+1)...)
		}
	}
	return rows
}

// resolve follows a $ref to a component (parameters, responses, headers,
// request bodies), or returns n.
func resolve(doc, n *node) *node {
	for i := 0; i < 10 && n != nil; i++ {
		ref := n.str("$ref")
		if !strings.HasPrefix(ref, "#/") {
			return n
		}
		target := doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			target = target.get(part)
		}
		n = target
	}
	return n
}

// typeHTML describes a schema in a few words: its type, format and bounds,
// with links to the named schemas it refers to.
func typeHTML(s *node) template.HTML {
	if s == nil {
		return ""
	}
	if ref := s.str("$ref"); ref != "" {
		name := ref[strings.LastIndex(ref, "/")+1:]
		return template.HTML(`<a href="#schema-` + html.EscapeString(name) + `">` + html.EscapeString(name) + `</a>`)
	}
	var parts []string
	if c := s.get("const"); c != nil {
		parts = append(parts, "<code>"+html.EscapeString(literal(c))+"</code>")
	}
	if e := s.get("enum"); e != nil {
		var vals []string
		for _, it := range e.items {
			vals = append(vals, "<code>"+html.EscapeString(literal(it))+"</code>")
		}
		parts = append(parts, "one of "+strings.Join(vals, ", "))
	}
	for _, comb := range []struct{ key, sep string }{{"oneOf", " | "}, {"anyOf", " | "}, {"allOf", " and "}} {
		if alts := s.get(comb.key); alts != nil {
			var alt []string
			for _, a := range alts.items {
				if t := typeHTML(a); t != "" {
					alt = append(alt, string(t))
				}
			}
			if len(alt) > 0 {
				parts = append(parts, strings.Join(alt, comb.sep))
			}
		}
	}
	if len(parts) == 0 || s.get("type") != nil {
		var types []string
		t := s.get("type")
		switch {
		case t == nil && s.get("properties") != nil:
			types = []string{"object"}
		case t != nil && t.kind == kindString:
			types = []string{t.text}
		case t != nil:
			for _, it := range t.items {
				types = append(types, it.text)
			}
		}
		for i, name := range types {
			if name == "array" && s.get("items") != nil {
				types[i] = "array of " + string(typeHTML(s.get("items")))
				continue
			}
			types[i] = html.EscapeString(name)
		}
		if len(types) > 0 {
			parts = append([]string{strings.Join(types, " | ")}, parts...)
		}
	}
	if len(parts) == 0 {
		parts = []string{"any"}
	}
	out := strings.Join(parts, ", ")
	if b := bounds(s); b != "" {
		out += ` <span class="bounds">` + html.EscapeString(b) + `</span>`
	}
	return template.HTML(out)
}

// bounds describes a schema's format and limits.
func bounds(s *node) string {
	var b []string
	if f := s.str("format"); f != "" {
		b = append(b, f)
	}
	pair := func(lo, hi, unit string) {
		l, h := s.get(lo), s.get(hi)
		switch {
		case l != nil && h != nil:
			b = append(b, l.text+"–"+h.text+unit)
		case l != nil:
			b = append(b, "≥ "+l.text+unit)
		case h != nil:
			b = append(b, "≤ "+h.text+unit)
		}
	}
	pair("minLength", "maxLength", " chars")
	pair("minimum", "maximum", "")
	pair("minItems", "maxItems", " items")
	if p := s.str("pattern"); p != "" {
		b = append(b, "pattern "+p)
	}
	if d := s.get("default"); d != nil {
		b = append(b, "default "+literal(d))
	}
	if s.get("readOnly") != nil {
		b = append(b, "read-only, ignored")
	}
	return strings.Join(b, "; ")
}

// literal writes a scalar as JSON would.
func literal(n *node) string {
	var buf bytes.Buffer
	n.writeJSON(&buf, "")
	return buf.String()
}

func keys(n *node) []string {
	if n == nil || n.kind != kindObject {
		return nil
	}
	return n.keys
}

func items(n *node) []*node {
	if n == nil || n.kind != kindArray {
		return nil
	}
	return n.items
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	strong   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// prose renders a description: paragraphs split by blank lines, "- " lines
// as a list, `code` and **bold**. The text is escaped first, so the markup
// added is the only markup there is.
func prose(text string) template.HTML {
	text = strings.TrimSpace(text)
	if text == "" {
		return ""
	}
	var out strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		lines := strings.Split(strings.TrimSpace(para), "\n")
		if strings.HasPrefix(lines[0], "- ") {
			out.WriteString("<ul>")
			var item []string
			flush := func() {
				if len(item) > 0 {
					out.WriteString("<li>" + inline(strings.Join(item, " ")) + "</li>")
					item = nil
				}
			}
			for _, l := range lines {
				l = strings.TrimSpace(l)
				if rest, ok := strings.CutPrefix(l, "- "); ok {
					flush()
					l = rest
				}
				item = append(item, l)
			}
			flush()
			out.WriteString("</ul>")
			continue
		}
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		out.WriteString("<p>" + inline(strings.Join(lines, " ")) + "</p>")
	}
	return template.HTML(out.String())
}

func inline(s string) string {
	s = html.EscapeString(s)
	s = codeSpan.ReplaceAllString(s, "<code>$1</code>")
	return strong.ReplaceAllString(s, "<strong>$1</strong>")
}
