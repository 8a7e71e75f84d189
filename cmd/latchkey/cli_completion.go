package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Shell completion: "latchkey completion bash|zsh|fish" prints a script
// that completes every command and its flags (ids are not completed). The
// scripts are made from the command tree: the client commands' table, and
// the flags the server and admin commands print for -h, so that they follow
// the flag sets themselves.

// serverCommandPaths are the server and admin commands main dispatches.
var serverCommandPaths = []string{"serve", "bootstrap", "audit export", "rotate-master-key", "backup", "restore", "config print", "version"}

// compNode is one command path of the tree: the words that may follow it
// (subcommands), the values its arguments take, and its flags.
type compNode struct {
	subs    []string
	summary map[string]string // of each sub, where known
	args    []string
	flags   []compFlag
}

// compFlag is a flag as completion offers it.
type compFlag struct {
	name   string
	value  bool     // takes a value
	values []string // the values it takes, if a fixed few
	usage  string
}

// completionTree returns every command path ("" for latchkey itself, "keys
// create", …) and what follows it, in a stable order.
func completionTree(ctx context.Context) (map[string]*compNode, []string, error) {
	tree := map[string]*compNode{}
	var order []string
	node := func(path string) *compNode {
		if n, ok := tree[path]; ok {
			return n
		}
		n := &compNode{summary: map[string]string{}}
		tree[path] = n
		order = append(order, path)
		return n
	}
	addPath := func(path, summary string) *compNode {
		words := strings.Fields(path)
		for i := range words {
			parent, word := strings.Join(words[:i], " "), words[i]
			p := node(parent)
			if !slices.Contains(p.subs, word) {
				p.subs = append(p.subs, word)
			}
			if i == len(words)-1 && summary != "" {
				p.summary[word] = summary
			}
		}
		return node(path)
	}
	node("")
	summaries := serverSummaries()
	for _, path := range serverCommandPaths {
		n := addPath(path, summaries[path])
		flags, err := serverFlags(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		n.flags = flags
	}
	for _, g := range clientGroups {
		addPath(g.name, firstSentence(g.summary))
	}
	for _, cmd := range clientCommands() {
		n := addPath(cmd.path, firstSentence(cmd.summary))
		n.args = cmd.values[""]
		fs := flag.NewFlagSet(cmd.path, flag.ContinueOnError)
		cmd.declare(fs, &cli{})
		fs.VisitAll(func(f *flag.Flag) {
			b, isBool := f.Value.(interface{ IsBoolFlag() bool })
			n.flags = append(n.flags, compFlag{name: f.Name, value: !isBool || !b.IsBoolFlag(), values: cmd.values[f.Name], usage: f.Usage})
		})
	}
	addPath("help", "show the commands, or a command's flags")
	return tree, order, nil
}

// serverSummaries returns what usageText says of each server and admin
// command: "  name  summary", or the summary on the next line.
func serverSummaries() map[string]string {
	out := map[string]string{}
	lines := strings.Split(usageText, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		name, summary, _ := strings.Cut(line[2:], "  ")
		if summary = strings.TrimSpace(summary); summary == "" && i+1 < len(lines) {
			summary = strings.TrimSpace(lines[i+1])
		}
		out[strings.TrimSpace(name)] = summary
	}
	return out
}

// flagLine is a flag's line in the flag package's PrintDefaults: its name
// and, for a flag that takes a value, the value's name.
var flagLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_-]*)( \S+)?$`)

// serverFlags returns the flags a server or admin command declares, read
// from what it prints for -h (which only parses its flags).
func serverFlags(ctx context.Context, path string) ([]compFlag, error) {
	var out bytes.Buffer
	err := runIO(ctx, append(strings.Fields(path), "-h"), func(string) string { return "" }, nil, &out, &out)
	if err != nil && err != flag.ErrHelp {
		return nil, fmt.Errorf("listing the flags of latchkey %s: %w", path, err)
	}
	var flags []compFlag
	lines := strings.Split(out.String(), "\n")
	for i, line := range lines {
		m := flagLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := compFlag{name: m[1], value: m[2] != ""}
		if i+1 < len(lines) {
			f.usage = strings.TrimSpace(lines[i+1])
		}
		flags = append(flags, f)
	}
	return flags, nil
}

func completionSetup(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		tree, order, err := completionTree(ctx)
		if err != nil {
			return err
		}
		switch args[0] {
		case "bash":
			return writeBash(c.stdout, tree, order)
		case "zsh":
			return writeZsh(c.stdout, tree, order)
		case "fish":
			return writeFish(c.stdout, tree, order)
		}
		return usageError("completion %q: want bash, zsh or fish", args[0])
	}
}

// shellFunctions writes the functions the bash and zsh scripts share (both
// read POSIX case): the subcommands of a path, its flags, the flags that
// take a value, and the values of a flag ("path|flag") or of the
// arguments ("path|").
func shellFunctions(w io.Writer, tree map[string]*compNode, order []string) {
	fmt.Fprint(w, "_latchkey_subcommands() {\n  case \"$1\" in\n")
	for _, path := range order {
		if subs := tree[path].subs; len(subs) > 0 {
			fmt.Fprintf(w, "    %s) echo %s ;;\n", shQuote(path), shQuote(strings.Join(subs, " ")))
		}
	}
	fmt.Fprint(w, "  esac\n}\n\n_latchkey_flags() {\n  case \"$1\" in\n")
	for _, path := range order {
		var names []string
		for _, f := range tree[path].flags {
			names = append(names, "--"+f.name)
		}
		if len(names) > 0 {
			fmt.Fprintf(w, "    %s) echo %s ;;\n", shQuote(path), shQuote(strings.Join(names, " ")))
		}
	}
	fmt.Fprint(w, "  esac\n}\n\n_latchkey_valued() {\n  case \"$1\" in\n")
	for _, path := range order {
		var names []string
		for _, f := range tree[path].flags {
			if f.value {
				names = append(names, f.name)
			}
		}
		if len(names) > 0 {
			fmt.Fprintf(w, "    %s) echo %s ;;\n", shQuote(path), shQuote(strings.Join(names, " ")))
		}
	}
	fmt.Fprint(w, "  esac\n}\n\n_latchkey_values() {\n  case \"$1|$2\" in\n")
	for _, path := range order {
		n := tree[path]
		if len(n.args) > 0 {
			fmt.Fprintf(w, "    %s) echo %s ;;\n", shQuote(path+"|"), shQuote(strings.Join(n.args, " ")))
		}
		for _, f := range n.flags {
			if len(f.values) > 0 {
				fmt.Fprintf(w, "    %s) echo %s ;;\n", shQuote(path+"|"+f.name), shQuote(strings.Join(f.values, " ")))
			}
		}
	}
	fmt.Fprint(w, "  esac\n}\n\n")
}

// shellWalk is the loop both scripts run over the words before the cursor
// (words, from index first): it finds the command path they name, skipping
// flags and their values; skip is left 1 when the word at the cursor is a
// flag's value.
const shellWalk = `  local cmdpath='' w n i skip=0 values
  for ((i = %[1]s; i < %[2]s; i++)); do
    w=${%[3]s[i]}
    if ((skip)); then skip=0; continue; fi
    case $w in
      -*)
        n=${w#-}; n=${n#-}
        case " $(_latchkey_valued "$cmdpath") " in
          *" $n "*) skip=1 ;;
        esac
        continue ;;
    esac
    case " $(_latchkey_subcommands "$cmdpath") " in
      *" $w "*) cmdpath=${cmdpath:+$cmdpath }$w ;;
    esac
  done
