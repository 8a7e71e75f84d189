package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/lktest"
)

// cliHarness runs client commands in process, through runIO and
// exitStatus as main does, against one real server on a real SQLite file,
// and keeps every output so that the test can check at the end that no
// secret was shown where it must not be.
type cliHarness struct {
	base  string // the server's URL
	admin string // the secret of its first account key
	logs  *lktest.Buffer

	mu      sync.Mutex
	outputs []cliResult
	// shown are the secrets a create or roll printed, by the index of the
	// output that printed them: the one output each may appear in.
	shown map[string]int
}

// cliResult is one command's outputs and exit status.
type cliResult struct {
	index          int
	args           []string
	stdout, stderr string
	status         int
}

// run runs latchkey with args, the environment vars (HOME and
// XDG_CONFIG_HOME always point into a temporary directory, never the real
// ones), and stdin.
func (h *cliHarness) run(t *testing.T, vars map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	if vars["HOME"] == "" {
		t.Fatal("the test sets no HOME: the command would read the real login file")
	}
	var stdout, stderr bytes.Buffer
	err := runIO(t.Context(), args, env(vars), in, &stdout, &stderr)
	status := exitStatus(err, &stderr)
	h.mu.Lock()
	defer h.mu.Unlock()
	r := cliResult{index: len(h.outputs), args: args, stdout: stdout.String(), stderr: stderr.String(), status: status}
	h.outputs = append(h.outputs, r)
	return r
}

// want runs a command and checks its exit status.
func (h *cliHarness) want(t *testing.T, status int, vars map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	r := h.run(t, vars, stdin, args...)
	if r.status != status {
		t.Fatalf("latchkey %s: exit status %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.status, status, r.stdout, r.stderr)
	}
	return r
}

// secretOf returns the secret a create or roll printed as JSON, noting that
// r is the one output allowed to show it.
func (h *cliHarness) secretOf(t *testing.T, r cliResult) (id, secret string) {
	t.Helper()
	var k struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.Secret == "" {
		t.Fatalf("latchkey %s printed no secret: %v\n%s", strings.Join(r.args, " "), err, r.stdout)
	}
	h.allow(r, k.Secret)
	return k.ID, k.Secret
}

func (h *cliHarness) allow(r cliResult, secret string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shown[secret] = r.index
}

// decodeJSON decodes a command's stdout.
func decodeJSON[T any](t *testing.T, r cliResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("latchkey %s: stdout is not the JSON wanted: %v\n%s", strings.Join(r.args, " "), err, r.stdout)
	}
	return v
}

// with returns vars with more set.
func with(vars map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range vars {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// newCLIServer starts a server on a real SQLite file for the client
// commands, and returns the harness, the environment of a command run with
// its account key (in a home of its own), the key, and the credentials file
// as the server wrote it.
func newCLIServer(t *testing.T) (*cliHarness, map[string]string, credentials, []byte) {
	t.Helper()
	dir := t.TempDir()
	base, logs, _ := startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "lk.db"), "--failed-auth-limit", "off")
	b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var creds credentials
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	h := &cliHarness{base: base, admin: creds.Secret, logs: logs, shown: map[string]int{}}
	home := t.TempDir()
	admin := map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "cfg"), envURL: base, envAPIKey: creds.Secret}
	return h, admin, creds, b
}

// TestCLI drives the client commands against one server: login and its
// precedence first, then every command group side by side, then a check
// that no secret showed anywhere but in the one output that made it.
func TestCLI(t *testing.T) {
	h, admin, creds, b := newCLIServer(t)
	logs := h.logs

	t.Run("Login", func(t *testing.T) { testLogin(t, h, string(b), creds.ID) })
	t.Run("Commands", func(t *testing.T) {
		t.Run("Apps", func(t *testing.T) { t.Parallel(); testApps(t, h, admin) })
		t.Run("Integrations", func(t *testing.T) { t.Parallel(); testIntegrations(t, h, admin) })
		t.Run("Keys", func(t *testing.T) { t.Parallel(); testKeys(t, h, admin) })
		t.Run("VerifyAndUsage", func(t *testing.T) { t.Parallel(); testVerify(t, h, admin) })
		t.Run("Audit", func(t *testing.T) { t.Parallel(); testAuditList(t, h, admin) })
		t.Run("ExitStatuses", func(t *testing.T) { t.Parallel(); testExitStatuses(t, h, admin, creds.ID) })
		t.Run("Help", func(t *testing.T) { t.Parallel(); testHelp(t, h, admin) })
		t.Run("Completion", func(t *testing.T) { t.Parallel(); testCompletion(t, h, admin) })
	})

	// No output showed a secret, but the one create or roll that made it;
	// the account key, given by file, environment or flag, was never shown.
	secrets := map[string]int{creds.Secret: -1}
	for s, i := range h.shown {
		secrets[s] = i
	}
	for _, r := range h.outputs {
		for s, allowed := range secrets {
			if r.index != allowed && (strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s)) {
				t.Errorf("latchkey %s showed a secret it must not:\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.stdout, r.stderr)
			}
		}
	}
	if len(h.shown) < 5 {
		t.Errorf("only %d secrets were made: the check proves little", len(h.shown))
	}
	for s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the server's log shows a secret")
		}
	}
}

