// Command readmecheck runs every code block of the markdown documents it
// is given, as printed, the way a newcomer would. make test-readme runs
//
//	go run ./internal/tools/readmecheck README.md docs/CLI.md
//
// # Where
//
// In a fresh temporary copy of the repository: a clone sharing this one's
// objects, with the working tree's changes put over it (and committed in
// the copy), so ./data, data/initial-credentials.json and the rest are
// made afresh, never in the developer's own ./data. HOME is an empty
// directory of the copy (the go command's caches stay the caller's). The
// copy is removed, and every process the run started is stopped, at the
// end, also when a block fails or the run is interrupted (a run killed
// outright has its servers stopped by watchers, and its copy removed by
// the next run).
//
// # What each block becomes
//
// Each block is classified by its info string and by the markers above it:
//
//   - sh, bash, shell: run, one after another, in one bash session per
//     document (set -euo pipefail; variables and the current directory
//     carry on to the next block, as in a reader's terminal). A block fails
//     if a command fails, or if curl gets a 4xx or 5xx answer. Commands run
//     as printed, against the addresses printed (127.0.0.1:8080): if
//     something else listens there, the run fails and says so.
//   - js: a complete script is one the text before it says how to run, in
//     an inline code span "node FILE" (after environment assignments, as
//     in `KEY_ID=$ID node sunshine.mjs`). It is written to FILE in the
//     session's current directory, and that command runs in the session,
//     with tests/e2e/node_modules as ./node_modules (the packages of an
//     `npm install …` span in the text must be there). A js block with no
//     such command fails.
//   - go: a complete program (with a package clause) is built and vetted in
//     a scratch module that requires this module, replaced by the copy; a
//     fragment is type-checked there (inside func main, or at the top level
//     if it declares functions or types, with the imports its package names
//     call for), the names it leaves to the reader allowed and listed.
//   - toml: written to the file its first comment names (# latchkey.toml)
//     and loaded by the real binary, latchkey config print --config FILE,
//     which must take every key of the file from it.
//   - nginx: checked by nginx -t inside a minimal configuration (a location
//     inside a server block, anything else inside http).
//   - json: must parse. text, txt, output, plaintext: listed as output.
//   - anything else (no info string, an info string the runner does not
//     know, a js block with no command) fails the run, so a new block
//     cannot escape the check unnoticed.
//
// # Markers
//
// A marker is an HTML comment alone on its line just above the block's
// opening fence (blank lines between are allowed; indent it like the
// block in a list). Rendered markdown does not show it:
//
//	<!-- readme: background -->         a shell block that starts a server: run in the
//	                                    background; the runner waits (bounded) until
//	                                    http://127.0.0.1:8080/healthz answers 200, or the
//	                                    URL given: <!-- readme: background http://… -->.
//	                                    A server of an earlier block on the same address
//	                                    is stopped first; all are stopped at the end.
//	<!-- readme: stopped -->            a shell block that must run with the servers
//	                                    stopped (a restore): they are stopped before it
//	                                    and started again after it.
//	<!-- readme: skip REASON -->        a block that cannot run here (Docker, systemd, a
//	                                    database elsewhere): excused, the reason printed.
//	<!-- readme: output -->             a block that shows output or an illustration.
//	<!-- readme: allow-http-errors -->  a shell block whose curl requests are meant to get
//	                                    4xx or 5xx answers.
//
// An unknown marker, one that is not followed by a block, or "skip"
// without a reason, fails the run.
//
// # The session's environment
//
// Documents run in the order given, each in a shell session of its own,
// in the same copy and with the same background servers, so a second
// document continues where the first left off. The caller's environment
// is passed on without its LATCHKEY_ settings. The copy's bin/ is first on
// PATH and is GOBIN, so go install stays in the copy; before the first
// block that runs the bare latchkey command without installing it first,
// the runner builds ./cmd/latchkey there (the binary the README's
// production section installs). The module's public URL
// (https://github.com/latchkey/latchkey) is mapped to the copy for git
// and the go command (GIT_CONFIG_*, GOPRIVATE), and the copy has no tags,
// so go install …@latest installs the tree under test without reaching a
// network; what it adds to the module cache is removed at the end. GOFLAGS
// gets -trimpath, so builds in the copy reuse the build cache whatever
// the copy's path.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	timeout   time.Duration // each block
	wait      time.Duration // a background server's readiness
	keep      bool
	verbose   bool
	keepGoing bool
}