`

func writeBash(w io.Writer, tree map[string]*compNode, order []string) error {
	fmt.Fprint(w, "# bash completion for latchkey, made by \"latchkey completion bash\".\n"+
		"# Load it with: source <(latchkey completion bash)\n\n")
	shellFunctions(w, tree, order)
	fmt.Fprint(w, "_latchkey() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n")
	fmt.Fprintf(w, shellWalk, "1", "COMP_CWORD", "COMP_WORDS")
	_, err := fmt.Fprint(w, `  COMPREPLY=()
  if ((skip)); then
    n=${prev#-}; n=${n#-}
    values=$(_latchkey_values "$cmdpath" "$n")
    if [[ -n $values ]]; then
      COMPREPLY=($(compgen -W "$values" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_latchkey_flags "$cmdpath")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_latchkey_subcommands "$cmdpath") $(_latchkey_values "$cmdpath" '')" -- "$cur"))
  fi
}

complete -F _latchkey latchkey
`)
	return err
}

func writeZsh(w io.Writer, tree map[string]*compNode, order []string) error {
	fmt.Fprint(w, "#compdef latchkey\n# zsh completion for latchkey, made by \"latchkey completion zsh\".\n"+
		"# Install it as _latchkey in a directory of $fpath, or load it with: source <(latchkey completion zsh)\n\n")
	shellFunctions(w, tree, order)
	fmt.Fprint(w, "_latchkey() {\n  local cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n")
	fmt.Fprintf(w, shellWalk, "2", "CURRENT", "words")
	_, err := fmt.Fprint(w, `  if ((skip)); then
    n=${prev#-}; n=${n#-}
    values=$(_latchkey_values "$cmdpath" "$n")
    if [[ -n $values ]]; then
      compadd -- ${=values}
    else
      _files
    fi
  elif [[ $cur == -* ]]; then
    values=$(_latchkey_flags "$cmdpath")
    compadd -- ${=values}
  else
    values="$(_latchkey_subcommands "$cmdpath") $(_latchkey_values "$cmdpath" '')"
    compadd -- ${=values}
  fi
}

