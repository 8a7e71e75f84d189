package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/fleet"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/dashboard"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/datadir"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/ratelimit/redislimit"
	"github.com/latchkey/latchkey/ratelimit/sharedlimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/postgres"
	"github.com/latchkey/latchkey/store/sqlite"
	"github.com/latchkey/latchkey/usage"
	"github.com/redis/go-redis/v9"
)

type flagSet = flag.FlagSet

// config is the resolved configuration: each value from its flag if given,
// else its environment variable, else the default.
type config struct {
	addr          string
	db            string
	masterKeyFile string
	masterKeyText string // LATCHKEY_MASTER_KEY; environment only, so it never shows in ps
	sqlitePath    string
	dataDir       string
	postgresDSN   string // set for a postgres:// DSN, which has no dataDir
	maxStaleness  time.Duration
	// redisURL is --redis; redis, its options, parsed: rate limits are
	// then kept in Redis, exact across the fleet.
	redisURL string
	redis    *redis.Options
	// serveStale: with PostgreSQL, keep verifying the keys in the cache
	// while the database is out of reach (auth.WithServeStale).
	serveStale  bool
	environment string
	// trustedProxies, forwardedHeader, publicURL and allowPrivate are the
	// flags behind web.
	trustedProxies  string
	forwardedHeader string
	publicURL       string
	allowPrivate    bool
	web             web.Config
	jwt             auth.JWTPolicy
	logLevel        slog.Level
	// logFormat is --log-format: text or json.
	logFormat string
	// tlsCert and tlsKey are --tls-cert and --tls-key: serve HTTPS.
	tlsCert, tlsKey string
	// newDatabase is set when opening the store created its SQLite file.
	newDatabase bool
	// metricsAddr and metricsToken are --metrics-addr and --metrics-token:
	// where /metrics is served, and the bearer token it requires.
	metricsAddr, metricsToken string
	// configFile is --config (LATCHKEY_CONFIG): a TOML file of settings.
	configFile string
	// settings are every setting's value and where it came from, for
	// latchkey config print.
	settings []setting
	// debugAddr is --debug-addr: pprof and expvar on loopback (debug.go).
	debugAddr string
	// failedAuthLimit is --failed-auth-limit, parsed into web.FailedAuth.
	failedAuthLimit string
	// auditRetention is --audit-retention: how long audit events are kept
	// (0: for ever).
	auditRetention string
	retention      time.Duration
	// sessionLifetime is --session-lifetime: how long a dashboard session
	// lasts.
	sessionLifetime time.Duration
}

const defaultDB = "sqlite:./data/latchkey.db"

// setFromEnv sets f from environment variable env's value v (see
// setValue).
func setFromEnv(f *flag.Flag, env, v string) error {
	return setValue(f, v, fmt.Sprintf("%s=%q (the environment form of --%s)", env, v, f.Name))
}

// setValue sets f to v, taken from outside the command line. A switch
// takes yes, no, on and off as well as what the flag takes (true, false,
// 1, 0). A value refused is reported as origin (where it came from) and
// what the setting takes.
func setValue(f *flag.Flag, v, origin string) error {
	isBool := false
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		isBool = true
		switch strings.ToLower(v) {
		case "yes", "on":
			v = "true"
		case "no", "off":
			v = "false"
		}
	}
	if err := f.Value.Set(v); err != nil {
		want := ""
		switch {
		case isBool:
			want = "true or false (or yes, no, on, off, 1, 0)"
		case f.Name == "log-level":
			want = "debug, info, warn or error"
		default:
			if _, isDuration := f.Value.(interface{ Get() any }).Get().(time.Duration); isDuration {
				want = "a duration such as 90s, 15m or 2h"
			}
		}
		if want != "" {
			return fmt.Errorf("%s: want %s", origin, want)
		}
		return fmt.Errorf("%s: %v", origin, err)
	}
	return nil
}

