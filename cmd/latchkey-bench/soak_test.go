package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// latchkeyForTests builds the server binary once for this package's tests.
var latchkeyForTests = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "latchkey-bench-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, "../latchkey").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := latchkeyForTests(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// TestSoakShort is the soak's short form: the real server binary under
// 20 s of mixed load at a modest rate. It asserts correctness and bounded
// growth only, never a time: every answer as expected, every kind of
// request sent, and the server's goroutines, open files and live heap
// back near where they were once the load stops.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 s: the real server under load")
	}
	bin, err := latchkeyForTests()
	if err != nil {
		t.Fatal(err)
	}
	o := &soakOptions{
		latchkeyBin:    bin,
		duration:       20 * time.Second,
		warmup:         3 * time.Second,
		rate:           100,
		conc:           4,
		mgmtRate:       2,
		keys:           50,
		prefillUnknown: 200,
		sampleEvery:    5 * time.Second,
		quiet:          true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := soak(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.print(&b)
	t.Logf("soak in %v:\n%s", time.Since(start).Round(time.Second), b.String())

	if rep.TotalErrors != 0 {
		t.Errorf("%d errors (warm-up %d, run %d, rate limits broken on %d keys); see the report above",
			rep.TotalErrors, rep.WarmupErrors, rep.Total.Errors, rep.RateLimit.Broken)
	}
	for _, k := range rep.Kinds {
		if k.Requests == 0 {
			t.Errorf("no %s requests were sent", k.Kind)
		}
	}
	for _, k := range rep.Kinds {
		switch k.Kind {
		case kindNames[kindVerifyLimited]:
			// The keys are sent twice their limit: some pass, some not.
			if k.Answers["VALID"] == 0 || k.Answers["RATE_LIMITED"] == 0 {
				t.Errorf("rate-limited keys: answers %v, want both VALID and RATE_LIMITED", k.Answers)
			}
		case kindNames[kindVerifyChurned]:
			if k.Answers["VALID"] == 0 || k.Answers["NOT_FOUND"] == 0 {
				t.Errorf("churned keys: answers %v, want both VALID and NOT_FOUND", k.Answers)
			}
		}
	}
	if rep.ListWalks == 0 {
		t.Error("no walk of every page of keys was completed")
	}
	if rep.ServerLogErrors != 0 {
		t.Errorf("the server logged %d errors; first: %s", rep.ServerLogErrors, rep.ServerLogFirst)
	}
	// Growth, measured with the load paused, connections closed and a
	// garbage collection forced at both ends.
	st, en := rep.Start, rep.End
	if en.Goroutines > st.Goroutines+5 {
		t.Errorf("goroutines: %d at the start, %d at the end", st.Goroutines, en.Goroutines)
	}
	if en.FDs > st.FDs+5 {
		t.Errorf("open files: %d at the start, %d at the end", st.FDs, en.FDs)
	}
	if limit := 2*st.HeapAlloc + 16<<20; en.HeapAlloc > limit {
		t.Errorf("live heap: %s at the start, %s at the end (more than twice, plus 16 MiB)", fmtBytes(st.HeapAlloc), fmtBytes(en.HeapAlloc))
	}
}

func TestSoakOptions(t *testing.T) {
	o, err := parseSoakOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.duration != 30*time.Minute || o.rate != 400 || o.conc != 16 || o.keys != 1000 {
		t.Errorf("defaults: %+v", o)
	}
	for _, args := range [][]string{
		{"-duration", "0s"}, {"-rate", "0"}, {"-conc", "0"}, {"-mgmt-rate", "0"}, {"-keys", "0"},
		{"-sample-every", "10ms"}, {"-warmup", "-1s"}, {"extra"},
	} {
		if _, err := parseSoakOptions(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if got := pathShape("/v1/keys/key_01ABC/roll?x=1"); got != "/v1/keys/{id}/roll" {
		t.Errorf("pathShape: %q", got)
	}
	// An answer that may hold a secret is never quoted.
	if got := snippet(201, []byte(`{"secret":"sk_live_x"}`)); strings.Contains(got, "sk_live") {
		t.Errorf("snippet quotes a 2xx body: %q", got)
	}
}

// TestDebugListener checks the server's --debug-addr as the soak uses it:
// what it serves, what it leaves out, and that it refuses any address
// but loopback.
func TestDebugListener(t *testing.T) {
	bin, err := latchkeyForTests()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "example.com:0"} {
		dir := t.TempDir()
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(dir, "lk.db"), "--debug-addr", addr)
		cmd.Env = serverEnv()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "loopback only") {
			t.Errorf("--debug-addr %s: %v, want a refusal\n%s", addr, err, out)
		}
		// Refused before the server touched its data directory.
		if _, err := os.Stat(filepath.Join(dir, "lk.db")); !os.IsNotExist(err) {
			t.Errorf("--debug-addr %s: the database was created before the refusal (%v)", addr, err)
		}
	}

	dir := t.TempDir()
	s := &soaker{o: &soakOptions{latchkeyBin: bin}, work: dir, dataDir: filepath.Join(dir, "data"), progress: func(string, ...any) {}}
	if err := s.startServer(); err != nil {
		t.Fatal(err)
	}
	defer s.lk.stop()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(s.debug + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, []byte(b.String())
	}
	status, body := get("/debug/vars")
	var vars map[string]json.RawMessage
	if status != 200 || json.Unmarshal(body, &vars) != nil {
		t.Fatalf("/debug/vars: %d %.200s", status, body)
	}
	if vars["memstats"] == nil || vars["goroutines"] == nil {
		t.Errorf("/debug/vars lacks memstats or goroutines: %.300s", body)
	}
	if vars["cmdline"] != nil {
		t.Error("/debug/vars shows the command line")
	}
	if status, _ := get("/debug/pprof/cmdline"); status != 404 {
		t.Errorf("/debug/pprof/cmdline: %d, want 404", status)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap?gc=1"} {
		if status, body := get(path); status != 200 {
			t.Errorf("%s: %d %.200s", path, status, body)
		}
	}
	// The API's own listener does not serve them.
	if resp, err := http.Get(s.base + "/debug/vars"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode == 200 {
		t.Error("the API's listener serves /debug/vars")
	}
}
