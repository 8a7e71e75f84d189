package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/sqlite"
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
	environment   string
	// trustedProxies and allowPrivate are the flags behind web.
	trustedProxies string
	allowPrivate   bool
	web            web.Config
}

const defaultDB = "sqlite:./data/latchkey.db"

func parseConfig(command string, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flagSet)) (*config, error) {
	fs := flag.NewFlagSet("latchkey "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (env LATCHKEY_ADDR)")
	fs.StringVar(&cfg.db, "db", defaultDB, "database DSN (env LATCHKEY_DB)")
	fs.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the master key, base64 (env LATCHKEY_MASTER_KEY_FILE); "+
		"default: master.key beside the SQLite file, generated on first start")
	fs.StringVar(&cfg.environment, "environment", "live", "live or sandbox: the middle part of new secrets' prefix, as in sk_live_ (env LATCHKEY_ENVIRONMENT)")
	fs.StringVar(&cfg.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For and Forwarded headers are believed (env LATCHKEY_TRUSTED_PROXIES)")
	fs.BoolVar(&cfg.allowPrivate, "allow-private-ips", false, "let keys' allowedIps name private and other non-public addresses (env LATCHKEY_ALLOW_PRIVATE_IPS)")
	for _, f := range extra {
		f(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, env := range map[string]string{"addr": "LATCHKEY_ADDR", "db": "LATCHKEY_DB", "master-key-file": "LATCHKEY_MASTER_KEY_FILE",
		"environment": "LATCHKEY_ENVIRONMENT", "trusted-proxies": "LATCHKEY_TRUSTED_PROXIES", "allow-private-ips": "LATCHKEY_ALLOW_PRIVATE_IPS"} {
		if v := getenv(env); v != "" && !set[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, err
			}
		}
	}
	cfg.masterKeyText = getenv("LATCHKEY_MASTER_KEY")
	if cfg.environment != string(secret.Live) && cfg.environment != string(secret.Sandbox) {
		return nil, fmt.Errorf("--environment %q: want live or sandbox", cfg.environment)
	}
	cfg.web.AllowPrivateIPs = cfg.allowPrivate
	for _, part := range strings.Split(cfg.trustedProxies, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(part)
		if err != nil {
			addr, addrErr := netip.ParseAddr(part)
			if addrErr != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR or an address", part)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		cfg.web.TrustedProxies = append(cfg.web.TrustedProxies, prefix.Masked())
	}

	switch {
	case strings.HasPrefix(cfg.db, "sqlite:"):
		cfg.sqlitePath = strings.TrimPrefix(strings.TrimPrefix(cfg.db, "sqlite:"), "//")
		if cfg.sqlitePath == "" {
			return nil, errors.New("--db sqlite: needs a file path, as in sqlite:./data/latchkey.db")
		}
		cfg.dataDir = filepath.Dir(cfg.sqlitePath)
	case strings.HasPrefix(cfg.db, "postgres://"), strings.HasPrefix(cfg.db, "postgresql://"):
		return nil, errors.New("PostgreSQL is not supported yet: use an sqlite: DSN")
	default:
		return nil, fmt.Errorf("--db %q: unknown scheme; use sqlite:PATH", cfg.redactedDB())
	}
	return &cfg, nil
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
	store, err := sqlite.Open(ctx, cfg.sqlitePath)
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
	verifier := auth.NewVerifier(store, keys, nil)
	svc := core.New(store, keys, secret.Environment(cfg.environment), verifier)
	return &app{store: store, svc: svc, verifier: verifier}, nil
}

// resolveMasterKey finds the master key: LATCHKEY_MASTER_KEY, else the
// configured file, else master.key in the data directory, which is generated
// only for a store that was never sealed (so that a lost key is reported, not
// silently replaced).
func resolveMasterKey(ctx context.Context, cfg *config, store *sqlite.Store, logger *slog.Logger) (*secret.Keyring, error) {
	var text string
	switch {
	case cfg.masterKeyText != "":
		text = cfg.masterKeyText
	case cfg.masterKeyFile != "":
		b, err := os.ReadFile(cfg.masterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read master key file: %w", err)
		}
		text = string(b)
	default:
		path := filepath.Join(cfg.dataDir, "master.key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			text = string(b)
		case errors.Is(err, fs.ErrNotExist):
			sealed, err := core.IsSealed(ctx, store)
			if err != nil {
				return nil, err
			}
			if sealed {
				return nil, fmt.Errorf("this database was sealed with a master key, but %s is missing: "+
					"restore it, or set LATCHKEY_MASTER_KEY or --master-key-file", path)
			}
			text = secret.NewMasterKey()
			if err := writePrivateFile(path, []byte(text+"\n")); err != nil {
				return nil, fmt.Errorf("write master key: %w", err)
			}
			logger.Info("generated a new master key; back it up: without it the stored secrets cannot be used", "file", path)
		default:
			return nil, fmt.Errorf("read master key: %w", err)
		}
	}
	master, err := secret.ParseMasterKey(text)
	if err != nil {
		return nil, err
	}
	return secret.NewKeyring(master)
}

// writePrivateFile writes a new file readable only by its owner (0600).
func writePrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // O_CREATE's mode does not apply to an existing file
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
