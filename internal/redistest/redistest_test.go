package redistest

import (
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// TestSharedAnswers: the shared server answers, and is the same for every
// caller.
func TestSharedAnswers(t *testing.T) {
	s := Shared(t)
	if s != Shared(t) {
		t.Fatal("two calls of Shared gave two servers")
	}
	c := s.Client(t)
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Client(t).Get(t.Context(), "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET from a second client = %q, %v", v, err)
	}
}

// TestStopAndRestart: a stopped server refuses connections; restarted, it
// answers on the same address, empty.
func TestStopAndRestart(t *testing.T) {
	s := Start(t)
	opt := s.Options()
	opt.MaxRetries, opt.DialerRetries = -1, 1 // a stopped server fails at once
	c := s.ClientWith(t, opt)
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Fatal("PING to a stopped server succeeded")
	}
	s.Restart(t)
	if n, err := c.Exists(t.Context(), "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k after a restart = %d, %v; want 0: nothing is persisted", n, err)
	}
}

// TestMissingBinaryNamesThePackage: without redis-server, the error says
// which Debian package to install.
func TestMissingBinaryNamesThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := binaryPaths
	binaryPaths = []string{"/nonexistent/redis-server"}
	defer func() { binaryPaths = saved }()
	_, err := findBinary()
	if err == nil || !strings.Contains(err.Error(), "Debian package redis-server") {
		t.Fatalf("findBinary() without the binary: error = %v, want one naming the Debian package redis-server", err)
	}
}
