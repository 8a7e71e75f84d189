package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version and commit name the build for "latchkey version". Release builds
// set them with the linker:
//
//	go build -trimpath -ldflags "-s -w -X main.version=v1.2.3 -X main.commit=$(git rev-parse --short=12 HEAD)" ./cmd/latchkey
//
// Left empty, they come from the build information Go records in every
// binary (see versionLine).
var (
	version string
	commit  string
)

// Shown when the build says nothing of its version or commit.
const (
	unknownVersion = "devel"
	unknownCommit  = "unknown"
)

// versionCommand prints "latchkey <version> (<commit>)".
func versionCommand(args []string, stdout io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, "Usage: latchkey version\n\nPrints latchkey <version> (<commit>): the build this binary was made from.\n")
		return nil
	}
	if len(args) > 0 {
		return fmt.Errorf("version takes no arguments, got %s", strings.Join(args, " "))
	}
	_, err := fmt.Fprintln(stdout, versionLine(version, commit, debug.ReadBuildInfo))
	return err
}

// versionLine is "latchkey <version> (<commit>)". A value set with -ldflags
// -X wins; else the build information decides (readBuildInfo is
// debug.ReadBuildInfo, passed in so that tests can fake it):
//   - the version is the main module's: v1.2.3 for "go install
//     github.com/latchkey/latchkey/cmd/latchkey@v1.2.3", and since Go 1.24 a
//     pseudo-version such as v0.0.0-20260102150405-0123456789ab (+dirty) for
//     "go build" in a git checkout; "(devel)" counts as unknown;
//   - the commit is vcs.revision, which "go build" in a git checkout records,
//     cut to 12 characters, with "-dirty" when vcs.modified says the tree had
//     changes; else the commit a pseudo-version names, as "go install
//     ...@latest" of an untagged commit gives.
//
// Unknown, they read "devel" and "unknown".
func versionLine(ldVersion, ldCommit string, readBuildInfo func() (*debug.BuildInfo, bool)) string {
	v, c := ldVersion, ldCommit
	if info, ok := readBuildInfo(); ok && info != nil {
		if v == "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		if c == "" {
			c = vcsCommit(info.Settings)
		}
		if c == "" {
			c = pseudoVersionCommit(info.Main.Version)
		}
	}
	if v == "" {
		v = unknownVersion
	}
	if c == "" {
		c = unknownCommit
	}
	return "latchkey " + v + " (" + c + ")"
}

// vcsCommit is the commit the build settings record, or "".
func vcsCommit(settings []debug.BuildSetting) string {
	var revision string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return ""
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		revision += "-dirty"
	}
	return revision
}

// pseudoVersionCommit is the commit a module pseudo-version ends with, as in
// v0.0.0-20260102150405-0123456789ab or v1.2.4-0.20260102150405-0123456789ab,
// or "" for any other version.
func pseudoVersionCommit(v string) string {
	dirty := strings.HasSuffix(v, "+dirty")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i] // +incompatible, +dirty
	}
	// ...[-.]yyyymmddhhmmss-abcdefabcdef
	const stamp, rev = 14, 12
	if len(v) < 1+stamp+1+rev {
		return ""
	}
	c := v[len(v)-rev:]
	t := v[len(v)-rev-1-stamp : len(v)-rev-1]
	sep, dash := v[len(v)-rev-1-stamp-1], v[len(v)-rev-1]
	if dash != '-' || (sep != '-' && sep != '.') || !allIn(t, "0123456789") || !allIn(c, "0123456789abcdef") {
		return ""
	}
	if dirty {
		c += "-dirty"
	}
	return c
}

func allIn(s, chars string) bool {
	for _, r := range s {
		if !strings.ContainsRune(chars, r) {
			return false
		}
	}
	return true
}
