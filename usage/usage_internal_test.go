package usage

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func (r *Recorder) counters() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}

// TestIdleCountersAreDropped checks that memory follows the keys in use: a
// key's counters go after idleFlushes flushes with nothing recorded, and
// stay while it is recorded between flushes.
func TestIdleCountersAreDropped(t *testing.T) {
	r := New(func(context.Context, []latchkey.UsageCount, map[string]time.Time) error { return nil }, time.Hour, nil)
	defer r.Close(context.Background())
	ctx := context.Background()
	r.Record("idle", latchkey.CodeValid)
	for range idleFlushes + 1 {
		r.Record("busy", latchkey.CodeValid)
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// busy has one counter per stripe it used; idle has none left.
	if n := r.counters(); n == 0 || n > int(r.stripeMask)+1 {
		t.Fatalf("%d counters, want busy's only (1 to %d)", n, r.stripeMask+1)
	}
	for range idleFlushes {
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.counters(); n != 0 {
		t.Fatalf("%d counters after every key went idle, want 0", n)
	}
}

// TestRecordAllocatesNothingOnceWarm checks the hot path's promise.
func TestRecordAllocatesNothingOnceWarm(t *testing.T) {
	r := New(func(context.Context, []latchkey.UsageCount, map[string]time.Time) error { return nil }, time.Hour, nil)
	defer r.Close(context.Background())
	for range 1000 { // every stripe of the key gets its counter
		r.Record("k", latchkey.CodeValid)
	}
	if n := testing.AllocsPerRun(1000, func() { r.Record("k", latchkey.CodeValid) }); n != 0 {
		t.Fatalf("Record allocated %v times per call", n)
	}
}
