// Package pgtest runs a real PostgreSQL server for tests: Debian's server
// binaries (the postgresql package), a cluster made by initdb in a temporary
// directory, listening on a Unix socket there and nowhere else. One server
// serves a whole test binary; each test gets a database of its own, so tests
// can run in parallel.
//
// A package using it calls Main from its TestMain, which stops the server
// once the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and each test asks for a database with DSN. When the binaries are missing,
// DSN fails the test, naming the package to install: tests never skip.
//
// A test that stops the database under a running server (an outage) gets a
// server of its own with NewServer, which it can Stop and Start again on the
// same data and socket; the shared server is never stopped early.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey/latchkey/internal/childproc"
)

// Main runs the tests, stops the server if one was started, and exits with
// the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN creates an empty database for the test, dropped when it ends, and
// returns its postgres:// URL. The first call starts the server.
func DSN(tb testing.TB) string {
	tb.Helper()
	return DSNFrom(tb, "template1")
}

// DSNFrom is DSN for a copy of template, a database made by NewTemplate.
// Copying a prepared database is cheaper than preparing each one.
func DSNFrom(tb testing.TB, template string) string {
	tb.Helper()
	s, err := server()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("test_%d", dbSeq.Add(1))
	if _, err := s.admin.Exec(context.Background(), "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// In the background: the next test need not wait for the files to
		// go. Main waits for every drop before it stops the server.
		s.drops.Go(func() {
			// FORCE ends connections the test left open.
			if _, err := s.admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: drop database %s: %v\n", name, err)
			}
		})
	})
	return s.url(name)
}

// NewTemplate creates a database for DSNFrom to copy and runs prepare on
// it, given its URL; prepare must close the connections it opens, as a
// database is copied only while no one is connected to it. The template
// lasts as long as the server. Call it once (sync.OnceValues) per template.
func NewTemplate(prepare func(dsn string) error) (string, error) {
	s, err := server()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("template_%d", dbSeq.Add(1))
	if _, err := s.admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	if err := prepare(s.url(name)); err != nil {
		return "", fmt.Errorf("prepare template %s: %w", name, err)
	}
	return name, nil
}

// server returns the server, starting it on the first call.
func server() (*postgres, error) {
	once.Do(func() { srv, startErr = start() })
	return srv, startErr
}

var (
	once     sync.Once
	srv      *postgres
	startErr error
	dbSeq    atomic.Int64
)

// postgres is a running postmaster and the temporary directory it lives in.
type postgres struct {
	dir   string // holds data/, the socket and postgres.log
	bin   string // the directory of initdb and postgres
	cred  *syscall.Credential
	cmd   *exec.Cmd
	done  <-chan struct{} // closed when the postmaster has exited
	admin *pgxpool.Pool   // on the postgres database, to create the others (shared server only)
	drops sync.WaitGroup
}

// superuser is the role initdb creates; trust authentication on the socket
// lets it in without a password.
const superuser = "postgres"

// url returns the DSN of database name, over the socket.
func (s *postgres) url(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + name,
		RawQuery: url.Values{"host": {s.dir}}.Encode()}
	return u.String()
}

// start makes a cluster in a new temporary directory and starts its
// postmaster, with the admin pool on it.
func start() (_ *postgres, err error) {
	s, err := initCluster()
	if err != nil {
		return nil, err
	}
	if err := s.launch(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	if s.admin, err = pgxpool.New(context.Background(), s.url("postgres")); err != nil {
		s.kill()
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// initCluster makes a cluster in a new temporary directory, not started.
func initCluster() (_ *postgres, err error) {
	bin, err := findBinaries(binGlob)
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "latchkey-pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	// The default collation is ICU's en-US, as on a typical server rather
	// than "C", so that an ORDER BY relying on the database's collation
	// (instead of the schema's COLLATE "C") shows up in tests. fsync and
	// the other durability settings keep their defaults.
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", superuser,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--locale-provider=icu", "--icu-locale=en-US")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return &postgres{dir: dir, bin: bin, cred: cred}, nil
}

// launch starts the postmaster on the cluster and waits until it accepts
// connections. Its log is appended to postgres.log, so that a server
// started again keeps the earlier runs' lines.
func (s *postgres) launch() error {
	logFile, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+s.dir, "-c", "max_connections=300")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// If the test binary dies without stopping the server, the postmaster
	// gets SIGQUIT, its immediate shutdown.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if s.done, err = childproc.Start(s.cmd, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := s.waitReady(); err != nil {
		s.kill()
		log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
		return fmt.Errorf("%w\npostgres.log:\n%s", err, log)
	}
	return nil
}

