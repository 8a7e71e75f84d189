package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Block is one fenced code block of a markdown document.
type Block struct {
	Doc     string   // the document's path, as given on the command line
	Line    int      // 1-based line of the opening fence
	Info    string   // the info string's first word, lower-cased: "sh", "js", "" for none
	Text    string   // the content, the fence's indentation removed; ends in a newline unless empty
	Markers []Marker // the <!-- readme: … --> comments just above the fence
	Prose   string   // the document's text between the previous block (or its start) and this one
}

// Where is the block's place in its document, as editors and CI logs
// understand it: README.md:51.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.Doc, b.Line) }

// Marker is a comment that tells the runner how to treat the next block:
//
//	<!-- readme: KEYWORD [ARGUMENT…] -->
//
// alone on its line (indented like the block, if it is in a list), on the
// line above the opening fence or separated from it by blank lines only.
// Rendered markdown does not show it.
type Marker struct {
	Line    int
	Keyword string
	Arg     string
}

// Marker keywords. A marker with any other keyword is an error, so that a
// misspelt one cannot quietly change nothing.
const (
	// background: a shell block that starts a server. It runs in the
	// background of the document's shell session, and the runner waits
	// until the URL given (default http://127.0.0.1:8080/healthz) answers
	// 200 before it goes on. A server already started by an earlier
	// background block that waits on the same URL is stopped first, as a
	// reader would stop it. Every background server is stopped at the end.
	MarkBackground = "background"
	// stopped: a shell block that must run while no background server
	// runs (a restore, say). The servers are stopped before it and started
	// again, with the block that started them, after it.
	MarkStopped = "stopped"
	// skip REASON: a block that cannot run here. The reason is required and
	// printed in the summary.
	MarkSkip = "skip"
	// output: a block that shows output or an illustration, not something
	// to run or load. It is listed as such, and not checked.
	MarkOutput = "output"
	// allow-http-errors: a shell block whose curl commands are meant to get
	// 4xx or 5xx answers. Without it, any such answer fails the block.
	MarkAllowHTTPErrors = "allow-http-errors"
)

var knownMarkers = map[string]bool{
	MarkBackground: true, MarkStopped: true, MarkSkip: true, MarkOutput: true, MarkAllowHTTPErrors: true,
}

var (
	markerLine     = regexp.MustCompile(`^\s*<!--\s*readme:\s*(.*?)\s*-->\s*$`)
	markerAnywhere = regexp.MustCompile(`<!--\s*readme:`)
	openFence      = regexp.MustCompile("^( *)(`{3,}|~{3,})(.*)$")
)

// Extract returns the fenced code blocks of a markdown document, in order,
// each with the markers above it and the prose before it. It fails on
// what would make a block escape the check or be read wrongly: a fence
// never closed, a malformed or unknown marker, or a marker that is not
// followed by a block.
func Extract(doc string, src string) ([]Block, error) {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var (
		blocks  []Block
		pending []Marker
		prose   strings.Builder
		errs    []string
	)
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s", doc, line, fmt.Sprintf(format, args...)))
	}
	for i := 0; i < len(lines); i++ {
		line, n := lines[i], i+1
		if m := markerLine.FindStringSubmatch(line); m != nil {
			keyword, arg, _ := strings.Cut(m[1], " ")
			keyword = strings.TrimSuffix(keyword, ":")
			arg = strings.TrimSpace(arg)
			if !knownMarkers[keyword] {
				fail(n, "unknown marker %q: the runner knows background, stopped, skip REASON, output and allow-http-errors", keyword)
			}
			pending = append(pending, Marker{Line: n, Keyword: keyword, Arg: arg})
			continue
		}
		if markerAnywhere.MatchString(line) {
			fail(n, "a readme: marker must be a comment alone on its line: <!-- readme: KEYWORD [ARGUMENT] -->")
			continue
		}
		m := openFence.FindStringSubmatch(line)
		if m == nil || (m[2][0] == '`' && strings.Contains(m[3], "`")) {
			if strings.TrimSpace(line) != "" && len(pending) > 0 {
				fail(pending[0].Line, "marker %q is not followed by a code block", pending[0].Keyword)
				pending = nil
			}
			prose.WriteString(line)
			prose.WriteByte('\n')
			continue
		}
		indent, fence := len(m[1]), m[2]
		info := strings.Fields(m[3])
		b := Block{Doc: doc, Line: n, Markers: pending, Prose: prose.String()}
		if len(info) > 0 {
			b.Info = strings.ToLower(info[0])
		}
		pending = nil
		prose.Reset()
		var body strings.Builder
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " "); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]+" \t") == "" {
				closed = true
				break
			}
			// Remove the fence's indentation, and no more (CommonMark).
			for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
				l = l[1:]
			}
			body.WriteString(l)
			body.WriteByte('\n')
		}
		if !closed {
			fail(n, "code block never closed")
		}
		b.Text = body.String()
		blocks = append(blocks, b)
	}
	if len(pending) > 0 {
		fail(pending[0].Line, "marker %q is not followed by a code block", pending[0].Keyword)
	}
	if len(errs) > 0 {
		return blocks, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return blocks, nil
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// InlineCode returns the inline code spans of a stretch of prose, in
// order, each with its line breaks and runs of spaces made one space, as
// a reader sees them rendered.
func InlineCode(prose string) []string {
	var spans []string
	for _, m := range inlineCode.FindAllStringSubmatch(prose, -1) {
		spans = append(spans, strings.Join(strings.Fields(m[1]), " "))
	}
	return spans
}
