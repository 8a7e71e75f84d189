package redislimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/internal/redistest"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/ratelimit/ratelimittest"
	"github.com/latchkey/latchkey/ratelimit/redislimit"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// prefixes keeps the tests' keys apart on the shared server.
var prefixes atomic.Int64

func newPrefix() string {
	return fmt.Sprintf("test%d:", prefixes.Add(1))
}

// strict answers through Redis or fails the test: the suite must check
// Redis's decisions, never the fallback's.
type strict struct {
	t *testing.T
	l *redislimit.Limiter
}

func (s strict) Allow(ctx context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) ratelimit.Decision {
	d, err := s.l.Try(ctx, keyID, limit, cost, now)
	if err != nil {
		s.t.Errorf("Redis failed: %v", err)
	}
	return d
}

// TestProperties holds the Redis limiter to the suite the node-local one
// passes, on injected times: the same algorithm, the same guarantee,
// counted in microseconds.
func TestProperties(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ratelimittest.Run(t, ratelimittest.Impl{
		New: func(t *testing.T) ratelimittest.Limiter {
			return strict{t, redislimit.New(rdb, redislimit.Options{Prefix: newPrefix(), CallerClock: true})}
		},
		Resolution: time.Microsecond,
		// A round trip per call: fewer calls than in memory, still every
		// kind of trial (long and nanosecond periods alternate).
		Trials: 16, Calls: 1000, Goroutines: 16,
	})
}

// TestServerClock: on Redis's clock (as in production), the decisions and
// their waits are the same, expressed in the caller's clock.
func TestServerClock(t *testing.T) {
	l := redislimit.New(redistest.Shared(t).Client(t), redislimit.Options{Prefix: newPrefix()})
	ctx := t.Context()
	rl := latchkey.RateLimit{Limit: 3, Period: time.Hour}
	w := ratelimittest.Width(time.Hour, time.Microsecond)
	for i := range 3 {
		now := time.Now()
		d, err := l.Try(ctx, "k", rl, 1, now)
		if err != nil || !d.Allowed || d.Remaining != 2-i || d.RetryAfter != 0 {
			t.Fatalf("call %d: %+v, %v", i, d, err)
		}
		if wait := d.Reset.Sub(now); wait <= time.Hour-time.Minute || wait > 64*w {
			t.Fatalf("call %d: Reset %v away, want about an hour, at most %v", i, wait, 64*w)
		}
	}
	now := time.Now()
	d, err := l.Try(ctx, "k", rl, 1, now)
	if err != nil || d.Allowed || d.Remaining != 0 {
		t.Fatalf("fourth call: %+v, %v; want refused", d, err)
	}
	if d.RetryAfter != d.Reset.Sub(now) || d.RetryAfter <= time.Hour-time.Minute || d.RetryAfter > 64*w {
		t.Fatalf("fourth call: RetryAfter %v, Reset %v away; want about an hour, at most %v", d.RetryAfter, d.Reset.Sub(now), 64*w)
	}
}

// TestTwoNodes: two limiters, each with its own client, as two nodes of a
// fleet, spend one key's limit at once: exactly the limit is admitted,
// whichever node admits it.
func TestTwoNodes(t *testing.T) {
	srv := redistest.Shared(t)
	prefix := newPrefix()
	nodes := []*redislimit.Limiter{
		redislimit.New(srv.Client(t), redislimit.Options{Prefix: prefix}),
		redislimit.New(srv.Client(t), redislimit.Options{Prefix: prefix}),
	}
	rl := latchkey.RateLimit{Limit: 300, Period: time.Hour}
	var perNode [2]atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			n := g % 2
			for range 100 {
				d, err := nodes[n].Try(t.Context(), "shared", rl, 1, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					perNode[n].Add(1)
				}
			}
		})
	}
	wg.Wait()
	a, b := perNode[0].Load(), perNode[1].Load()
	if a+b != 300 {
		t.Fatalf("1600 calls on two nodes, limit 300: %d + %d admitted", a, b)
	}
	if a == 0 || b == 0 {
		t.Fatalf("one node admitted nothing (%d, %d): the test did not share the key", a, b)
	}
}

// TestRedisDown stops Redis under two nodes: verifications still get an
// answer, from each node's own limiter, and each node warns once. When
// Redis is back, the limit holds across both again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	var logs [2]lktest.Buffer
	var nodes [2]*redislimit.Limiter
	for i := range nodes {
		opt := srv.Options()
		redislimit.Tune(opt) // as the binary does
		nodes[i] = redislimit.New(srv.ClientWith(t, opt), redislimit.Options{Prefix: prefix, Timeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs[i], nil))})
	}
	ctx := t.Context()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Hour}
	// admitted sends calls alternating between the nodes, for key.
	admitted := func(key string, calls int) int {
		n := 0
		for i := range calls {
			if nodes[i%2].Allow(ctx, key, rl, 1, time.Now()).Allowed {
				n++
			}
		}
		return n
	}
	if n := admitted("before", 30); n != 10 {
		t.Fatalf("Redis up: %d of 30 calls admitted, want 10", n)
	}

	srv.Stop(t)
	// Each node enforces the limit on its own: 10 each.
	if n := admitted("during", 40); n != 20 {
		t.Fatalf("Redis down: %d of 40 calls on two nodes admitted, want 10 per node", n)
	}
	for i := range logs {
		if c := strings.Count(logs[i].String(), "Redis cannot be reached"); c != 1 {
			t.Fatalf("node %d warned %d times in one outage, want once:\n%s", i, c, logs[i].String())
		}
	}

	srv.Restart(t)
	// go-redis's pool, having failed to dial, dials again about once a
	// second: wait until each node reaches Redis.
	for i, node := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := node.Try(ctx, "probe", rl, 1, time.Now())
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not reach the restarted Redis: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := admitted("after", 30); n != 10 {
		t.Fatalf("Redis back: %d of 30 calls admitted, want 10", n)
	}
	for i := range logs {
		if !strings.Contains(logs[i].String(), "Redis answers again") {
			t.Fatalf("node %d did not say Redis answers again:\n%s", i, logs[i].String())
		}
	}
}

