// Package redistest runs a real Redis server for tests: Debian's
// redis-server (the redis-server package), in a temporary directory,
// listening on a Unix socket there and on no TCP port, persisting nothing.
//
// A package that shares one server among its tests calls Main from its
// TestMain, which stops the server once the tests are done:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// and each test asks for it with Shared (tests keep apart by key prefix).
// A test that stops and restarts Redis starts one of its own with Start.
// When the binary is missing, both fail the test, naming the package to
// install: tests never skip.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/internal/childproc"
)

// Server is a redis-server of the tests'.
type Server struct {
	bin  string
	dir  string // holds the socket and redis.log
	sock string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done <-chan struct{} // closed when the server has exited
}

// Main runs the tests, stops the shared server if one was started, and
// exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "redistest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// StopShared stops the shared server, if one was started, and removes its
// directory: for a TestMain that cannot call Main, because it already
// calls another package's (such as pgtest.Main), to call after m.Run.
func StopShared() error {
	if shared == nil {
		return nil
	}
	err := shared.stop()
	os.RemoveAll(shared.dir)
	return err
}

var (
	once      sync.Once
	shared    *Server
	sharedErr error
)

// Shared returns the test binary's server, starting it on the first call.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	once.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		tb.Fatalf("redistest: %v", sharedErr)
	}
	return shared
}

// Start starts a server for this test alone, stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Errorf("redistest: %v", err)
		}
		os.RemoveAll(s.dir)
	})
	return s
}

// URL is the server's address as the --redis flag takes it.
func (s *Server) URL() string { return "unix://" + s.sock }

// Client returns a new client of the server with Options, closed when the
// test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	return s.ClientWith(tb, s.Options())
}

// ClientWith returns a new client with opt (made from Options), closed when
// the test ends.
func (s *Server) ClientWith(tb testing.TB, opt *redis.Options) *redis.Client {
	c := redis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	return c
}

// Options are go-redis's options to reach the server.
func (s *Server) Options() *redis.Options {
	// DisableIdentity: Debian 12's Redis 7.0 predates CLIENT SETINFO.
	return &redis.Options{Network: "unix", Addr: s.sock, DisableIdentity: true}
}

// Stop stops the server, as an outage would; Restart starts it again, on
// the same socket and with no data: nothing is persisted.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
}

// Restart starts a stopped server again.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.run(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
}

// start makes a temporary directory and starts a server in it.
func start() (_ *Server, err error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	// In /tmp rather than a test's TempDir: a Unix socket's path must fit
	// in 108 bytes.
	dir, err := os.MkdirTemp("", "latchkey-redistest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	if err := s.run(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// run starts the server process and waits until it answers.
func (s *Server) run() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("the server is already running")
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	// No TCP port, nothing saved: the server lives and dies with the
	// tests. Redis runs as root without complaint, so no user is switched.
	cmd := exec.Command(s.bin, "--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies without stopping the server, it is killed.
	done, err := childproc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	if err := s.waitReady(done); err != nil {
		cmd.Process.Kill()
		<-done
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		return fmt.Errorf("%w\nredis.log:\n%s", err, log)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitReady waits for the server to answer PING.
func (s *Server) waitReady(done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opt := s.Options()
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("redis-server exited at start")
		case <-ctx.Done():
			return fmt.Errorf("redis-server did not answer within 10 s: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop ends the server (SIGTERM: it saves nothing, so it exits at once)
// and waits for it.
func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
	// The socket goes with the server; make sure, so that a restart's
	// readiness check cannot reach a stale file.
	os.Remove(s.sock)
	return nil
}

// binaryPaths is where redis-server is looked for after PATH: Debian's
// package puts it in /usr/bin, which a test's PATH may lack.
var binaryPaths = []string{"/usr/bin/redis-server"}

// findBinary returns the path of redis-server.
func findBinary() (string, error) {
	if path, err := exec.LookPath("redis-server"); err == nil {
		return path, nil
	}
	for _, p := range binaryPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("redis-server is not installed: looked on PATH and in %v. "+
		"Install the Debian package redis-server (apt-get install redis-server; scripts/test-deps does it when run as root)", binaryPaths)
}