// applyConfigFile sets, from the TOML file at path, every setting that no
// flag or environment variable set. Its keys are the flags' names; a key
// that names no setting, or a value the setting refuses, is an error
// naming the file, the key and what it takes.
func applyConfigFile(fs *flag.FlagSet, path string, sources map[string]string) error {
	var values map[string]any
	if _, err := toml.DecodeFile(path, &values); err != nil {
		return fmt.Errorf("--config %s (LATCHKEY_CONFIG): %w", path, err)
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("--config %s: %q is not a setting; the settings are the flags of latchkey serve -h, without the dashes", path, name)
		}
		if sources[name] != "" {
			continue
		}
		text, ok := configText(values[name])
		if !ok {
			return fmt.Errorf("--config %s: %s = %v: want a string, a number or true/false", path, name, values[name])
		}
		if err := setValue(f, text, fmt.Sprintf("--config %s: %s = %q", path, name, text)); err != nil {
			return err
		}
		sources[name] = "config file " + path
	}
	return nil
}

// configText is a TOML value as the flag would take it on the command
// line: a list (trusted-proxies) joined with commas.
func configText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case []any:
		parts := make([]string, len(v))
		for i, item := range v {
			text, ok := item.(string)
			if !ok {
				return "", false
			}
			parts[i] = text
		}
		return strings.Join(parts, ","), true
	}
	return "", false
}

// setting is one setting as config print shows it.
type setting struct {
	Name, Value, Source string
}

// settingsOf lists every flag's value and where it came from, with
// passwords in URLs redacted.
func settingsOf(fs *flag.FlagSet, sources map[string]string) []setting {
	var out []setting
	fs.VisitAll(func(f *flag.Flag) {
		source := sources[f.Name]
		if source == "" {
			source = "default"
		}
		value := f.Value.String()
		switch f.Name {
		case "db":
			value = (&config{db: value}).redactedDB()
		case "redis":
			value = redislimit.Redact(value)
		case "metrics-token":
			if value != "" {
				value = "(set, not shown)"
			}
		}
		out = append(out, setting{Name: f.Name, Value: value, Source: source})
	})
	return out
}

// envName is the environment variable of the setting name.
func envName(name string) string {
	return "LATCHKEY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// serverOnly are the settings only serve uses (and config print shows).
// Other commands take the rest: the database, the master key, the
// environment of new secrets, the logs and the config file.
var serverOnly = map[string]bool{
	"addr": true, "trusted-proxies": true, "forwarded-header": true, "public-url": true, "jwt-require-exp": true,
	"jwt-max-age": true, "max-staleness": true, "serve-stale": true, "redis": true, "allow-private-ips": true,
	"failed-auth-limit": true, "audit-retention": true, "session-lifetime": true, "debug-addr": true,
	"tls-cert": true, "tls-key": true, "metrics-addr": true, "metrics-token": true,
}

// commandUsage prints the flags a command other than serve takes: its own
// and the shared ones, not the server's.
func commandUsage(fs *flag.FlagSet, command string) {
	mine := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	mine.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if !serverOnly[f.Name] {
			mine.Var(f.Value, f.Name, f.Usage)
		}
	})
	fmt.Fprintf(fs.Output(), "Usage of latchkey %s:\n", command)
	mine.PrintDefaults()
}