func testLogin(t *testing.T, h *cliHarness, credentialsFile, adminID string) {
	home := t.TempDir()
	cfg := filepath.Join(home, "xdg")
	vars := map[string]string{"HOME": home, "XDG_CONFIG_HOME": cfg}
	file := filepath.Join(cfg, "latchkey", "cli.toml")

	// Nothing configured: not logged in, exit 4.
	r := h.want(t, statusAuth, vars, "", "whoami")
	if !strings.Contains(r.stderr, "latchkey login") {
		t.Errorf("not logged in says %q, want how to log in", r.stderr)
	}
	// A key the server refuses is not saved.
	r = h.want(t, statusAuth, vars, "sk_live_not_a_key\n", "login", "--url", h.base)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a refused login wrote %s (%v)", file, err)
	}
	// No key on stdin: a usage error.
	h.want(t, statusUsage, vars, "", "login", "--url", h.base)
	h.want(t, statusUsage, vars, "x", "login", "--url", "ftp://example.com")

	// The credentials file a first start writes, piped in as it is.
	r = h.want(t, statusOK, vars, credentialsFile, "login", "--url", h.base+"/")
	if !strings.Contains(r.stdout, adminID) || !strings.Contains(r.stdout, file) {
		t.Errorf("login says %q, want the key id and the file", r.stdout)
	}
	if got := fileMode(t, file); got != 0o600 {
		t.Errorf("login file mode %v, want 0600", got)
	}
	if got := fileMode(t, filepath.Dir(file)); got != 0o700 {
		t.Errorf("login directory mode %v, want 0700", got)
	}
	saved, err := readLoginFile(file)
	if err != nil || saved.URL != h.base || saved.APIKey != h.admin || saved.KeyID != adminID {
		t.Fatalf("login file holds %+v (%v), want the server without the slash and the key", saved.URL, err)
	}

	// The file alone is enough.
	r = h.want(t, statusOK, vars, "", "whoami", "--json")
	who := decodeJSON[struct {
		URL, URLFrom, KeyFrom string
		Key                   struct{ ID string }
	}](t, r)
	if who.URL != h.base || !strings.HasPrefix(who.URLFrom, "login file") || !strings.HasPrefix(who.KeyFrom, "login file") || who.Key.ID != adminID {
		t.Errorf("whoami from the file = %+v", who)
	}
	// The environment beats the file: a bad key there is used, and refused.
	r = h.want(t, statusAuth, with(vars, envAPIKey, "sk_live_bogus"), "", "apps", "list")
	if !strings.Contains(r.stderr, "401 unauthorized") {
		t.Errorf("a refused key says %q", r.stderr)
	}
	// A flag beats the environment.
	r = h.want(t, statusOK, with(vars, envAPIKey, "sk_live_bogus"), "", "whoami", "--json", "--api-key", h.admin)
	if who := decodeJSON[struct{ KeyFrom string }](t, r); who.KeyFrom != "flag --api-key" {
		t.Errorf("key from %q, want the flag", who.KeyFrom)
	}
	r = h.want(t, statusOK, with(vars, envURL, "http://127.0.0.1:1", envAPIKey, h.admin), "", "whoami", "--json", "--url", h.base)
	if who := decodeJSON[struct{ URLFrom, KeyFrom string }](t, r); who.URLFrom != "flag --url" || who.KeyFrom != "environment "+envAPIKey {
		t.Errorf("whoami with a flag and the environment = %+v", who)
	}
	// The saved key is never sent to another server.
	r = h.want(t, statusAuth, with(vars, envURL, "http://127.0.0.1:1"), "", "whoami")
	if !strings.Contains(r.stderr, "not sent to another server") {
		t.Errorf("another server with the saved key says %q", r.stderr)
	}
	// The server's own LATCHKEY_* settings do not disturb the client.
	h.want(t, statusOK, with(vars, "LATCHKEY_DB", "sqlite:/nonexistent/x.db", "LATCHKEY_CONFIG", "/nonexistent.toml", "LATCHKEY_ADDR", "x"), "", "whoami")

	// Logout removes the key, keeps the URL, and says so once.
	r = h.want(t, statusOK, vars, "", "logout", "--json")
	if out := decodeJSON[struct{ Removed bool }](t, r); !out.Removed {
		t.Errorf("logout = %s", r.stdout)
	}
	if saved, err := readLoginFile(file); err != nil || saved.APIKey != "" || saved.URL != h.base {
		t.Errorf("after logout the file holds %+v (%v)", saved.URL, err)
	}
	h.want(t, statusAuth, vars, "", "whoami")
	r = h.want(t, statusOK, vars, "", "logout")
	if !strings.Contains(r.stdout, "No key saved") {
		t.Errorf("a second logout says %q", r.stdout)
	}
	// A second login takes the saved URL, and a plain key line.
	r = h.want(t, statusOK, vars, h.admin+"\n", "login", "--json")
	if out := decodeJSON[struct{ URL, KeyID, File string }](t, r); out.URL != h.base || out.KeyID != adminID || out.File != file {
		t.Errorf("login --json = %s", r.stdout)
	}

	// A broken login file is named, its contents never shown; given the
	// server and key otherwise, it is not even read.
	broken := map[string]string{"HOME": t.TempDir()}
	brokenFile := filepath.Join(broken["HOME"], ".config", "latchkey", "cli.toml")
	if err := os.MkdirAll(filepath.Dir(brokenFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(brokenFile, []byte("api-key = \"sk_live_leaked_by_an_error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = h.want(t, statusFailure, broken, "", "whoami")
	if !strings.Contains(r.stderr, brokenFile) || strings.Contains(r.stderr, "leaked") {
		t.Errorf("a broken login file says %q", r.stderr)
	}
	h.want(t, statusOK, with(broken, envURL, h.base, envAPIKey, h.admin), "", "whoami")

	// Without XDG_CONFIG_HOME, the file is under ~/.config.
	bare := map[string]string{"HOME": t.TempDir()}
	h.want(t, statusOK, bare, h.admin, "login", "--url", h.base)
	if got := fileMode(t, filepath.Join(bare["HOME"], ".config", "latchkey", "cli.toml")); got != 0o600 {
		t.Errorf("the login file under HOME has mode %v", got)
	}
}

type appJSON struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt string         `json:"createdAt"`
	UpdatedAt string         `json:"updatedAt"`
}

func testApps(t *testing.T, h *cliHarness, admin map[string]string) {
	r := h.want(t, statusOK, admin, "", "apps", "create", "--name", "Shop", "--metadata", "tier=gold", "--json")
	var members map[string]any
	_ = json.Unmarshal([]byte(r.stdout), &members)
	if len(members) != 5 {
		t.Errorf("apps create --json = %s, want id, name, metadata, createdAt, updatedAt", r.stdout)
	}
	app := decodeJSON[appJSON](t, r)
	if app.Name != "Shop" || app.Metadata["tier"] != "gold" || !strings.HasSuffix(app.CreatedAt, "Z") {
		t.Errorf("created %+v", app)
	}
	h.want(t, statusOK, admin, "", "apps", "create", "--name", "Second", "--metadata-json", `{"seats":5}`)

	// Flags after the argument, as gh and kubectl take them.
	got := decodeJSON[appJSON](t, h.want(t, statusOK, admin, "", "apps", "get", app.ID, "--json"))
	if got.ID != app.ID || got.Name != "Shop" {
		t.Errorf("apps get = %+v", got)
	}
	r = h.want(t, statusOK, admin, "", "apps", "get", app.ID)
	if !strings.Contains(r.stdout, "NAME ") || !strings.Contains(r.stdout, `{"tier":"gold"}`) {
		t.Errorf("apps get for people:\n%s", r.stdout)
	}

	// Lists: every item as a JSON array, or --limit of them.
	all := decodeJSON[[]appJSON](t, h.want(t, statusOK, admin, "", "apps", "list", "--json"))
	if !slices.ContainsFunc(all, func(a appJSON) bool { return a.ID == app.ID }) || len(all) < 2 {
		t.Errorf("apps list --json = %+v", all)
	}
	one := h.want(t, statusOK, admin, "", "apps", "list", "--json", "--limit", "1")
	if list := decodeJSON[[]appJSON](t, one); len(list) != 1 {
		t.Errorf("apps list --limit 1 = %s", one.stdout)
	}
	r = h.want(t, statusOK, admin, "", "apps", "list", "--limit", "1")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.Contains(r.stderr, "--cursor ") {
		t.Errorf("apps list --limit 1 for people:\n%s\n%s", r.stdout, r.stderr)
	}

	// Update: what is given changes; nothing given is a usage error.
	got = decodeJSON[appJSON](t, h.want(t, statusOK, admin, "", "apps", "update", app.ID, "--name", "Shop EU", "--json"))
	if got.Name != "Shop EU" || got.Metadata["tier"] != "gold" {
		t.Errorf("renamed: %+v", got)
	}
	got = decodeJSON[appJSON](t, h.want(t, statusOK, admin, "", "apps", "update", app.ID, "--clear", "metadata", "--json"))
	if got.Metadata != nil {
		t.Errorf("cleared metadata: %+v", got)
	}
	h.want(t, statusUsage, admin, "", "apps", "update", app.ID)
	h.want(t, statusUsage, admin, "", "apps", "create")

	// Delete asks first; without a terminal to ask on, it wants --yes.
	r = h.want(t, statusUsage, admin, "", "apps", "delete", app.ID)
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("delete without --yes says %q", r.stderr)
	}
	r = h.want(t, statusOK, admin, "", "apps", "delete", app.ID, "--yes", "--json")
	if out := decodeJSON[struct {
		ID      string
		Deleted bool
	}](t, r); out.ID != app.ID || !out.Deleted {
		t.Errorf("apps delete --json = %s", r.stdout)
	}
	h.want(t, statusNotFound, admin, "", "apps", "get", app.ID)
}

type integrationJSON struct {
	ID, AppID, Type string
	Name            *string
	CreatedAt       string
}

func testIntegrations(t *testing.T, h *cliHarness, admin map[string]string) {
	app := decodeJSON[appJSON](t, h.want(t, statusOK, admin, "", "apps", "create", "--name", "With integrations", "--json"))
	r := h.want(t, statusOK, admin, "", "integrations", "create", "--app", app.ID, "--name", "Bot", "--json")
	in := decodeJSON[integrationJSON](t, r)
	if in.AppID != app.ID || in.Type != "custom" || in.Name == nil || *in.Name != "Bot" {
		t.Fatalf("integrations create = %s", r.stdout)
	}
	list := decodeJSON[[]integrationJSON](t, h.want(t, statusOK, admin, "", "integrations", "list", "--app", app.ID, "--json"))
	if len(list) != 1 || list[0].ID != in.ID {
		t.Errorf("integrations list = %+v", list)
	}
	r = h.want(t, statusOK, admin, "", "integrations", "list", "--app", app.ID)
	if !strings.Contains(r.stdout, in.ID) || !strings.Contains(r.stdout, "Bot") {
		t.Errorf("integrations list for people:\n%s", r.stdout)
	}
	got := decodeJSON[integrationJSON](t, h.want(t, statusOK, admin, "", "integrations", "update", in.ID, "--app", app.ID, "--name", "Bot 2", "--json"))
	if got.Name == nil || *got.Name != "Bot 2" {
		t.Errorf("renamed: %+v", got)
	}
	h.want(t, statusOK, admin, "", "integrations", "get", in.ID, "--app", app.ID)
	h.want(t, statusUsage, admin, "", "integrations", "list")
	h.want(t, statusUsage, admin, "", "integrations", "update", in.ID, "--app", app.ID)
	h.want(t, statusNotFound, admin, "", "integrations", "get", "000000000000000000000000", "--app", app.ID)

	// A key of the integration goes with it.
	r = h.want(t, statusOK, admin, "", "keys", "create", "--name", "bot key", "--owner", "integration:"+app.ID+"/"+in.ID, "--json")
	keyID, _ := h.secretOf(t, r)
	h.want(t, statusOK, admin, "", "integrations", "delete", in.ID, "--app", app.ID, "--yes")
	h.want(t, statusNotFound, admin, "", "integrations", "get", in.ID, "--app", app.ID)
	h.want(t, statusNotFound, admin, "", "keys", "get", keyID)
}

type keyJSON struct {
	ID          string
	Name        string
	Owner       struct{ Type, ID, AppID string }
	Type        string
	Prefix      string
	Permissions []string
	AllowedIPs  []string `json:"allowedIps"`
	ExpiresAt   *string
	RateLimit   *struct {
		Limit  int
		Period string
	}
	Metadata map[string]any
	Enabled  bool
	Secret   *string
}

func testKeys(t *testing.T, h *cliHarness, admin map[string]string) {
	app := decodeJSON[appJSON](t, h.want(t, statusOK, admin, "", "apps", "create", "--name", "Keys", "--json"))

	// For people: a table with the secret, shown once, and a warning.
	r := h.want(t, statusOK, admin, "", "keys", "create", "--name", "Customer 42", "--owner", "app:"+app.ID, "--prefix", "acme",
		"--permission", "orders.read", "--permission", "orders.items.*", "--allow-ip", "203.0.113.0/24", "--expires", "30d",
		"--rate-limit", "100/1m", "--metadata", "crm=c_42")
	var secret string
	for _, line := range strings.Split(r.stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, "SECRET"); ok {
			secret = strings.TrimSpace(rest)
		}
	}
	if !strings.HasPrefix(secret, "acme_sk_live_") || !strings.Contains(r.stderr, "shown this once") {
		t.Fatalf("keys create for people:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	h.allow(r, secret)
	for _, want := range []string{"app:" + app.ID, "orders.read,orders.items.*", "203.0.113.0/24", "100/1m", `{"crm":"c_42"}`, "enabled"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keys create shows no %q:\n%s", want, r.stdout)
		}
	}

	// For scripts: the key as the API returns it, with its secret.
	r = h.want(t, statusOK, admin, "", "keys", "create", "--name", "scripted", "--owner", "app:"+app.ID, "--permission", "orders.read", "--json")
	id, _ := h.secretOf(t, r)
	k := decodeJSON[keyJSON](t, r)
	if k.Owner.Type != "app" || k.Owner.ID != app.ID || k.Type != "secret" || !k.Enabled || k.AllowedIPs != nil || k.RateLimit != nil {
		t.Errorf("keys create --json = %s", r.stdout)
	}
	// Never again: get and list hold no secret member at all.
	r = h.want(t, statusOK, admin, "", "keys", "get", id, "--json")
	if _, has := decodeJSON[map[string]any](t, r)["secret"]; has {
		t.Errorf("keys get --json shows a secret member: %s", r.stdout)
	}
	list := decodeJSON[[]keyJSON](t, h.want(t, statusOK, admin, "", "keys", "list", "--owner", "app:"+app.ID, "--json"))
	if len(list) != 2 || list[0].Secret != nil || list[1].Secret != nil {
		t.Errorf("keys list --owner = %+v", list)
	}
	r = h.want(t, statusOK, admin, "", "keys", "list", "--owner", "app:"+app.ID)
	if !strings.HasPrefix(r.stdout, "ID ") || !strings.Contains(r.stdout, "Customer 42") {
		t.Errorf("keys list for people:\n%s", r.stdout)
	}
	h.want(t, statusUsage, admin, "", "keys", "list", "--owner", "team:x")

	// Update: each flag given replaces that part; --clear removes one.
	k = decodeJSON[keyJSON](t, h.want(t, statusOK, admin, "", "keys", "update", id, "--name", "renamed", "--rate-limit", "10/1s",
		"--expires", "2030-01-02T03:04:05Z", "--metadata-json", `{"seats":3}`, "--json"))
	if k.Name != "renamed" || k.RateLimit == nil || k.RateLimit.Period != "1s" || k.ExpiresAt == nil || *k.ExpiresAt != "2030-01-02T03:04:05Z" ||
		k.Metadata["seats"] != 3.0 || !slices.Equal(k.Permissions, []string{"orders.read"}) {
		t.Errorf("keys update = %+v", k)
	}
	k = decodeJSON[keyJSON](t, h.want(t, statusOK, admin, "", "keys", "update", id, "--clear", "rate-limit", "--clear", "expires,metadata",
		"--clear", "permission", "--json"))
	if k.RateLimit != nil || k.ExpiresAt != nil || k.Metadata != nil || len(k.Permissions) != 0 || k.Name != "renamed" {
		t.Errorf("keys update --clear = %+v", k)
	}
	h.want(t, statusUsage, admin, "", "keys", "update", id)
	h.want(t, statusUsage, admin, "", "keys", "update", id, "--clear", "name")
	h.want(t, statusUsage, admin, "", "keys", "update", id, "--expires", "soon")
	h.want(t, statusUsage, admin, "", "keys", "update", id, "--rate-limit", "x")

	// Disable and enable.
	if k = decodeJSON[keyJSON](t, h.want(t, statusOK, admin, "", "keys", "disable", id, "--json")); k.Enabled {
		t.Error("keys disable left the key enabled")
	}
	r = h.want(t, statusOK, admin, "", "keys", "enable", id)
	if !strings.Contains(r.stdout, "enabled") {
		t.Errorf("keys enable:\n%s", r.stdout)
	}

	// Roll: the new secret, once.
	r = h.want(t, statusOK, admin, "", "keys", "roll", id, "--grace", "1h", "--json")
	h.secretOf(t, r)
	r = h.want(t, statusOK, admin, "", "keys", "roll", id)
	if !strings.Contains(r.stderr, "shown this once") {
		t.Errorf("keys roll for people warns %q", r.stderr)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, "SECRET"); ok {
			h.allow(r, strings.TrimSpace(rest))
		}
	}
	h.want(t, statusUsage, admin, "", "keys", "roll", id, "--grace", "forever")

	h.want(t, statusOK, admin, "", "keys", "delete", id, "--yes")
	h.want(t, statusNotFound, admin, "", "keys", "get", id)
	h.want(t, statusNotFound, admin, "", "keys", "delete", id, "--yes")
}

