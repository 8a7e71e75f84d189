package usage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// FlushLag is the time since the last successful flush, by the recorder's
// clock, and grows while the sink fails; FlushFailures counts the failures.
func TestFlushStats(t *testing.T) {
	s := newSink()
	c := &clock{t: t0}
	r := newRecorder(t, s, c.now)
	if lag, n := r.FlushLag(), r.FlushFailures(); lag != 0 || n != 0 {
		t.Fatalf("new recorder: lag %v, failures %d", lag, n)
	}
	c.set(t0.Add(3 * time.Second))
	if lag := r.FlushLag(); lag != 3*time.Second {
		t.Fatalf("before any flush: lag %v, want 3s (since it was made)", lag)
	}
	s.fail = 2
	r.Record("k", latchkey.CodeValid)
	for range 2 {
		if err := r.Flush(context.Background()); !errors.Is(err, errSinkDown) {
			t.Fatalf("Flush with the sink down: %v", err)
		}
	}
	c.set(t0.Add(10 * time.Second))
	if lag, n := r.FlushLag(), r.FlushFailures(); lag != 10*time.Second || n != 2 {
		t.Fatalf("sink down: lag %v, failures %d; want 10s and 2", lag, n)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.set(t0.Add(11 * time.Second))
	if lag, n := r.FlushLag(), r.FlushFailures(); lag != time.Second || n != 2 {
		t.Fatalf("sink back: lag %v, failures %d; want 1s and 2", lag, n)
	}
	// A flush with nothing to send succeeds too.
	c.set(t0.Add(20 * time.Second))
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lag := r.FlushLag(); lag != 0 {
		t.Fatalf("after an empty flush: lag %v", lag)
	}
}
