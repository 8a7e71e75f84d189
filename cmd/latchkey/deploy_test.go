package main

// Checks of the packaging under deploy/: the Dockerfile, the .dockerignore
// of its build context, the Compose example and the systemd unit. None of
// Docker, Compose or systemd runs in CI, so these read the files as text,
// and where it matters feed the settings they give to the server's own
// configuration parser, so that an image, a Compose project or a unit that
// would start the server on the wrong address or database fails here.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module's root, from this package's directory.
const repoRoot = "../.."

func readRepoFile(t checker, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --- Dockerfile ---

// dockerInstruction is one instruction of a Dockerfile, continuation lines
// joined.
type dockerInstruction struct {
	line int    // where it starts, from 1
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// dockerStage is a FROM and the instructions after it.
type dockerStage struct {
	image, name string
	ins         []dockerInstruction
}

func (s *dockerStage) all(cmd string) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile splits a Dockerfile into stages, as Docker's parser does
// for the default escape character: comments and blank lines dropped (also
// between continuation lines), a trailing backslash joining the next line.
func parseDockerfile(text string) ([]*dockerStage, error) {
	var (
		stages  []*dockerStage
		cur     strings.Builder
		start   int
		pending bool
	)
	flush := func() error {
		if !pending {
			return nil
		}
		pending = false
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := dockerInstruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
				f = f[1:]
			}
			st := &dockerStage{}
			switch {
			case len(f) == 1:
				st.image = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.image, st.name = f[0], f[2]
			default:
				return fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", in.line, in.args)
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !pending {
			pending, start = true, i+1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if pending {
		return nil, errors.New("the last instruction ends in a line continuation")
	}
	return stages, nil
}

// execForm parses an instruction's JSON array (exec) form.
func execForm(in dockerInstruction) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		return nil, fmt.Errorf("line %d: %s %s is not in exec form (a JSON array of strings)", in.line, in.cmd, in.args)
	}
	return argv, nil
}

// envPairs parses ENV NAME=value NAME2="value 2" (the NAME value form is
// legacy, and refused).
func envPairs(in dockerInstruction) (map[string]string, error) {
	out := map[string]string{}
	rest := in.args
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		name, after, ok := strings.Cut(rest, "=")
		if !ok || strings.ContainsAny(name, " \t\"'") {
			return nil, fmt.Errorf("line %d: ENV %s: want NAME=value pairs", in.line, in.args)
		}
		var value string
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("line %d: ENV: unterminated quote", in.line)
			}
			value, rest = after[1:1+end], after[2+end:]
		} else {
			value, rest, _ = strings.Cut(after, " ")
		}
		out[name] = value
	}
	return out, nil
}

// shellWord splits a shell-form command into words, enough for the go
// build line and Environment= lines (no nested quotes or escapes).
var shellWord = regexp.MustCompile(`(?:[^\s"']+|"[^"]*"|'[^']*')+`)

// goLine is the go directive of go.mod.
func goLine(t checker) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return m[1]
}

// dockerImage is what the Dockerfile's final stage would run: its
// entrypoint and command, its environment, the ports and volumes it
// declares.
type dockerImage struct {
	entrypoint, cmd []string
	env             map[string]string
	expose, volumes []string
}