if [ "$funcstack[1]" = "_latchkey" ]; then
  _latchkey "$@"
else
  compdef _latchkey latchkey
fi
`)
	return err
}

func writeFish(w io.Writer, tree map[string]*compNode, order []string) error {
	fmt.Fprint(w, "# fish completion for latchkey, made by \"latchkey completion fish\".\n"+
		"# Install it with: latchkey completion fish > ~/.config/fish/completions/latchkey.fish\n\n")
	fishSwitch := func(name string, value func(n *compNode) []string) {
		fmt.Fprintf(w, "function %s\n    switch \"$argv[1]\"\n", name)
		for _, path := range order {
			if words := value(tree[path]); len(words) > 0 {
				fmt.Fprintf(w, "        case %s\n            echo %s\n", fishQuote(path), fishQuote(strings.Join(words, " ")))
			}
		}
		fmt.Fprint(w, "    end\nend\n\n")
	}
	fishSwitch("__latchkey_subcommands", func(n *compNode) []string { return n.subs })
	fishSwitch("__latchkey_valued", func(n *compNode) []string {
		var names []string
		for _, f := range n.flags {
			if f.value {
				names = append(names, f.name)
			}
		}
		return names
	})
	fmt.Fprint(w, `# __latchkey_path prints the command path the words before the cursor
# name, skipping flags and their values.
function __latchkey_path
    set -l words (commandline -opc)
    set -e words[1]
    set -l cmdpath ''
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $w
            set -l n (string replace -r -- '^--?' '' $w)
            if contains -- $n (string split ' ' -- (__latchkey_valued "$cmdpath"))
                set skip 1
            end
            continue
        end
        if contains -- $w (string split ' ' -- (__latchkey_subcommands "$cmdpath"))
            set cmdpath (string trim -- "$cmdpath $w")
        end
    end
    echo $cmdpath
end

function __latchkey_is
    set -l p (__latchkey_path)
    test "$p" = "$argv[1]"
end

complete -c latchkey -f
`)
	for _, path := range order {
		n := tree[path]
		cond := fishQuote("__latchkey_is " + fishQuote(path))
		for _, sub := range n.subs {
			line := fmt.Sprintf("complete -c latchkey -n %s -a %s", cond, fishQuote(sub))
			if s := n.summary[sub]; s != "" {
				line += " -d " + fishQuote(brief(s))
			}
			fmt.Fprintln(w, line)
		}
		if len(n.args) > 0 {
			fmt.Fprintf(w, "complete -c latchkey -n %s -a %s\n", cond, fishQuote(strings.Join(n.args, " ")))
		}
		for _, f := range n.flags {
			line := fmt.Sprintf("complete -c latchkey -n %s -l %s", cond, f.name)
			switch {
			case len(f.values) > 0:
				line += " -x -a " + fishQuote(strings.Join(f.values, " "))
			case f.value:
				line += " -r -F"
			}
			if f.usage != "" {
				line += " -d " + fishQuote(brief(f.usage))
			}
			fmt.Fprintln(w, line)
		}
	}
	return nil
}

// brief is a flag's or command's description cut to its first clause, for
// the one line a shell shows.
func brief(s string) string {
	s = strings.ReplaceAll(firstSentence(s), "`", "")
	if r := []rune(s); len(r) > 70 {
		s = string(r[:69]) + "…"
	}
	return s
}

// shQuote quotes s for bash and zsh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishQuote quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
