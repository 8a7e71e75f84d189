package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/term"

	"github.com/latchkey/latchkey/internal/datadir"
	"github.com/latchkey/latchkey/sdk"
)

// The client commands find their server and key in --url and --api-key,
// else in these environment variables, else in the file latchkey login
// writes. The server's settings are LATCHKEY_ and a flag's name (envName),
// so no server setting may be named url or api-key: a test holds them
// apart (clientEnvNames), and the server ignores these.
const (
	envURL    = "LATCHKEY_URL"
	envAPIKey = "LATCHKEY_API_KEY"
)

// clientEnvNames are the environment variables the client commands read.
var clientEnvNames = []string{envURL, envAPIKey}

// defaultServerURL is what latchkey login talks to when given no URL: where
// latchkey serve listens by default.
const defaultServerURL = "http://127.0.0.1:8080"

// maxSecretInput bounds what is read from stdin for a key.
const maxSecretInput = 64 << 10

// clientSettings are the flags of a remote command that say which server to
// talk to, and with which key: --url and --api-key, "" when not given.
type clientSettings struct {
	URL    string
	APIKey string
}

// addFlags declares --url and --api-key on fs.
func (s *clientSettings) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.URL, "url", s.URL, "the server's URL, such as https://keys.example.com (env "+envURL+"; default: the one latchkey login saved)")
	fs.StringVar(&s.APIKey, "api-key", s.APIKey, "the key to use: a secret, or KEY_ID:SECRET (env "+envAPIKey+"; default: the one latchkey login saved); "+
		"given here it shows in ps and in shell history, so prefer the environment or latchkey login")
}

// connection is a resolved server and key, with where each came from.
type connection struct {
	url, urlFrom string
	// apiKey is a Secret, so that printing a connection shows no key.
	apiKey  sdk.Secret
	keyFrom string
}

// client returns an SDK client for the connection.
func (conn *connection) client() *sdk.Client {
	return sdk.New(conn.url, conn.apiKey.Reveal(), sdk.WithUserAgent(userAgent()))
}

// userAgent names the CLI and its version to the server.
func userAgent() string {
	if version == "" {
		return "latchkey-cli/" + unknownVersion
	}
	return "latchkey-cli/" + version
}

var errNotLoggedIn = &exitError{status: statusAuth, code: "not_logged_in",
	err: errors.New("not logged in: run latchkey login --url URL (it reads the key from stdin), or set " + envURL + " and " + envAPIKey)}

// resolveConnection resolves the server and key: each from its flag, else
// its environment variable, else the login file. The saved key is sent only
// to the server it was saved for, so that --url or LATCHKEY_URL naming
// another server cannot hand it over.
func resolveConnection(s clientSettings, getenv func(string) string) (*connection, error) {
	// The login file is read only if a flag or the environment leaves
	// something unsaid: a broken one does not stop a script that gives
	// both.
	var (
		path  string
		saved = &loginFile{}
		err   error
	)
	if (s.URL == "" && getenv(envURL) == "") || (s.APIKey == "" && getenv(envAPIKey) == "") {
		if path, err = loginFilePath(getenv); err != nil {
			return nil, err
		}
		if saved, err = readLoginFile(path); err != nil {
			return nil, err
		}
	}
	conn := &connection{}
	var raw string
	switch {
	case s.URL != "":
		raw, conn.urlFrom = s.URL, "flag --url"
	case getenv(envURL) != "":
		raw, conn.urlFrom = getenv(envURL), "environment "+envURL
	case saved.URL != "":
		raw, conn.urlFrom = saved.URL, "login file "+path
	default:
		return nil, errNotLoggedIn
	}
	if conn.url, err = parseServerURL(raw, conn.urlFrom); err != nil {
		return nil, err
	}
	switch {
	case s.APIKey != "":
		conn.apiKey, conn.keyFrom = sdk.Secret(s.APIKey), "flag --api-key"
	case getenv(envAPIKey) != "":
		conn.apiKey, conn.keyFrom = sdk.Secret(getenv(envAPIKey)), "environment "+envAPIKey
	case saved.APIKey != "":
		if savedURL, err := parseServerURL(saved.URL, path); err != nil || savedURL != conn.url {
			return nil, &exitError{status: statusAuth, code: "not_logged_in", err: fmt.Errorf(
				"the key latchkey login saved is for %s, not %s, and is not sent to another server: "+
					"run latchkey login --url %s, or set %s", saved.URL, conn.url, conn.url, envAPIKey)}
		}
		conn.apiKey, conn.keyFrom = sdk.Secret(saved.APIKey), "login file "+path
	default:
		return nil, errNotLoggedIn
	}
	return conn, nil
}

