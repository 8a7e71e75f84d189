package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/childproc"
	"github.com/latchkey/latchkey/store/sqlite"
	_ "modernc.org/sqlite"
)

// crashServer is the real binary serving a data directory, as a child
// process that can be killed.
type crashServer struct {
	base string
	cmd  *exec.Cmd
	done <-chan struct{}
}

func startCrashServer(t *testing.T, bin, dir string) *crashServer {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(dir, "latchkey.db"))
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	done, err := childproc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	s := &crashServer{cmd: cmd, done: done}
	t.Cleanup(s.kill)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- "http://" + m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case s.base = <-found:
	case <-done:
		t.Fatal("serve exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen within 30 s")
	}
	return s
}

// kill sends SIGKILL: no shutdown, no flush, no deferred close.
func (s *crashServer) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// acknowledged is what the storm was told: the keys it made and the
// secret each last answered with, and the rolls it was answered for.
type acknowledged struct {
	mu      sync.Mutex
	secrets map[string]string // key id -> the last secret acknowledged for it
	rolls   map[string]int    // key id -> rolls acknowledged
}

func (a *acknowledged) set(id, secret string, roll bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.secrets[id] = secret
	if roll {
		a.rolls[id]++
	}
}

func (a *acknowledged) pick(r *rand.Rand) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.secrets) == 0 {
		return "", false
	}
	n := r.IntN(len(a.secrets))
	for id := range a.secrets {
		if n == 0 {
			return id, true
		}
		n--
	}
	return "", false
}

// TestCrashDuringWrites kills the server with SIGKILL in the middle of a
// storm of key creations and rolls, twice, restarting it each time, and
// then checks what a crash must not break: every creation and roll the
// server acknowledged is there and its secret authenticates; the database
// is whole, with no key without a secret and no row pointing nowhere; and
// the audit log matches the keys exactly, one key.create per key and a
// key.roll for every acknowledged roll.
func TestCrashDuringWrites(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := startCrashServer(t, bin, dir)
	var creds map[string]string
	raw, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	ack := &acknowledged{secrets: map[string]string{}, rolls: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(base, method, path, body string) (int, map[string]any, error) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+creds["secret"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return 0, nil, err // the answer did not arrive whole: not acknowledged
		}
		return resp.StatusCode, out, nil
	}

	const rounds, workers = 2, 6
	attempts := 0
	var attemptsMu sync.Mutex
	for round := range rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					attemptsMu.Lock()
					attempts++
					attemptsMu.Unlock()
					if id, ok := ack.pick(r); ok && r.IntN(3) == 0 {
						// Old secrets stay good for an hour, so the last one
						// acknowledged works whether or not a later roll,
						// cut off by the crash, committed.
						status, out, err := send(srv.base, "POST", "/v1/keys/"+id+"/roll", `{"gracePeriod":"1h"}`)
						if err == nil && status == http.StatusOK {
							ack.set(id, out["secret"].(string), true)
						} else if err == nil {
							t.Errorf("roll %s: %d %v", id, status, out)
						}
						continue
					}
					body := fmt.Sprintf(`{"name":"storm %d-%d-%d","permissions":["orders.read"]}`, round, w, i)
					status, out, err := send(srv.base, "POST", "/v1/keys", body)
					if err == nil && status == http.StatusCreated {
						ack.set(out["id"].(string), out["secret"].(string), false)
					} else if err == nil {
						t.Errorf("create: %d %v", status, out)
					}
				}
			}()
		}
		time.Sleep(time.Duration(400+rand.IntN(400)) * time.Millisecond)
		srv.kill()
		close(stop)
		wg.Wait()
		srv = startCrashServer(t, bin, dir)
	}
	if t.Failed() {
		return
	}
	if len(ack.secrets) < 10 {
		t.Fatalf("only %d keys acknowledged in the storm; too few to tell anything", len(ack.secrets))
	}
	rolled := 0
	for _, n := range ack.rolls {
		rolled += n
	}
	t.Logf("%d requests sent; %d creations and %d rolls acknowledged", attempts, len(ack.secrets), rolled)

	// Every acknowledged creation exists and its last acknowledged secret
	// authenticates.
	for id, sec := range ack.secrets {
		status, out, err := send(srv.base, "POST", "/v1/verify", `{"key":"`+sec+`"}`)
		if err != nil || status != http.StatusOK || out["code"] != "VALID" || out["keyId"] != id {
			t.Errorf("acknowledged key %s after the crashes: %d %v %v", id, status, out, err)
		}
	}
	srv.kill()

	// The database is whole: SQLite's own checks, and no key without a
	// secret (a create or roll half-written).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "latchkey.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, check := range []struct{ query, want string }{
		{"PRAGMA integrity_check", "ok"},
		{"SELECT count(*) FROM pragma_foreign_key_check", "0"},
		{"SELECT count(*) FROM keys k WHERE NOT EXISTS (SELECT 1 FROM key_secrets s WHERE s.key_id = k.id)", "0"},
	} {
		var got string
		if err := db.QueryRow(check.query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", check.query, err)
		}
		if got != check.want {
			t.Errorf("%s = %q, want %q", check.query, got, check.want)
		}
	}

	// The audit log matches: one key.create per key the store holds (the
	// bootstrap key has the account's event), none for a key it does not
	// hold, and at least the acknowledged rolls of each key.
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, _, err := store.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: latchkey.KeyOwner{AccountID: creds["accountId"]}, Within: true, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, k := range keys {
		if k.ID != creds["id"] {
			held[k.ID] = true
		}
	}
	for id := range ack.secrets {
		if !held[id] {
			t.Errorf("acknowledged key %s is not in the store", id)
		}
	}
	created := map[string]int{}
	rolls := map[string]int{}
	q := latchkey.AuditQuery{All: true, Oldest: true, Limit: latchkey.MaxAuditPage}
	for {
		page, err := store.AuditEvents(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			switch ev.Action {
			case latchkey.ActionKeyCreate:
				created[ev.TargetID]++
			case latchkey.ActionKeyRoll:
				rolls[ev.TargetID]++
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].ID
	}
	for id := range held {
		if created[id] != 1 {
			t.Errorf("key %s is in the store with %d key.create events, want 1", id, created[id])
		}
	}
	for id, n := range created {
		if !held[id] {
			t.Errorf("key.create event (%d) for %s, which the store does not hold", n, id)
		}
	}
	for id, n := range ack.rolls {
		if rolls[id] < n {
			t.Errorf("key %s: %d rolls acknowledged, %d key.roll events", id, n, rolls[id])
		}
	}
	// Rolls keep every old secret for an hour, so each key holds one secret
	// per committed roll, and one more: the events must say as many.
	for _, k := range keys {
		if held[k.ID] && len(k.Secrets) != 1+rolls[k.ID] {
			t.Errorf("key %s holds %d secrets but has %d key.roll events", k.ID, len(k.Secrets), rolls[k.ID])
		}
	}
}
