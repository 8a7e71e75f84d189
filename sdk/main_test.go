package sdk_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The live server every test and example of this package talks to, set by
// TestMain: the real latchkey binary, built from ../cmd/latchkey.
var (
	latchkeyURL string // such as http://127.0.0.1:40123
	adminKey    string // the secret of the account key the server made on its first start
	adminKeyID  string // that key's id
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run starts the server, runs the tests, and stops the server. A server
// that cannot be started fails the package: these tests never skip.
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "latchkey-sdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	srv, err := startServer(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests: starting latchkey:", err)
		return 1
	}
	code := m.Run()
	if err := srv.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests: stopping latchkey:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the log ends
	mu   sync.Mutex
	log  strings.Builder
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer builds the binary into dir and serves a fresh database there,
// setting latchkeyURL, adminKey and adminKeyID.
func startServer(dir string) (*server, error) {
	bin := filepath.Join(dir, "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/latchkey").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(dir, "lk.db"))
	// The server's settings come from its flags and defaults only, not from
	// whatever LATCHKEY_* the environment of the test run holds.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		latchkeyURL = "http://" + a
	case <-s.done:
		s.cmd.Wait()
		return nil, fmt.Errorf("the server stopped before listening:\n%s", s.logText())
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		s.cmd.Wait()
		return nil, fmt.Errorf("the server did not listen within 60 s:\n%s", s.logText())
	}

	b, err := os.ReadFile(filepath.Join(dir, "initial-credentials.json"))
	if err != nil {
		s.stop()
		return nil, err
	}
	var creds struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &creds); err != nil || creds.ID == "" || creds.Secret == "" {
		s.stop()
		return nil, errors.New("initial-credentials.json holds no id and secret")
	}
	adminKey, adminKeyID = creds.Secret, creds.ID
	return s, nil
}

// stop sends SIGTERM and waits for a graceful exit; after 15 s it kills.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("%w\n%s", err, s.logText())
		}
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-exited
		return fmt.Errorf("no exit within 15 s of SIGTERM:\n%s", s.logText())
	}
}