// parseServerURL checks a server URL and returns it without a trailing
// slash. from says where it came from, for the error.
func parseServerURL(raw, from string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", usageError("the server URL (%s) is not a URL: want one such as https://keys.example.com", from)
	case u.User != nil:
		// Never echoed: it holds a password.
		return "", usageError("the server URL (%s) holds a user name or password: give the key with --api-key, %s or latchkey login instead", from, envAPIKey)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return "", usageError("the server URL %q (%s): want http:// or https:// and a host, such as https://keys.example.com", raw, from)
	case u.RawQuery != "" || u.Fragment != "":
		return "", usageError("the server URL %q (%s) must not have a query or fragment", raw, from)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// loginFilePath is the file latchkey login writes:
// $XDG_CONFIG_HOME/latchkey/cli.toml, by default ~/.config/latchkey/cli.toml.
func loginFilePath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) { // the XDG specification ignores a relative path
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("no place for the login file: %w; set XDG_CONFIG_HOME or HOME", err)
			}
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "latchkey", "cli.toml"), nil
}

// loginFile is what latchkey login saves. Its keys are the flags' names.
type loginFile struct {
	URL    string `toml:"url"`
	APIKey string `toml:"api-key,omitempty"`
	// KeyID is the saved key's id, for people reading the file.
	KeyID string `toml:"key-id,omitempty"`
}

// readLoginFile reads the login file; none is an empty one.
func readLoginFile(path string) (*loginFile, error) {
	var lf loginFile
	if _, err := toml.DecodeFile(path, &lf); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &lf, nil
		}
		// toml's messages may quote the line at fault, which may hold the
		// key: they are not shown.
		var (
			perr    toml.ParseError
			pathErr *fs.PathError
		)
		switch {
		case errors.As(err, &perr):
			return nil, fmt.Errorf("the login file %s is not valid TOML (line %d): fix it, or remove it and run latchkey login", path, perr.Position.Line)
		case errors.As(err, &pathErr):
			return nil, fmt.Errorf("the login file %s cannot be read: %w", path, pathErr.Err)
		}
		return nil, fmt.Errorf("the login file %s is not a login file: fix it, or remove it and run latchkey login", path)
	}
	return &lf, nil
}

const loginFileHeader = `# The server and key of the latchkey client commands, written by latchkey login.
# Keep it private: mode 0600, in a directory of mode 0700. latchkey logout removes the key.
`

