package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/internal/redistest"
	"github.com/latchkey/latchkey/secret"
)

// redisFleet is two nodes on one PostgreSQL database and one Redis, with
// an account key made by bootstrap.
type redisFleet struct {
	redis        *redistest.Server
	nodeA, nodeB string
	admin        credentials
}

func newRedisFleet(t *testing.T) *redisFleet {
	t.Helper()
	f := &redisFleet{redis: redistest.Start(t)}
	getenv := env(map[string]string{"LATCHKEY_DB": pgtest.DSN(t), "LATCHKEY_MASTER_KEY": secret.NewMasterKey(),
		"LATCHKEY_REDIS": f.redis.URL()})
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &f.admin); err != nil {
		t.Fatal(err)
	}
	var logsA interface{ String() string }
	f.nodeA, logsA, _ = startServe(t, getenv)
	f.nodeB, _, _ = startServe(t, getenv)
	if !strings.Contains(logsA.String(), "rate limits are kept in Redis") {
		t.Errorf("serve with LATCHKEY_REDIS does not say it keeps limits in Redis:\n%s", logsA)
	}
	return f
}

// newKey makes a key with orders.read through node A and returns its
// secret; body adds members to the request.
func (f *redisFleet) newKey(t *testing.T, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", f.nodeA+"/v1/keys",
		strings.NewReader(`{"name":"rated","permissions":["orders.read"]`+body+`}`))
	req.Header.Set("Authorization", "Bearer "+f.admin.Secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var key struct{ Secret string }
	if err := json.NewDecoder(resp.Body).Decode(&key); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/keys: %d, %v", resp.StatusCode, err)
	}
	return key.Secret
}

// authorizeWait asks a node's gateway endpoint about a secret and returns
// the status and the Retry-After header.
func authorizeWait(t *testing.T, base, sec string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/authorize?permission=orders.read", nil)
	req.Header.Set("X-API-Key", sec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestRedisLimitHoldsAcrossNodes: a key limited to 10 an hour, asked
// about 30 times alternately through two nodes, is admitted exactly 10
// times: each node alone would admit 10.
func TestRedisLimitHoldsAcrossNodes(t *testing.T) {
	f := newRedisFleet(t)
	sec := f.newKey(t, `,"rateLimit":{"limit":10,"period":"1h"}`)
	admitted := 0
	for i := range 30 {
		base := f.nodeA
		if i%2 == 1 {
			base = f.nodeB
		}
		status, wait := authorizeWait(t, base, sec)
		switch status {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			// The limit stops counting an hour after the first call, give
			// or take one of the 63 sub-windows.
			if s, err := strconv.Atoi(wait); err != nil || s < 3500 || s > 3600+58+1 {
				t.Errorf("call %d: 429 with Retry-After %q, want about an hour in seconds", i, wait)
			}
		default:
			t.Fatalf("call %d: status %d", i, status)
		}
	}
	if admitted != 10 {
		t.Fatalf("30 calls on two nodes, limit 10 an hour: %d admitted", admitted)
	}
}

// evalCalls is how many scripts Redis has run, as INFO commandstats counts
// them: EVALSHA, and EVAL when the script was not cached, less the calls
// that failed (an EVALSHA of a script not cached yet).
func evalCalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info, err := srv.Client(t).Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile(`cmdstat_(?:evalsha|eval):calls=(\d+),.*failed_calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		calls, _ := strconv.Atoi(m[1])
		failed, _ := strconv.Atoi(m[2])
		n += calls - failed
	}
	return n
}

// TestRedisOnlyForRateLimitedKeys: verifying a key without a rate limit
// costs no Redis round trip; one with a limit costs one per verification.
func TestRedisOnlyForRateLimitedKeys(t *testing.T) {
	f := newRedisFleet(t)
	free := f.newKey(t, "")
	rated := f.newKey(t, `,"rateLimit":{"limit":1000,"period":"1m"}`)
	before := evalCalls(t, f.redis)
	for range 20 {
		if status, _ := authorizeWait(t, f.nodeB, free); status != http.StatusOK {
			t.Fatalf("a key without a limit: %d", status)
		}
	}
	if n := evalCalls(t, f.redis) - before; n != 0 {
		t.Fatalf("20 verifications of a key without a rate limit ran %d scripts in Redis, want none", n)
	}
	for range 20 {
		if status, _ := authorizeWait(t, f.nodeB, rated); status != http.StatusOK {
			t.Fatalf("a key with a limit: %d", status)
		}
	}
	if n := evalCalls(t, f.redis) - before; n != 20 {
		t.Fatalf("20 verifications of a rate-limited key ran %d scripts in Redis, want 20", n)
	}
}

// TestRedisFlag: a bad --redis is refused at start with an error that does
// not show its password, and so is a Redis that does not answer.
func TestRedisFlag(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"scheme", "http://user:s3cr3t@localhost:6379", "invalid URL scheme"},
		{"database", "redis://user:s3cr3t@localhost:6379/x", "invalid database number"},
		{"not a URL", "redis://user:s3cr3t@local host:6379", "not a URL"},
		{"unreachable", "unix://user:s3cr3t@" + dir + "/none.sock", "Redis does not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + dir + "/latchkey.db", "LATCHKEY_REDIS": tc.url})
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "--redis") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LATCHKEY_REDIS=%s: error %v, want one about --redis saying %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error()+stderr.String(), "s3cr3t") {
				t.Fatalf("the password shows: %v\n%s", err, stderr.String())
			}
		})
	}
}