func main() {
	var opts options
	flag.DurationVar(&opts.timeout, "timeout", 5*time.Minute, "how long one block may run")
	flag.DurationVar(&opts.wait, "wait", 5*time.Minute, "how long a background block's server may take to answer (the first go run compiles)")
	flag.BoolVar(&opts.keep, "keep", false, "keep the temporary workspace, and say where it is")
	flag.BoolVar(&opts.verbose, "v", false, "print every block's output")
	flag.BoolVar(&opts.keepGoing, "keep-going", false, "after a shell block fails, go on in a new session (its variables lost) instead of not running the document's later shell blocks")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./internal/tools/readmecheck [flags] FILE.md…\n\n"+
			"Runs every code block of the documents as printed, in a temporary copy of the repository.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	docs := flag.Args()
	if len(docs) == 0 {
		docs = []string{"README.md"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, opts, docs, os.Stdout)
	stop()
	os.Exit(code)
}

// outcome is what became of a block.
type outcome int

const (
	passed outcome = iota
	failed
	excused
	shown // output, not checked
	notRun
)

type result struct {
	plan    Plan
	outcome outcome
	detail  string // what was done, or why not
	output  string // a failure's output
	elapsed time.Duration
}

type bgServer struct {
	plan    Plan
	pgid    int
	watcher int // the group of the watcher that stops it if the runner dies
	log     string
}

// stop stops the server's process group, and then its watcher.
func (s *bgServer) stop() error {
	err := stopGroup(s.pgid)
	if err == nil {
		syscall.Kill(-s.watcher, syscall.SIGKILL)
	}
	return err
}

type runner struct {
	opts     options
	out      io.Writer
	src      string // the repository
	module   string
	goMod    string
	goflags  string
	goPaths  []string // GOPATH, GOMODCACHE, GOCACHE and GOENV, as the caller has them
	ws       *workspace
	env      []string
	servers  []*bgServer
	sessions []*session
	results  []result
	step     int
}

func run(ctx context.Context, opts options, docs []string, out io.Writer) int {
	start := time.Now()
	r := &runner{opts: opts, out: out}
	code, err := r.main(ctx, docs)
	if err != nil {
		fmt.Fprintf(out, "readmecheck: %v\n", err)
		code = 1
	}
	r.summary(time.Since(start))
	for _, res := range r.results {
		if res.outcome == failed {
			code = 1
		}
	}
	return code
}

func (r *runner) main(ctx context.Context, docs []string) (int, error) {
	// Read and classify everything first: a document the runner cannot
	// read whole fails before anything runs.
	var plans [][]Plan
	var errs []string
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			return 1, err
		}
		blocks, err := Extract(filepath.ToSlash(doc), string(b))
		if err != nil {
			errs = append(errs, err.Error())
		}
		var ps []Plan
		for _, blk := range blocks {
			ps = append(ps, Classify(blk))
		}
		plans = append(plans, ps)
	}
	if len(errs) > 0 {
		return 1, errors.New("the documents cannot be read as they are:\n" + strings.Join(errs, "\n"))
	}
	if err := r.preflight(ctx, plans); err != nil {
		return 1, err
	}

	ws, err := newWorkspace(ctx, r.src)
	if ws != nil {
		r.ws = ws
		defer func() {
			if r.opts.keep {
				fmt.Fprintf(r.out, "readmecheck: the workspace is kept in %s\n", ws.root)
			} else if err := ws.remove(); err != nil {
				fmt.Fprintf(r.out, "readmecheck: remove %s: %v\n", ws.root, err)
			}
		}()
	}
	if err != nil {
		return 1, err
	}
	defer func() {
		for _, s := range r.sessions {
			s.close()
		}
	}()
	defer r.stopServers()
	r.env = r.sessionEnv()
	before := r.modCacheEntries(ctx)
	defer r.cleanModCache(context.WithoutCancel(ctx), before)
	// The npm packages the README names, as tests/e2e pins them, where a
	// reader's npm install would have put them.
	if err := os.Symlink(filepath.Join(r.src, "tests", "e2e", "node_modules"), filepath.Join(ws.repo, "node_modules")); err != nil {
		return 1, err
	}

	for i, doc := range docs {
		if err := r.runDocument(ctx, i+1, doc, plans[i]); err != nil {
			return 1, err
		}
	}
	return 0, nil
}