// writeLoginFile replaces the login file with lf, mode 0600 in a directory
// of mode 0700, in one step; with neither URL nor key, it removes it.
func writeLoginFile(path string, lf *loginFile) error {
	if lf.URL == "" && lf.APIKey == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil { // made earlier, by someone else, more open
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(loginFileHeader)
	if err := toml.NewEncoder(&buf).Encode(lf); err != nil {
		return err
	}
	return datadir.Replace(path, buf.Bytes())
}

// readSecret reads a key from stdin: after a prompt, without echo, from a
// terminal; otherwise the first line of the input. With credentials set, a
// JSON object's "secret" member is taken too, so that the file a server
// writes on its first start (initial-credentials.json), or bootstrap's
// output, can be piped in as it is.
func (c *cli) readSecret(prompt string, credentials bool) (string, error) {
	var text string
	if fd, ok := isTerminal(c.stdin); ok {
		fmt.Fprintf(c.stderr, "%s (the input is not shown): ", prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		text = string(b)
	} else {
		if c.stdin == nil {
			return "", usageError("no key on stdin")
		}
		b, err := io.ReadAll(io.LimitReader(c.stdin, maxSecretInput+1))
		if err != nil {
			return "", fmt.Errorf("reading stdin: %w", err)
		}
		if len(b) > maxSecretInput {
			return "", usageError("stdin holds more than %d bytes: want one key", maxSecretInput)
		}
		text = string(b)
	}
	text = strings.TrimSpace(text)
	if credentials && strings.HasPrefix(text, "{") {
		var creds struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal([]byte(text), &creds); err != nil || creds.Secret == "" {
			return "", usageError(`stdin holds a JSON document without a "secret" member: want a key, or the JSON of initial-credentials.json or bootstrap`)
		}
		return creds.Secret, nil
	}
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	if text == "" {
		return "", usageError("no key on stdin: pipe it in, or run the command in a terminal to be asked for it")
	}
	return text, nil
}

// loginSetup is "latchkey login [--url URL] < KEY".
func loginSetup(fs *flag.FlagSet) runFunc {
	var server string
	fs.StringVar(&server, "url", "", "the server's URL (env "+envURL+"; default: the one saved before, else "+defaultServerURL+")")
	return func(ctx context.Context, c *cli, _ []string) error {
		path, err := loginFilePath(c.getenv)
		if err != nil {
			return err
		}
		saved, err := readLoginFile(path)
		if err != nil {
			return err
		}
		raw, from := server, "flag --url"
		switch {
		case raw != "":
		case c.getenv(envURL) != "":
			raw, from = c.getenv(envURL), "environment "+envURL
		case saved.URL != "":
			raw, from = saved.URL, "login file "+path
		default:
			raw, from = defaultServerURL, "the default"
		}
		base, err := parseServerURL(raw, from)
		if err != nil {
			return err
		}
		c.base = base
		secret, err := c.readSecret("API key for "+base, true)
		if err != nil {
			return err
		}
		key, err := sdk.New(base, secret, sdk.WithUserAgent(userAgent())).WhoAmI(ctx)
		if err != nil {
			return err
		}
		if err := writeLoginFile(path, &loginFile{URL: base, APIKey: secret, KeyID: key.ID}); err != nil {
			return fmt.Errorf("saving the login file: %w", err)
		}
		if c.getenv(envAPIKey) != "" {
			c.warnf("%s is set in this environment, and is used before the saved key", envAPIKey)
		}
		if insecure(base) {
			c.warnf("%s is plain HTTP to another machine: the key crosses the network unencrypted; use https://", base)
		}
		if c.json {
			return c.printJSON(struct {
				URL   string    `json:"url"`
				KeyID string    `json:"keyId"`
				Owner sdk.Owner `json:"owner"`
				File  string    `json:"file"`
			}{base, key.ID, key.Owner, path})
		}
		_, err = fmt.Fprintf(c.stdout, "Logged in to %s with key %s (%s). Saved to %s.\n", base, key.ID, ownerString(key.Owner), path)
		return err
	}
}

// insecure reports whether base is plain HTTP to a host other than this
// one.
func insecure(base string) bool {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// logoutSetup is "latchkey logout": it removes the saved key, keeping the
// server's URL for the next login.
func logoutSetup(*flag.FlagSet) runFunc {
	return func(_ context.Context, c *cli, _ []string) error {
		path, err := loginFilePath(c.getenv)
		if err != nil {
			return err
		}
		saved, err := readLoginFile(path)
		if err != nil {
			return err
		}
		removed := saved.APIKey != ""
		if removed {
			saved.APIKey, saved.KeyID = "", ""
			if err := writeLoginFile(path, saved); err != nil {
				return err
			}
		}
		if c.getenv(envAPIKey) != "" {
			c.warnf("%s is still set in this environment, and the commands use it", envAPIKey)
		}
		if c.json {
			return c.printJSON(struct {
				File    string `json:"file"`
				Removed bool   `json:"removed"`
			}{path, removed})
		}
		if !removed {
			_, err = fmt.Fprintf(c.stdout, "No key saved in %s.\n", path)
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "Removed the saved key from %s. The key itself still works: delete or roll it to revoke it.\n", path)
		return err
	}
}

// whoamiSetup is "latchkey whoami".
func whoamiSetup(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, _ []string) error {
		conn, err := resolveConnection(c.settings, c.getenv)
		if err != nil {
			return err
		}
		c.base = conn.url
		key, err := conn.client().WhoAmI(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(struct {
				URL     string   `json:"url"`
				URLFrom string   `json:"urlFrom"`
				KeyFrom string   `json:"keyFrom"`
				Key     *sdk.Key `json:"key"`
			}{conn.url, conn.urlFrom, conn.keyFrom, key})
		}
		return c.printFields([][2]string{
			{"SERVER", conn.url + " (" + conn.urlFrom + ")"},
			{"KEY", key.ID + " (" + conn.keyFrom + ")"},
			{"NAME", key.Name},
			{"OWNER", ownerString(key.Owner)},
			{"TYPE", string(key.Type)},
			{"PERMISSIONS", permissionsString(key)},
			{"EXPIRES", timePtrString(key.ExpiresAt)},
		})
	}
}
