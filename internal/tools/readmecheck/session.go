package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/childproc"
)

// session is one bash process that a document's shell blocks run in, one
// after another, as they would in a reader's terminal: variables, the
// current directory and functions carry from one block to the next. It
// runs with set -euo pipefail, so a failing command ends the session and
// fails its block. Each block's output goes to a log of its own.
//
// The runner feeds the session commands on its standard input and learns
// that a block has finished from a line on file descriptor 3, which the
// blocks themselves do not inherit.
type session struct {
	ws      *workspace
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	status  chan string
	exited  <-chan struct{}
	logPath string
}

// sessionInit runs first. The ERR trap says which command failed; the curl
// function adds, on standard error (the block's log), the status of every
// answer curl gets, so that a block whose requests fail (curl exits 0 on a
// 404) fails too. What a reader sees on standard output is unchanged. A
// watcher kills the session's process group (what its blocks left
// running) if the runner dies without ending it; bash itself has the
// runner's death as its parent-death signal.
const sessionInit = `set -euo pipefail
trap 'printf "readmecheck: exit status %s at line %s of the block: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR
curl() { command curl -w '%{stderr}readmecheck-http %{http_code} %{method} %{url_effective}\n' "$@"; }
( while kill -0 "$READMECHECK_RUNNER"; do sleep 1; done; kill -KILL -$$ ) >/dev/null 2>&1 </dev/null 3>&- &
echo ready >&3
`

func startSession(ctx context.Context, ws *workspace, env []string, name string) (*session, error) {
	s := &session{ws: ws, status: make(chan string, 16), logPath: filepath.Join(ws.logs, name+".session.log")}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusW.Close()
	s.cmd = exec.Command("bash", "--noprofile", "--norc")
	s.cmd.Dir, s.cmd.Env = ws.repo, append(slices.Clip(env), fmt.Sprintf("READMECHECK_RUNNER=%d", os.Getpid()))
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.ExtraFiles = []*os.File{statusW} // fd 3
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		statusR.Close()
		return nil, err
	}
	if s.exited, err = childproc.Start(s.cmd, syscall.SIGKILL); err != nil {
		statusR.Close()
		return nil, fmt.Errorf("start bash: %w", err)
	}
	go func() {
		defer close(s.status)
		defer statusR.Close()
		sc := bufio.NewScanner(statusR)
		for sc.Scan() {
			s.status <- sc.Text()
		}
	}()
	if _, err := io.WriteString(s.stdin, sessionInit); err != nil {
		s.close()
		return nil, err
	}
	if _, err := s.await(ctx, "ready", 30*time.Second); err != nil {
		s.close()
		return nil, fmt.Errorf("start bash: %w", err)
	}
	return s, nil
}

// alive says whether bash still runs.
func (s *session) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// await waits for a status line that starts with want, and returns it.
func (s *session) await(ctx context.Context, want string, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-s.status:
			if !ok {
				<-s.exited
				return "", &sessionExit{code: s.cmd.ProcessState.ExitCode()}
			}
			if strings.HasPrefix(line, want) {
				return line, nil
			}
		case <-timer.C:
			s.kill()
			return "", fmt.Errorf("timed out after %s", timeout)
		case <-ctx.Done():
			s.kill()
			return "", errors.New("interrupted")
		}
	}
}

type sessionExit struct{ code int }

func (e *sessionExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run runs script in the session, its output in the log named id, and
// returns that log's path.
func (s *session) run(ctx context.Context, id, script string, timeout time.Duration) (string, error) {
	file, log, err := s.files(id, script)
	if err != nil {
		return log, err
	}
	if !s.alive() {
		return log, errors.New("the shell session has ended")
	}
	cmd := fmt.Sprintf("{ source %s; } >%s 2>&1 </dev/null 3>&-\necho %s >&3\n", shquote(file), shquote(log), shquote("done "+id))
	if _, err := io.WriteString(s.stdin, cmd); err != nil {
		return log, err
	}
	_, err = s.await(ctx, "done "+id, timeout)
	return log, err
}

// background starts script in the background of the session, in a
// process group of its own (set -m), and returns that group. A watcher, in
// a group of its own too (so that the session's end does not take it),
// stops the group if the runner dies without stopping it; the runner ends
// the watcher when it stops the group itself.
func (s *session) background(ctx context.Context, id, script string) (pgid, watcher int, log string, err error) {
	file, log, err := s.files(id, script)
	if err != nil {
		return 0, 0, log, err
	}
	if !s.alive() {
		return 0, 0, log, errors.New("the shell session has ended")
	}
	cmd := fmt.Sprintf(`set -m
{ source %[1]s; } >%[2]s 2>&1 </dev/null 3>&- &
readmecheck_bg=$!
( while kill -0 "$READMECHECK_RUNNER"; do sleep 1; done
  kill -TERM -$readmecheck_bg && sleep 15 && kill -KILL -$readmecheck_bg
) >/dev/null 2>&1 </dev/null 3>&- &
set +m
disown $readmecheck_bg $!
echo "bg %[3]s $readmecheck_bg $!" >&3
`, shquote(file), shquote(log), id)
	if _, err := io.WriteString(s.stdin, cmd); err != nil {
		return 0, 0, log, err
	}
	line, err := s.await(ctx, "bg "+id+" ", 30*time.Second)
	if err != nil {
		return 0, 0, log, err
	}
	if _, err := fmt.Sscanf(strings.TrimPrefix(line, "bg "+id+" "), "%d %d", &pgid, &watcher); err != nil {
		return 0, 0, log, fmt.Errorf("bash said %q: %v", line, err)
	}
	return pgid, watcher, log, nil
}

func (s *session) files(id, script string) (file, log string, err error) {
	file = filepath.Join(s.ws.blocks, id+".sh")
	log = filepath.Join(s.ws.logs, id+".log")
	return file, log, os.WriteFile(file, []byte(script), 0o644)
}

// kill ends bash and whatever its blocks left in its process group.
func (s *session) kill() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-s.exited
}

// close ends the session: bash exits at the end of its input, and what
// is left in its process group (a block's own background jobs, the
// watchers) is killed. Background servers are stopped before, by the
// runner.
func (s *session) close() {
	s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
	s.kill()
}

// shquote quotes s for bash.
func shquote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