// TestRetryInterval: after a failure, calls go to the node's own limiter
// without trying Redis until the interval has passed.
func TestRetryInterval(t *testing.T) {
	srv := redistest.Start(t)
	var logs lktest.Buffer
	opt := srv.Options()
	redislimit.Tune(opt)
	l := redislimit.New(srv.ClientWith(t, opt), redislimit.Options{Prefix: newPrefix(), RetryInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rl := latchkey.RateLimit{Limit: 1, Period: time.Hour}
	srv.Stop(t)
	l.Allow(t.Context(), "k", rl, 1, time.Now()) // fails, falls back
	srv.Restart(t)
	// Redis is back, but within the interval the node's own limiter
	// answers: it has counted the first call, so this one is refused.
	if d := l.Allow(t.Context(), "k", rl, 1, time.Now()); d.Allowed {
		t.Fatalf("within the retry interval: %+v, want the node's own limiter's refusal", d)
	}
	if strings.Contains(logs.String(), "answers again") {
		t.Fatalf("Redis was tried within the retry interval:\n%s", logs.String())
	}
}

// TestKeysExpire: every hash written has a time to live of at most 64
// sub-windows and a second, so Redis keeps only keys still counting; a
// call that counts nothing writes nothing.
func TestKeysExpire(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	prefix := newPrefix()
	l := redislimit.New(rdb, redislimit.Options{Prefix: prefix})
	ctx := t.Context()
	for _, period := range []time.Duration{time.Millisecond, time.Second, time.Hour} {
		key := "k" + period.String()
		if d := l.Allow(ctx, key, latchkey.RateLimit{Limit: 5, Period: period}, 1, time.Now()); !d.Allowed {
			t.Fatalf("period %v: %+v", period, d)
		}
		ttl, err := rdb.PTTL(ctx, prefix+key).Result()
		max := 64*ratelimittest.Width(period, time.Microsecond) + time.Second + time.Millisecond
		if err != nil || ttl <= 0 || ttl > max {
			t.Fatalf("period %v: PTTL %v (%v), want in (0, %v]", period, ttl, err, max)
		}
	}
	l.Allow(ctx, "too dear", latchkey.RateLimit{Limit: 5, Period: time.Hour}, 6, time.Now())
	if n, err := rdb.Exists(ctx, prefix+"too dear").Result(); err != nil || n != 0 {
		t.Fatalf("a refused call on a new key left a hash (%d, %v)", n, err)
	}
}

// TestParseURLNeverShowsThePassword: a bad URL is refused with an error
// that does not hold its password.
func TestParseURLNeverShowsThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://user:s3cr3t@host:6379/notanumber",
		"redis://:s3cr3t@host:6379/1/2",
		"redis://user:s3cr3t@host:6379/0?dial_timeout=s3cr3t",
		"http://user:s3cr3t@host",
		"redis://user:s3cr3t@ho st",
		"redis://user:s3cr3t@host:6379/0?password=s3cr3t&bogus=1",
		"unix:///tmp/redis.sock?password=s3cr3t&db=x",
	} {
		_, err := redislimit.ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("ParseURL(%q) error shows the password: %v", raw, err)
		}
		if r := redislimit.Redact(raw); strings.Contains(r, "s3cr3t") {
			t.Errorf("Redact(%q) = %q", raw, r)
		}
	}
	if opt, err := redislimit.ParseURL("redis://:pw@localhost:6380/2"); err != nil || opt.Password != "pw" || opt.DB != 2 || opt.Addr != "localhost:6380" {
		t.Errorf("ParseURL of a good URL: %+v, %v", opt, err)
	}
}

// BenchmarkAllow is one node checking one key, serially: a round trip each,
// over the Unix socket of a Redis on the same machine.
func BenchmarkAllow(b *testing.B) {
	l := redislimit.New(redistest.Shared(b).Client(b), redislimit.Options{Prefix: newPrefix()})
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, err := l.Try(ctx, "key_0123456789abcdef01234567", rl, 1, time.Now()); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
	}
}

// BenchmarkAllowParallel is every core checking a key of its own, on one
// client (its pool of connections).
func BenchmarkAllowParallel(b *testing.B) {
	l := redislimit.New(redistest.Shared(b).Client(b), redislimit.Options{Prefix: newPrefix()})
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := "key_" + strconv.FormatInt(next.Add(1), 10)
		for pb.Next() {
			if _, err := l.Try(context.Background(), key, rl, 1, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