func testVerify(t *testing.T, h *cliHarness, admin map[string]string) {
	r := h.want(t, statusOK, admin, "", "keys", "create", "--name", "verified", "--permission", "orders.read", "--json")
	id, secret := h.secretOf(t, r)

	// From stdin, with -, or with no argument.
	r = h.want(t, statusOK, admin, secret+"\n", "verify", "-", "--permission", "orders.read")
	if !strings.HasPrefix(r.stdout, "CODE ") || !strings.Contains(r.stdout, "VALID") || !strings.Contains(r.stdout, id) {
		t.Errorf("verify for people:\n%s", r.stdout)
	}
	r = h.want(t, statusOK, admin, secret, "verify", "--json")
	if v := decodeJSON[struct {
		Valid       bool
		Code, KeyID string
	}](t, r); !v.Valid || v.Code != "VALID" || v.KeyID != id {
		t.Errorf("verify --json = %s", r.stdout)
	}
	// Any other verdict: exit status 10, the verdict on stdout.
	r = h.want(t, statusVerdictNotOK, admin, secret, "verify", "--permission", "orders.write", "--json")
	if v := decodeJSON[struct {
		Valid bool
		Code  string
	}](t, r); v.Valid || v.Code != "INSUFFICIENT_PERMISSIONS" || r.stderr != "" {
		t.Errorf("verify without the permission = %s (stderr %q)", r.stdout, r.stderr)
	}
	r = h.want(t, statusVerdictNotOK, admin, "", "verify", "sk_live_nope")
	if !strings.Contains(r.stdout, "NOT_FOUND") {
		t.Errorf("verify of garbage:\n%s", r.stdout)
	}
	h.want(t, statusOK, admin, "", "keys", "disable", id)
	r = h.want(t, statusVerdictNotOK, admin, secret, "verify", "-")
	if !strings.Contains(r.stdout, "DISABLED") {
		t.Errorf("verify of a disabled key:\n%s", r.stdout)
	}
	// No key to verify, or none to verify with.
	h.want(t, statusUsage, admin, "", "verify")
	h.want(t, statusAuth, map[string]string{"HOME": admin["HOME"], envURL: h.base}, secret, "verify")

	// Usage: its shape (the counts reach it within a few seconds).
	r = h.want(t, statusOK, admin, "", "usage", id, "--json", "--from", "1h", "--granularity", "minute")
	if u := decodeJSON[struct {
		KeyID, Granularity string
		Buckets            []any
	}](t, r); u.KeyID != id || u.Granularity != "minute" || u.Buckets == nil {
		t.Errorf("usage --json = %s", r.stdout)
	}
	h.want(t, statusOK, admin, "", "usage", id)
	h.want(t, statusUsage, admin, "", "usage", id, "--granularity", "week")
	h.want(t, statusNotFound, admin, "", "usage", "key_nope")
}

