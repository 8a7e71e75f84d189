package sharedlimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/ratelimit/ratelimittest"
	"github.com/latchkey/latchkey/ratelimit/sharedlimit"
	"github.com/latchkey/latchkey/store/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openStore(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// syncing is one node, syncing every few calls with the last time it was
// given, its keys named apart from every other limiter's (the suite names
// its keys alike, and all share one database).
type syncing struct {
	t      *testing.T
	l      *sharedlimit.Limiter
	prefix string
	calls  atomic.Int64
}

var prefixes atomic.Int64

func (s *syncing) Allow(ctx context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) ratelimit.Decision {
	d := s.l.Allow(ctx, s.prefix+keyID, limit, cost, now)
	if s.calls.Add(1)%97 == 0 {
		if err := s.l.Sync(ctx, now); err != nil {
			s.t.Errorf("Sync: %v", err)
		}
	}
	return d
}

// TestProperties: alone, a node is exact; syncing with the database,
// where it finds only its own counts, changes none of its decisions.
func TestProperties(t *testing.T) {
	store := openStore(t, pgtest.DSN(t))
	ratelimittest.Run(t, ratelimittest.Impl{
		New: func(t *testing.T) ratelimittest.Limiter {
			return &syncing{t: t, prefix: fmt.Sprintf("p%d:", prefixes.Add(1)),
				l: sharedlimit.New(store, sharedlimit.Options{Interval: -1})}
		},
		Trials: 60, Calls: 2000,
	})
}

// admission is one call admitted, for the bound's check.
type admission struct {
	node int
	at   time.Time
	cost int
}

// TestFleetBound: three nodes on one database, each sent five times the
// limit's rate at once, concurrently, on a clock the test drives: all sync
// every s (in lockstep, concurrently). A unit is then known to every node
// within D = 2s, and the units admitted within any period must stay within
// the documented bound, L + (N−1)·U with U the most one node admitted
// within D; which must be far below N·L.
func TestFleetBound(t *testing.T) {
	const (
		nodes  = 3
		s      = 100 * time.Millisecond
		perRun = 5 // calls per node per interval: 50 a second
		rounds = 400
	)
	rl := latchkey.RateLimit{Limit: 100, Period: 10 * time.Second} // 10 a second
	store := openStore(t, pgtest.DSN(t))
	ls := make([]*sharedlimit.Limiter, nodes)
	for i := range ls {
		ls[i] = sharedlimit.New(store, sharedlimit.Options{Interval: -1})
	}
	ctx := t.Context()
	var mu sync.Mutex
	var admitted []admission
	t0 := ratelimittest.T0
	for k := range rounds {
		start := t0.Add(time.Duration(k) * s)
		var wg sync.WaitGroup
		for n, l := range ls {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(k), uint64(n)))
				for j := range perRun {
					at := start.Add(time.Duration(j)*s/perRun + time.Duration(r.Int64N(int64(s/perRun))))
					cost := 1 + r.IntN(2)
					if l.Allow(ctx, "k", rl, cost, at).Allowed {
						mu.Lock()
						admitted = append(admitted, admission{n, at, cost})
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		for _, l := range ls {
			wg.Go(func() {
				if err := l.Sync(ctx, start.Add(s)); err != nil {
					t.Errorf("round %d: Sync: %v", k, err)
				}
			})
		}
		wg.Wait()
	}
	slices.SortFunc(admitted, func(a, b admission) int { return a.at.Compare(b.at) })

	// U: the most units one node admitted within any interval of length
	// D = 2s (closed, which can only make it larger).
	const D = 2 * s
	u := 0
	for n := range nodes {
		var mine []admission
		for _, a := range admitted {
			if a.node == n {
				mine = append(mine, a)
			}
		}
		lo, sum := 0, 0
		for _, a := range mine {
			sum += a.cost
			for mine[lo].at.Before(a.at.Add(-D)) {
				sum -= mine[lo].cost
				lo++
			}
			u = max(u, sum)
		}
	}
	bound := rl.Limit + (nodes-1)*u
	// Every window of length period that ends at an admission.
	lo, sum, most := 0, 0, 0
	for _, a := range admitted {
		sum += a.cost
		for !admitted[lo].at.After(a.at.Add(-rl.Period)) {
			sum -= admitted[lo].cost
			lo++
		}
		most = max(most, sum)
	}
	t.Logf("%d nodes, limit %d per %v, sync every %v: at most %d admitted in a period; U = %d, bound %d; %d nodes alone would admit %d",
		nodes, rl.Limit, rl.Period, s, most, u, bound, nodes, nodes*rl.Limit)
	if most > bound {
		t.Fatalf("%d units admitted within one period, above the bound L + (N−1)·U = %d", most, bound)
	}
	if most < rl.Limit {
		t.Fatalf("at most %d admitted within a period under 15 times the limit's rate: the limit is %d", most, rl.Limit)
	}
	// Each node is sent at most 2·perRun + 1 calls of cost ≤ 2 within a
	// closed interval of length D: the bound the package documents for
	// this traffic, far below N·L.
	if maxU := (2*perRun + 1) * 2; u > maxU || bound > rl.Limit+(nodes-1)*maxU || bound*2 > nodes*rl.Limit {
		t.Fatalf("U = %d (want ≤ %d), bound %d: not far below %d", u, maxU, bound, nodes*rl.Limit)
	}
}

// TestBackgroundSync: with its goroutine syncing, a node learns of what
// another spent, and refuses; no query is made while a node holds no key.
func TestBackgroundSync(t *testing.T) {
	store := openStore(t, pgtest.DSN(t))
	a := sharedlimit.New(store, sharedlimit.Options{Interval: 10 * time.Millisecond})
	b := sharedlimit.New(store, sharedlimit.Options{Interval: 10 * time.Millisecond})
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := t.Context()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Hour}

	// No key held: no round trip. Wait for syncs of a's ticks by watching
	// b, which holds a key, sync.
	if d := b.Allow(ctx, "k", rl, 1, time.Now()); !d.Allowed {
		t.Fatalf("first call on b: %+v", d)
	}
	waitSyncs(t, b, 3)
	if st := a.Stats(); st.Syncs != 0 || st.Failures != 0 {
		t.Fatalf("a node holding no key made %+v round trips", st)
	}
	// a knows of b's unit once it holds the key and has synced.
	for i := range 9 {
		if d := a.Allow(ctx, "k", rl, 1, time.Now()); !d.Allowed {
			t.Fatalf("call %d on a: %+v", i, d)
		}
		if i == 0 {
			waitSyncs(t, a, 2)
		}
	}
	if d := a.Allow(ctx, "k", rl, 1, time.Now()); d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 {
		t.Fatalf("a, with 1 unit spent on b and 9 on a: %+v, want refused", d)
	}
	// b learns of a's nine after a has written them and b has read.
	waitSyncs(t, a, 2)
	waitSyncs(t, b, 2)
	if d := b.Allow(ctx, "k", rl, 1, time.Now()); d.Allowed {
		t.Fatalf("b, after the limit was spent: %+v, want refused", d)
	}
	// Close stops the goroutine; the limiter still answers.
	a.Close()
	n := a.Stats()
	if d := a.Allow(ctx, "k", rl, 1, time.Now()); d.Allowed {
		t.Fatalf("after Close: %+v", d)
	}
	time.Sleep(30 * time.Millisecond)
	if a.Stats() != n {
		t.Fatalf("syncs after Close: %+v then %+v", n, a.Stats())
	}
}

