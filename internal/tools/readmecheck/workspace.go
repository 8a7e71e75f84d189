package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// workspace is where a run happens: a fresh copy of the repository (what
// a newcomer's clone holds, plus the working tree's uncommitted changes),
// with nothing of the developer's ignored files (./data, binaries,
// node_modules), and the runner's own files beside it.
type workspace struct {
	root    string // the temporary directory, removed at the end
	repo    string // root/repo: the copy, where the blocks run
	home    string // root/home: HOME, empty at the start, as a newcomer's
	bin     string // root/bin: GOBIN, first on PATH
	blocks  string // root/blocks: each step's script
	logs    string // root/logs: each step's output
	scratch string // root/scratch: scratch modules and configurations
}

func newWorkspace(ctx context.Context, src string) (*workspace, error) {
	removeStale()
	root, err := os.MkdirTemp("", "readmecheck-")
	if err != nil {
		return nil, err
	}
	w := &workspace{root: root, repo: filepath.Join(root, "repo"), home: filepath.Join(root, "home"), bin: filepath.Join(root, "bin"),
		blocks: filepath.Join(root, "blocks"), logs: filepath.Join(root, "logs"), scratch: filepath.Join(root, "scratch")}
	if err := os.WriteFile(filepath.Join(root, "runner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return w, err
	}
	for _, d := range []string{w.home, w.bin, w.blocks, w.logs, w.scratch} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return w, err
		}
	}
	if err := copyRepo(ctx, src, w.repo); err != nil {
		return w, fmt.Errorf("copy the repository: %w", err)
	}
	return w, nil
}

// removeStale removes the workspaces of runs that were killed before they
// could remove their own (their runner no longer exists).
func removeStale() {
	pids, _ := filepath.Glob(filepath.Join(os.TempDir(), "readmecheck-*", "runner.pid"))
	for _, f := range pids {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		(&workspace{root: filepath.Dir(f)}).remove()
	}
}

func (w *workspace) remove() error {
	// Go's module cache and test binaries leave read-only files; none
	// should be here, but a block may make some.
	filepath.WalkDir(w.root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o755)
		}
		return nil
	})
	return os.RemoveAll(w.root)
}

// copyRepo makes dst a git clone of src that shares its objects (so git
// rev-parse HEAD and the build's VCS stamp work as in a clone), then puts
// src's working tree over it: the tracked files as they are now, and the
// untracked files git does not ignore. Nothing in src changes.
func copyRepo(ctx context.Context, src, dst string) error {
	git := func(dir string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	if _, err := git(src, "clone", "--quiet", "--shared", "--no-checkout", src, dst); err != nil {
		return err
	}
	list, err := git(src, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return err
	}
	for _, name := range strings.Split(string(list), "\x00") {
		if name == "" {
			continue
		}
		if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	// No tags in the copy, so that go install …@latest, through the URL
	// mapping, installs the tree under test, not the latest release.
	tags, err := git(dst, "for-each-ref", "--format=delete %(refname)", "refs/tags")
	if err != nil {
		return err
	}
	if len(tags) > 0 {
		cmd := exec.CommandContext(ctx, "git", "-C", dst, "update-ref", "--stdin")
		cmd.Stdin = bytes.NewReader(tags)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git update-ref in the copy: %v: %s", err, out)
		}
	}
	// The working tree's changes, if any, committed in the copy (never in
	// src), so that what git and the go command fetch from it (go install
	// …@latest through the URL mapping) is the tree under test. The commit
	// is made the same way each time (HEAD's date, a fixed author), so the
	// same tree gives the same commit, and the build cache keeps its work.
	if _, err := git(dst, "add", "--all"); err != nil {
		return err
	}
	if _, err := git(dst, "diff", "--cached", "--quiet"); err == nil {
		return nil // the tree is HEAD's
	}
	date, err := git(dst, "log", "-1", "--format=%cI", "HEAD")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", dst, "-c", "commit.gpgSign=false", "commit", "--quiet", "--no-verify",
		"-m", "readmecheck: the working tree under test")
	d := strings.TrimSpace(string(date))
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=readmecheck", "GIT_AUTHOR_EMAIL=readmecheck@invalid",
		"GIT_COMMITTER_NAME=readmecheck", "GIT_COMMITTER_EMAIL=readmecheck@invalid",
		"GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git commit in the copy: %v: %s", err, out)
	}
	return nil
}

func copyFile(from, to string) error {
	info, err := os.Lstat(from)
	switch {
	case os.IsNotExist(err):
		return nil // tracked, deleted in the working tree
	case err != nil:
		return err
	case info.IsDir():
		return nil // a submodule
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		return os.Symlink(target, to)
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