func testAuditList(t *testing.T, h *cliHarness, admin map[string]string) {
	app := decodeJSON[appJSON](t, h.want(t, statusOK, admin, "", "apps", "create", "--name", "Audited", "--json"))
	h.want(t, statusOK, admin, "", "apps", "update", app.ID, "--name", "Audited 2")
	r := h.want(t, statusOK, admin, "", "audit", "list", "--target", app.ID, "--json")
	events := decodeJSON[[]struct {
		Action, Outcome, Surface string
		Target                   struct{ Type, ID string }
	}](t, r)
	if len(events) != 2 || events[0].Action != "app.update" || events[1].Action != "app.create" || events[0].Surface != "native" ||
		events[0].Target.ID != app.ID {
		t.Errorf("audit list --target = %s", r.stdout)
	}
	r = h.want(t, statusOK, admin, "", "audit", "list", "--action", "app.create", "--limit", "1")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Errorf("audit list for people:\n%s", r.stdout)
	}
	h.want(t, statusUsage, admin, "", "audit", "list", "--outcome", "maybe")
	h.want(t, statusUsage, admin, "", "audit", "list", "--limit", "-1")
	// App keys may not read the account's log.
	r = h.want(t, statusOK, admin, "", "keys", "create", "--name", "app admin", "--owner", "app:"+app.ID, "--permission", "*", "--json")
	_, appKey := h.secretOf(t, r)
	h.want(t, statusAuth, with(admin, envAPIKey, appKey), "", "audit", "list")
}