// preflight finds the repository and checks what the blocks need before
// anything runs, so that a missing tool or a taken port is said plainly.
func (r *runner) preflight(ctx context.Context, plans [][]Plan) error {
	top, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return errors.New("run it inside the repository's git checkout: git rev-parse --show-toplevel failed")
	}
	r.src = strings.TrimSpace(string(top))
	gomod, err := os.ReadFile(filepath.Join(r.src, "go.mod"))
	if err != nil {
		return err
	}
	r.goMod = string(gomod)
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindStringSubmatch(r.goMod)
	if m == nil {
		return errors.New("go.mod names no module")
	}
	r.module = m[1]
	// The go command's settings, kept when HOME changes.
	goenv, err := exec.CommandContext(ctx, "go", "env", "GOFLAGS", "GOPATH", "GOMODCACHE", "GOCACHE", "GOENV").Output()
	if err != nil {
		return fmt.Errorf("go env: %w", err)
	}
	values := strings.Split(strings.TrimRight(string(goenv), "\n"), "\n")
	if len(values) != 5 {
		return fmt.Errorf("go env printed %q", goenv)
	}
	r.goflags = values[0]
	r.goPaths = []string{"GOPATH=" + values[1], "GOMODCACHE=" + values[2], "GOCACHE=" + values[3], "GOENV=" + values[4]}

	need := map[string]string{"git": "git", "go": "Go"}
	addrs := map[string]bool{}
	for _, ps := range plans {
		for _, p := range ps {
			switch p.Action {
			case ActShell, ActBackground:
				need["bash"], need["curl"], need["jq"] = "bash", "curl (apt-get install curl)", "jq (apt-get install jq)"
			case ActScript:
				need["node"] = "Node.js"
				if _, err := os.Stat(filepath.Join(r.src, "tests", "e2e", "node_modules")); err != nil {
					return errors.New("tests/e2e/node_modules is missing: run cd tests/e2e && npm ci --no-audit --no-fund (make test-e2e does)")
				}
			}
			if p.Action == ActBackground {
				addr, err := hostPort(p.WaitURL)
				if err != nil {
					return fmt.Errorf("%s: %v", p.Where(), err)
				}
				addrs[addr] = true
			}
		}
	}
	for bin, what := range need {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed; scripts/test-deps installs what make test needs", what)
		}
	}
	for addr := range addrs {
		if listening(addr) {
			return fmt.Errorf("something already listens on %s, the address the documents' examples use as printed; "+
				"stop it and run again (the runner does not change the documents' commands)", addr)
		}
	}
	return nil
}

// sessionEnv is the environment of the shell sessions and checks: the
// caller's, without LATCHKEY_ settings, with an empty HOME of its own (so
// that what a block saves there, a login, does not touch the caller's;
// the go command's caches and settings stay the caller's), the
// workspace's bin first on PATH and as GOBIN, the module's public URL
// mapped to the copy, and -trimpath.
func (r *runner) sessionEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "LATCHKEY_"), strings.HasPrefix(name, "GIT_CONFIG_"), strings.HasPrefix(name, "XDG_"),
			name == "HOME", name == "GOBIN", name == "GOFLAGS", name == "PATH", name == "GOPRIVATE", name == "OLDPWD", name == "PWD",
			name == "GOPATH", name == "GOMODCACHE", name == "GOCACHE", name == "GOENV":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, r.goPaths...)
	goflags := r.goflags
	if !strings.Contains(goflags, "-trimpath") {
		goflags = strings.TrimSpace(goflags + " -trimpath")
	}
	r.goflags = goflags
	public := "https://" + r.module
	return append(env,
		"HOME="+r.ws.home,
		"PATH="+r.ws.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOBIN="+r.ws.bin,
		"GOFLAGS="+goflags,
		"GOPRIVATE="+r.module,
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_0=url."+r.ws.repo+".insteadOf", "GIT_CONFIG_VALUE_0="+public,
		"GIT_CONFIG_KEY_1=url."+r.ws.repo+".insteadOf", "GIT_CONFIG_VALUE_1="+public+".git",
	)
}

// modCacheEntries lists what the module cache holds of this module. A
// block's go install …@latest, through the URL mapping, adds a
// pseudo-version of this repository; cleanModCache removes what is new at
// the end, so that runs do not pile up copies of every commit checked.
func (r *runner) modCacheEntries(ctx context.Context) map[string]bool {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	cache := strings.TrimSpace(string(out))
	if err != nil || cache == "" {
		return nil
	}
	var esc strings.Builder // the module cache's escaping: !x for X
	for _, c := range r.module {
		if 'A' <= c && c <= 'Z' {
			esc.WriteString("!" + string(c+'a'-'A'))
		} else {
			esc.WriteRune(c)
		}
	}
	entries := map[string]bool{}
	for _, pattern := range []string{
		filepath.Join(cache, filepath.FromSlash(esc.String())+"@*"),
		filepath.Join(cache, "cache", "download", filepath.FromSlash(esc.String()), "@v", "*"),
	} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			entries[m] = true
		}
	}
	return entries
}

