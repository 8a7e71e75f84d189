package main

// The client commands: latchkey login, apps, integrations, keys, verify,
// usage, audit list, completion and the rest of the table below, which talk
// to a running server over its native API (/v1) through the Go SDK, where
// the server and admin commands work on the database directly. docs/CLI.md
// is their manual.
//
// They are a table of data (clientCommands): the dispatch, each command's
// help, the top-level help and the shell completion scripts are all made
// from it, so that none can fall out of step with the others. They parse
// their flags with the standard flag package, as the server commands do,
// with flags allowed after the arguments (gh and kubectl style).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/latchkey/latchkey/sdk"
)

// The exit statuses of every latchkey command, documented in docs/CLI.md:
// scripts may rely on them.
const (
	statusOK           = 0  // success
	statusFailure      = 1  // any other error
	statusUsage        = 2  // bad flags or arguments, or input the server refused as invalid (400)
	statusNotFound     = 3  // no such app, integration or key (404)
	statusAuth         = 4  // not logged in, or the key was refused (401) or lacks the right (403)
	statusConflict     = 5  // the server refused a conflicting change (409)
	statusUnavailable  = 6  // the server cannot be reached, or answered 5xx or 429: retrying later may help
	statusVerdictNotOK = 10 // verify: the server answered with a verdict other than VALID
)

// exitError is an error that ends a command with a given exit status. A
// client command reports its errors itself, as one line on stderr (a JSON
// object with --json), and then returns an *exitError with reported set, so
// that main prints nothing more and exits with the status.
type exitError struct {
	status int
	// code is the machine-readable kind of the error, as --json shows it:
	// the API's error code ("not_found", "invalid_request", …), or the
	// CLI's own ("usage", "not_logged_in", "unreachable", "error").
	code     string
	err      error
	reported bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a mistake on the command line: exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{status: statusUsage, code: "usage", err: fmt.Errorf(format, args...)}
}

// exitStatus is what main exits with for run's error, printing it to stderr
// unless it was shown already: 0 for none (and for -h, which printed the
// help asked for), 2 for a command line the flag package refused, a client
// command's own status, and 1 for any other error.
func exitStatus(err error, stderr io.Writer) int {
	var (
		shown *flagError
		exit  *exitError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return statusOK
	case errors.As(err, &shown):
		return statusUsage // the flag package printed the error and the usage
	case errors.As(err, &exit):
		if !exit.reported {
			fmt.Fprintln(stderr, "latchkey:", err)
		}
		return exit.status
	default:
		fmt.Fprintln(stderr, "latchkey:", err)
		return statusFailure
	}
}

// classify returns the exit status and the machine-readable code of a
// client command's error.
func classify(err error) (status int, code string) {
	var (
		exit   *exitError
		apiErr *sdk.Error
		urlErr *url.Error
	)
	switch {
	case errors.As(err, &exit):
		return exit.status, exit.code
	case errors.As(err, &apiErr):
		code = apiErr.Code
		if code == "" {
			code = fmt.Sprintf("http_%d", apiErr.Status) // not Latchkey's format: a proxy's answer, say
		}
		switch s := apiErr.Status; {
		case s == 400, s == 413:
			return statusUsage, code
		case s == 401, s == 403:
			return statusAuth, code
		case s == 404:
			return statusNotFound, code
		case s == 409:
			return statusConflict, code
		case s == 429, s >= 500:
			return statusUnavailable, code
		}
		return statusFailure, code
	case errors.Is(err, context.Canceled):
		return statusFailure, "canceled"
	case errors.As(err, &urlErr):
		return statusUnavailable, "unreachable"
	}
	return statusFailure, "error"
}

// errorJSON is an error as --json reports it on stderr: the API's error
// (code, message, fields) as it came, with the HTTP status when there was
// one, and the exit status.
type errorJSON struct {
	Error struct {
		Code       string           `json:"code"`
		Message    string           `json:"message"`
		Fields     []sdk.FieldError `json:"fields,omitempty"`
		HTTPStatus int              `json:"httpStatus,omitempty"`
		ExitStatus int              `json:"exitStatus"`
	} `json:"error"`
}