func testExitStatuses(t *testing.T, h *cliHarness, admin map[string]string, adminID string) {
	r := h.want(t, statusOK, admin, "", "keys", "create", "--name", "no permissions", "--json")
	_, weak := h.secretOf(t, r)
	for _, c := range []struct {
		name   string
		status int
		code   string
		vars   map[string]string
		args   []string
	}{
		{"not found", statusNotFound, "not_found", admin, []string{"keys", "get", "key_nope"}},
		{"unknown app", statusNotFound, "not_found", admin, []string{"apps", "get", "000000000000000000000000"}},
		{"unauthenticated", statusAuth, "unauthorized", with(admin, envAPIKey, "sk_live_bogus"), []string{"apps", "list"}},
		{"forbidden", statusAuth, "forbidden", with(admin, envAPIKey, weak), []string{"apps", "list"}},
		{"not logged in", statusAuth, "not_logged_in", map[string]string{"HOME": admin["HOME"]}, []string{"keys", "list"}},
		{"conflict", statusConflict, "conflict", admin, []string{"keys", "delete", adminID, "--yes"}},
		{"unreachable", statusUnavailable, "unreachable", with(admin, envURL, "http://127.0.0.1:1"), []string{"keys", "list"}},
		{"unknown flag", statusUsage, "usage", admin, []string{"keys", "list", "--colour"}},
		{"missing argument", statusUsage, "usage", admin, []string{"keys", "get"}},
		{"extra argument", statusUsage, "usage", admin, []string{"keys", "get", "a", "b"}},
		{"unknown command", statusUsage, "usage", admin, []string{"keys", "frobnicate"}},
		{"group alone", statusUsage, "usage", admin, []string{"apps"}},
		{"bad URL", statusUsage, "usage", with(admin, envURL, "keys.example.com"), []string{"keys", "list"}},
		{"invalid input", statusUsage, "invalid_request", admin, []string{"keys", "create", "--name", "x", "--permission", "bad perm"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// For people: one line on stderr, nothing on stdout.
			r := h.want(t, c.status, c.vars, "", c.args...)
			if r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || !strings.HasPrefix(r.stderr, "latchkey: ") {
				t.Errorf("latchkey %s:\nstdout: %s\nstderr: %s; want one line on stderr", strings.Join(c.args, " "), r.stdout, r.stderr)
			}
			// For scripts: one JSON object on stderr.
			r = h.want(t, c.status, c.vars, "", append(slices.Clone(c.args), "--json")...)
			var e struct {
				Error struct {
					Code, Message string
					Fields        []struct{ Field, Message string }
					ExitStatus    int
				}
			}
			if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || r.stdout != "" || e.Error.Code != c.code || e.Error.Message == "" ||
				e.Error.ExitStatus != c.status {
				t.Errorf("latchkey %s --json: stderr %s, want a JSON error with code %q", strings.Join(c.args, " "), r.stderr, c.code)
			}
			if c.code == "invalid_request" && (len(e.Error.Fields) != 1 || e.Error.Fields[0].Field != "permissions.0") {
				t.Errorf("the fields at fault = %+v", e.Error.Fields)
			}
		})
	}
}