// checkDockerfile checks the Dockerfile's properties that matter and
// returns what its image would run.
func checkDockerfile(t checker, text string) *dockerImage {
	t.Helper()
	stages, err := parseDockerfile(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): want a multi-stage build (a Go build stage, then a small final image)", len(stages))
	}
	for _, st := range stages {
		for _, in := range st.all("ADD") {
			t.Errorf("line %d: ADD %s: use COPY (ADD fetches URLs and unpacks archives, and nothing here needs either)", in.line, in.args)
		}
	}

	// The build stage: the Go of go.mod, static, reproducible, stamped.
	build := stages[0]
	want := goLine(t)
	tag, ok := strings.CutPrefix(build.image, "golang:")
	if !ok || !(tag == want || strings.HasPrefix(tag, want+"-")) {
		t.Errorf("build stage FROM %s: want golang:%s (go.mod's go line), optionally with a -variant suffix", build.image, want)
	}
	if build.name == "" {
		t.Errorf("build stage FROM %s has no name (AS build), for COPY --from", build.image)
	}
	var goBuild []string
	cgoOff := false
	for _, in := range build.ins {
		switch in.cmd {
		case "ENV":
			env, err := envPairs(in)
			if err != nil {
				t.Fatal(err)
			}
			if env["CGO_ENABLED"] == "0" {
				cgoOff = true
			}
		case "RUN":
			words := shellWord.FindAllString(in.args, -1)
			for i := 0; i+1 < len(words); i++ {
				if words[i] == "go" && words[i+1] == "build" {
					if goBuild != nil {
						t.Errorf("line %d: a second go build", in.line)
					}
					goBuild = words[i:]
					if i > 0 && words[i-1] == "CGO_ENABLED=0" {
						cgoOff = true
					}
				}
			}
		}
	}
	if !cgoOff {
		t.Error("the build stage does not set CGO_ENABLED=0: the binary would link libc and not run on distroless/static or scratch")
	}
	if goBuild == nil {
		t.Fatal("the build stage has no RUN ... go build")
	}
	var out, ldflags string
	var trimpath, builtMain bool
	for i := 0; i < len(goBuild); i++ {
		w := goBuild[i]
		next := func() string {
			if i+1 < len(goBuild) {
				i++
				return strings.Trim(goBuild[i], `"'`)
			}
			return ""
		}
		switch {
		case w == "&&" || w == ";":
			i = len(goBuild)
		case w == "-trimpath":
			trimpath = true
		case w == "-o":
			out = next()
		case w == "-ldflags":
			ldflags = next()
		case strings.HasPrefix(w, "-ldflags="):
			ldflags = strings.Trim(strings.TrimPrefix(w, "-ldflags="), `"'`)
		case w == "./cmd/latchkey":
			builtMain = true
		}
	}
	if !trimpath {
		t.Error("go build without -trimpath: the binary would carry the build machine's paths")
	}
	if !builtMain {
		t.Errorf("go build does not build ./cmd/latchkey: %s", strings.Join(goBuild, " "))
	}
	ld := strings.Fields(ldflags)
	for _, f := range []string{"-s", "-w"} {
		if !slices.Contains(ld, f) {
			t.Errorf("-ldflags %q lacks %s", ldflags, f)
		}
	}
	// main.version and main.commit are the variables of version.go; the
	// compiler checks that they still exist under these names.
	_, _ = version, commit
	for _, v := range []string{"main.version=", "main.commit="} {
		if !slices.ContainsFunc(ld, func(s string) bool { return strings.HasPrefix(s, v) }) || !slices.Contains(ld, "-X") {
			t.Errorf("-ldflags %q does not set %s from a build argument (-X %s${...})", ldflags, strings.TrimSuffix(v, "="), v)
		}
	}
	if out == "" {
		t.Fatal("go build has no -o: cannot tell which file the final stage must copy")
	}

	// The final stage: distroless or scratch, not root.
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("final stage FROM %s: want gcr.io/distroless/static-* or scratch", final.image)
	}
	user := ""
	if strings.HasSuffix(final.image, ":nonroot") {
		user = "65532:65532"
	}
	for _, in := range final.all("USER") {
		user = in.args
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("the final image runs as %q: want a non-root USER (distroless's nonroot is 65532)", user)
	}
	img := &dockerImage{env: map[string]string{}}
	copied := map[string]string{} // destination in the final image -> COPY flags
	for _, in := range final.ins {
		switch in.cmd {
		case "ENV":
			env, err := envPairs(in)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range env {
				img.env[k] = v
			}
		case "EXPOSE":
			img.expose = append(img.expose, strings.Fields(in.args)...)
		case "VOLUME":
			if v, err := execForm(in); err == nil {
				img.volumes = append(img.volumes, v...)
			} else {
				img.volumes = append(img.volumes, strings.Fields(in.args)...)
			}
		case "ENTRYPOINT":
			if img.entrypoint, err = execForm(in); err != nil {
				t.Error(err) // shell form: the server would not get SIGTERM
			}
		case "CMD":
			if img.cmd, err = execForm(in); err != nil {
				t.Error(err)
			}
		case "COPY":
			f := strings.Fields(in.args)
			var flags []string
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				flags, f = append(flags, f[0]), f[1:]
			}
			if len(f) == 2 {
				copied[f[1]] = strings.Join(append(flags, "src="+f[0]), " ")
			}
		case "HEALTHCHECK":
			if !strings.EqualFold(strings.TrimSpace(in.args), "NONE") {
				t.Errorf("line %d: HEALTHCHECK %s: the final image has no shell, curl or wget to run it; document the orchestrator's probes of /healthz and /readyz", in.line, in.args)
			}
		}
	}
	if len(img.entrypoint) != 1 {
		t.Fatalf("ENTRYPOINT %q: want the binary alone, as [\"/latchkey\"], with the command in CMD", img.entrypoint)
	}
	if flags, ok := copied[img.entrypoint[0]]; !ok || !strings.Contains(flags, "--from="+build.name) || !strings.Contains(flags, "src="+out) {
		t.Errorf("ENTRYPOINT %s is not the binary built at %s, copied with COPY --from=%s (got %q)", img.entrypoint[0], out, build.name, flags)
	}
	if len(img.cmd) == 0 || img.cmd[0] != "serve" {
		t.Errorf("CMD %q: want serve", img.cmd)
	}
	checkNoShadowingFlags(t, "the Dockerfile's CMD", img.cmd)
	// A named volume starts as a copy of the image's directory: the
	// server's user must own it, or the server cannot write its database.
	for _, v := range img.volumes {
		flags, ok := copied[v]
		if !ok || !strings.Contains(flags, "--chown="+uid+":") {
			t.Errorf("VOLUME %s: the image must hold that directory owned by the server's user %s (COPY --chown=%s:... into it); got %q", v, uid, uid, flags)
		}
	}
	return img
}