// flagError is a command line the flag package refused: it has printed the
// error and the command's flags already, so main prints nothing more.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func parseConfig(command string, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flagSet)) (*config, error) {
	fs := flag.NewFlagSet("latchkey "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.configFile, "config", "", "a TOML file of settings, named as the flags are (addr = \"127.0.0.1:8080\"); flags and environment variables beat it (env LATCHKEY_CONFIG)")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on, host:port; a port alone (:8080) listens on every interface (env LATCHKEY_ADDR)")
	fs.StringVar(&cfg.db, "db", defaultDB, "database DSN: sqlite:PATH, or postgres://user:password@host/database for a fleet of nodes (env LATCHKEY_DB)")
	fs.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the master key, base64 (env LATCHKEY_MASTER_KEY_FILE); "+
		"default: master.key beside the SQLite file, generated on first start; with PostgreSQL, this or LATCHKEY_MASTER_KEY is required")
	fs.StringVar(&cfg.environment, "environment", "live", "live or sandbox: the middle part of new secrets' prefix, as in sk_live_ (env LATCHKEY_ENVIRONMENT)")
	fs.StringVar(&cfg.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose forwarding headers are believed (env LATCHKEY_TRUSTED_PROXIES)")
	fs.StringVar(&cfg.forwardedHeader, "forwarded-header", string(web.XForwardedFor),
		"the one header a trusted proxy's client address is read from: x-forwarded-for, forwarded or x-real-ip (env LATCHKEY_FORWARDED_HEADER)")
	fs.StringVar(&cfg.publicURL, "public-url", "", "the URL clients reach this server at, such as https://keys.example.com; the base of every link (env LATCHKEY_PUBLIC_URL)")
	fs.BoolVar(&cfg.jwt.RequireExp, "jwt-require-exp", false, "refuse JWTs without an exp claim (env LATCHKEY_JWT_REQUIRE_EXP)")
	fs.DurationVar(&cfg.maxStaleness, "max-staleness", fleet.DefaultMaxStaleness, "with PostgreSQL: how old a node's cache of keys may be "+
		"before verifications read the database instead; a change made through any node holds on all within it (env LATCHKEY_MAX_STALENESS)")
	fs.DurationVar(&cfg.jwt.MaxAge, "jwt-max-age", 0, "refuse JWTs without iat, and any JWT older than this since its iat, such as 1h; 0: no cap (env LATCHKEY_JWT_MAX_AGE)")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error; debug adds a line for every verify and authorize call (env LATCHKEY_LOG_LEVEL)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "serve HTTPS with this certificate file (PEM, the chain after the leaf), read again on SIGHUP; with --tls-key (env LATCHKEY_TLS_CERT)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "the certificate's private key file (PEM); with --tls-cert (env LATCHKEY_TLS_KEY)")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve the Prometheus metrics on this address of their own instead of at /metrics on --addr (env LATCHKEY_METRICS_ADDR)")
	fs.StringVar(&cfg.metricsToken, "metrics-token", "", "require Authorization: Bearer <this token> to read the metrics; empty: no credential (env LATCHKEY_METRICS_TOKEN)")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "text (key=value lines) or json (one JSON object a line) (env LATCHKEY_LOG_FORMAT)")
	fs.BoolVar(&cfg.serveStale, "serve-stale", false, "with PostgreSQL: while the database is unreachable, keep verifying the keys this node "+
		"verified before, as they were then, instead of refusing with 503 once --max-staleness has passed; revocations made meanwhile "+
		"are not seen until it is back (env LATCHKEY_SERVE_STALE)")
	fs.StringVar(&cfg.redisURL, "redis", "", "Redis to keep rate limits in, so that a key's limit holds exactly across every node: "+
		"redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path/to/redis.sock; empty: on PostgreSQL the nodes share their counts through the database, within a documented bound; on SQLite the one node counts exactly (env LATCHKEY_REDIS)")
	fs.BoolVar(&cfg.allowPrivate, "allow-private-ips", false, "let keys' allowedIps name private and other non-public addresses (env LATCHKEY_ALLOW_PRIVATE_IPS)")
	fs.StringVar(&cfg.failedAuthLimit, "failed-auth-limit", formatLimit(web.DefaultFailedAuthLimit), "failed authentications one client address may make "+
		"per period before its failures are answered 429, as N/PERIOD such as 30/1m; 0 or off: no throttling (env LATCHKEY_FAILED_AUTH_LIMIT)")
	fs.StringVar(&cfg.auditRetention, "audit-retention", "365d", "how long audit events are kept, such as 90d or 720h; 0: for ever (env LATCHKEY_AUDIT_RETENTION)")
	fs.DurationVar(&cfg.sessionLifetime, "session-lifetime", dashboard.DefaultSessionLifetime, "how long a dashboard sign-in lasts, such as 8h; at most 168h (env LATCHKEY_SESSION_LIFETIME)")
	fs.StringVar(&cfg.debugAddr, "debug-addr", "", "serve net/http/pprof and expvar's /debug/vars on this loopback address, such as 127.0.0.1:6060; empty: off (env LATCHKEY_DEBUG_ADDR)")
	// Every setting above has its environment variable, named after it:
	// --max-staleness is LATCHKEY_MAX_STALENESS. A command's own flags
	// (extra) have none.
	var shared []string
	fs.VisitAll(func(f *flag.Flag) { shared = append(shared, f.Name) })
	for _, f := range extra {
		f(fs)
	}
	server := command == "serve" || command == "config print"
	if !server {
		fs.Usage = func() { commandUsage(fs, command) }
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &flagError{err}
	}
	if !server {
		// The settings file and the environment are shared with serve, so
		// the server's settings there are simply not this command's; on
		// its command line, one is a mistake worth saying.
		var misplaced []string
		fs.Visit(func(f *flag.Flag) {
			if serverOnly[f.Name] {
				misplaced = append(misplaced, "--"+f.Name)
			}
		})
		switch len(misplaced) {
		case 0:
		case 1:
			return nil, fmt.Errorf("%s is a setting of latchkey serve, which %s does not use", misplaced[0], command)
		default:
			return nil, fmt.Errorf("%s are settings of latchkey serve, which %s does not use", strings.Join(misplaced, ", "), command)
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// Precedence: a flag, else its environment variable, else the config
	// file, else the default. sources records which, for config print.
	sources := map[string]string{}
	fs.Visit(func(f *flag.Flag) { sources[f.Name] = "flag --" + f.Name })
	for _, name := range shared {
		env := envName(name)
		if v := getenv(env); v != "" && sources[name] == "" {
			if err := setFromEnv(fs.Lookup(name), env, v); err != nil {
				return nil, err
			}
			sources[name] = "environment " + env
		}
	}
	if cfg.configFile != "" {
		if err := applyConfigFile(fs, cfg.configFile, sources); err != nil {
			return nil, err
		}
	}
	cfg.settings = settingsOf(fs, sources)
	cfg.masterKeyText = getenv("LATCHKEY_MASTER_KEY")
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errTLSPair
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return nil, fmt.Errorf("--log-format %q (LATCHKEY_LOG_FORMAT): want text or json", cfg.logFormat)
	}
	if cfg.environment != string(secret.Live) && cfg.environment != string(secret.Sandbox) {
		return nil, fmt.Errorf("--environment %q: want live or sandbox", cfg.environment)
	}
	cfg.web.AllowPrivateIPs = cfg.allowPrivate
	if err := checkDebugAddr(cfg.debugAddr); err != nil {
		return nil, err
	}
	limit, err := parseLimit(cfg.failedAuthLimit)
	if err != nil {
		return nil, fmt.Errorf("--failed-auth-limit %q (LATCHKEY_FAILED_AUTH_LIMIT): %w; want N/PERIOD such as 30/1m, or 0 or off", cfg.failedAuthLimit, err)
	}
	cfg.web.FailedAuth = web.NewThrottle(limit)
	if cfg.retention, err = parseDays(cfg.auditRetention); err != nil || cfg.retention < 0 {
		return nil, fmt.Errorf("--audit-retention %q (LATCHKEY_AUDIT_RETENTION): want a duration such as 90d or 720h, or 0 to keep events for ever", cfg.auditRetention)
	}
	if cfg.sessionLifetime < time.Minute || cfg.sessionLifetime > core.MaxSessionLifetime {
		return nil, fmt.Errorf("--session-lifetime %v (LATCHKEY_SESSION_LIFETIME): want from 1m to 168h", cfg.sessionLifetime)
	}
	if err := cfg.jwt.Validate(); err != nil {
		return nil, fmt.Errorf("--jwt-max-age: %w", err)
	}
	if cfg.maxStaleness < minStaleness || cfg.maxStaleness > time.Hour {
		return nil, fmt.Errorf("--max-staleness %v: want from %v to 1h", cfg.maxStaleness, minStaleness)
	}
	if cfg.web.TrustedProxies, err = web.ParsePrefixes(cfg.trustedProxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if cfg.web.ForwardedHeader, err = web.ParseForwardedHeader(cfg.forwardedHeader); err != nil {
		return nil, fmt.Errorf("--forwarded-header %w", err)
	}
	if cfg.publicURL != "" {
		if cfg.web.PublicURL, err = web.ParsePublicURL(cfg.publicURL); err != nil {
			return nil, fmt.Errorf("--public-url %q: %w", cfg.publicURL, err)
		}
	}
	if cfg.redisURL != "" {
		if cfg.redis, err = redislimit.ParseURL(cfg.redisURL); err != nil {
			return nil, fmt.Errorf("--redis %s: %w", redislimit.Redact(cfg.redisURL), err)
		}
	}
	switch {
	case strings.HasPrefix(cfg.db, "sqlite:"):
		cfg.sqlitePath = strings.TrimPrefix(strings.TrimPrefix(cfg.db, "sqlite:"), "//")
		if cfg.sqlitePath == "" {
			return nil, errors.New("--db sqlite: needs a file path, as in sqlite:./data/latchkey.db")
		}
		cfg.dataDir = filepath.Dir(cfg.sqlitePath)
	case strings.HasPrefix(cfg.db, "postgres://"), strings.HasPrefix(cfg.db, "postgresql://"):
		// Nodes sharing a database must share its master key, and there is
		// no data directory to generate one in.
		if cfg.masterKeyText == "" && cfg.masterKeyFile == "" {
			return nil, errors.New("--db postgres: a PostgreSQL database needs its master key given, the same on every node: " +
				"set LATCHKEY_MASTER_KEY, or --master-key-file (LATCHKEY_MASTER_KEY_FILE); make one with: openssl rand -base64 32")
		}
		cfg.postgresDSN = cfg.db
	default:
		return nil, fmt.Errorf("--db %q: unknown scheme; use sqlite:PATH or postgres://user:password@host/database", cfg.redactedDB())
	}
	return &cfg, nil
}

// newLogger is the logger every command logs to w with: the format and
// level configured, and on every line logged for a request, that
// request's id (httpapi.LogHandler).
func (c *config) newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.logFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(httpapi.LogHandler(h))
}

