package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey/ratelimit/sharedlimit"
)

// TestSharedLimitAcrossNodes: without Redis, two nodes on one PostgreSQL
// share a key's counts. A key limited to 20 an hour, asked 100 times
// alternately through both, in bursts of 10 with a pause between bursts
// longer than D (two sync intervals and two syncs; see package
// sharedlimit), is admitted at least 20 times and at most the documented
// L + (N−1)·U = 20 + 1·5: within one D, a node is sent at most the 5
// calls of one burst. Each node alone would admit 20.
func TestSharedLimitAcrossNodes(t *testing.T) {
	f := newFleet(t)
	if !strings.Contains(f.logsB.String(), "rate limits are shared through PostgreSQL") {
		t.Errorf("serve on PostgreSQL without Redis does not say it shares limits:\n%s", f.logsB)
	}
	status, key := f.call(t, f.nodeA, "POST", "/v1/keys",
		`{"name":"rated","permissions":["orders.read"],"rateLimit":{"limit":20,"period":"1h"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, key)
	}
	sec := key["secret"].(string)
	const (
		calls, burst = 100, 10
		pause        = 5 * sharedlimit.DefaultInterval // D is about 2 intervals
	)
	admitted, refused := 0, 0
	for i := range calls {
		if i > 0 && i%burst == 0 {
			time.Sleep(pause)
		}
		base := f.nodeA
		if i%2 == 1 {
			base = f.nodeB
		}
		switch got := authorize(t, base, sec); got {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("call %d: status %d", i, got)
		}
	}
	t.Logf("%d calls through two nodes, limit 20 an hour: %d admitted", calls, admitted)
	if bound := 20 + (2-1)*burst/2; admitted < 20 || admitted > bound {
		t.Fatalf("%d admitted, want from 20 (the limit) to %d (the documented bound)", admitted, bound)
	}

	// The counts are in the database, one row per node that admitted.
	conn, err := pgx.Connect(context.Background(), f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var nodes int
	if err := conn.QueryRow(context.Background(), `SELECT count(DISTINCT node) FROM rate_counts`).Scan(&nodes); err != nil || nodes != 2 {
		t.Fatalf("rate_counts holds the counts of %d nodes, want 2 (%v)", nodes, err)
	}
}
