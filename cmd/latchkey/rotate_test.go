package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/childproc"
	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/sqlite"
)

// rotationRig is a server with keys to verify while its master key is
// rotated, and the load that verifies them.
type rotationRig struct {
	t      *testing.T
	db     string // the --db value
	getenv func(string) string
	admin  credentials
	client *http.Client

	mu   sync.Mutex
	keys map[string]string // key id -> its newest secret
	// prev and rolled: a rolled key's secret before the roll, which the
	// load keeps verifying for a while: the nodes of a fleet learn of a
	// roll made through another within their staleness bound, rotation or
	// not.
	prev   map[string]string
	rolled map[string]time.Time
	ids    []string
	// integrations made through the Sunshine API, with their webhook
	// signing secrets, by integration id.
	app      string
	webhooks map[string]string
}

func newRotationRig(t *testing.T, db string, getenv func(string) string, admin credentials) *rotationRig {
	return &rotationRig{t: t, db: db, getenv: getenv, admin: admin, keys: map[string]string{}, webhooks: map[string]string{},
		prev: map[string]string{}, rolled: map[string]time.Time{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}}
}

func (r *rotationRig) do(base, method, path, body string, basic bool) (int, map[string]any, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if basic {
		req.SetBasicAuth(r.admin.ID, r.admin.Secret)
	} else {
		req.Header.Set("Authorization", "Bearer "+r.admin.Secret)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out, nil
}

// createKey makes a key through the native API and records its secret.
func (r *rotationRig) createKey(base string) error {
	status, key, err := r.do(base, "POST", "/v1/keys", `{"name":"rotation load"}`, false)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("POST /v1/keys: %d %v", status, key)
	}
	r.mu.Lock()
	r.keys[key["id"].(string)] = key["secret"].(string)
	r.ids = append(r.ids, key["id"].(string))
	r.mu.Unlock()
	return nil
}

// rollKey gives a random key a new secret; the old one keeps working an
// hour, but the load verifies the new one from now on.
func (r *rotationRig) rollKey(base string) error {
	r.mu.Lock()
	id := r.ids[rand.IntN(len(r.ids))]
	r.mu.Unlock()
	status, key, err := r.do(base, "POST", "/v1/keys/"+id+"/roll", `{"gracePeriod":"1h"}`, false)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST /v1/keys/%s/roll: %d %v", id, status, key)
	}
	r.mu.Lock()
	r.prev[id], r.rolled[id] = r.keys[id], time.Now()
	r.keys[id] = key["secret"].(string)
	r.mu.Unlock()
	return nil
}

// createIntegration makes a custom integration with a webhook through the
// Sunshine API and records the webhook's signing secret.
func (r *rotationRig) createIntegration(base string) error {
	if r.app == "" {
		status, app, err := r.do(base, "POST", "/v2/apps", `{"displayName":"rotation"}`, true)
		if err != nil || status != http.StatusCreated {
			return fmt.Errorf("POST /v2/apps: %d %v %v", status, app, err)
		}
		r.app = app["app"].(map[string]any)["id"].(string)
	}
	status, in, err := r.do(base, "POST", "/v2/apps/"+r.app+"/integrations",
		`{"type":"custom","webhooks":[{"target":"https://example.com/hook","triggers":["conversation:message"]}]}`, true)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("POST integrations: %d %v %v", status, in, err)
	}
	integration := in["integration"].(map[string]any)
	r.mu.Lock()
	r.webhooks[integration["id"].(string)] = integration["webhooks"].([]any)[0].(map[string]any)["secret"].(string)
	r.mu.Unlock()
	return nil
}

// verify checks one credential through POST /v1/verify and says why it was
// not valid, if it was not.
func (r *rotationRig) verify(base, credential string) error {
	status, v, err := r.do(base, "POST", "/v1/verify", `{"key":"`+credential+`"}`, false)
	switch {
	case err != nil:
		return err
	case status != http.StatusOK || v["valid"] != true:
		return fmt.Errorf("POST /v1/verify: %d %v", status, v)
	}
	return nil
}

// loadStats counts what the load saw.
type loadStats struct {
	verified, refused, writes atomic.Int64
	mu                        sync.Mutex
	firstFailures             []string
}

