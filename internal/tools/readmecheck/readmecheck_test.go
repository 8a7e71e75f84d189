package main

import (
	"os"
	"strings"
	"testing"
)

const sample = "# Doc\n" +
	"\n" +
	"<!-- readme: background -->\n" +
	"```sh\n" +
	"go run ./cmd/latchkey serve\n" +
	"```\n" +
	"\n" +
	"A complete script, `hello.mjs` (`npm install\n" +
	"jsonwebtoken`, then `TOKEN=$SECRET node hello.mjs`):\n" +
	"\n" +
	"```js\n" +
	"console.log(process.env.TOKEN);\n" +
	"```\n" +
	"\n" +
	"- a list item with its own block:\n" +
	"\n" +
	"  ```json\n" +
	"  {\"a\": 1}\n" +
	"  ```\n" +
	"\n" +
	"<!-- readme: skip needs Docker -->\n" +
	"\n" +
	"~~~sh\n" +
	"docker build .\n" +
	"~~~\n" +
	"\n" +
	"```go\n" +
	"x := sdk.New(url, key)\n" +
	"```\n" +
	"\n" +
	"```go\n" +
	"package main\n" +
	"\n" +
	"func main() {}\n" +
	"```\n" +
	"\n" +
	"```yaml\n" +
	"a: 1\n" +
	"```\n" +
	"\n" +
	"```\n" +
	"no info string\n" +
	"```\n"

func TestExtractAndClassify(t *testing.T) {
	blocks, err := Extract("DOC.md", sample)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		info   string
		action Action
	}{
		{4, "sh", ActBackground},
		{11, "js", ActScript},
		{17, "json", ActJSON},
		{23, "sh", ActSkip},
		{27, "go", ActGoFragment},
		{31, "go", ActGoProgram},
		{37, "yaml", ActUnknown},
		{41, "", ActUnknown},
	}
	if len(blocks) != len(want) {
		t.Fatalf("got %d blocks, want %d: %+v", len(blocks), len(want), blocks)
	}
	for i, w := range want {
		p := Classify(blocks[i])
		if p.Line != w.line || p.Info != w.info || p.Action != w.action {
			t.Errorf("block %d: got line %d, info %q, %s; want line %d, info %q, %s (reason %q)",
				i, p.Line, p.Info, p.Action, w.line, w.info, w.action, p.Reason)
		}
	}

	bg := Classify(blocks[0])
	if bg.WaitURL != DefaultWaitURL || bg.Text != "go run ./cmd/latchkey serve\n" {
		t.Errorf("background block: %+v", bg)
	}
	js := Classify(blocks[1])
	if js.ScriptFile != "hello.mjs" || js.ScriptCommand != "TOKEN=$SECRET node hello.mjs" ||
		len(js.Packages) != 1 || js.Packages[0] != "jsonwebtoken" {
		t.Errorf("script: file %q, command %q, packages %q", js.ScriptFile, js.ScriptCommand, js.Packages)
	}
	if blocks[2].Text != "{\"a\": 1}\n" {
		t.Errorf("an indented block keeps its indentation: %q", blocks[2].Text)
	}
	if p := Classify(blocks[3]); p.Reason != "needs Docker" {
		t.Errorf("skip reason: %q", p.Reason)
	}
}

// An unknown block fails the run; so does a marker that would silently
// change nothing.
func TestUnknownBlocksFail(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"no info string", "```\nls\n```\n", "without an info string"},
		{"unknown language", "```yaml\na: 1\n```\n", `"yaml" block`},
		{"script with no command", "Some code:\n\n```js\nconsole.log(1)\n```\n", "no `node FILE` command"},
		{"skip without a reason", "<!-- readme: skip -->\n```sh\nls\n```\n", "skip needs a reason"},
		{"background on a non-shell block", "<!-- readme: background -->\n```js\n1\n```\n", "are for sh blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := Extract("DOC.md", tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			p := Classify(blocks[0])
			if p.Action != ActUnknown || !strings.Contains(p.Reason, tc.want) {
				t.Errorf("got %s (%q), want a failure saying %q", p.Action, p.Reason, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown marker", "<!-- readme: backgroud -->\n```sh\nls\n```\n", "DOC.md:1: unknown marker"},
		{"marker not before a block", "<!-- readme: output -->\ntext\n", "DOC.md:1: marker \"output\" is not followed"},
		{"marker inside a line", "text <!-- readme: output -->\n```sh\nls\n```\n", "DOC.md:1: a readme: marker must be"},
		{"unclosed block", "```sh\nls\n", "DOC.md:1: code block never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Extract("DOC.md", tc.doc); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// The README itself: every block is something the runner knows.
func TestREADMEBlocksAreKnown(t *testing.T) {
	src, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Skip(err)
	}
	blocks, err := Extract("README.md", string(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if p := Classify(b); p.Action == ActUnknown {
			t.Errorf("%s: %s", p.Where(), p.Reason)
		}
	}
}

func TestInlineCode(t *testing.T) {
	got := InlineCode("run `npm install\n  a b`, then `X=1 node s.mjs`.")
	if len(got) != 2 || got[0] != "npm install a b" || got[1] != "X=1 node s.mjs" {
		t.Errorf("got %q", got)
	}
}