// kill stops the postmaster at once (immediate shutdown) and waits for it.
func (s *postgres) kill() {
	s.cmd.Process.Signal(syscall.SIGQUIT)
	<-s.done
}

// waitReady waits for the server to accept connections.
func (s *postgres) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-s.done:
			return errors.New("postgres exited at start")
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within 30 s: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop shuts the server down (fast: open connections are ended) and
// removes its directory.
func (s *postgres) stop() error {
	s.drops.Wait()
	s.admin.Close()
	s.shutdown()
	return os.RemoveAll(s.dir)
}

// shutdown stops the postmaster with a fast shutdown, as an operator's
// pg_ctl stop does: open connections are ended (their clients read
// SQLSTATE 57P01), the data is checkpointed, and the socket is removed. It
// waits for the postmaster to exit.
func (s *postgres) shutdown() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Server is a PostgreSQL server of one test's own, which the test may stop
// and start again: to see what a client of it does while it is down, and
// that the client recovers once it is back. Make one with NewServer.
type Server struct {
	tb      testing.TB
	pg      *postgres
	mu      sync.Mutex
	running bool
}

// NewServer makes a cluster for this test alone, starts it, creates a
// database named latchkey on it, and stops and removes it all when the test
// ends. It costs an initdb (about a second); tests that only need a
// database use DSN.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	pg, err := initCluster()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if err := pg.launch(); err != nil {
		os.RemoveAll(pg.dir)
		tb.Fatalf("pgtest: %v", err)
	}
	s := &Server{tb: tb, pg: pg, running: true}
	tb.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.running {
			s.pg.shutdown()
			s.running = false
		}
		if err := os.RemoveAll(s.pg.dir); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.url("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE latchkey"); err != nil {
		tb.Fatalf("pgtest: create database latchkey: %v", err)
	}
	return s
}

// DSN returns the postgres:// URL of the server's database. It stays the
// same across Stop and Start: the socket is in the same directory.
func (s *Server) DSN() string { return s.pg.url("latchkey") }

// Stop shuts the server down as pg_ctl stop does (fast shutdown: every
// connection is ended, then the postmaster exits and removes its socket),
// and returns once it has exited. Its data stays, for Start.
func (s *Server) Stop() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		s.tb.Fatal("pgtest: Stop: the server is not running")
	}
	s.pg.shutdown()
	s.running = false
}

// Start starts the server again on the same data directory and socket,
// and returns once it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.tb.Fatal("pgtest: Start: the server is already running")
	}
	if err := s.pg.launch(); err != nil {
		s.tb.Fatalf("pgtest: start again: %v", err)
	}
	s.running = true
}

// binGlob is where Debian's postgresql package puts the server binaries,
// one directory per major version.
const binGlob = "/usr/lib/postgresql/*/bin/initdb"

// findBinaries returns the directory of initdb and postgres: the newest
// version glob finds, else the one on PATH (other distributions put them
// there).
func findBinaries(glob string) (string, error) {
	found, _ := filepath.Glob(glob)
	slices.SortFunc(found, func(a, b string) int { return majorVersion(a) - majorVersion(b) })
	for i := len(found) - 1; i >= 0; i-- {
		dir := filepath.Dir(found[i])
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", fmt.Errorf("the PostgreSQL server binaries (initdb, postgres) are not installed: looked for %s and on PATH. "+
		"Install the Debian package postgresql (apt-get install postgresql; scripts/test-deps does it when run as root)", glob)
}

// majorVersion returns the version in /usr/lib/postgresql/VERSION/bin/initdb.
func majorVersion(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// unprivileged returns the credential to run the server with: none (our
// own) unless we are root, which PostgreSQL refuses to run as; then the
// user nobody's.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL will not: cannot find the user nobody to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user nobody: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}