// report writes err to stderr, as one line of text or, with --json, one
// JSON object, and returns the *exitError that ends the command. base is
// the server's URL, if known, for the message of an unreachable one.
func report(stderr io.Writer, asJSON bool, base string, err error) error {
	status, code := classify(err)
	message := err.Error()
	var (
		apiErr *sdk.Error
		urlErr *url.Error
		out    errorJSON
	)
	switch {
	case errors.As(err, &apiErr):
		message = apiErr.Message
		out.Error.Fields, out.Error.HTTPStatus = apiErr.Fields, apiErr.Status
	case code == "unreachable" && errors.As(err, &urlErr):
		// The URL of the request names the server, never a secret: the key
		// travels in a header.
		where := base
		if where == "" {
			where = urlErr.URL
		}
		message = fmt.Sprintf("cannot reach the server at %s: %v; check --url, LATCHKEY_URL or latchkey login", where, urlErr.Err)
	}
	if asJSON {
		out.Error.Code, out.Error.Message, out.Error.ExitStatus = code, message, status
		b, _ := json.Marshal(out)
		fmt.Fprintf(stderr, "%s\n", b)
	} else {
		line := message
		if apiErr != nil {
			line = fmt.Sprintf("%s (%d %s)", strings.TrimSuffix(message, "."), apiErr.Status, code)
			for i, f := range apiErr.Fields {
				sep := "; "
				if i == 0 {
					sep = ": "
				}
				line += sep + f.Field + ": " + strings.TrimSuffix(f.Message, ".")
			}
		}
		fmt.Fprintln(stderr, "latchkey:", oneLine(line))
	}
	return &exitError{status: status, code: code, err: err, reported: true}
}

// oneLine keeps a message on one line, whatever a server put in it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(sanitize(s)), " ")
}

// command is one client command: a line of the table that dispatch, help
// and completion are made from.
type command struct {
	// path is the command's words after "latchkey", such as "keys create".
	path string
	// args is the synopsis of its arguments, such as "ID" or "[SECRET|-]";
	// minArgs and maxArgs bound how many it takes (maxArgs < 0: any
	// number).
	args             string
	minArgs, maxArgs int
	summary          string
	// remote: the command talks to a server, and takes --url and
	// --api-key (clientFlags).
	remote bool
	// noJSON: the command has no --json (completion prints a script).
	noJSON bool
	// setup declares the command's own flags on fs and returns what runs
	// it, once fs is parsed, with the arguments.
	setup func(fs *flag.FlagSet) runFunc
	// values are the values completion offers for a flag (by name) or, under
	// "", for the arguments.
	values map[string][]string
}

// runFunc runs a command. An error it returns is reported by runClient,
// which maps it to an exit status (classify).
type runFunc func(ctx context.Context, c *cli, args []string) error

// group is a word that only gathers commands, as "keys" does.
type group struct{ name, summary string }

var clientGroups = []group{
	{"apps", "manage apps: list, get, create, update, delete"},
	{"integrations", "manage an app's custom integrations: list, get, create, update, delete"},
	{"keys", "manage keys: list, get, create, update, roll, disable, enable, delete"},
	{"audit", "read the audit log: list (through the server); export (from the database)"},
}

// clientCommands is the table of the client commands.
func clientCommands() []command {
	cmds := []command{
		{path: "login", summary: "check a key with the server and save it, with the server's URL, for the commands below; the key is read from stdin",
			setup: loginSetup},
		{path: "logout", summary: "remove the saved key (the key itself keeps working: delete or roll it to revoke it)", setup: logoutSetup},
		{path: "whoami", summary: "show the server and key in use, where each setting comes from, and the key's owner and permissions",
			remote: true, setup: whoamiSetup},
	}
	cmds = append(cmds, appCommands()...)
	cmds = append(cmds, integrationCommands()...)
	cmds = append(cmds, keyCommands()...)
	cmds = append(cmds, importCommand()) // import.go
	cmds = append(cmds,
		command{path: "verify", args: "[SECRET|-]", maxArgs: 1, remote: true, setup: verifySetup,
			summary: "ask the server whether a key may be used; prints the verdict; exit 0 for VALID only, 10 for any other verdict. " +
				"The key is read from stdin when the argument is - or left out, so that it stays out of shell history"},
		command{path: "usage", args: "KEY_ID", minArgs: 1, maxArgs: 1, remote: true, setup: usageSetup,
			summary: "show a key's verification counts by verdict, in time buckets",
			values:  map[string][]string{"granularity": {"minute", "hour", "day"}}},
		command{path: "audit list", remote: true, setup: auditListSetup,
			summary: "list the account's audit log, newest first, through the server (account keys only)",
			values:  map[string][]string{"outcome": {"success", "unauthorized", "forbidden", "throttled", "failure"}}},
		command{path: "completion", args: "bash|zsh|fish", minArgs: 1, maxArgs: 1, noJSON: true, setup: completionSetup,
			summary: "print a shell completion script for every command and flag",
			values:  map[string][]string{"": {"bash", "zsh", "fish"}}},
	)
	return cmds
}