// checkNoShadowingFlags fails for settings given as flags: a flag beats
// its LATCHKEY_* variable, so that an image, a Compose file or a unit that
// passed --db would make the operator's LATCHKEY_DB silently ignored.
func checkNoShadowingFlags(t checker, where string, argv []string) {
	t.Helper()
	for _, a := range argv[min(1, len(argv)):] {
		if strings.HasPrefix(a, "-") {
			t.Errorf("%s passes %s: give settings as LATCHKEY_* variables, which operators can then override (a flag beats its variable)", where, a)
		}
	}
}

// serverConfig parses what a deployment would run with the server's own
// configuration parser.
func serverConfig(t checker, where string, argv []string, env map[string]string) *config {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("%s: no command", where)
	}
	cfg, err := parseConfig(argv[0], argv[1:], func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("%s: latchkey %s with %v: %v", where, strings.Join(argv, " "), env, err)
	}
	return cfg
}

// listensEverywhere checks that addr is reachable from outside a container,
// on the port given.
func listensEverywhere(t checker, where, addr, port string) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: address %q: %v", where, addr, err)
	}
	if host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: the server listens on %s: unreachable through a published port; want 0.0.0.0:%s", where, addr, port)
	}
	if p != port {
		t.Errorf("%s: the server listens on port %s, but %s is the one published", where, p, port)
	}
}

func TestDockerfile(t *testing.T) {
	img := checkDockerfile(t, readRepoFile(t, "deploy/Dockerfile"))
	if len(img.expose) != 1 {
		t.Fatalf("EXPOSE %q: want one port", img.expose)
	}
	port, _, _ := strings.Cut(img.expose[0], "/")
	for _, argv := range [][]string{img.cmd, {"bootstrap"}} {
		cfg := serverConfig(t, "the image", argv, img.env)
		if argv[0] == "serve" {
			listensEverywhere(t, "the image", cfg.addr, port)
		}
		// Every command run in the image finds the same database, in
		// the volume.
		if cfg.sqlitePath == "" || !slices.Contains(img.volumes, cfg.dataDir) {
			t.Errorf("latchkey %s in the image uses %s, outside the volumes %q: the database would die with the container", argv[0], cfg.db, img.volumes)
		}
	}
}

// TestDockerfileChecksFail makes sure checkDockerfile can fail: each broken
// variant of the real Dockerfile must be refused.
func TestDockerfileChecksFail(t *testing.T) {
	good := readRepoFile(t, "deploy/Dockerfile")
	for name, edit := range map[string][2]string{
		"cgo":        {"CGO_ENABLED=0", "CGO_ENABLED=1"},
		"root":       {"USER 65532:65532", "USER root"},
		"shell form": {`ENTRYPOINT ["/latchkey"]`, "ENTRYPOINT /latchkey"},
		"add url":    {"COPY go.mod go.sum ./", "ADD https://example.com/x.tar.gz /x\nCOPY go.mod go.sum ./"},
		"fat image":  {"FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12"},
		"old go":     {"FROM golang:" + goLine(t), "FROM golang:1.20"},
		"no trim":    {"-trimpath", ""},
		"loopback":   {"LATCHKEY_ADDR=0.0.0.0:8080", "LATCHKEY_ADDR=127.0.0.1:8080"},
		"db flag":    {`CMD ["serve"]`, `CMD ["serve", "--db", "sqlite:/data/latchkey.db"]`},
		"volume":     {"--chown=65532:65532 /out/data /data", "/out/data /data"},
		"healthcurl": {`CMD ["serve"]`, "HEALTHCHECK CMD curl -f http://localhost:8080/healthz\nCMD [\"serve\"]"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(good, edit[0]) {
				t.Fatalf("the Dockerfile no longer contains %q: update this test", edit[0])
			}
			bad := strings.Replace(good, edit[0], edit[1], 1)
			failure := failsCheck(func(c checker) {
				img := checkDockerfile(c, bad)
				cfg := serverConfig(c, "the image", img.cmd, img.env)
				listensEverywhere(c, "the image", cfg.addr, "8080")
			})
			if failure == "" {
				t.Errorf("a Dockerfile with %q replaced by %q passed the checks", edit[0], edit[1])
			}
			t.Log(failure)
		})
	}
}

