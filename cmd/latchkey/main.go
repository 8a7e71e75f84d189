// Command latchkey is the Latchkey server and its admin commands:
//
//	latchkey serve       start the server (creates and migrates the database)
//	latchkey bootstrap   create an account and an account key; print them as JSON
//	latchkey rotate-master-key
//	                     re-seal every stored secret under a new master key while servers run
//	latchkey backup      write a verified copy of the SQLite database while the server runs
//	latchkey restore     replace the SQLite database with a backup (the server stopped)
//	latchkey version     print latchkey <version> (<commit>)
//
// and the client commands, which talk to a running server over its native
// API (cli.go; docs/CLI.md):
//
//	latchkey login, logout, whoami
//	                     save, remove or show the server and key the commands below use
//	latchkey apps, integrations, keys
//	                     list, get, create, update and delete them (keys also roll, disable, enable)
//	latchkey verify      ask the server whether a key may be used
//	latchkey usage       a key's verification counts
//	latchkey import      keys from another system, in resumable batches (import.go)
//	latchkey audit list  the account's audit log (audit export reads the database)
//	latchkey completion  a bash, zsh or fish completion script
//
// Configuration comes from flags, then LATCHKEY_* environment variables, then
// defaults; see the README.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/fleet"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/internal/datadir"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/usage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runIO(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	// -h is no error; a flag error, or a client command's, was printed
	// already (exitStatus, in cli.go, where the statuses are listed).
	if status := exitStatus(err, os.Stderr); status != 0 {
		os.Exit(status)
	}
}

const usageText = `Usage: latchkey <command> [flags]

Commands:
  serve       start the server
  bootstrap   create an account and an account key, printed as JSON on stdout
  audit export
              write the audit log as JSON lines on stdout, oldest first
  rotate-master-key
              re-seal every stored secret under a new master key, while servers run
  backup      write a verified copy of the SQLite database to --out FILE, while the server runs
  restore     replace the SQLite database with a backup (--from FILE), the server stopped
  config print
              show the settings in effect and where each came from, passwords redacted
  version     print latchkey <version> (<commit>); also --version, -v
`

// run is runIO without stdin: an empty one.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runIO(ctx, args, getenv, nil, stdout, stderr)
}