// findClientCommand returns the client command args start with, and the
// arguments after its words; nil if they name none.
func findClientCommand(args []string) (*command, []string) {
	cmds := clientCommands()
	for i := range cmds {
		words := strings.Fields(cmds[i].path)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return &cmds[i], args[len(words):]
		}
	}
	return nil, nil
}

// isClientGroup reports whether name is a group of client commands.
func isClientGroup(name string) bool {
	return slices.ContainsFunc(clientGroups, func(g group) bool { return g.name == name })
}

// isClientCommand reports whether args name a client command or group (for
// the dispatch in run). "audit" is shared: audit export is an admin
// command.
func isClientCommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if cmd, _ := findClientCommand(args); cmd != nil {
		return true
	}
	return isClientGroup(args[0]) && args[0] != "audit"
}

// cli is what a client command runs with: its streams and environment, the
// settings every remote command shares, and --json.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// json is --json: JSON on stdout for scripts, errors as JSON on stderr.
	json bool
	// settings are --url and --api-key as given.
	settings clientSettings
	// base is the server's URL once client has resolved it, for messages.
	base string
}

// client returns an SDK client for the server and key that --url and
// --api-key, the environment and the login file resolve to, in that order
// (resolveConnection). It fails with exit status 4 when there is no server
// or no key to use, and 2 for a malformed URL.
func (c *cli) client() (*sdk.Client, error) {
	conn, err := resolveConnection(c.settings, c.getenv)
	if err != nil {
		return nil, err
	}
	c.base = conn.url
	return conn.client(), nil
}

// warnf writes a note for people to stderr. With --json, stderr is for the
// JSON error only, so notes are left out.
func (c *cli) warnf(format string, args ...any) {
	if !c.json {
		fmt.Fprintf(c.stderr, "latchkey: "+format+"\n", args...)
	}
}

// runClient runs the client command args name: it parses its flags and
// arguments, runs it, and reports its error (report), which it returns as
// an *exitError.
func runClient(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, json: wantsJSON(args)}
	cmd, rest := findClientCommand(args)
	if cmd == nil {
		// A group alone, or with a word that names none of its commands.
		name := args[0]
		if len(args) > 1 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help" || args[1] == "help") {
			printGroupHelp(stdout, name)
			return nil
		}
		if len(args) == 1 {
			return report(stderr, c.json, "", usageError("latchkey %s needs a command, one of: %s", name, strings.Join(groupCommands(name), ", ")))
		}
		return report(stderr, c.json, "", usageError("latchkey %s has no command %q; the commands are: %s", name, args[1], strings.Join(groupCommands(name), ", ")))
	}
	fs := flag.NewFlagSet("latchkey "+cmd.path, flag.ContinueOnError)
	// A mistake is reported in one line below, and -h prints the help to
	// stdout: the flag package prints neither.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	run := cmd.declare(fs, c)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(stdout, cmd, fs)
		return err
	}
	if err != nil {
		return report(stderr, c.json, "", usageError("%v; see latchkey %s -h", err, cmd.path))
	}
	if n := len(positional); n < cmd.minArgs || (cmd.maxArgs >= 0 && n > cmd.maxArgs) {
		want := "no arguments"
		if cmd.args != "" {
			want = cmd.args
		}
		return report(stderr, c.json, "", usageError("latchkey %s takes %s, got %d argument(s); see latchkey %s -h", cmd.path, want, n, cmd.path))
	}
	if err := run(ctx, c, positional); err != nil {
		var exit *exitError
		if errors.As(err, &exit) && exit.reported {
			return err
		}
		return report(stderr, c.json, c.base, err)
	}
	return nil
}

// declare declares every flag of the command on fs (its own, --json, and
// for a remote command --url and --api-key) and returns what runs it.
func (cmd *command) declare(fs *flag.FlagSet, c *cli) runFunc {
	run := cmd.setup(fs)
	if !cmd.noJSON {
		fs.BoolVar(&c.json, "json", c.json, "print JSON for scripts (see docs/CLI.md), and errors as JSON on stderr")
	}
	if cmd.remote {
		c.settings.addFlags(fs)
	}
	return run
}