func testHelp(t *testing.T, h *cliHarness, admin map[string]string) {
	r := h.want(t, statusOK, admin, "", "help")
	for _, want := range []string{"\n  serve ", "\n  keys ", "\n  verify ", "\n  completion ", "\n  login "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lists no %q:\n%s", want, r.stdout)
		}
	}
	for _, args := range [][]string{{"keys", "create", "-h"}, {"help", "keys", "create"}, {"keys", "create", "--help"}} {
		r = h.want(t, statusOK, admin, "", args...)
		if !strings.Contains(r.stdout, "-permission") || !strings.Contains(r.stdout, "-api-key") || !strings.Contains(r.stdout, "Exit status") {
			t.Errorf("latchkey %s:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	r = h.want(t, statusOK, admin, "", "keys", "-h")
	if !strings.Contains(r.stdout, "roll KEY_ID") {
		t.Errorf("keys -h:\n%s", r.stdout)
	}
	r = h.want(t, statusOK, admin, "", "help", "backup")
	if !strings.Contains(r.stdout, "-out") {
		t.Errorf("help backup:\n%s", r.stdout)
	}
	// audit export is still the admin command it was.
	r = h.want(t, statusOK, admin, "", "audit", "-h")
	if !strings.Contains(r.stdout, "export") || !strings.Contains(r.stdout, "list") {
		t.Errorf("audit -h:\n%s", r.stdout)
	}
}

func testCompletion(t *testing.T, h *cliHarness, admin map[string]string) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := h.want(t, statusOK, admin, "", "completion", shell)
		for _, want := range []string{"keys", "permission", "granularity", "publishable", "serve", "master-key-file", "audit"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the %s script has no %q", shell, want)
			}
		}
		path, err := exec.LookPath(shell)
		if err != nil {
			if shell == "bash" {
				t.Errorf("bash is not installed: %v", err)
			}
			continue // zsh and fish are checked where they are installed
		}
		script := filepath.Join(t.TempDir(), "latchkey."+shell)
		if err := os.WriteFile(script, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(t.Context(), path, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n on the %s script: %v\n%s", shell, shell, err, out)
		}
	}
	// The bash script completes subcommands, flags and their values.
	if _, err := exec.LookPath("bash"); err == nil {
		script := filepath.Join(t.TempDir(), "latchkey.bash")
		if err := os.WriteFile(script, []byte(h.want(t, statusOK, admin, "", "completion", "bash").stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		probe := `source "$1"
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _latchkey; echo "${COMPREPLY[*]}"; }
t latchkey ke
t latchkey keys cr
t latchkey keys create --name list --perm
t latchkey keys create --type ''
t latchkey completion ''
`
		out, err := exec.CommandContext(t.Context(), "bash", "-c", probe, "probe", script).CombinedOutput()
		want := "keys\ncreate\n--permission\nsecret publishable\nbash zsh fish\n"
		if err != nil || string(out) != want {
			t.Errorf("bash completion gives %q (%v), want %q", out, err, want)
		}
	}
	h.want(t, statusUsage, admin, "", "completion", "powershell")
	h.want(t, statusUsage, admin, "", "completion")
}

// TestClientSettingsDoNotCollide: no server setting's environment variable
// is one of the client's, and the server ignores the client's.
func TestClientSettingsDoNotCollide(t *testing.T) {
	vars := map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(t.TempDir(), "lk.db")}
	for _, name := range clientEnvNames {
		vars[name] = "http://example.com/ not a setting of the server"
	}
	for _, command := range []string{"serve", "config print", "bootstrap", "backup"} {
		cfg, err := parseConfig(command, nil, env(vars), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s with the client's variables set: %v", command, err)
		}
		for _, s := range cfg.settings {
			if slices.Contains(clientEnvNames, envName(s.Name)) {
				t.Errorf("the server setting --%s reads %s, which the client commands use", s.Name, envName(s.Name))
			}
		}
	}
}

// TestParseInterspersed: flags may follow arguments, and "--" ends them.
func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
		json bool
	}{
		{[]string{"ID", "--json"}, []string{"ID"}, true},
		{[]string{"--json", "A", "B"}, []string{"A", "B"}, true},
		{[]string{"A", "--", "--json"}, []string{"A", "--json"}, false},
		{[]string{"-", "--name", "x"}, []string{"-"}, false},
	} {
		var (
			asJSON bool
			name   string
		)
		fs := newTestFlagSet(&asJSON, &name)
		got, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(got, tc.want) || asJSON != tc.json {
			t.Errorf("%q: %q, json %v (%v); want %q, json %v", tc.args, got, asJSON, err, tc.want, tc.json)
		}
	}
}

func newTestFlagSet(asJSON *bool, name *string) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(asJSON, "json", false, "")
	fs.StringVar(name, "name", "", "")
	return fs
}
