package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	const pseudo = "v0.0.0-20260102150405-0123456789ab"
	info := func(version string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/latchkey/latchkey", Version: version}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, c := range []struct {
		name                string
		ldVersion, ldCommit string
		read                func() (*debug.BuildInfo, bool)
		want                string
	}{
		{"no build info", "", "", none, "latchkey devel (unknown)"},
		{"go run, go test", "", "", info("(devel)"), "latchkey devel (unknown)"},
		{"go install @v1.2.3", "", "", info("v1.2.3"), "latchkey v1.2.3 (unknown)"},
		{"go install @latest of an untagged commit", "", "", info(pseudo), "latchkey " + pseudo + " (0123456789ab)"},
		{"go install, a pre-release's pseudo-version", "", "", info("v1.2.4-0.20260102150405-abcdefabcdef"),
			"latchkey v1.2.4-0.20260102150405-abcdefabcdef (abcdefabcdef)"},
		{"go install, +incompatible", "", "", info("v2.0.1-rc.1.0.20260102150405-abcdefabcdef+incompatible"),
			"latchkey v2.0.1-rc.1.0.20260102150405-abcdefabcdef+incompatible (abcdefabcdef)"},
		{"a tag that is not a pseudo-version", "", "", info("v1.2.3-rc.20260102150405"), "latchkey v1.2.3-rc.20260102150405 (unknown)"},
		{"go build in a clean checkout", "", "", info(pseudo, "vcs", "git", "vcs.revision", rev, "vcs.modified", "false"),
			"latchkey " + pseudo + " (0123456789ab)"},
		{"go build in a modified checkout", "", "", info(pseudo+"+dirty", "vcs", "git", "vcs.revision", rev, "vcs.modified", "true"),
			"latchkey " + pseudo + "+dirty (0123456789ab-dirty)"},
		{"go build at a tag", "", "", info("v1.2.3", "vcs.revision", rev, "vcs.modified", "false"), "latchkey v1.2.3 (0123456789ab)"},
		{"older Go: (devel) with vcs settings", "", "", info("(devel)", "vcs.revision", rev, "vcs.modified", "true"),
			"latchkey devel (0123456789ab-dirty)"},
		{"a short revision", "", "", info("(devel)", "vcs.revision", "abc"), "latchkey devel (abc)"},
		{"release build: -ldflags -X", "v2.0.0", "feedface", info(pseudo+"+dirty", "vcs.revision", rev, "vcs.modified", "true"),
			"latchkey v2.0.0 (feedface)"},
		{"-X version only", "v2.0.0", "", info("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "latchkey v2.0.0 (0123456789ab)"},
		{"-X commit only", "", "feedface", none, "latchkey devel (feedface)"},
	} {
		if got := versionLine(c.ldVersion, c.ldCommit, c.read); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

var versionOutput = regexp.MustCompile(`^latchkey \S+ \(\S+\)\n$`)

func TestVersionCommand(t *testing.T) {
	want := versionLine(version, commit, debug.ReadBuildInfo) + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, env(nil), &stdout, &stderr); err != nil {
			t.Fatalf("latchkey %s: %v", args[0], err)
		}
		if stdout.String() != want || !versionOutput.MatchString(stdout.String()) {
			t.Errorf("latchkey %s printed %q, want %q", args[0], stdout.String(), want)
		}
		if stderr.Len() != 0 {
			t.Errorf("latchkey %s wrote to stderr: %q", args[0], stderr.String())
		}
	}

	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"version", "--help"}, env(nil), &stdout, &bytes.Buffer{}); err != nil ||
		!strings.HasPrefix(stdout.String(), "Usage: latchkey version") {
		t.Errorf("latchkey version --help: %v, %q", err, stdout.String())
	}
	if err := run(context.Background(), []string{"version", "extra"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("latchkey version extra: no error")
	}

	// The usage lists it.
	stdout.Reset()
	if err := run(context.Background(), []string{"help"}, env(nil), &stdout, &bytes.Buffer{}); err != nil || !strings.Contains(stdout.String(), "\n  version ") {
		t.Errorf("latchkey help does not list version: %v\n%s", err, stdout.String())
	}
}

// TestVersionBinary builds the real binary as a release build does (the
// -X flags of deploy/Dockerfile and the README) and as "go build" in a
// checkout does, and runs it.
func TestVersionBinary(t *testing.T) {
	dir := t.TempDir()
	build := func(name string, flags ...string) string {
		t.Helper()
		bin := filepath.Join(dir, name)
		args := append(append([]string{"build", "-o", bin}, flags...), ".")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return bin
	}
	runBin := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() != 0 {
			t.Fatalf("%s %s: %v, stderr %q", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}

	// Only the -X flags of the release build: -trimpath would compile every
	// package anew, minutes for the SQLite driver alone, and -s -w change
	// nothing that is read here.
	release := build("release", "-buildvcs=false", "-ldflags", "-X main.version=v9.8.7 -X main.commit=feedfacecafe")
	for _, arg := range []string{"version", "--version", "-v"} {
		if got := runBin(release, arg); got != "latchkey v9.8.7 (feedfacecafe)\n" {
			t.Errorf("release build, latchkey %s: %q", arg, got)
		}
	}

	// go build in a git checkout records the commit (this machine's
	// GOFLAGS may say -buildvcs=false, so ask for it); without git or a
	// checkout, it is unknown.
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		got := runBin(build("plain", "-buildvcs=false"), "version")
		if got != "latchkey devel (unknown)\n" {
			t.Errorf("a build without version control: %q", got)
		}
		return
	}
	got := runBin(build("checkout", "-buildvcs=true"), "version")
	short := strings.TrimSpace(string(head))[:12]
	if !regexp.MustCompile(`^latchkey \S+ \(` + short + `(-dirty)?\)\n$`).MatchString(got) {
		t.Errorf("a build in a checkout at %s: %q", short, got)
	}
}