func (s *loadStats) fail(what string, err error) {
	s.refused.Add(1)
	s.mu.Lock()
	if len(s.firstFailures) < 10 {
		s.firstFailures = append(s.firstFailures, what+": "+err.Error())
	}
	s.mu.Unlock()
}

// runLoad verifies random keys from verifiers goroutines, by bare secret
// and as id:secret, and creates and rolls keys from one more, until ctx
// ends; base gives the server to call.
func (r *rotationRig) runLoad(ctx context.Context, servers func() []string, verifiers int, stats *loadStats) *sync.WaitGroup {
	var wg sync.WaitGroup
	for g := range verifiers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				bases := servers()
				base := bases[(g+i)%len(bases)]
				r.mu.Lock()
				id := r.ids[rand.IntN(len(r.ids))]
				sec := r.keys[id]
				if time.Since(r.rolled[id]) < 1500*time.Millisecond {
					sec = r.prev[id]
				}
				r.mu.Unlock()
				cred := sec
				if i%2 == 1 {
					cred = id + ":" + sec
				}
				if err := r.verify(base, cred); err != nil {
					if ctx.Err() == nil {
						stats.fail("verify "+id, err)
					}
					continue
				}
				stats.verified.Add(1)
			}
		})
	}
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			bases := servers()
			base := bases[i%len(bases)]
			var err error
			switch i % 10 {
			case 0, 2, 4, 6:
				err = r.createKey(base)
			case 9:
				err = r.createIntegration(base)
			default:
				err = r.rollKey(base)
			}
			if err != nil {
				if ctx.Err() == nil {
					stats.fail("write", err)
				}
				continue
			}
			stats.writes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	})
	return &wg
}

// checkAll verifies every key's newest secret, both ways, on base, and reads
// back every webhook's signing secret.
func (r *rotationRig) checkAll(base string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, sec := range r.keys {
		for _, cred := range []string{sec, id + ":" + sec} {
			if err := r.verify(base, cred); err != nil {
				r.t.Errorf("key %s: %v", id, err)
			}
		}
	}
	for id, want := range r.webhooks {
		status, in, err := r.do(base, "GET", "/v2/apps/"+r.app+"/integrations/"+id, "", true)
		if err != nil || status != http.StatusOK {
			r.t.Errorf("GET integration %s: %d %v %v", id, status, in, err)
			continue
		}
		got := in["integration"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)["secret"]
		if got != want {
			r.t.Errorf("webhook of integration %s: signing secret %v, want the one it was made with", id, got)
		}
	}
}