// redactedDB is the DSN without any password, for logs and messages.
func (c *config) redactedDB() string {
	if i := strings.Index(c.db, "@"); i >= 0 {
		if j := strings.Index(c.db, "://"); j >= 0 && j < i {
			return c.db[:j+3] + "…@" + c.db[i+1:]
		}
	}
	return c.db
}

// openApp opens the store, resolves and checks the master key, and wires the
// service and the verifier.
func openApp(ctx context.Context, cfg *config, logger *slog.Logger) (*app, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	keys, err := resolveMasterKey(ctx, cfg, store, logger)
	if err == nil {
		err = core.CheckMasterKey(ctx, store, keys)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	verifierOpts := []auth.Option{auth.WithJWTPolicy(cfg.jwt)}
	if cfg.serveStale {
		// The operator chose availability over freshness during an
		// outage; see auth.WithServeStale for what that gives up.
		verifierOpts = append(verifierOpts, auth.WithServeStale())
	}
	// Metrics time the store's calls on the request path; the raw store
	// stays what the fleet and the shared limiter look into.
	m := metrics.New()
	timed := m.InstrumentStore(store)
	verifier := auth.NewVerifier(timed, keys, nil, verifierOpts...)
	if _, shared := store.(latchkey.SharedStore); shared {
		// Other nodes may change keys in this store: until followFleet
		// has read their changes, the caches answer nothing.
		verifier.TrustUntil(time.Now())
	}
	limiter, closeLimiter, err := openLimiter(ctx, cfg, store, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	recorder := usage.New(timed.AddUsage, usageFlushInterval, nil, usage.WithLogger(logger))
	auditor := audit.NewRecorder(store, logger)
	m.WatchCache(verifier)
	m.WatchUsage(recorder)
	// SealingStore: every secret written is hashed and sealed under one
	// state of the keyring, however a master-key rotation moves it.
	svc := core.New(core.SealingStore(timed, keys), keys, secret.Environment(cfg.environment), verifier,
		core.WithVerification(verifier, limiter, recorder), core.WithAuditRecorder(auditor), core.WithMetrics(m))
	return &app{store: store, svc: svc, verifier: verifier, usage: recorder, audit: auditor, metrics: m, closeLimiter: closeLimiter}, nil
}

// Redis calls of the rate limiter: one that takes longer than redisTimeout
// is answered by the node's own limiter, and after a failure the node's
// own limiter answers for redisRetryInterval before Redis is tried again,
// so that an unreachable Redis slows one verification per interval.
const (
	redisTimeout       = 250 * time.Millisecond
	redisRetryInterval = time.Second
)

// openLimiter returns the rate limiter: with --redis one kept in Redis,
// which must answer now; else, on PostgreSQL, one that shares its counts
// with the other nodes through the database, off the verification path
// (package sharedlimit); else, on SQLite, the node's own. A node refuses
// to start without its Redis so that a wrong address or password shows at
// once, rather than as limits silently enforced per node; once started, a
// node whose Redis fails falls back to its own limiter (see package
// redislimit). The returned func closes what it opened.
func openLimiter(ctx context.Context, cfg *config, store latchkey.Store, logger *slog.Logger) (core.RateLimiter, func() error, error) {
	if cfg.redis == nil {
		if shared, ok := store.(sharedlimit.Store); ok && cfg.postgresDSN != "" {
			logger.Info("rate limits are shared through PostgreSQL: a key's limit holds across the nodes within what one node admits in a sync interval or two",
				"sync_interval", sharedlimit.DefaultInterval)
			limiter := sharedlimit.New(shared, sharedlimit.Options{Logger: logger})
			return limiter, limiter.Close, nil
		}
		return ratelimit.New(), func() error { return nil }, nil
	}
	client := redis.NewClient(cfg.redis)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("--redis %s: Redis does not answer: %w", redislimit.Redact(cfg.redisURL), err)
	}
	logger.Info("rate limits are kept in Redis, exact across every node that uses it", "redis", redislimit.Redact(cfg.redisURL))
	limiter := redislimit.New(client, redislimit.Options{Timeout: redisTimeout, RetryInterval: redisRetryInterval, Logger: logger})
	return limiter, client.Close, nil
}

// minStaleness is the smallest --max-staleness: the change feed is read
// four times per bound, and each read is a query.
const minStaleness = 100 * time.Millisecond

// followFleet keeps the verifier in step with the key changes other nodes
// commit, if the store is shared (PostgreSQL); see package fleet.
func (a *app) followFleet(ctx context.Context, maxStaleness time.Duration, logger *slog.Logger) error {
	shared, ok := a.store.(latchkey.SharedStore)
	if !ok {
		return nil
	}
	feed, err := shared.FollowKeyChanges(ctx)
	if err != nil {
		return err
	}
	a.follower = fleet.Follow(feed, a.verifier, maxStaleness, logger)
	a.metrics.WatchFleet(a.follower)
	return nil
}

// ready is what GET /readyz reports: on a fleet, whether this node is in
// step with the others' key changes.
func (a *app) ready() error {
	if a.follower != nil && !a.follower.InStep() {
		return errors.New("not in step with the key changes of the other nodes: the database cannot be read")
	}
	if a.verifier.Keyring().Retired() {
		return errors.New("this node's master key was retired by a rotation it missed: restart it with the new master key")
	}
	return nil
}

// openStore opens the store the DSN names, and notes whether it made a new
// SQLite database (cfg.newDatabase).
func openStore(ctx context.Context, cfg *config) (latchkey.Store, error) {
	if cfg.postgresDSN != "" {
		return postgres.Open(ctx, cfg.postgresDSN)
	}
	_, err := os.Stat(cfg.sqlitePath)
	cfg.newDatabase = errors.Is(err, fs.ErrNotExist)
	return sqlite.Open(ctx, cfg.sqlitePath)
}

// usageFlushInterval is how often usage counts are written: a crash loses
// at most this much of them; a graceful shutdown loses none.
const usageFlushInterval = 5 * time.Second

// resolveMasterKey finds the master key: LATCHKEY_MASTER_KEY, else the
// configured file, else master.key in the data directory, which is generated
// only for a store that was never sealed (so that a lost key is reported, not
// silently replaced).
func resolveMasterKey(ctx context.Context, cfg *config, store latchkey.Store, logger *slog.Logger) (*secret.Keyring, error) {
	var text, source string
	switch {
	case cfg.masterKeyText != "" && cfg.masterKeyFile != "":
		return nil, errors.New("the master key is given twice, in LATCHKEY_MASTER_KEY and in --master-key-file (LATCHKEY_MASTER_KEY_FILE): " +
			"give it one way, so that it is clear which one this server uses")
	case cfg.masterKeyText != "":
		text, source = cfg.masterKeyText, "LATCHKEY_MASTER_KEY"
	case cfg.masterKeyFile != "":
		b, err := os.ReadFile(cfg.masterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--master-key-file (LATCHKEY_MASTER_KEY_FILE): %w", err)
		}
		text, source = string(b), "--master-key-file "+cfg.masterKeyFile
	default:
		var err error
		path := filepath.Join(cfg.dataDir, "master.key")
		if text, err = defaultMasterKey(ctx, path, store, logger); err != nil {
			return nil, err
		}
		source = "the master key file " + path
	}
	master, err := secret.ParseMasterKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; a master key is 32 random bytes in standard base64, such as openssl rand -base64 32 makes", source, err)
	}
	return secret.NewKeyring(master)
}

