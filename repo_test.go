package latchkey_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goPackages returns each directory of the module holding Go files, with
// the parsed non-test files in it.
func goPackages(t *testing.T) map[string][]string {
	t.Helper()
	dirs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestPackageDocs holds every package to exactly one package doc comment.
func TestPackageDocs(t *testing.T) {
	pkgs := goPackages(t)
	if _, ok := pkgs["store/sqlite"]; !ok || len(pkgs) < 8 {
		t.Fatalf("found only %d packages; the walk is broken", len(pkgs))
	}
	for dir, files := range pkgs {
		docs := 0
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc != nil {
				docs++
			}
		}
		if docs != 1 {
			t.Errorf("%s: %d files with a package doc comment, want exactly 1", dir, docs)
		}
	}
}

// TestDomainImports keeps the domain package free of transports and
// databases: they depend on it, never the other way round.
func TestDomainImports(t *testing.T) {
	for _, file := range goPackages(t)["."] {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "net/http" || path == "database/sql" || strings.HasPrefix(path, "github.com/latchkey/latchkey/") {
				t.Errorf("%s imports %s; the domain package must not", file, path)
			}
		}
	}
}