// waitSyncs waits for n more successful syncs of l.
func waitSyncs(t *testing.T, l *sharedlimit.Limiter, n int64) {
	t.Helper()
	want := l.Stats().Syncs + n
	for start := time.Now(); l.Stats().Syncs < want; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("fewer than %d syncs in 10 s: %+v", n, l.Stats())
		}
	}
}

// TestOutage: with the database out of reach, Allow answers on what the
// node knows (its own units still count), the warning is logged once, and
// the recovery once.
func TestOutage(t *testing.T) {
	srv := pgtest.NewServer(t)
	store := openStore(t, srv.DSN())
	logs := &lktest.Buffer{}
	l := sharedlimit.New(store, sharedlimit.Options{Interval: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := t.Context()
	rl := latchkey.RateLimit{Limit: 3, Period: time.Hour}
	now := time.Now()
	l.Allow(ctx, "k", rl, 1, now)
	if err := l.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for range 3 {
		if err := l.Sync(ctx, now); err == nil {
			t.Fatal("Sync with the database stopped: no error")
		}
	}
	for i := range 2 {
		if d := l.Allow(ctx, "k", rl, 1, now); !d.Allowed {
			t.Fatalf("call %d during the outage: %+v", i, d)
		}
	}
	if d := l.Allow(ctx, "k", rl, 1, now); d.Allowed {
		t.Fatalf("fourth unit during the outage: %+v, want refused: the node's own units count", d)
	}
	if got := strings.Count(logs.String(), "cannot share counts"); got != 1 {
		t.Fatalf("the outage warning logged %d times, want once:\n%s", got, logs)
	}
	srv.Start()
	// The first call after a restart may find the pool's connections
	// broken; the pool dials anew on the next.
	for start := time.Now(); l.Sync(ctx, now) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("Sync still failing 10 s after the database is back")
		}
	}
	if !strings.Contains(logs.String(), "shared through the database again") {
		t.Fatalf("no line on recovery:\n%s", logs)
	}
	// Everything was written again after the outage: another node sees 3.
	other := sharedlimit.New(store, sharedlimit.Options{Interval: -1})
	other.Allow(ctx, "k", rl, 0, now) // hold the key; counted as 1
	if err := other.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	if d := other.Allow(ctx, "k", rl, 1, now); d.Allowed || d.Remaining != 0 {
		t.Fatalf("another node after the outage: %+v, want the 3 written during it counted", d)
	}
}