// runIO is the whole program, with its environment passed in so that tests
// can run it in-process. stdin (nil for none) is read by the client
// commands only (a key for login and verify, a confirmation).
func runIO(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "bootstrap":
		return bootstrap(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		if len(args) > 1 && args[1] == "export" {
			return auditCommand(ctx, args[1:], getenv, stdout, stderr)
		}
		return runClient(ctx, args, getenv, stdin, stdout, stderr) // audit list; audit alone lists both
	case "rotate-master-key":
		return rotateMasterKey(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return backupCommand(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return restoreCommand(ctx, args[1:], getenv, stdout, stderr)
	case "config":
		return configCommand(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-v":
		return versionCommand(args[1:], stdout)
	case "help", "-h", "--help":
		return helpCommand(ctx, args[1:], stdout, stderr)
	default:
		if isClientCommand(args) {
			return runClient(ctx, args, getenv, stdin, stdout, stderr)
		}
		printUsage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// initialCredentialsFile is where serve writes the first key of an empty store.
const initialCredentialsFile = "initial-credentials.json"

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, logger, app, err := startApp(ctx, "serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	defer app.unlock() // runs last, once the store is closed
	defer app.close()
	// Learns of master-key rotations (latchkey rotate-master-key) from the store.
	defer core.WatchMasterKey(app.store, app.verifier.Keyring(), app.verifier, logger).Close()
	if err := app.followFleet(ctx, cfg.maxStaleness, logger); err != nil {
		return err
	}
	app.runAudit(cfg.retention)

	credsPath := filepath.Join(cfg.dataDir, initialCredentialsFile)
	if n, err := app.svc.CountAccounts(ctx); err != nil {
		return err
	} else if cfg.dataDir == "" {
		// PostgreSQL: nodes of a fleet may start together on an empty
		// database, and none has a directory to leave credentials in, so
		// the first account is made once, by hand.
		if n == 0 {
			logger.Warn("the database has no account yet: create one with latchkey bootstrap, given the same --db and master key; " +
				"it prints the first account key")
		}
	} else if n == 0 {
		if err := firstKey(ctx, app.svc, credsPath); err != nil {
			return err
		}
		logger.Info("empty store: created an account and its first account key; the credentials are in a file readable only by you: "+
			"move them into your secret store, then delete the file", "file", credsPath)
	} else if _, err := os.Lstat(credsPath); err == nil {
		logger.Warn("the first account key's credentials are still on disk: move them into your secret store, then delete the file",
			"file", credsPath)
	}

	stopDebug, err := startDebug(cfg.debugAddr, logger) // --debug-addr: pprof and expvar, loopback only
	if err != nil {
		return err
	}
	defer stopDebug()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if cfg.tlsCert != "" {
		certs, err := newCertReloader(cfg.tlsCert, cfg.tlsKey, logger)
		if err != nil {
			ln.Close()
			return err
		}
		certs.watch(ctx)
		ln = tls.NewListener(ln, certs.config())
	}
	srv := &http.Server{
		Handler:           httpapi.NewServer(logger, cfg.web, app.svc, app.verifier, serverOptions(cfg, app)...),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	stopMetrics, err := serveMetrics(cfg, app, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()
	logger.Info("listening", "addr", ln.Addr().String(), "tls", cfg.tlsCert != "", "db", cfg.redactedDB())
	if everyInterface(ln.Addr()) {
		logger.Warn("listening on every network interface: other machines can reach this server; "+
			"give --addr 127.0.0.1:PORT to serve this machine only", "addr", cfg.addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// serverOptions are the HTTP server's options for cfg: readiness, the
// audit of refusals, the dashboard's session lifetime, and the metrics,
// served at /metrics unless --metrics-addr gives them an address of their
// own.
func serverOptions(cfg *config, app *app) []httpapi.Option {
	opts := []httpapi.Option{httpapi.WithReadiness(app.ready), httpapi.WithAudit(app.audit),
		httpapi.WithSessionLifetime(cfg.sessionLifetime), httpapi.WithMetrics(app.metrics)}
	if cfg.metricsAddr == "" {
		opts = append(opts, httpapi.WithMetricsEndpoint(cfg.metricsToken))
	}
	return opts
}

// serveMetrics serves the metrics on --metrics-addr, if set, and returns
// what stops that listener.
func serveMetrics(cfg *config, app *app, logger *slog.Logger) (stop func(), err error) {
	if cfg.metricsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s (LATCHKEY_METRICS_ADDR): %w", cfg.metricsAddr, err)
	}
	srv := &http.Server{Handler: httpapi.MetricsHandler(app.metrics, cfg.metricsToken), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// firstKey bootstraps an empty store and writes the credentials to path,
// mode 0600, in one step.
func firstKey(ctx context.Context, svc *core.Service, path string) error {
	creds, err := newAccount(ctx, svc, "Default account")
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	return datadir.Replace(path, append(b, '\n'))
}

// credentials is what bootstrap prints and serve writes for a new account.
type credentials struct {
	ID        string `json:"id"`
	Secret    string `json:"secret"`
	AccountID string `json:"accountId"`
	Scope     string `json:"scope"`
}

func newAccount(ctx context.Context, svc *core.Service, name string) (*credentials, error) {
	account, key, err := svc.Bootstrap(ctx, name)
	if err != nil {
		return nil, err
	}
	return &credentials{ID: key.ID, Secret: key.Secrets[0].Plain, AccountID: account.ID, Scope: string(key.Scope())}, nil
}

// bootstrap creates an account with its first key and prints the key. With
// --if-empty it does so only on a database without accounts, once however
// many run at the same time, so that every deployment can run it: the
// others print nothing.
func bootstrap(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		name    string
		ifEmpty bool
	)
	cfg, logger, app, err := startApp(ctx, "bootstrap", args, getenv, stderr, func(fs *flagSet) {
		fs.StringVar(&name, "name", "Default account", "the new account's name")
		fs.BoolVar(&ifEmpty, "if-empty", false, "create the account only if the database has none, once however many run at once; otherwise print nothing")
	})
	if err != nil {
		return err
	}
	defer app.close()
	if ifEmpty {
		first, err := claimFirstAccount(ctx, app.store)
		if err != nil {
			return err
		}
		if !first {
			logger.Info("the database already has an account (or another bootstrap --if-empty is making it): nothing to do")
			return nil
		}
	}
	if cfg.newDatabase {
		// Run from another directory, the default --db names a database
		// no server uses: say so, or the key is refused with no clue why.
		where, _ := filepath.Abs(cfg.sqlitePath)
		logger.Warn("bootstrap created a new, empty database for this account; a server accepts its key only if it runs on this same database "+
			"(--db, LATCHKEY_DB) with the master key beside it", "database", where)
	}
	creds, err := newAccount(ctx, app.svc, name)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(creds)
}

// firstAccountClaim is the meta entry by which one bootstrap --if-empty
// claims the making of the first account.
const firstAccountClaim = "first_account_claim"

// claimFirstAccount reports whether this process is the one to make the
// first account: there is none, and of all the processes asking at once,
// its random claim is the one the store kept (InitMeta keeps the first).
// A claim whose maker died before making the account stops every later
// --if-empty too (each prints nothing); a plain bootstrap then makes it.
func claimFirstAccount(ctx context.Context, store latchkey.Store) (bool, error) {
	if n, err := store.CountAccounts(ctx); err != nil || n > 0 {
		return false, err
	}
	mine := []byte(rand.Text())
	kept, err := store.InitMeta(ctx, firstAccountClaim, mine)
	if err != nil {
		return false, err
	}
	if string(kept) == string(mine) {
		return true, nil
	}
	if n, err := store.CountAccounts(ctx); err != nil || n > 0 {
		return false, err
	}
	// Another process claimed it and has not made it yet: it is at work,
	// or it died. Either way this one must not make a second.
	return false, nil
}

// startApp parses a command's configuration, makes its logger and opens the
// app: what every command does first.
func startApp(ctx context.Context, command string, args []string, getenv func(string) string, stderr io.Writer,
	extra ...func(*flagSet)) (*config, *slog.Logger, *app, error) {
	cfg, err := parseConfig(command, args, getenv, stderr, extra...)
	if err != nil {
		return nil, nil, nil, err
	}
	// serve owns its data directory; admin commands such as bootstrap run
	// beside a running server, so they take no lock. A PostgreSQL database
	// has no data directory and serves any number of nodes.
	unlock := func() error { return nil }
	if command == "serve" && cfg.dataDir != "" {
		if unlock, err = datadir.Lock(cfg.dataDir); err != nil {
			return nil, nil, nil, err
		}
	}
	logger := cfg.newLogger(stderr)
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	a.unlock = unlock
	return cfg, logger, a, nil
}

// app is what serve and bootstrap share: the store, the service and the
// verifier, wired together.
type app struct {
	store    latchkey.Store
	svc      *core.Service
	verifier *auth.Verifier
	// unlock releases the data directory (serve only).
	unlock func() error
	// usage counts verifications and writes them in batches.
	usage *usage.Recorder
	// metrics are what /metrics serves.
	metrics *metrics.Metrics
	// audit records refused attempts and bursts of failures; stopAudit
	// (serve only) writes the open bursts and stops applying retention.
	audit     *audit.Recorder
	stopAudit func()
	// follower keeps the verifier in step with other nodes (serve on a
	// shared store only).
	follower *fleet.Follower
	// closeLimiter closes the rate limiter: its connection to Redis, or the
	// goroutine that shares its counts through PostgreSQL.
	closeLimiter func() error
}

// close flushes what is left of the usage counts, then closes the store.
func (a *app) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stopFollowing error
	if a.follower != nil {
		stopFollowing = a.follower.Close()
	}
	if a.stopAudit != nil {
		a.stopAudit()
	}
	// The usage flush and the store go last: requests still running when
	// the limiter closes fall back to the node's own limits.
	return errors.Join(stopFollowing, a.closeLimiter(), a.usage.Close(ctx), a.store.Close())
}

// runAudit writes bursts of failures as they end and applies the audit
// log's retention, until the app closes.
func (a *app) runAudit(retention time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.audit.Run(ctx, retention)
	}()
	a.stopAudit = func() {
		cancel()
		<-done
	}
}

// everyInterface reports whether a listener takes connections on every
// interface (an --addr such as ":8080" or "0.0.0.0:8080"), which a newcomer
// trying ":0" for "any free port" may not expect.
func everyInterface(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsUnspecified()
}
