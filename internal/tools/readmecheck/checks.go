package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// The checks of blocks that are not run in the shell session. Each
// returns what it ran and its output, and an error if the block fails.

// checkJSON: the block must be one JSON value.
func checkJSON(p Plan) (string, error) {
	dec := json.NewDecoder(strings.NewReader(p.Text))
	var v any
	err := dec.Decode(&v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line := p.Line + 1 + strings.Count(p.Text[:syn.Offset], "\n")
			return "", fmt.Errorf("not valid JSON at %s:%d: %v (if it is an illustration, mark it <!-- readme: output -->)", p.Doc, line, err)
		}
		return "", fmt.Errorf("not valid JSON: %v (if it is an illustration, mark it <!-- readme: output -->)", err)
	}
	return "valid JSON", nil
}

var tomlName = regexp.MustCompile(`^#\s*([\w.-]+\.toml)\s*$`)

// checkTOML: the real binary loads the file, named as its first comment
// names it, and prints the settings it would run with.
func (r *runner) checkTOML(ctx context.Context, p Plan) (string, error) {
	name := "config.toml"
	if first, _, _ := strings.Cut(p.Text, "\n"); tomlName.MatchString(first) {
		name = tomlName.FindStringSubmatch(first)[1]
	}
	dir := filepath.Join(r.ws.scratch, fmt.Sprintf("toml-%d", p.Line))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(p.Text), 0o644); err != nil {
		return "", err
	}
	out, err := r.command(ctx, r.ws.repo, r.env, "go", "run", "./cmd/latchkey", "config", "print", "--config", file)
	if err != nil {
		return out, err
	}
	// Every setting the file names must be taken from it.
	var fromFile []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && strings.HasSuffix(line, "config file "+file) {
			fromFile = append(fromFile, f[0])
		}
	}
	for _, m := range tomlKey.FindAllStringSubmatch(p.Text, -1) {
		if !slices.Contains(fromFile, m[1]) {
			return out, fmt.Errorf("latchkey config print does not say it took %s from the file", m[1])
		}
	}
	return fmt.Sprintf("latchkey config print --config %s took %s from it", name, strings.Join(fromFile, ", ")), nil
}

var tomlKey = regexp.MustCompile(`(?m)^\s*([A-Za-z0-9_-]+)\s*=`)

// checkNginx: nginx -t accepts the snippet inside a minimal configuration
// (a location inside a server, anything else inside http, unless it is a
// whole configuration).
func (r *runner) checkNginx(ctx context.Context, p Plan) (string, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return "", errors.New("nginx is not installed (scripts/test-deps installs it)")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := filepath.Join(r.ws.scratch, fmt.Sprintf("nginx-%d", p.Line))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	snippet := p.Text
	first := strings.Fields(stripNginxComments(snippet))
	var conf string
	switch {
	case len(first) > 0 && (first[0] == "http" || first[0] == "events"):
		conf = snippet
		if first[0] == "http" {
			conf = "events {}\n" + conf
		}
	case len(first) > 0 && first[0] == "location":
		conf = fmt.Sprintf("events {}\nhttp {\n    server {\n        listen 127.0.0.1:8081;\n%s    }\n}\n", snippet)
	default:
		conf = fmt.Sprintf("events {}\nhttp {\n%s}\n", snippet)
	}
	conf = fmt.Sprintf("pid %[1]s/nginx.pid;\nerror_log %[1]s/error.log;\n", dir) + conf
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return "", err
	}
	if out, err := r.command(ctx, dir, r.env, bin, "-t", "-q", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", file); err != nil {
		return out, err
	}
	return "nginx -t accepts it", nil
}

func stripNginxComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		b.WriteString(line + "\n")
	}
	return b.String()
}