// fixedServers is runLoad's servers for servers that do not change.
func fixedServers(bases ...string) func() []string { return func() []string { return bases } }

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// rotationEvents returns the details of the master_key.rotate events in
// the SQLite database at path.
func rotationEvents(t *testing.T, path string) []map[string]string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.AuditEvents(t.Context(), latchkey.AuditQuery{All: true, Action: latchkey.ActionMasterKeyRotate, Oldest: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, ev := range evs {
		if ev.Surface != "cli" || ev.TargetType != "master_key" || ev.Outcome != latchkey.OutcomeSuccess {
			t.Errorf("rotation event %+v", ev)
		}
		out = append(out, ev.Detail)
	}
	return out
}

// TestRotateMasterKeyUnderLoad rotates the default master.key of a running
// SQLite server while goroutines verify keys and create and roll others,
// and holds it to: no valid key refused, ever; afterwards the server, started
// with the new master.key alone, verifies every key (those made and rolled
// during the rotation too) and opens every webhook secret; the old key is
// refused at start, saying the database was rotated.
func TestRotateMasterKeyUnderLoad(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "lk.db")
	db := "sqlite:" + dbPath
	getenv := env(map[string]string{"LATCHKEY_DB": db})
	base, logs, stop := startServe(t, getenv)
	var admin credentials
	if err := json.Unmarshal([]byte(readTrimmed(t, filepath.Join(dir, initialCredentialsFile))), &admin); err != nil {
		t.Fatal(err)
	}
	oldKey := readTrimmed(t, filepath.Join(dir, "master.key"))
	r := newRotationRig(t, db, getenv, admin)
	for range 150 {
		if err := r.createKey(base); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := r.createIntegration(base); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	var stats loadStats
	wg := r.runLoad(ctx, fixedServers(base), 4, &stats)
	time.Sleep(300 * time.Millisecond)
	var batches atomic.Int64
	rotateAfterBatch = func(n int) error {
		batches.Store(int64(n))
		time.Sleep(30 * time.Millisecond) // spread the batches over the load
		return nil
	}
	defer func() { rotateAfterBatch = nil }()
	var stdout, stderr bytes.Buffer
	started := time.Now()
	err := run(t.Context(), []string{"rotate-master-key", "--batch", "16", "--log-level", "debug"}, getenv, &stdout, &stderr)
	took := time.Since(started)
	time.Sleep(1500 * time.Millisecond) // the load goes on past the finish: servers drop the old key
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("rotate-master-key: %v\n%s", err, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out["state"] != "finished" {
		t.Fatalf("rotate-master-key printed %q", stdout.String())
	}
	t.Logf("rotation: %v, %v batches, %v secrets re-keyed; load: %d verifications, %d writes, %d refused",
		took.Round(time.Millisecond), out["batches"], out["rekeyed"], stats.verified.Load(), stats.writes.Load(), stats.refused.Load())
	if stats.refused.Load() != 0 {
		t.Fatalf("%d calls failed during the rotation; the first: %v", stats.refused.Load(), stats.firstFailures)
	}
	if stats.verified.Load() < 200 || stats.writes.Load() < 20 {
		t.Fatalf("the load did too little: %d verifications, %d writes", stats.verified.Load(), stats.writes.Load())
	}
	for _, s := range []string{oldKey, r.admin.Secret} {
		if strings.Contains(stderr.String(), s) || strings.Contains(stdout.String(), s) || strings.Contains(logs.String(), s) {
			t.Fatal("a secret or master key is in the output")
		}
	}
	newKey := readTrimmed(t, filepath.Join(dir, "master.key"))
	if newKey == oldKey {
		t.Fatal("master.key still holds the old key")
	}
	if _, err := os.Stat(filepath.Join(dir, nextMasterKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("master.key.next is still there: %v", err)
	}
	if fileMode(t, filepath.Join(dir, "master.key")) != 0o600 {
		t.Error("the new master.key is not mode 0600")
	}
	if strings.Contains(stderr.String(), newKey) || strings.Contains(logs.String(), newKey) {
		t.Fatal("the new master key is in the output")
	}
	if !strings.Contains(logs.String(), "master key rotation finished") {
		t.Errorf("the server did not log the end of the rotation:\n%s", logs)
	}
	r.checkAll(base)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Only the new key from now on.
	base, _, stop = startServe(t, getenv)
	r.checkAll(base)
	stop()
	err = run(t.Context(), []string{"bootstrap"}, env(map[string]string{"LATCHKEY_DB": db, "LATCHKEY_MASTER_KEY": oldKey}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "rotated to a new master key") {
		t.Fatalf("started with the old key: err = %v, want a refusal saying the database was rotated", err)
	}
	events := rotationEvents(t, dbPath)
	if len(events) != 2 || events[0]["phase"] != "started" || events[1]["phase"] != "finished" || events[1]["rekeyed"] == "" {
		t.Errorf("rotation audit events = %v, want started then finished", events)
	}
	// Running it again rotates again, from the new key.
	stdout.Reset()
	rotateAfterBatch = nil
	if err := run(t.Context(), []string{"rotate-master-key", "--grace", "3s"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("a second rotation: %v\n%s", err, stderr.String())
	}
	if third := readTrimmed(t, filepath.Join(dir, "master.key")); third == newKey || third == oldKey {
		t.Fatal("a second rotation did not install a third key")
	}
	base, _, stop = startServe(t, getenv)
	r.checkAll(base)
	stop()
}

// TestRotateChild is not a test: TestRotateMasterKeyKilled runs the test
// binary as a child that runs only it, with LATCHKEY_TEST_ROTATE_ARGS set,
// and kills it half-way.
func TestRotateChild(t *testing.T) {
	args := os.Getenv("LATCHKEY_TEST_ROTATE_ARGS")
	if args == "" {
		t.Skip("run by TestRotateMasterKeyKilled")
	}
	rotateAfterBatch = func(n int) error {
		fmt.Fprintf(os.Stderr, "batch %d committed\n", n)
		time.Sleep(100 * time.Millisecond)
		return nil
	}
	err := run(context.Background(), strings.Fields(args), os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
}

// startRotationChild runs rotate-master-key with args in a child process and
// returns once it has committed batches batches, leaving it running, with a
// function that kills it (SIGKILL) and waits for it to die.
func startRotationChild(t *testing.T, environ []string, args string, batches int) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRotateChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), environ...), "LATCHKEY_TEST_ROTATE_ARGS="+args)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	done, err := childproc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	kill = func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	t.Cleanup(kill)
	lines := bufio.NewScanner(stderr)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if lines.Text() == fmt.Sprintf("batch %d committed", batches) {
			go io.Copy(io.Discard, stderr)
			return kill
		}
	}
	t.Fatalf("the rotation child ended before batch %d:\n%s", batches, strings.Join(seen, "\n"))
	return nil
}

// TestRotateMasterKeyKilled kills a rotation (SIGKILL, in a child process)
// half-way, under load; restarts the server meanwhile with the old
// master.key (a server started during a rotation learns the new key from
// the database); then runs the command again, which resumes. Not one
// valid key is refused throughout, and afterwards the new key alone opens
// everything.
func TestRotateMasterKeyKilled(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "lk.db")
	db := "sqlite:" + dbPath
	getenv := env(map[string]string{"LATCHKEY_DB": db})
	base, _, stop := startServe(t, getenv)
	var admin credentials
	if err := json.Unmarshal([]byte(readTrimmed(t, filepath.Join(dir, initialCredentialsFile))), &admin); err != nil {
		t.Fatal(err)
	}
	oldKey := readTrimmed(t, filepath.Join(dir, "master.key"))
	r := newRotationRig(t, db, getenv, admin)
	for range 100 {
		if err := r.createKey(base); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.createIntegration(base); err != nil {
		t.Fatal(err)
	}
	var stats loadStats
	ctx, cancel := context.WithCancel(t.Context())
	wg := r.runLoad(ctx, fixedServers(base), 3, &stats)

	kill := startRotationChild(t, []string{"LATCHKEY_DB=" + db}, "rotate-master-key --batch 10 --grace 3s", 3)
	kill()
	cancel()
	wg.Wait()
	// Killed half-way: the new key is in master.key.next and in the
	// database, master.key is still the old one.
	next := readTrimmed(t, filepath.Join(dir, nextMasterKeyFile))
	if readTrimmed(t, filepath.Join(dir, "master.key")) != oldKey || next == oldKey {
		t.Fatal("after the kill, master.key is not the old key, or master.key.next not a new one")
	}
	r.checkAll(base)
	stop()

	// A server started now with the old key works: it learns the new one.
	base, _, stop = startServe(t, getenv)
	r.checkAll(base)
	ctx, cancel = context.WithCancel(t.Context())
	wg = r.runLoad(ctx, fixedServers(base), 3, &stats)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"rotate-master-key", "--batch", "10"}, getenv, &stdout, &stderr)
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("resumed rotate-master-key: %v\n%s", err, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out["resumed"] != true {
		t.Fatalf("resumed rotate-master-key printed %q", stdout.String())
	}
	t.Logf("resumed rotation: %v batches, %v secrets re-keyed; load over both runs: %d verifications, %d writes, %d refused",
		out["batches"], out["rekeyed"], stats.verified.Load(), stats.writes.Load(), stats.refused.Load())
	if stats.refused.Load() != 0 {
		t.Fatalf("%d calls failed; the first: %v", stats.refused.Load(), stats.firstFailures)
	}
	if got := readTrimmed(t, filepath.Join(dir, "master.key")); got != next {
		t.Fatal("master.key does not hold the key master.key.next held")
	}
	if _, err := os.Stat(filepath.Join(dir, nextMasterKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("master.key.next is still there: %v", err)
	}
	r.checkAll(base)
	stop()
	base, _, stop = startServe(t, getenv)
	r.checkAll(base)
	stop()
	err = run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0"}, env(map[string]string{"LATCHKEY_DB": db, "LATCHKEY_MASTER_KEY": oldKey}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "rotated to a new master key") {
		t.Fatalf("serve with the old key: err = %v, want a refusal saying the database was rotated", err)
	}
}

