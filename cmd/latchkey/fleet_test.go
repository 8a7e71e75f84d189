package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/secret"
)

// testFleet is two nodes of Latchkey on one PostgreSQL database, with an
// account key made by bootstrap.
type testFleet struct {
	dsn          string
	getenv       func(string) string
	nodeA, nodeB string
	stopA, stopB func() error
	logsB        *lktest.Buffer
	admin        credentials
}

func newFleet(t *testing.T) *testFleet {
	t.Helper()
	f := &testFleet{dsn: pgtest.DSN(t)}
	getenv := env(map[string]string{"LATCHKEY_DB": f.dsn, "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})
	f.getenv = getenv
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &f.admin); err != nil {
		t.Fatal(err)
	}
	f.nodeA, _, f.stopA = startServe(t, getenv)
	f.nodeB, f.logsB, f.stopB = startServe(t, getenv)
	return f
}

// call sends a native API request with the admin key and decodes the answer.
func (f *testFleet) call(t *testing.T, base, method, path, body string) (int, map[string]any) {
	t.Helper()
	return callNative(t, base, method, path, f.admin.Secret, body)
}

// callNative sends a native API request with bearer as the key and decodes
// the answer.
func callNative(t *testing.T, base, method, path, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// authorize asks a node's gateway endpoint about a secret, for orders.read
// (see authorizeWait), and returns the status.
func authorize(t *testing.T, base, sec string) int {
	t.Helper()
	status, _ := authorizeWait(t, base, sec)
	return status
}

// change is one kind of revocation made on node A.
type change struct {
	name string
	// apply changes the key through node A; it returns the secret that
	// node B must now refuse.
	apply func(t *testing.T, f *testFleet, id, sec string) string
}

var revocations = []change{
	{"delete", func(t *testing.T, f *testFleet, id, sec string) string {
		if status, body := f.call(t, f.nodeA, "DELETE", "/v1/keys/"+id, ""); status != http.StatusNoContent {
			t.Fatalf("delete: %d %v", status, body)
		}
		return sec
	}},
	{"disable", func(t *testing.T, f *testFleet, id, sec string) string {
		if status, body := f.call(t, f.nodeA, "PATCH", "/v1/keys/"+id, `{"enabled":false}`); status != http.StatusOK {
			t.Fatalf("disable: %d %v", status, body)
		}
		return sec
	}},
	{"roll with grace 0", func(t *testing.T, f *testFleet, id, sec string) string {
		if status, body := f.call(t, f.nodeA, "POST", "/v1/keys/"+id+"/roll", `{"gracePeriod":"0s"}`); status != http.StatusOK {
			t.Fatalf("roll: %d %v", status, body)
		}
		return sec
	}},
	{"policy change", func(t *testing.T, f *testFleet, id, sec string) string {
		if status, body := f.call(t, f.nodeA, "PATCH", "/v1/keys/"+id, `{"permissions":["billing.read"]}`); status != http.StatusOK {
			t.Fatalf("policy change: %d %v", status, body)
		}
		return sec
	}},
}

// revokeAndWait makes a key on node A, warms it on node B, revokes it on A
// by c, and returns how long B went on admitting it.
func revokeAndWait(t *testing.T, f *testFleet, c change) time.Duration {
	t.Helper()
	status, key := f.call(t, f.nodeA, "POST", "/v1/keys", `{"name":"fleet","permissions":["orders.read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, key)
	}
	id, sec := key["id"].(string), key["secret"].(string)
	if got := authorize(t, f.nodeB, sec); got != http.StatusOK {
		t.Fatalf("node B before the change: %d, want 200", got)
	}
	sec = c.apply(t, f, id, sec)
	start := time.Now()
	for {
		got := authorize(t, f.nodeB, sec)
		elapsed := time.Since(start)
		if got != http.StatusOK {
			return elapsed
		}
		if elapsed > 5*time.Second {
			t.Fatalf("%s: node B still admits the key %v after the change", c.name, elapsed)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRevocationReachesEveryNode: a key revoked through node A, by each kind
// of change, is refused by node B within the staleness bound (1 s) in every
// one of 50 trials. The figures go to docs/BENCHMARKS.md.
func TestRevocationReachesEveryNode(t *testing.T) {
	f := newFleet(t)
	// A node is ready once it has read the change feed: at once, in practice.
	for _, base := range []string{f.nodeA, f.nodeB} {
		for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s/readyz: %d 5 s after start, want 200 (in step)", base, resp.StatusCode)
			}
		}
	}
	const trials = 50
	for _, c := range revocations {
		var took []time.Duration
		for range trials {
			took = append(took, revokeAndWait(t, f, c))
		}
		slices.Sort(took)
		p50, p99 := took[trials/2], took[trials*99/100]
		t.Logf("%-18s node B refused after: p50 %v, p99 %v, max %v (%d trials)", c.name, p50, p99, took[trials-1], trials)
		if took[trials-1] >= time.Second {
			t.Errorf("%s: node B admitted the key for %v, past the 1 s bound", c.name, took[trials-1])
		}
	}
}

// TestNotificationsCut: with node B's notification connection terminated
// (pg_terminate_backend), revocations made through node A still reach B
// within the bound while it reconnects, and B says so in its log.
func TestNotificationsCut(t *testing.T) {
	f := newFleet(t)
	revokeAndWait(t, f, revocations[0]) // both listeners are up
	conn, err := pgx.Connect(context.Background(), f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var worst time.Duration
	for i := range 20 {
		// Cut every listener of this database, again and again: node B
		// never keeps one for long.
		var cut int
		if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&cut); err != nil {
			t.Fatal(err)
		}
		if i == 0 && cut == 0 {
			t.Fatal("no LISTEN connection to cut")
		}
		took := revokeAndWait(t, f, revocations[i%len(revocations)])
		worst = max(worst, took)
	}
	t.Logf("with notifications cut 20 times, node B refused within %v at worst", worst)
	if worst >= time.Second {
		t.Errorf("node B admitted a revoked key for %v while its notifications were cut", worst)
	}
	if !strings.Contains(f.logsB.String(), "lost the change notifications") {
		t.Errorf("node B's log does not say it lost its notifications:\n%s", f.logsB)
	}
}

// --max-staleness is bounded: below 100ms the change feed would be read
// more often than a database should be asked, and above 1h it is no bound.
func TestMaxStalenessFlag(t *testing.T) {
	for _, v := range []string{"1ms", "2h", "soon"} {
		err := run(context.Background(), []string{"serve", "--max-staleness", v}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "max-staleness") {
			t.Errorf("--max-staleness %s: %v, want an error naming the flag", v, err)
		}
	}
}

// TestUsageAddsUpAcrossNodes: each node counts the verifications it serves
// and flushes them to the shared database; under load from both at once,
// the counts add up exactly to what was served.
func TestUsageAddsUpAcrossNodes(t *testing.T) {
	f := newFleet(t)
	status, key := f.call(t, f.nodeA, "POST", "/v1/keys", `{"name":"counted","permissions":["orders.read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, key)
	}
	id, sec := key["id"].(string), key["secret"].(string)
	const workers, each = 4, 100 // per node
	var (
		mu     sync.Mutex
		served = map[int]int{}
		wg     sync.WaitGroup
	)
	for _, base := range []string{f.nodeA, f.nodeB} {
		for range workers {
			wg.Go(func() {
				for i := range each {
					sent := sec
					if i%10 == 0 {
						sent = forgedFor(sec) // NOT_FOUND: not counted for this key
					}
					got := authorize(t, base, sent)
					mu.Lock()
					served[got]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if served[http.StatusOK] != 2*workers*each*9/10 {
		t.Fatalf("answers %v", served)
	}
	// A graceful stop flushes what each node counted.
	for _, stop := range []func() error{f.stopA, f.stopB} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	base, _, _ := startServe(t, f.getenv)
	status, usage := f.call(t, base, "GET", "/v1/keys/"+id+"/usage?granularity=day", "")
	if status != http.StatusOK {
		t.Fatalf("usage: %d %v", status, usage)
	}
	var valid float64
	for _, b := range usage["buckets"].([]any) {
		counts := b.(map[string]any)["counts"].(map[string]any)
		if n, ok := counts["VALID"].(float64); ok {
			valid += n
		}
	}
	if int(valid) != served[http.StatusOK] {
		t.Fatalf("usage counts %v VALID verifications, the nodes served %d", valid, served[http.StatusOK])
	}
}

// forgedFor returns a well-formed secret that is not sec.
func forgedFor(sec string) string {
	s, err := secret.Generate(secret.SecretKind, secret.Live)
	if err != nil || s == sec {
		panic(err)
	}
	return s
}

// TestConcurrentWritesAcrossNodes: two PUT upserts of one Rebilly key id,
// one through each node at the same moment, end with one key (one 201, one
// 200); and a key deleted through one node while the other rolls it ends
// deleted, whichever goes first.
func TestConcurrentWritesAcrossNodes(t *testing.T) {
	f := newFleet(t)
	rebilly := func(base, method, path, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("REB-APIKEY", f.admin.Secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for round := range 20 {
		id := "upsert-" + strconv.Itoa(round)
		var statuses [2]int
		var wg sync.WaitGroup
		for i, base := range []string{f.nodeA, f.nodeB} {
			wg.Go(func() {
				statuses[i] = rebilly(base, "PUT", "/api-keys/"+id, `{"description":"node `+strconv.Itoa(i)+`"}`)
			})
		}
		wg.Wait()
		slices.Sort(statuses[:])
		if statuses != [2]int{http.StatusOK, http.StatusCreated} {
			t.Errorf("round %d: two concurrent PUTs of one id answered %v, want one 201 and one 200", round, statuses)
		}
		if got := rebilly(f.nodeA, "GET", "/api-keys/"+id, ""); got != http.StatusOK {
			t.Errorf("round %d: GET the upserted key: %d", round, got)
		}
	}

	for round := range 20 {
		status, key := f.call(t, f.nodeA, "POST", "/v1/keys", `{"name":"raced","permissions":["orders.read"]}`)
		if status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, key)
		}
		id := key["id"].(string)
		var wg sync.WaitGroup
		var del, roll int
		wg.Go(func() { del, _ = f.call(t, f.nodeA, "DELETE", "/v1/keys/"+id, "") })
		wg.Go(func() { roll, _ = f.call(t, f.nodeB, "POST", "/v1/keys/"+id+"/roll", `{"gracePeriod":"1h"}`) })
		wg.Wait()
		if del != http.StatusNoContent || (roll != http.StatusOK && roll != http.StatusNotFound) {
			t.Errorf("round %d: delete %d, roll %d; want 204, and 200 or 404", round, del, roll)
		}
		for _, base := range []string{f.nodeA, f.nodeB} {
			if got, _ := f.call(t, base, "GET", "/v1/keys/"+id, ""); got != http.StatusNotFound {
				t.Errorf("round %d: the key deleted while it was rolled: GET %d, want 404", round, got)
			}
		}
	}
}

// TestBootstrapIfEmptyOnce: deployments that each run bootstrap --if-empty
// at the same moment on an empty database make one first account between
// them; later runs make none.
func TestBootstrapIfEmptyOnce(t *testing.T) {
	getenv := env(map[string]string{"LATCHKEY_DB": pgtest.DSN(t), "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})
	const runs = 6
	outputs := make([]string, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{"bootstrap", "--if-empty"}, getenv, &stdout, &stderr); err != nil {
				t.Errorf("bootstrap --if-empty: %v\n%s", err, stderr.String())
			}
			outputs[i] = stdout.String()
		})
	}
	wg.Wait()
	var made []credentials
	for _, out := range outputs {
		if out == "" {
			continue
		}
		var c credentials
		if err := json.Unmarshal([]byte(out), &c); err != nil || !secret.WellFormed(c.Secret) {
			t.Fatalf("bootstrap printed %q (%v)", out, err)
		}
		made = append(made, c)
	}
	if len(made) != 1 {
		t.Fatalf("%d of %d concurrent bootstrap --if-empty made an account, want 1", len(made), runs)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap", "--if-empty"}, getenv, &stdout, &bytes.Buffer{}); err != nil || stdout.Len() != 0 {
		t.Fatalf("a later bootstrap --if-empty: %v, printed %q; want nothing", err, stdout.String())
	}
	base, _, _ := startServe(t, getenv)
	f := &testFleet{admin: made[0]}
	if status, who := f.call(t, base, "GET", "/v1/whoami", ""); status != http.StatusOK {
		t.Fatalf("the first account key: whoami %d %v", status, who)
	}
}