// checker is what the checks report to: a *testing.T, or a recorder when a
// test makes sure that a check fails.
type checker interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// recorder is a checker that remembers the first failure; Fatal stops the
// check by a panic that failsCheck recovers.
type recorder struct{ failure string }

type stopCheck struct{}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	if r.failure == "" {
		r.failure = fmt.Sprint(args...)
	}
}
func (r *recorder) Errorf(format string, args ...any) { r.Error(fmt.Sprintf(format, args...)) }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); panic(stopCheck{}) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); panic(stopCheck{}) }

// failsCheck runs check and returns its first failure, "" if none.
func failsCheck(check func(c checker)) (failure string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stopCheck); !ok {
				panic(p)
			}
		}
		failure = r.failure
	}()
	check(r)
	return r.failure
}

// --- .dockerignore ---

// dockerignore is the patterns of a .dockerignore, matched as Docker does
// for patterns without exceptions: a path is left out if a pattern matches
// it or one of its parent directories; * and ? stay within one path
// element, ** spans any number.
type dockerignore []*regexp.Regexp

func parseDockerignore(text string) (dockerignore, error) {
	var out dockerignore
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			return nil, fmt.Errorf("pattern %s: exceptions are not emulated by this test; list what to leave out instead", p)
		}
		p = path.Clean(strings.TrimPrefix(p, "/"))
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			case c == '[' || c == '\\':
				return nil, fmt.Errorf("pattern %s: character classes and escapes are not emulated by this test", p)
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		out = append(out, regexp.MustCompile(re.String()))
	}
	return out, sc.Err()
}

func (d dockerignore) excludes(name string) bool {
	for p := name; p != "." && p != "/"; p = path.Dir(p) {
		for _, re := range d {
			if re.MatchString(p) {
				return true
			}
		}
	}
	return false
}

// TestDockerfileContext checks that the build context keeps every file the Go
// build of cmd/latchkey reads (sources, embedded files, go.mod, go.sum) and
// leaves out secrets and databases, and that the check can fail.
func TestDockerfileContext(t *testing.T) {
	need := buildFiles(t)
	good := readRepoFile(t, ".dockerignore")
	checkDockerignore(t, good, need)
	for name, edit := range map[string][2]string{
		"sql":     {"\ndocs\n", "\ndocs\n**/*.sql\n"},
		"store":   {"\ndocs\n", "\ndocs\nstore\n"},
		"go.sum":  {"\ndocs\n", "\ndocs\ngo.*\n"},
		"env":     {"\n**/*.env\n", "\n"},
		"git":     {"\n.git\n", "\n"},
		"db":      {"\n**/*.db\n", "\n"},
		"unknown": {"\ndocs\n", "\ndocs\n!docs/x\n"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(good, edit[0]) {
				t.Fatalf(".dockerignore no longer contains %q: update this test", edit[0])
			}
			failure := failsCheck(func(c checker) { checkDockerignore(c, strings.Replace(good, edit[0], edit[1], 1), need) })
			if failure == "" {
				t.Errorf("a .dockerignore with %q replaced by %q passed the checks", edit[0], edit[1])
			}
			t.Log(failure)
		})
	}
}