// wantsJSON reports whether the command line asks for --json, before it is
// parsed: a mistake on it is reported in the format asked for.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true", "-json=1", "--json=1":
			return true
		}
	}
	return false
}

// parseInterspersed parses fs from args, allowing flags after arguments
// ("keys get ID --json"), and returns the arguments. After "--" everything
// is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// multiFlag is a flag that may be given many times, such as --permission.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// groupCommands returns the names of the commands of a group.
func groupCommands(name string) []string {
	var out []string
	for _, cmd := range clientCommands() {
		if g, sub, ok := strings.Cut(cmd.path, " "); ok && g == name {
			out = append(out, sub)
		}
	}
	if name == "audit" {
		out = append(out, "export")
	}
	return out
}

// printCommandHelp prints a command's help: its synopsis, what it does, and
// its flags.
func printCommandHelp(w io.Writer, cmd *command, fs *flag.FlagSet) {
	synopsis := "latchkey " + cmd.path
	if cmd.args != "" {
		synopsis += " " + cmd.args
	}
	fmt.Fprintf(w, "Usage: %s [flags]\n\n%s.\n\nFlags:\n", synopsis, capitalize(cmd.summary))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	verdict := ""
	if cmd.path == "verify" {
		verdict = ", 10 a verdict other than VALID"
	}
	fmt.Fprintf(w, "\nExit status: 0 success, 1 error, 2 usage, 3 not found, 4 not logged in or refused, 5 conflict, "+
		"6 server unreachable or failing%s. See docs/CLI.md.\n", verdict)
}

// printGroupHelp prints the commands of a group.
func printGroupHelp(w io.Writer, name string) {
	fmt.Fprintf(w, "Usage: latchkey %s <command> [flags]\n\nCommands:\n", name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, cmd := range clientCommands() {
		if g, sub, ok := strings.Cut(cmd.path, " "); ok && g == name {
			fmt.Fprintf(tw, "  %s %s\t%s\n", sub, cmd.args, firstSentence(cmd.summary))
		}
	}
	if name == "audit" {
		fmt.Fprintf(tw, "  export\t%s (an admin command: it reads the database)\n", serverSummaries()["audit export"])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun \"latchkey %s <command> -h\" for a command's flags.\n", name)
}

// printUsage prints the top-level help: usageText's server and admin
// commands, then the client commands.
func printUsage(w io.Writer) {
	fmt.Fprint(w, usageText)
	fmt.Fprint(w, "\nClient commands, which talk to a running server (see docs/CLI.md):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	groups := map[string]bool{}
	for _, cmd := range clientCommands() {
		name, _, grouped := strings.Cut(cmd.path, " ")
		switch {
		case !grouped:
			fmt.Fprintf(tw, "  %s\t%s\n", cmd.path, firstSentence(cmd.summary))
		case !groups[name]:
			groups[name] = true
			for _, g := range clientGroups {
				if g.name == name {
					fmt.Fprintf(tw, "  %s\t%s\n", name, g.summary)
				}
			}
		}
	}
	tw.Flush()
	fmt.Fprint(w, "\nRun \"latchkey <command> -h\" for a command's flags, \"latchkey help <command>\" for the same.\n")
}

// helpCommand is "latchkey help [COMMAND...]": the top-level help, or a
// command's.
func helpCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stdout)
		return nil
	}
	if cmd, rest := findClientCommand(args); cmd != nil && len(rest) == 0 {
		fs := flag.NewFlagSet("latchkey "+cmd.path, flag.ContinueOnError)
		cmd.declare(fs, &cli{})
		printCommandHelp(stdout, cmd, fs)
		return nil
	}
	if len(args) == 1 && isClientGroup(args[0]) {
		printGroupHelp(stdout, args[0])
		return nil
	}
	// A server or admin command prints its own flags.
	err := runIO(ctx, append(slices.Clone(args), "-h"), func(string) string { return "" }, nil, stdout, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// firstSentence is a summary up to the end of its first clause (a
// semicolon or a period and a space), for the lists of commands.
func firstSentence(s string) string {
	for _, end := range []string{"; ", ". "} {
		if i := strings.Index(s, end); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimSuffix(s, ".")
}

// isTerminal reports whether r is a terminal, and its file descriptor.
func isTerminal(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}
