// Package lktest builds a whole Latchkey stack for tests and benchmarks: a
// real SQLite file in a temporary directory, a fresh master key, the verifier,
// the core service and the HTTP handler, with its log captured. Nothing is
// mocked.
package lktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/sqlite"
	"github.com/latchkey/latchkey/usage"
)

// Stack is a running Latchkey in process.
type Stack struct {
	DBPath   string
	Store    *sqlite.Store
	Keys     *secret.Keyring
	Verifier *auth.Verifier
	Svc      *core.Service
	// Usage counts verifications; it writes to the store only when flushed.
	Usage   *usage.Recorder
	Handler http.Handler
	// Server serves Handler on a loopback port.
	Server *httptest.Server
	// Account is the bootstrap account key.
	Account Credentials
	// Audit records refused attempts and bursts of failures, when the
	// stack was made by NewAudited; nil otherwise. Changes are recorded
	// either way, by the core.
	Audit *audit.Recorder
	logs  *Buffer
}

// Credentials are a key id and its secret.
type Credentials struct {
	ID, Secret, AccountID string
}

// Basic returns the HTTP Basic Authorization header value for c.
func (c Credentials) Basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))
}

// New starts a stack with a bootstrapped account and the default web.Config.
func New(tb testing.TB) *Stack {
	tb.Helper()
	return NewWithConfig(tb, web.Config{})
}

// NewWithConfig starts a stack with a bootstrapped account and cfg.
// Refused attempts are not audited, so that a refused request writes
// nothing at all, which Snapshot can check; see NewAudited.
func NewWithConfig(tb testing.TB, cfg web.Config) *Stack {
	tb.Helper()
	return newStack(tb, cfg, false)
}

// NewAudited is NewWithConfig with the whole audit log at work, as a
// server has it: refused attempts are recorded as they are answered, and
// bursts of failures when Audit is flushed.
func NewAudited(tb testing.TB, cfg web.Config) *Stack {
	tb.Helper()
	return newStack(tb, cfg, true)
}

func newStack(tb testing.TB, cfg web.Config, audited bool) *Stack {
	tb.Helper()
	ctx := context.Background()
	s := &Stack{DBPath: filepath.Join(tb.TempDir(), "latchkey.db"), logs: &Buffer{}}
	var err error
	if s.Store, err = sqlite.Open(ctx, s.DBPath); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Store.Close() })
	master, err := secret.ParseMasterKey(secret.NewMasterKey())
	if err != nil {
		tb.Fatal(err)
	}
	if s.Keys, err = secret.NewKeyring(master); err != nil {
		tb.Fatal(err)
	}
	if err := core.CheckMasterKey(ctx, s.Store, s.Keys); err != nil {
		tb.Fatal(err)
	}
	s.Verifier = auth.NewVerifier(s.Store, s.Keys, nil)
	// Usage is flushed by the tests that look at it (Stack.Usage.Flush), and
	// by Close when the test ends, before the store closes.
	s.Usage = usage.New(s.Store.AddUsage, time.Hour, nil)
	tb.Cleanup(func() { s.Usage.Close(context.Background()) })
	logger := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := []core.Option{core.WithVerification(s.Verifier, ratelimit.New(), s.Usage)}
	var serverOpts []httpapi.Option
	if audited {
		s.Audit = audit.NewRecorder(s.Store, logger)
		opts = append(opts, core.WithAuditRecorder(s.Audit))
		serverOpts = append(serverOpts, httpapi.WithAudit(s.Audit))
	}
	s.Svc = core.New(s.Store, s.Keys, secret.Live, s.Verifier, opts...)
	s.Handler = httpapi.NewServer(logger, cfg, s.Svc, s.Verifier, serverOpts...)
	s.Server = httptest.NewServer(s.Handler)
	tb.Cleanup(s.Server.Close)
	account, key, err := s.Svc.Bootstrap(ctx, "Test account")
	if err != nil {
		tb.Fatal(err)
	}
	s.Account = Credentials{ID: key.ID, Secret: key.Secrets[0].Plain, AccountID: account.ID}
	return s
}

// Principal returns the principal the account key authenticates as.
func (s *Stack) Principal(tb testing.TB) *latchkey.Principal {
	tb.Helper()
	p, err := s.Verifier.Basic(context.Background(), s.Account.ID, s.Account.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Logs returns everything the server logged so far.
func (s *Stack) Logs() string { return s.logs.String() }

// Snapshot identifies the store's state on disk: the database file and its
// WAL, hashed. Any commit changes them, so two equal snapshots mean nothing
// was written in between, not even in part.
func (s *Stack) Snapshot(tb testing.TB) string {
	tb.Helper()
	sum := sha256.Sum256(s.RawFiles(tb))
	return hex.EncodeToString(sum[:])
}

// RawFiles returns the bytes of the database file and its WAL: everything
// the store has written to disk.
func (s *Stack) RawFiles(tb testing.TB) []byte {
	tb.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.DBPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			tb.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// Do sends a request to the stack's server and returns the response with its
// body read.
func (s *Stack) Do(tb testing.TB, method, path, authorization, body string, headers ...string) (*http.Response, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.Server.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.Server.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// Buffer is a bytes.Buffer safe for a server's goroutines to write while a
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