// buildFiles lists the files the image's go build reads: go.mod, go.sum,
// and the files of every package of this module that cmd/latchkey
// compiles, for Linux with cgo off, as in the Dockerfile.
func buildFiles(t *testing.T) []string {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles,CgoFiles,SFiles,HFiles,SysoFiles", "./cmd/latchkey")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			Dir                                                      string
			Module                                                   *struct{ Path string }
			GoFiles, EmbedFiles, CgoFiles, SFiles, HFiles, SysoFiles []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/latchkey/latchkey" {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, files := range [][]string{p.GoFiles, p.EmbedFiles, p.CgoFiles, p.SFiles, p.HFiles, p.SysoFiles} {
			for _, f := range files {
				need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if !slices.ContainsFunc(need, func(s string) bool { return strings.HasPrefix(s, "store/sqlite/migrations/") }) {
		t.Fatalf("go list found only %d files, without the SQLite migrations: %q", len(need), need)
	}
	return need
}

// checkDockerignore checks that the build context keeps every file the
// build needs and leaves out secrets and databases.
func checkDockerignore(t checker, text string, need []string) {
	t.Helper()
	ignore, err := parseDockerignore(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range need {
		if ignore.excludes(f) {
			t.Errorf(".dockerignore leaves out %s, which the image's go build needs", f)
		}
	}
	for _, f := range []string{".git/config", "data/latchkey.db", "data/master.key", "data/initial-credentials.json",
		"deploy/.env", "latchkey.env", "some/dir/prod.env", "master.key", "some/dir/latchkey.db", "some/dir/latchkey.db-wal", "tests/e2e/node_modules/x/index.js", "latchkey"} {
		if !ignore.excludes(f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

// --- docker-compose.yml ---

// parseYAMLSubset parses the YAML the Compose example is written in: block
// maps and lists of scalars, plain or quoted scalars, flow lists of
// scalars, comments. Anything else is an error, so that a change to the
// file that this test cannot follow is noticed rather than misread.
func parseYAMLSubset(text string) (map[string]any, error) {
	type line struct {
		n, indent int
		text      string
	}
	var lines []line
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "\t") {
			return nil, fmt.Errorf("line %d: a tab: YAML indents with spaces", i+1)
		}
		body := stripYAMLComment(l)
		if strings.TrimSpace(body) == "" {
			continue
		}
		indent := len(body) - len(strings.TrimLeft(body, " "))
		lines = append(lines, line{i + 1, indent, strings.TrimSpace(body)})
	}
	var block func(i, indent int) (any, int, error)
	block = func(i, indent int) (any, int, error) {
		if strings.HasPrefix(lines[i].text, "- ") || lines[i].text == "-" {
			var list []any
			for ; i < len(lines) && lines[i].indent == indent; i++ {
				item, ok := strings.CutPrefix(lines[i].text, "- ")
				if !ok {
					return nil, 0, fmt.Errorf("line %d: want a list item", lines[i].n)
				}
				if k, _, isMap := splitYAMLKey(item); isMap && k != "" {
					return nil, 0, fmt.Errorf("line %d: lists of maps are not in the subset this test reads", lines[i].n)
				}
				v, err := yamlScalar(item)
				if err != nil {
					return nil, 0, fmt.Errorf("line %d: %v", lines[i].n, err)
				}
				list = append(list, v)
			}
			return list, i, nil
		}
		m := map[string]any{}
		for i < len(lines) && lines[i].indent == indent {
			k, v, ok := splitYAMLKey(lines[i].text)
			if !ok {
				return nil, 0, fmt.Errorf("line %d: want key: value", lines[i].n)
			}
			if _, dup := m[k]; dup {
				return nil, 0, fmt.Errorf("line %d: %s given twice", lines[i].n, k)
			}
			i++
			switch {
			case v != "":
				s, err := yamlScalar(v)
				if err != nil {
					return nil, 0, fmt.Errorf("line %d: %v", lines[i-1].n, err)
				}
				m[k] = s
			case i < len(lines) && lines[i].indent > indent:
				child, next, err := block(i, lines[i].indent)
				if err != nil {
					return nil, 0, err
				}
				m[k], i = child, next
			default:
				m[k] = nil
			}
		}
		if i < len(lines) && lines[i].indent > indent {
			return nil, 0, fmt.Errorf("line %d: unexpected indentation", lines[i].n)
		}
		return m, i, nil
	}
	if len(lines) == 0 || lines[0].indent != 0 {
		return nil, errors.New("want a map at the top")
	}
	v, i, err := block(0, 0)
	if err != nil {
		return nil, err
	}
	if i != len(lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", lines[i].n)
	}
	return v.(map[string]any), nil
}

// stripYAMLComment cuts a comment: a # at the start or after a space,
// outside quotes.
func stripYAMLComment(l string) string {
	var quote byte
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' '):
			return l[:i]
		}
	}
	return l
}