func (r *runner) cleanModCache(ctx context.Context, before map[string]bool) {
	if before == nil {
		return
	}
	for path := range r.modCacheEntries(ctx) {
		if before[path] {
			continue
		}
		filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755) // the module cache's directories are read-only
			}
			return nil
		})
		if err := os.RemoveAll(path); err != nil {
			fmt.Fprintf(r.out, "readmecheck: remove %s from the module cache: %v\n", path, err)
		}
	}
}

// bareLatchkey finds a command line that runs the installed binary, not
// go run: "latchkey serve …", "sudo -u latchkey /usr/local/bin/latchkey"
// does not count (it names its path).
var bareLatchkey = regexp.MustCompile(`(?m)^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*latchkey(?:\s|$)`)

func (r *runner) runDocument(ctx context.Context, n int, doc string, plans []Plan) error {
	fmt.Fprintf(r.out, "readmecheck: %s: %d blocks\n", doc, len(plans))

	// Sessions end after the servers have stopped (see main), so that bash
	// reaps its background jobs.
	var sess *session
	sessionFailed := false
	for _, p := range plans {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.Now()
		res := result{plan: p, outcome: passed}
		inSession := p.Action == ActShell || p.Action == ActBackground || p.Action == ActScript
		if inSession && sessionFailed && !r.opts.keepGoing {
			res.outcome, res.detail = notRun, "an earlier shell block of this document failed, and its session with it"
			r.record(res)
			continue
		}
		if inSession && (sess == nil || !sess.alive()) {
			var err error
			if sess, err = startSession(ctx, r.ws, r.env, fmt.Sprintf("doc%d", n)); err != nil {
				return err
			}
			r.sessions = append(r.sessions, sess)
		}
		var err error
		switch p.Action {
		case ActSkip:
			res.outcome, res.detail = excused, p.Reason
		case ActOutput:
			res.outcome, res.detail = shown, "output or illustration, not run"
		case ActUnknown:
			err = errors.New(p.Reason)
		case ActShell:
			if err = r.ensureBinary(ctx, p); err == nil {
				res.detail, res.output, err = r.shell(ctx, sess, p)
			}
		case ActBackground:
			if err = r.ensureBinary(ctx, p); err == nil {
				res.detail, res.output, err = r.startServer(ctx, sess, p, r.stepID(p, ""))
			}
		case ActScript:
			res.detail, res.output, err = r.script(ctx, sess, p)
		case ActGoProgram, ActGoFragment:
			res.detail, err = r.checkGo(ctx, p)
		case ActTOML:
			res.detail, err = r.checkTOML(ctx, p)
		case ActNginx:
			res.detail, err = r.checkNginx(ctx, p)
		case ActJSON:
			res.detail, err = checkJSON(p)
		}
		if err != nil {
			res.outcome = failed
			if res.output == "" {
				res.output = res.detail
			}
			res.detail = err.Error()
			if inSession && (sess == nil || !sess.alive()) {
				sessionFailed = true
			}
		}
		res.elapsed = time.Since(t)
		r.record(res)
	}
	return nil
}