// TestRotateMasterKeyResumesEveryStep stops a rotation after each step in
// turn (in process) and checks that a rerun finishes it, including when it
// stopped between the database's last step and master.key's replacement.
func TestRotateMasterKeyResumesEveryStep(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "lk.db")
	getenv := env(map[string]string{"LATCHKEY_DB": db})
	base, _, stop := startServe(t, getenv)
	var admin credentials
	if err := json.Unmarshal([]byte(readTrimmed(t, filepath.Join(dir, initialCredentialsFile))), &admin); err != nil {
		t.Fatal(err)
	}
	r := newRotationRig(t, db, getenv, admin)
	for range 30 {
		if err := r.createKey(base); err != nil {
			t.Fatal(err)
		}
	}
	errStop := errors.New("stopped by the test")
	rotate := func(stopAfter int) error {
		rotateAfterBatch = func(n int) error {
			if n == stopAfter {
				return errStop
			}
			return nil
		}
		defer func() { rotateAfterBatch = nil }()
		var stderr bytes.Buffer
		err := run(t.Context(), []string{"rotate-master-key", "--batch", "4", "--grace", "3s"}, getenv, io.Discard, &stderr)
		if err != nil && !errors.Is(err, errStop) {
			t.Fatalf("rotate-master-key: %v\n%s", err, stderr.String())
		}
		return err
	}
	oldKey := readTrimmed(t, filepath.Join(dir, "master.key"))
	for _, n := range []int{1, 3} {
		if err := rotate(n); !errors.Is(err, errStop) {
			t.Fatalf("stop after batch %d: %v", n, err)
		}
		r.checkAll(base)
	}
	next := readTrimmed(t, filepath.Join(dir, nextMasterKeyFile))
	// The database finished, master.key not yet replaced: as if killed
	// between the two.
	if err := rotate(-1); err != nil {
		t.Fatal(err)
	}
	if readTrimmed(t, filepath.Join(dir, "master.key")) != next {
		t.Fatal("master.key was not replaced")
	}
	r.checkAll(base)
	stop()
	if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte(oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, nextMasterKeyFile), []byte(next+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "run latchkey rotate-master-key again") {
		t.Fatalf("serve with the old master.key and the new one in master.key.next: err = %v, want it to say to run the rotation again", err)
	}
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"rotate-master-key"}, getenv, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), `"state":"finished"`) || readTrimmed(t, filepath.Join(dir, "master.key")) != next {
		t.Fatalf("the rerun printed %q, and master.key does not hold the new key", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, nextMasterKeyFile)); !os.IsNotExist(err) {
		t.Fatal("master.key.next is still there")
	}
	// Killed after master.key was replaced but before master.key.next was
	// removed: the rerun removes it and rotates nothing.
	if err := os.WriteFile(filepath.Join(dir, nextMasterKeyFile), []byte(next+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := run(t.Context(), []string{"rotate-master-key"}, getenv, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if readTrimmed(t, filepath.Join(dir, "master.key")) != next {
		t.Fatal("a rerun after the end changed master.key")
	}
	if _, err := os.Stat(filepath.Join(dir, nextMasterKeyFile)); !os.IsNotExist(err) {
		t.Fatal("master.key.next is still there")
	}
	base, _, stop = startServe(t, getenv)
	r.checkAll(base)
	stop()
}

// TestRotateMasterKeyFleet rotates the master key of two nodes on one
// PostgreSQL database while both verify keys and create and roll others;
// half-way, node B is restarted with the old key (it learns the new one
// from the database). Not one valid key is refused; afterwards both nodes,
// restarted with the new key alone, verify every key and open every
// webhook secret, and a node given the old key is refused.
func TestRotateMasterKeyFleet(t *testing.T) {
	dsn := pgtest.DSN(t)
	oldKey, newKey := secret.NewMasterKey(), secret.NewMasterKey()
	getenv := env(map[string]string{"LATCHKEY_DB": dsn, "LATCHKEY_MASTER_KEY": oldKey})
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	var admin credentials
	if err := json.Unmarshal(stdout.Bytes(), &admin); err != nil {
		t.Fatal(err)
	}
	baseA, logsA, stopA := startServe(t, getenv)
	baseB, _, stopB := startServe(t, getenv)
	r := newRotationRig(t, dsn, getenv, admin)
	for i := range 120 {
		if err := r.createKey([]string{baseA, baseB}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	for _, base := range []string{baseA, baseB} {
		if err := r.createIntegration(base); err != nil {
			t.Fatal(err)
		}
	}
	var (
		basesMu sync.Mutex
		bases   = []string{baseA, baseB}
	)
	servers := func() []string {
		basesMu.Lock()
		defer basesMu.Unlock()
		return bases
	}
	var stats loadStats
	ctx, cancel := context.WithCancel(t.Context())
	wg := r.runLoad(ctx, servers, 4, &stats)

	// The rotation runs in the background; after its third batch it waits
	// for node B's restart.
	atBatch3, restarted := make(chan struct{}), make(chan struct{})
	rotateAfterBatch = func(n int) error {
		if n == 3 {
			close(atBatch3)
			<-restarted
		}
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	defer func() { rotateAfterBatch = nil }()
	rotateEnv := env(map[string]string{"LATCHKEY_DB": dsn, "LATCHKEY_MASTER_KEY": oldKey, "LATCHKEY_NEW_MASTER_KEY": newKey})
	var rotStdout, rotStderr bytes.Buffer
	rotated := make(chan error, 1)
	started := time.Now()
	go func() {
		rotated <- run(t.Context(), []string{"rotate-master-key", "--batch", "12"}, rotateEnv, &rotStdout, &rotStderr)
	}()
	select {
	case <-atBatch3:
	case err := <-rotated:
		t.Fatalf("the rotation ended before its third batch: %v\n%s", err, rotStderr.String())
	}
	basesMu.Lock()
	bases = []string{baseA}
	basesMu.Unlock()
	time.Sleep(200 * time.Millisecond) // calls already sent to B finish
	stopB()
	baseB, _, stopB = startServe(t, getenv) // the old key
	r.checkAll(baseB)
	basesMu.Lock()
	bases = []string{baseA, baseB}
	basesMu.Unlock()
	close(restarted)
	err := <-rotated
	took := time.Since(started)
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("rotate-master-key: %v\n%s", err, rotStderr.String())
	}
	var out map[string]any
	json.Unmarshal(rotStdout.Bytes(), &out)
	t.Logf("fleet rotation: %v, %v batches, %v secrets re-keyed; load on two nodes: %d verifications, %d writes, %d refused",
		took.Round(time.Millisecond), out["batches"], out["rekeyed"], stats.verified.Load(), stats.writes.Load(), stats.refused.Load())
	if stats.refused.Load() != 0 {
		t.Fatalf("%d calls failed during the rotation; the first: %v", stats.refused.Load(), stats.firstFailures)
	}
	if !strings.Contains(logsA.String(), "master key rotation finished") {
		t.Errorf("node A did not log the end of the rotation:\n%s", logsA)
	}
	for _, s := range []string{oldKey, newKey, admin.Secret} {
		if strings.Contains(rotStderr.String()+rotStdout.String()+logsA.String(), s) {
			t.Fatal("a secret or master key is in the output")
		}
	}
	r.checkAll(baseA)
	r.checkAll(baseB)
	stopA()
	stopB()

	newEnv := env(map[string]string{"LATCHKEY_DB": dsn, "LATCHKEY_MASTER_KEY": newKey})
	baseA, _, _ = startServe(t, newEnv)
	baseB, _, _ = startServe(t, newEnv)
	r.checkAll(baseA)
	r.checkAll(baseB)
	err = run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "rotated to a new master key") {
		t.Fatalf("serve with the old key: err = %v, want a refusal saying the database was rotated", err)
	}
	// Run again with the same keys: nothing to do, it says so.
	rotStdout.Reset()
	if err := run(t.Context(), []string{"rotate-master-key"}, rotateEnv, &rotStdout, io.Discard); err != nil || !strings.Contains(rotStdout.String(), `"state":"finished"`) {
		t.Fatalf("a rerun after the end: %v, %q", err, rotStdout.String())
	}
}