// splitYAMLKey splits "key: value" or "key:".
func splitYAMLKey(s string) (key, value string, ok bool) {
	if k, ok := strings.CutSuffix(s, ":"); ok && !strings.ContainsAny(k, " \"'") {
		return k, "", true
	}
	k, v, ok := strings.Cut(s, ": ")
	if !ok || strings.ContainsAny(k, " \"'[{") {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

func yamlScalar(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "["):
		inner, ok := strings.CutSuffix(strings.TrimPrefix(s, "["), "]")
		if !ok {
			return nil, fmt.Errorf("flow list %s: want [a, b] on one line", s)
		}
		var list []any
		for _, w := range regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'|[^,]+`).FindAllString(inner, -1) {
			if w = strings.TrimSpace(w); w == "" {
				continue
			}
			v, err := yamlScalar(w)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"):
		inner, ok := strings.CutSuffix(strings.TrimPrefix(s, "'"), "'")
		if !ok {
			return nil, fmt.Errorf("unterminated quote: %s", s)
		}
		return strings.ReplaceAll(inner, "''", "'"), nil
	case strings.ContainsAny(s[:1], "{&*!|>%@`"):
		return nil, fmt.Errorf("%s: not in the subset this test reads", s)
	}
	return s, nil
}

// yamlGet walks a parsed document by keys.
func yamlGet(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func yamlString(v any, keys ...string) string {
	s, _ := yamlGet(v, keys...).(string)
	return s
}

// interpolation is Compose's ${NAME}, ${NAME:?message} and the like.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?-][^}]*)?\}`)

// interpolate fills in each ${NAME...} with vars[NAME]; a missing one is an
// error, as it is for Compose with :?.
func interpolate(s string, vars map[string]string) (string, error) {
	var missing []string
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		name := interpolation.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if missing != nil {
		return "", fmt.Errorf("%s: no value for %v", s, missing)
	}
	return out, nil
}

func TestCompose(t *testing.T) {
	checkCompose(t, readRepoFile(t, "deploy/docker-compose.yml"))
}

// TestComposeChecksFail makes sure checkCompose can fail.
func TestComposeChecksFail(t *testing.T) {
	good := readRepoFile(t, "deploy/docker-compose.yml")
	for name, edit := range map[string][2]string{
		"inline key":  {"${LATCHKEY_MASTER_KEY:?", "bWFzdGVyIGtleSBmb3IgdGhlIHRlc3Qgb25seSAzMiE= #"},
		"inline pass": {"POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?", "POSTGRES_PASSWORD: hunter2 #"},
		"no wait":     {"condition: service_healthy", "condition: service_started"},
		"old pg":      {"image: postgres:16", "image: postgres:13"},
		"no probe":    {"pg_isready -U latchkey -d latchkey", "true"},
		"loopback":    {"LATCHKEY_ADDR: 0.0.0.0:8080", "LATCHKEY_ADDR: 127.0.0.1:8080"},
		"wrong host":  {"@postgres:5432/", "@localhost:5432/"},
		"sqlite":      {"LATCHKEY_DB: postgres://", "LATCHKEY_DB_UNUSED: postgres://"},
		"db flag":     {"    ports:", "    command: [serve, --db, \"sqlite:/data/latchkey.db\"]\n    ports:"},
		"tab":         {"    image: latchkey", "\timage: latchkey"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(good, edit[0]) {
				t.Fatalf("the Compose file no longer contains %q: update this test", edit[0])
			}
			failure := failsCheck(func(c checker) { checkCompose(c, strings.Replace(good, edit[0], edit[1], 1)) })
			if failure == "" {
				t.Errorf("a Compose file with %q replaced by %q passed the checks", edit[0], edit[1])
			}
			t.Log(failure)
		})
	}
}