// ensureBinary builds ./cmd/latchkey onto the session's PATH before the
// first block that runs the bare latchkey command without installing it
// first: the binary the README's production section installs. Once
// there (built here, or installed by a block's go install …@latest, which
// the URL mapping makes the tree under test), it is not built again.
func (r *runner) ensureBinary(ctx context.Context, p Plan) error {
	loc := bareLatchkey.FindStringIndex(p.Text)
	if loc == nil || strings.Contains(p.Text[:loc[0]], "go install ") {
		return nil
	}
	bin := filepath.Join(r.ws.bin, "latchkey")
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	// Built beside it and renamed: a running server may use the old one.
	t := time.Now()
	tmp := filepath.Join(r.ws.bin, ".latchkey.new")
	if out, err := r.command(ctx, r.ws.repo, r.env, "go", "build", "-o", tmp, "./cmd/latchkey"); err != nil {
		return fmt.Errorf("build ./cmd/latchkey for its latchkey command: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "readmecheck: built ./cmd/latchkey onto the session's PATH for %s's latchkey command (%s)\n", p.Where(), round(time.Since(t)))
	return nil
}

func (r *runner) stepID(p Plan, suffix string) string {
	r.step++
	return fmt.Sprintf("%02d-%s-%d%s", r.step, strings.NewReplacer("/", "_", ".", "_").Replace(p.Doc), p.Line, suffix)
}

// shell runs a shell block in the session; a stopped block, with the
// background servers stopped around it.
func (r *runner) shell(ctx context.Context, sess *session, p Plan) (detail, output string, err error) {
	var stopped []*bgServer
	if p.Stopped {
		stopped = r.servers
		r.stopServers()
	}
	detail, output, err = r.sessionStep(ctx, sess, p, r.stepID(p, ""), p.Text)
	if err != nil {
		return detail, output, err
	}
	for _, s := range stopped {
		if d, out, err := r.startServer(ctx, sess, s.plan, r.stepID(s.plan, "-again")); err != nil {
			return detail, out, fmt.Errorf("after it, %s, which it stopped, did not start again: %v", s.plan.Where(), err)
		} else {
			detail += "; " + s.plan.Where() + " " + d + " again"
		}
	}
	return detail, output, nil
}

var httpStatus = regexp.MustCompile(`(?m)readmecheck-http (\d{3}) (\S+) (\S+)$`)

// sessionStep runs script in the session and judges it: it fails if the
// session's shell exits (set -e), it times out, or curl got an error
// status.
func (r *runner) sessionStep(ctx context.Context, sess *session, p Plan, id, script string) (detail, output string, err error) {
	log, err := sess.run(ctx, id, script, r.opts.timeout)
	b, _ := os.ReadFile(log)
	output = strings.TrimRight(string(b), "\n")
	if script == p.Text {
		output = r.docLines(output, id, p)
	}
	if err != nil {
		return "", output + r.serverTail(), err
	}
	requests := httpStatus.FindAllStringSubmatch(output, -1)
	var bad []string
	for _, m := range requests {
		if m[1] >= "400" && !p.AllowHTTPErrors {
			bad = append(bad, m[1]+" "+m[2]+" "+m[3])
		}
	}
	if len(bad) > 0 {
		return "", output + r.serverTail(), fmt.Errorf("curl got an error answer (mark the block allow-http-errors if that is the point): %s", strings.Join(bad, "; "))
	}
	detail = "ran"
	if len(requests) > 0 {
		detail = fmt.Sprintf("ran; %d HTTP requests, none refused", len(requests))
	}
	if r.opts.verbose {
		fmt.Fprintf(r.out, "----- %s output\n%s\n-----\n", p.Where(), output)
	}
	return detail, output, nil
}

// docLines turns bash's line numbers in a block's output into the
// document's: "…/blocks/ID.sh: line 2: X: unbound variable" becomes
// "README.md:1022: X: unbound variable".
func (r *runner) docLines(output, id string, p Plan) string {
	file := regexp.QuoteMeta(filepath.Join(r.ws.blocks, id+".sh"))
	re := regexp.MustCompile(file + `: line (\d+):|at line (\d+) of the block`)
	return re.ReplaceAllStringFunc(output, func(m string) string {
		sub := re.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[1] + sub[2])
		if sub[1] != "" {
			return fmt.Sprintf("%s:%d:", p.Doc, p.Line+n)
		}
		return fmt.Sprintf("at %s:%d", p.Doc, p.Line+n)
	})
}

// serverTail is the end of the running servers' logs, for a failure's report.
func (r *runner) serverTail() string {
	var b strings.Builder
	for _, s := range r.servers {
		log, _ := os.ReadFile(s.log)
		fmt.Fprintf(&b, "\n--- the server of %s, its log's last lines:\n%s", s.plan.Where(), tail(string(log), 15))
	}
	return b.String()
}

// startServer starts a background block and waits for its URL. A server
// of an earlier block on the same address is stopped first.
func (r *runner) startServer(ctx context.Context, sess *session, p Plan, id string) (detail, output string, err error) {
	addr, err := hostPort(p.WaitURL)
	if err != nil {
		return "", "", err
	}
	var keep []*bgServer
	for _, s := range r.servers {
		if a, _ := hostPort(s.plan.WaitURL); a == addr {
			if err := s.stop(); err != nil {
				return "", "", err
			}
			detail = "stopped the server of " + s.plan.Where() + ", "
		} else {
			keep = append(keep, s)
		}
	}
	r.servers = keep
	if !waitFree(addr, 10*time.Second) {
		return "", "", fmt.Errorf("something already listens on %s, which this block's server needs; stop it and run again", addr)
	}
	t := time.Now()
	pgid, watcher, log, err := sess.background(ctx, id, p.Text)
	if err != nil {
		return "", "", err
	}
	s := &bgServer{plan: p, pgid: pgid, watcher: watcher, log: log}
	r.servers = append(r.servers, s)
	if err := waitReady(ctx, p.WaitURL, pgid, r.opts.wait); err != nil {
		b, _ := os.ReadFile(log)
		return "", strings.TrimRight(string(b), "\n"), err
	}
	return detail + fmt.Sprintf("started in the background; %s answered after %s", p.WaitURL, round(time.Since(t))), "", nil
}

func (r *runner) stopServers() {
	for _, s := range r.servers {
		if err := s.stop(); err != nil {
			fmt.Fprintf(r.out, "readmecheck: stop the server of %s: %v\n", s.plan.Where(), err)
		}
	}
	r.servers = nil
}

// script writes a complete script to the file the text names, in the
// session's current directory, and runs the command the text gives.
func (r *runner) script(ctx context.Context, sess *session, p Plan) (detail, output string, err error) {
	for _, spec := range p.Packages {
		name := packageName(spec)
		if _, err := os.Stat(filepath.Join(r.src, "tests", "e2e", "node_modules", name)); err != nil {
			return "", "", fmt.Errorf("the text says to npm install %s, which tests/e2e/package.json does not pin: add it there", name)
		}
	}
	id := r.stepID(p, "")
	content := filepath.Join(r.ws.blocks, id+filepath.Ext(p.ScriptFile))
	if err := os.WriteFile(content, []byte(p.Text), 0o644); err != nil {
		return "", "", err
	}
	script := fmt.Sprintf("cp %s %s\n%s\n", shquote(content), shquote(p.ScriptFile), p.ScriptCommand)
	detail, output, err = r.sessionStep(ctx, sess, p, id, script)
	if err == nil {
		detail = "wrote " + p.ScriptFile + ", ran " + p.ScriptCommand
	}
	return detail, output, err
}

func (r *runner) record(res result) {
	r.results = append(r.results, res)
	label := map[outcome]string{passed: "ok", failed: "FAIL", excused: "skip", shown: "output", notRun: "not run"}[res.outcome]
	what := res.plan.Info
	if what == "" {
		what = "(none)"
	}
	line := fmt.Sprintf("%-7s %-16s %-6s %s", label, res.plan.Where(), what, firstLine(res.detail))
	if res.elapsed >= time.Second {
		line += fmt.Sprintf(" (%s)", round(res.elapsed))
	}
	fmt.Fprintln(r.out, line)
}

func (r *runner) summary(elapsed time.Duration) {
	count := map[outcome]int{}
	for _, res := range r.results {
		count[res.outcome]++
	}
	fmt.Fprintf(r.out, "\nreadmecheck: %d blocks in %s: %d run or checked, %d excused, %d output, %d failed, %d not run\n",
		len(r.results), round(elapsed), count[passed], count[excused], count[shown], count[failed], count[notRun])
	if count[excused] > 0 {
		fmt.Fprintln(r.out, "\nexcused (cannot run here):")
		for _, res := range r.results {
			if res.outcome == excused {
				fmt.Fprintf(r.out, "  %s (%s): %s\n", res.plan.Where(), res.plan.Info, res.detail)
			}
		}
	}
	if count[failed] > 0 {
		fmt.Fprintln(r.out, "\nfailures:")
		for _, res := range r.results {
			if res.outcome != failed {
				continue
			}
			fmt.Fprintf(r.out, "\n%s (%s, %s): %s\n", res.plan.Where(), res.plan.Info, res.plan.Action, res.detail)
			if res.output != "" {
				fmt.Fprintf(r.out, "%s\n", indent(tail(res.output, 60)))
			}
		}
	}
	if count[notRun] > 0 {
		fmt.Fprintln(r.out, "\nnot run, after an earlier failure in their document:")
		for _, res := range r.results {
			if res.outcome == notRun {
				fmt.Fprintf(r.out, "  %s (%s)\n", res.plan.Where(), res.plan.Info)
			}
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	return "    | " + strings.ReplaceAll(s, "\n", "\n    | ")
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func round(d time.Duration) time.Duration {
	return d.Round(100 * time.Millisecond)
}