// checkGo builds a Go block in a scratch module that requires this module
// (replaced by the copy), as a reader's own program would. A complete
// program is built and vetted. A fragment is put in a main function (or,
// if it declares functions or types, at the top of the file) with the
// imports the package names it uses call for, and type-checked; names it
// leaves to the reader (undefined, and not package names) are allowed, and
// listed. Errors point at the document's lines.
func (r *runner) checkGo(ctx context.Context, p Plan) (string, error) {
	dir := filepath.Join(r.ws.scratch, fmt.Sprintf("go-%d", p.Line))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	goLine := "go 1.26"
	if m := regexp.MustCompile(`(?m)^go\s+\S+`).FindString(r.goMod); m != "" {
		goLine = m
	}
	mod := fmt.Sprintf("module readmecheck.invalid/block\n\n%s\n\nrequire %s v0.0.0\n\nreplace %s => %s\n",
		goLine, r.module, r.module, r.ws.repo)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return "", err
	}
	if sum, err := os.ReadFile(filepath.Join(r.ws.repo, "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
			return "", err
		}
	}
	var src string
	var free []string
	// A //line directive makes the compiler's positions the document's.
	lineDirective := fmt.Sprintf("//line %s:%d\n", p.Doc, p.Line+1)
	if p.Action == ActGoProgram {
		src = lineDirective + p.Text
	} else {
		imports, err := r.fragmentImports(p.Text)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		b.WriteString("package main\n\nimport (\n")
		for _, imp := range imports {
			fmt.Fprintf(&b, "\t%q\n", imp)
		}
		b.WriteString(")\n\n")
		if topLevel(p.Text) {
			b.WriteString(lineDirective + p.Text)
			if !regexp.MustCompile(`(?m)^func main\(\)`).MatchString(p.Text) {
				b.WriteString("\nfunc main() {}\n")
			}
		} else {
			b.WriteString("func main() {\n" + lineDirective + p.Text + "}\n")
		}
		src = b.String()
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return "", err
	}
	env := append(append([]string(nil), r.env...), "GOFLAGS="+r.goflags+" -mod=mod")
	out, err := r.command(ctx, dir, env, "go", "build", "-gcflags=-e", "-o", os.DevNull, ".")
	if p.Action == ActGoProgram {
		if err != nil {
			return out, err
		}
		vet, err := r.command(ctx, dir, env, "go", "vet", ".")
		return strings.TrimSpace(out + "\n" + vet), err
	}
	if err == nil {
		return "type-checked", nil
	}
	// A fragment: only the names it leaves to the reader may be missing.
	var other []string
	for _, line := range strings.Split(out, "\n") {
		m := compilerError.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch msg := m[1]; {
		case strings.HasPrefix(msg, "undefined: ") && !strings.Contains(msg, "."):
			free = append(free, strings.TrimPrefix(msg, "undefined: "))
		case strings.HasPrefix(msg, "declared and not used: "), strings.HasSuffix(msg, "imported and not used"):
		default:
			other = append(other, line)
		}
	}
	if len(other) > 0 || len(free) == 0 {
		return out, err
	}
	sort.Strings(free)
	return "type-checked; names left to the reader: " + strings.Join(uniq(free), ", "), nil
}

var compilerError = regexp.MustCompile(`^\S+:\d+(?::\d+)?: (.*)$`)

// topLevel says whether a fragment is declarations (func, type, import)
// rather than statements.
func topLevel(src string) bool {
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		return strings.HasPrefix(t, "func ") || strings.HasPrefix(t, "type ") || strings.HasPrefix(t, "import ")
	}
	return false
}

var (
	pkgSelector = regexp.MustCompile(`\b([a-z][a-z0-9]*)\.[A-Za-z_]`)
	goLiteral   = regexp.MustCompile("(?s)`[^`]*`|\"(?:[^\"\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\n]|\\\\.)*'|//[^\n]*|/\\*.*?\\*/")
)

// stdPackages are the standard library's packages a fragment is likely to
// use, by the name it uses them by.
var stdPackages = map[string]string{
	"bytes": "bytes", "context": "context", "errors": "errors", "fmt": "fmt", "io": "io",
	"json": "encoding/json", "log": "log", "slog": "log/slog", "http": "net/http", "httptest": "net/http/httptest",
	"url": "net/url", "os": "os", "signal": "os/signal", "filepath": "path/filepath", "strconv": "strconv",
	"strings": "strings", "sync": "sync", "time": "time",
}

// fragmentImports is the import paths of the package names a fragment
// uses: the standard library's, and this module's public packages.
func (r *runner) fragmentImports(src string) ([]string, error) {
	known := map[string]string{}
	for name, path := range stdPackages {
		known[name] = path
	}
	err := filepath.WalkDir(r.ws.repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(r.ws.repo, path)
		base := d.Name()
		if rel != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || base == "testdata" ||
			base == "node_modules" || base == "internal" || base == "cmd" || base == "tests") {
			return filepath.SkipDir
		}
		files, _ := filepath.Glob(filepath.Join(path, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly)
			if err != nil || af.Name.Name == "main" {
				break
			}
			importPath := r.module
			if rel != "." {
				importPath += "/" + filepath.ToSlash(rel)
			}
			if _, dup := known[af.Name.Name]; !dup {
				known[af.Name.Name] = importPath
			}
			break
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	code := goLiteral.ReplaceAllString(src, `""`)
	seen := map[string]bool{}
	var imports []string
	for _, m := range pkgSelector.FindAllStringSubmatch(code, -1) {
		if path, ok := known[m[1]]; ok && !seen[path] {
			seen[path] = true
			imports = append(imports, path)
		}
	}
	sort.Strings(imports)
	return imports, nil
}

func uniq(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// command runs a check's command, bounded by the step timeout, and
// returns its combined output.
func (r *runner) command(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		return text, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return text, nil
}