func checkCompose(t checker, text string) {
	t.Helper()
	doc, err := parseYAMLSubset(text)
	if err != nil {
		t.Fatalf("deploy/docker-compose.yml: %v", err)
	}
	// No secret is written in the file: a master key is 32 bytes of
	// base64, 44 characters.
	if m := regexp.MustCompile(`[A-Za-z0-9+/]{43}=`).FindString(text); m != "" {
		t.Errorf("deploy/docker-compose.yml holds what looks like a master key: %s; take it from .env as ${LATCHKEY_MASTER_KEY}", m)
	}

	pg := yamlGet(doc, "services", "postgres")
	if pg == nil {
		t.Fatal("no postgres service")
	}
	if m := regexp.MustCompile(`^postgres:(\d+)`).FindStringSubmatch(yamlString(pg, "image")); m == nil {
		t.Errorf("postgres image %q: want postgres:16 or another version from 15", yamlString(pg, "image"))
	} else if n, _ := strconv.Atoi(m[1]); n < 15 {
		t.Errorf("postgres image %s: Latchkey needs PostgreSQL 15 or newer", yamlString(pg, "image"))
	}
	test, _ := yamlGet(pg, "healthcheck", "test").([]any)
	if !strings.Contains(fmt.Sprint(test...), "pg_isready") {
		t.Errorf("postgres healthcheck %q: want pg_isready, so that latchkey starts once the database answers", test)
	}

	lk := yamlGet(doc, "services", "latchkey")
	if lk == nil {
		t.Fatal("no latchkey service")
	}
	if c := yamlString(lk, "depends_on", "postgres", "condition"); c != "service_healthy" {
		t.Errorf("latchkey depends_on postgres with condition %q: want service_healthy", c)
	}
	if ctx, df := yamlString(lk, "build", "context"), yamlString(lk, "build", "dockerfile"); path.Clean(path.Join("deploy", ctx)) != "." || df != "deploy/Dockerfile" {
		t.Errorf("latchkey build: context %q and dockerfile %q: want the repository root (..) and deploy/Dockerfile", ctx, df)
	}

	// What the latchkey container would run: the image's environment, then
	// the service's, the interpolated secrets filled in.
	secrets := map[string]string{"LATCHKEY_MASTER_KEY": "bWFzdGVyIGtleSBmb3IgdGhlIHRlc3Qgb25seSAzMiE=", "POSTGRES_PASSWORD": "0123abcd"}
	img := checkDockerfile(t, readRepoFile(t, "deploy/Dockerfile"))
	env := map[string]string{}
	for k, v := range img.env {
		env[k] = v
	}
	lkEnv, _ := yamlGet(lk, "environment").(map[string]any)
	for k, v := range lkEnv {
		s, _ := v.(string)
		if regexp.MustCompile(`(^|_)(KEY|PASSWORD|SECRET|TOKEN)(_|$)`).MatchString(k) && !interpolation.MatchString(s) {
			t.Errorf("latchkey environment %s is written in the file: take it from .env, as ${%s}", k, k)
		}
		if env[k], err = interpolate(s, secrets); err != nil {
			t.Fatal(err)
		}
	}
	pgEnv, _ := yamlGet(pg, "environment").(map[string]any)
	if s, _ := pgEnv["POSTGRES_PASSWORD"].(string); !interpolation.MatchString(s) {
		t.Errorf("postgres POSTGRES_PASSWORD %q: take it from .env, as ${POSTGRES_PASSWORD}", s)
	}
	argv := img.cmd
	if c, ok := yamlGet(lk, "command").([]any); ok {
		argv = nil
		for _, a := range c {
			argv = append(argv, fmt.Sprint(a))
		}
	}
	checkNoShadowingFlags(t, "the latchkey service's command", argv)
	cfg := serverConfig(t, "the latchkey service", argv, env)

	ports, _ := yamlGet(lk, "ports").([]any)
	if len(ports) != 1 {
		t.Fatalf("latchkey ports %q: want one, HOST:CONTAINER", ports)
	}
	s := fmt.Sprint(ports[0])
	published := s[strings.LastIndex(s, ":")+1:]
	listensEverywhere(t, "the latchkey service", cfg.addr, published)

	u, err := url.Parse(cfg.postgresDSN)
	if cfg.postgresDSN == "" || err != nil {
		t.Fatalf("the latchkey service's database is %q, not the postgres service", cfg.db)
	}
	pw, _ := u.User.Password()
	if u.Hostname() != "postgres" || u.Port() != "5432" || u.User.Username() != pgEnv["POSTGRES_USER"] ||
		pw != secrets["POSTGRES_PASSWORD"] || strings.TrimPrefix(u.Path, "/") != pgEnv["POSTGRES_DB"] {
		t.Errorf("LATCHKEY_DB %s does not name the postgres service's database %v as its user %v with its password", cfg.redactedDB(), pgEnv["POSTGRES_DB"], pgEnv["POSTGRES_USER"])
	}
	if cfg.masterKeyText != secrets["LATCHKEY_MASTER_KEY"] && cfg.masterKeyFile == "" {
		t.Error("the latchkey service gets no master key")
	}
}

// --- latchkey.service ---

// systemdUnit is a unit file's assignments, by section then key, in order.
type systemdUnit map[string]map[string][]string