// defaultMasterKey reads the master key from path, generating it first if
// the store was never sealed. Two processes starting at once on a fresh
// directory (serve and bootstrap, say) may both generate one: the file is
// created exclusively, so exactly one key is installed, and the process
// that lost the race reads the winner's. A key is never replaced.
func defaultMasterKey(ctx context.Context, path string, store latchkey.Store, logger *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return string(b), nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read master key: %w", err)
	}
	sealed, err := core.IsSealed(ctx, store)
	if err != nil {
		return "", err
	}
	if sealed {
		// A process that generates the key installs the file before it
		// seals the store; one that started beside it may have looked for
		// the file just before, so look again before calling it lost.
		if b, err := os.ReadFile(path); err == nil {
			return string(b), nil
		}
		return "", fmt.Errorf("this database was sealed with a master key, but %s is missing: "+
			"restore it, or set LATCHKEY_MASTER_KEY or --master-key-file", path)
	}
	text := secret.NewMasterKey()
	switch err := datadir.CreateExclusive(path, []byte(text+"\n")); {
	case errors.Is(err, fs.ErrExist):
		b, err := os.ReadFile(path) // another process generated it first
		if err != nil {
			return "", fmt.Errorf("read master key: %w", err)
		}
		return string(b), nil
	case err != nil:
		return "", fmt.Errorf("write master key: %w", err)
	}
	logger.Info("generated a new master key; back it up: without it the stored secrets cannot be used", "file", path)
	return text, nil
}

// parseLimit reads a N/PERIOD limit such as 30/1m; "0" and "off" are no
// limit (a zero RateLimit).
func parseLimit(s string) (latchkey.RateLimit, error) {
	if s == "0" || s == "off" {
		return latchkey.RateLimit{}, nil
	}
	n, period, ok := strings.Cut(s, "/")
	if !ok {
		return latchkey.RateLimit{}, errors.New("no /")
	}
	limit, err := strconv.Atoi(n)
	if err != nil || limit < 1 {
		return latchkey.RateLimit{}, errors.New("the count must be a positive integer")
	}
	d, err := time.ParseDuration(period)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return latchkey.RateLimit{}, errors.New("PERIOD must be a duration from 1s to 24h")
	}
	return latchkey.RateLimit{Limit: limit, Period: d}, nil
}

// formatLimit is parseLimit's inverse, for the flag's default.
func formatLimit(l latchkey.RateLimit) string {
	return strconv.Itoa(l.Limit) + "/" + strings.TrimSuffix(strings.TrimSuffix(l.Period.String(), "0s"), "0m")
}

// parseDays reads a Go duration, or a whole number of days as "90d".
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
