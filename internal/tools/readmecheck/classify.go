package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Action is what the runner does with a block.
type Action int

const (
	ActUnknown    Action = iota // neither run nor excused: fails the check
	ActShell                    // run in the document's bash session
	ActBackground               // started in the background of the session, and waited on
	ActScript                   // a complete script: written to the file the text names, run as the text says
	ActGoProgram                // a complete Go program: built and vetted in a scratch module
	ActGoFragment               // Go statements or declarations: type-checked in a scratch module
	ActTOML                     // a config file: loaded by the real binary (latchkey config print --config)
	ActNginx                    // an nginx snippet: checked by nginx -t inside a minimal configuration
	ActJSON                     // a JSON document: must parse
	ActOutput                   // output or an illustration: listed, not checked
	ActSkip                     // cannot run here: excused, with the reason printed
)

func (a Action) String() string {
	switch a {
	case ActShell:
		return "shell"
	case ActBackground:
		return "background"
	case ActScript:
		return "script"
	case ActGoProgram:
		return "go program"
	case ActGoFragment:
		return "go fragment"
	case ActTOML:
		return "toml config"
	case ActNginx:
		return "nginx"
	case ActJSON:
		return "json"
	case ActOutput:
		return "output"
	case ActSkip:
		return "excused"
	}
	return "unknown"
}

// Plan is a block and what the runner does with it.
type Plan struct {
	Block
	Action          Action
	Reason          string // why it is excused (ActSkip), or why it fails (ActUnknown)
	Stopped         bool   // run while no background server runs
	AllowHTTPErrors bool   // curl answers of 4xx and 5xx do not fail it
	WaitURL         string // ActBackground: ready once this answers 200
	ScriptFile      string // ActScript: the file the text names
	ScriptCommand   string // ActScript: the command the text gives, run in the session
	Packages        []string
}

// DefaultWaitURL is where a background block's server is ready: the
// address every example in the README uses.
const DefaultWaitURL = "http://127.0.0.1:8080/healthz"

var (
	// A command the prose gives for a script: node FILE, after
	// environment assignments (KEY_ID=$ID … node sunshine.mjs).
	nodeCommand = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*node\s+(\S+\.(?:mjs|cjs|js))$`)
	npmInstall  = regexp.MustCompile(`^npm (?:install|i)\s+(.+)$`)
	goPackage   = regexp.MustCompile(`(?m)^package\s+\w+`)
)

// Classify decides what the runner does with a block, from its info
// string, its markers and, for scripts, the prose before it.
func Classify(b Block) Plan {
	p := Plan{Block: b}
	var skip, output, background, stopped bool
	for _, m := range b.Markers {
		switch m.Keyword {
		case MarkSkip:
			skip, p.Reason = true, m.Arg
		case MarkOutput:
			output = true
		case MarkBackground:
			background, p.WaitURL = true, m.Arg
		case MarkStopped:
			stopped = true
		case MarkAllowHTTPErrors:
			p.AllowHTTPErrors = true
		}
	}
	shell := b.Info == "sh" || b.Info == "bash" || b.Info == "shell"
	switch {
	case skip && p.Reason == "":
		return unknown(p, "skip needs a reason: <!-- readme: skip REASON -->")
	case skip && (output || background || stopped):
		return unknown(p, "skip cannot be combined with other markers")
	case skip:
		p.Action = ActSkip
		return p
	case output && (background || stopped):
		return unknown(p, "output cannot be combined with background or stopped")
	case output:
		p.Action = ActOutput
		return p
	case (background || stopped || p.AllowHTTPErrors) && !shell:
		return unknown(p, "background, stopped and allow-http-errors are for sh blocks")
	case background && stopped:
		return unknown(p, "a block is background or stopped, not both")
	}

	switch b.Info {
	case "sh", "bash", "shell":
		p.Action, p.Stopped = ActShell, stopped
		if background {
			p.Action = ActBackground
			if p.WaitURL == "" {
				p.WaitURL = DefaultWaitURL
			}
			if !strings.HasPrefix(p.WaitURL, "http://") {
				return unknown(p, "background takes an http:// URL to wait on, or none for "+DefaultWaitURL)
			}
		}
	case "js", "javascript", "mjs":
		// A complete script is one the text says how to run: the last
		// inline code span before it that is "node FILE", after
		// environment assignments. The packages of an "npm install" span
		// must be among those tests/e2e pins.
		for _, span := range InlineCode(b.Prose) {
			if m := nodeCommand.FindStringSubmatch(span); m != nil {
				p.ScriptCommand, p.ScriptFile = span, m[1]
			}
			if m := npmInstall.FindStringSubmatch(span); m != nil {
				p.Packages = append(p.Packages, strings.Fields(m[1])...)
			}
		}
		if p.ScriptCommand == "" {
			return unknown(p, "a js block the text gives no `node FILE` command for: say how to run it, "+
				"or mark it <!-- readme: skip REASON --> or <!-- readme: output -->")
		}
		if strings.Contains(p.ScriptFile, "/") {
			return unknown(p, "the script's file must be a plain name in the current directory: "+p.ScriptFile)
		}
		p.Action = ActScript
	case "go":
		p.Action = ActGoFragment
		if goPackage.MatchString(b.Text) {
			p.Action = ActGoProgram
		}
	case "toml":
		p.Action = ActTOML
	case "nginx":
		p.Action = ActNginx
	case "json":
		p.Action = ActJSON
	case "text", "txt", "output", "plaintext":
		p.Action = ActOutput
	case "":
		return unknown(p, "a block without an info string: say what it is (sh, js, text, …), or mark it")
	default:
		return unknown(p, fmt.Sprintf("the runner does not know how to check a %q block: "+
			"mark it <!-- readme: output --> or <!-- readme: skip REASON -->, or teach internal/tools/readmecheck", b.Info))
	}
	return p
}

func unknown(p Plan, reason string) Plan {
	p.Action, p.Reason = ActUnknown, reason
	return p
}

// packageName is an npm package's name without a version: jsonwebtoken@9
// is jsonwebtoken, @scope/name@1 is @scope/name.
func packageName(spec string) string {
	if i := strings.LastIndex(spec, "@"); i > 0 {
		return spec[:i]
	}
	return spec
}