func parseSystemdUnit(text string) (systemdUnit, error) {
	u := systemdUnit{}
	section := ""
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasSuffix(l, `\`):
			return nil, fmt.Errorf("line %d: continuation lines are not read by this test", i+1)
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: want Key=value in a section: %s", i+1, l)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, nil
}

// last is a setting's effective value: its last assignment; ok is false
// when unset.
func (u systemdUnit) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func TestSystemdUnit(t *testing.T) {
	checkSystemdUnit(t, readRepoFile(t, "deploy/latchkey.service"))
}

// TestSystemdUnitChecksFail makes sure checkSystemdUnit can fail.
func TestSystemdUnitChecksFail(t *testing.T) {
	good := readRepoFile(t, "deploy/latchkey.service")
	for name, edit := range map[string][2]string{
		"root":       {"User=latchkey", "User=root"},
		"writable":   {"\nProtectSystem=strict", "\nProtectSystem=full"},
		"caps":       {"CapabilityBoundingSet=\n", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"},
		"families":   {"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK"},
		"no filter":  {"SystemCallFilter=@system-service", "#"},
		"wxmem":      {"MemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=no"},
		"overridden": {"MemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=yes\nMemoryDenyWriteExecute=no"},
		"db flag":    {"ExecStart=/usr/local/bin/latchkey serve", "ExecStart=/usr/local/bin/latchkey serve --db sqlite:/var/lib/latchkey/latchkey.db"},
		"elsewhere":  {"Environment=LATCHKEY_DB=sqlite:/var/lib/latchkey/latchkey.db", "Environment=LATCHKEY_DB=sqlite:/srv/latchkey.db"},
		"no env":     {"EnvironmentFile=-/etc/latchkey/env", "#"},
		"umask":      {"UMask=0077", "UMask=0022"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(good, edit[0]) {
				t.Fatalf("the unit no longer contains %q: update this test", edit[0])
			}
			failure := failsCheck(func(c checker) { checkSystemdUnit(c, strings.Replace(good, edit[0], edit[1], 1)) })
			if failure == "" {
				t.Errorf("a unit with %q replaced by %q passed the checks", edit[0], edit[1])
			}
			t.Log(failure)
		})
	}
}

func checkSystemdUnit(t checker, text string) {
	t.Helper()
	u, err := parseSystemdUnit(text)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
		"ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "RestrictRealtime": "yes",
		"RestrictSUIDSGID": "yes", "UMask": "0077", "Restart": "on-failure",
		"CapabilityBoundingSet": "", "StateDirectory": "latchkey", "EnvironmentFile": "-/etc/latchkey/env",
	} {
		if got, ok := u.last("Service", key); !ok || got != want {
			t.Errorf("[Service] %s=%s (set: %v): want %s=%s", key, got, ok, key, want)
		}
	}
	if got, _ := u.last("Service", "RestrictAddressFamilies"); !slices.Equal(slices.Sorted(slices.Values(strings.Fields(got))), []string{"AF_INET", "AF_INET6", "AF_UNIX"}) {
		t.Errorf("RestrictAddressFamilies=%s: want AF_INET AF_INET6 AF_UNIX", got)
	}
	if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter %q: want @system-service first", f)
	}
	dynamic, _ := u.last("Service", "DynamicUser")
	user, _ := u.last("Service", "User")
	if dynamic != "yes" && (user == "" || user == "root" || user == "0") {
		t.Errorf("the service runs as %q: want DynamicUser=yes or a dedicated User=", user)
	}
	if got, _ := u.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%s: want multi-user.target", got)
	}

	execStart, _ := u.last("Service", "ExecStart")
	argv := strings.Fields(execStart)
	if len(argv) < 2 || argv[0] != "/usr/local/bin/latchkey" {
		t.Fatalf("ExecStart=%s: want /usr/local/bin/latchkey serve", execStart)
	}
	checkNoShadowingFlags(t, "ExecStart", argv[1:])
	// Environment= lines, as systemd reads them: NAME=value words, quoted
	// or not; EnvironmentFile= overrides them.
	env := map[string]string{}
	for _, line := range u["Service"]["Environment"] {
		for _, w := range shellWord.FindAllString(line, -1) {
			k, v, ok := strings.Cut(strings.Trim(w, `"`), "=")
			if !ok {
				t.Fatalf("Environment=%s: want NAME=value", line)
			}
			env[k] = v
		}
	}
	cfg := serverConfig(t, "the unit", argv[1:], env)
	if state := "/var/lib/latchkey"; cfg.dataDir != state {
		t.Errorf("the unit's database is %s, outside its StateDirectory %s, the one directory ProtectSystem=strict lets it write", cfg.db, state)
	}
}
