package usage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/usage"
)

// t0 is the start of a minute, UTC.
var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

type rowKey struct {
	keyID  string
	minute time.Time
	code   latchkey.Code
}

// sink records what it is sent, like a store that adds counts up, and can
// be told to fail.
type sink struct {
	mu       sync.Mutex
	fail     int  // how many of the next calls fail
	failAll  bool // every call fails
	calls    int
	batches  [][]latchkey.UsageCount
	totals   map[rowKey]int64
	lastUsed map[string]time.Time
	sent     chan struct{} // receives after every successful call, if there is room
}

var errSinkDown = errors.New("sink down")

func newSink() *sink {
	return &sink{totals: map[rowKey]int64{}, lastUsed: map[string]time.Time{}, sent: make(chan struct{}, 1)}
}

func (s *sink) write(_ context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failAll || s.fail > 0 {
		s.fail--
		return errSinkDown
	}
	seen := map[rowKey]bool{}
	for _, c := range counts {
		k := rowKey{c.KeyID, c.Minute, c.Code}
		if seen[k] {
			return fmt.Errorf("row %v twice in one batch", k)
		}
		seen[k] = true
		s.totals[k] += c.Count
	}
	for id, t := range lastUsed {
		if t.After(s.lastUsed[id]) {
			s.lastUsed[id] = t
		}
	}
	s.batches = append(s.batches, append([]latchkey.UsageCount(nil), counts...))
	select {
	case s.sent <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, c := range s.totals {
		n += c
	}
	return n
}

// clock is an injected clock a test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// newRecorder makes a recorder whose goroutine never flushes during the
// test (an hour's interval): tests flush when they choose.
func newRecorder(t *testing.T, s *sink, now func() time.Time, opts ...usage.Option) *usage.Recorder {
	r := usage.New(s.write, time.Hour, now, opts...)
	t.Cleanup(func() {
		// Bounded, so that a test that failed with the sink down does not
		// leave Close retrying forever.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.Close(ctx)
	})
	return r
}

// TestCountsAddUpUnderConcurrency records from many goroutines at once,
// across minutes and with flushes running meanwhile: the sink receives
// exactly what was recorded.
func TestCountsAddUpUnderConcurrency(t *testing.T) {
	s := newSink()
	var ticks atomic.Int64
	// Every reading of the clock moves it on 1 ms, so the records span
	// several minutes and counters move on from one minute to the next
	// while others still count it.
	now := func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	r := usage.New(s.write, time.Hour, now)
	const goroutines, perGoroutine, keys = 16, 20000, 5
	stopFlushing := make(chan struct{})
	flushed := make(chan error)
	go func() {
		for {
			select {
			case <-stopFlushing:
				flushed <- nil
				return
			default:
				if err := r.Flush(context.Background()); err != nil {
					flushed <- err
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				r.Record("key"+strconv.Itoa((g+i)%keys), latchkey.Codes[i%len(latchkey.Codes)])
			}
		}()
	}
	wg.Wait()
	close(stopFlushing)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := s.total(), int64(goroutines*perGoroutine); got != want {
		t.Fatalf("the sink received %d verifications, want %d", got, want)
	}
	// Per key and code, too.
	want := map[[2]string]int64{}
	for g := range goroutines {
		for i := range perGoroutine {
			want[[2]string{"key" + strconv.Itoa((g+i)%keys), string(latchkey.Codes[i%len(latchkey.Codes)])}]++
		}
	}
	got := map[[2]string]int64{}
	minutes := map[time.Time]bool{}
	for k, n := range s.totals {
		got[[2]string{k.keyID, string(k.code)}] += n
		minutes[k.minute] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("per key and code:\n got %v\nwant %v", got, want)
	}
	if len(minutes) < 3 {
		t.Fatalf("records spread over %d minutes; the test meant to cross several", len(minutes))
	}
}

// TestMinuteBuckets checks which minute each record lands in, at the
// boundaries, across flushes and when a key moves on to a new minute before
// a flush.
func TestMinuteBuckets(t *testing.T) {
	s := newSink()
	c := &clock{}
	r := newRecorder(t, s, c.now)
	record := func(at time.Time, key string, code latchkey.Code) {
		c.set(at)
		r.Record(key, code)
	}
	record(t0, "a", latchkey.CodeValid)
	record(t0.Add(time.Minute-time.Nanosecond), "a", latchkey.CodeValid)
	record(t0.Add(time.Minute-time.Nanosecond), "a", latchkey.CodeNotFound) // the last VALID stays earlier
	record(t0.Add(time.Minute), "a", latchkey.CodeValid)                    // moves on to minute 1 before any flush
	record(t0.Add(90*time.Second), "b", latchkey.CodeRateLimited)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	record(t0.Add(100*time.Second), "a", latchkey.CodeValid) // minute 1 again, after a flush
	record(t0.Add(10*time.Minute), "a", latchkey.CodeExpired)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	want := []string{
		// first batch, in order: minute, key, code
		fmt.Sprint([]latchkey.UsageCount{
			{KeyID: "a", Minute: m(0), Code: latchkey.CodeValid, Count: 2},
			{KeyID: "a", Minute: m(0), Code: latchkey.CodeNotFound, Count: 1},
			{KeyID: "a", Minute: m(1), Code: latchkey.CodeValid, Count: 1},
			{KeyID: "b", Minute: m(1), Code: latchkey.CodeRateLimited, Count: 1},
		}),
		fmt.Sprint([]latchkey.UsageCount{
			{KeyID: "a", Minute: m(1), Code: latchkey.CodeValid, Count: 1},
			{KeyID: "a", Minute: m(10), Code: latchkey.CodeExpired, Count: 1},
		}),
	}
	if len(s.batches) != 2 {
		t.Fatalf("%d batches, want 2", len(s.batches))
	}
	for i, b := range s.batches {
		if fmt.Sprint(b) != want[i] {
			t.Errorf("batch %d:\n got %v\nwant %s", i, b, want[i])
		}
		for _, c := range b {
			if c.Minute.Location() != time.UTC {
				t.Errorf("minute %v is not in UTC", c.Minute)
			}
		}
	}
	// Only VALID verifications set the last use; b has none. The use at
	// 100 s is not sent: the first flush sent one of the same minute.
	if got := s.lastUsed["a"]; !got.Equal(t0.Add(60 * time.Second)) {
		t.Errorf("last use of a = %v, want %v", got, t0.Add(60*time.Second))
	}
	if _, ok := s.lastUsed["b"]; ok {
		t.Errorf("b, never VALID, has a last use")
	}
}

// TestLastUsedIsTheLatestValidOfTheBatch checks the lastUsed map of one
// batch: per key, the latest VALID, whatever came after it.
func TestLastUsedIsTheLatestValidOfTheBatch(t *testing.T) {
	s := newSink()
	c := &clock{}
	r := newRecorder(t, s, c.now)
	for _, at := range []time.Duration{5 * time.Second, 20 * time.Second, 10 * time.Second} {
		c.set(t0.Add(at))
		r.Record("k", latchkey.CodeValid)
	}
	c.set(t0.Add(30 * time.Second))
	r.Record("k", latchkey.CodeDisabled)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.lastUsed["k"]; !got.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("last use = %v, want the latest VALID, %v", got, t0.Add(20*time.Second))
	}
}

// TestFailedFlushIsRetried fails the sink once: nothing is lost, and the
// next flush sends the old counts merged with the new.
func TestFailedFlushIsRetried(t *testing.T) {
	s := newSink()
	s.fail = 1
	c := &clock{t: t0}
	r := newRecorder(t, s, c.now)
	r.Record("k", latchkey.CodeValid)
	r.Record("k", latchkey.CodeValid)
	if err := r.Flush(context.Background()); !errors.Is(err, errSinkDown) {
		t.Fatalf("Flush with the sink down: err = %v", err)
	}
	r.Record("k", latchkey.CodeValid)
	c.set(t0.Add(time.Minute))
	r.Record("k", latchkey.CodeValid)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]latchkey.UsageCount{
		{KeyID: "k", Minute: t0, Code: latchkey.CodeValid, Count: 3},
		{KeyID: "k", Minute: t0.Add(time.Minute), Code: latchkey.CodeValid, Count: 1},
	})
	if len(s.batches) != 1 || fmt.Sprint(s.batches[0]) != want {
		t.Fatalf("batches = %v, want one: %s", s.batches, want)
	}
	if !s.lastUsed["k"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("last use = %v", s.lastUsed["k"])
	}
	if r.Dropped() != 0 {
		t.Fatalf("Dropped = %d", r.Dropped())
	}
}

// TestPendingIsCapped keeps the sink down across five minutes with room
// for three rows: the two oldest minutes are dropped, counted and logged.
func TestPendingIsCapped(t *testing.T) {
	s := newSink()
	s.failAll = true
	c := &clock{}
	var logs bytes.Buffer
	r := newRecorder(t, s, c.now, usage.WithMaxPending(3), usage.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for m := range 5 {
		c.set(t0.Add(time.Duration(m) * time.Minute))
		for range m + 1 { // minute m holds m+1 verifications
			r.Record("k", latchkey.CodeValid)
		}
		if err := r.Flush(context.Background()); err == nil {
			t.Fatal("the sink is down, yet Flush succeeded")
		}
	}
	if r.Dropped() != 1+2 {
		t.Fatalf("Dropped = %d, want 3 (minutes 0 and 1)", r.Dropped())
	}
	if !strings.Contains(logs.String(), "dropped the oldest counts") {
		t.Fatalf("nothing logged about the drop: %q", logs.String())
	}
	s.mu.Lock()
	s.failAll = false
	s.mu.Unlock()
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]latchkey.UsageCount{
		{KeyID: "k", Minute: t0.Add(2 * time.Minute), Code: latchkey.CodeValid, Count: 3},
		{KeyID: "k", Minute: t0.Add(3 * time.Minute), Code: latchkey.CodeValid, Count: 4},
		{KeyID: "k", Minute: t0.Add(4 * time.Minute), Code: latchkey.CodeValid, Count: 5},
	})
	if len(s.batches) != 1 || fmt.Sprint(s.batches[0]) != want {
		t.Fatalf("after the sink came back: %v, want %s", s.batches, want)
	}
}

// TestEveryCodeIsCounted records each outcome latchkey.Codes lists, and
// one it does not: every listed code reaches the sink; the other is
// counted as dropped.
func TestEveryCodeIsCounted(t *testing.T) {
	s := newSink()
	r := newRecorder(t, s, func() time.Time { return t0 })
	for _, code := range latchkey.Codes {
		r.Record("k", code)
	}
	r.Record("k", "NO_SUCH_CODE")
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, code := range latchkey.Codes {
		if n := s.totals[rowKey{"k", t0, code}]; n != 1 {
			t.Errorf("%s: count %d, want 1", code, n)
		}
	}
	if len(s.totals) != len(latchkey.Codes) || r.Dropped() != 1 {
		t.Errorf("%d rows, %d dropped; want %d rows, 1 dropped", len(s.totals), r.Dropped(), len(latchkey.Codes))
	}
}

// TestIntervalFlushes leaves flushing to the recorder's goroutine.
func TestIntervalFlushes(t *testing.T) {
	s := newSink()
	r := usage.New(s.write, time.Millisecond, nil)
	defer r.Close(context.Background())
	r.Record("k", latchkey.CodeValid)
	select {
	case <-s.sent:
	case <-time.After(time.Minute): // a guard against hanging, not a speed check
		t.Fatal("nothing was flushed")
	}
	if s.total() != 1 {
		t.Fatalf("flushed %d verifications, want 1", s.total())
	}
}

// runGoroutines counts the recorders' flushing goroutines alive.
func runGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "usage.(*Recorder).run(")
}

// waitRunGoroutines waits until n flushing goroutines are alive. A
// goroutine that has closed its done channel still needs a moment to
// return; the deadline only keeps a leak from hanging the test.
func waitRunGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for runGoroutines() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d flushing goroutines alive, want %d", runGoroutines(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The tests that count flushing goroutines first wait for those of the
// tests before to return: none runs in parallel and each closes its
// recorder, so none is left. Counting at once could count one still
// returning, and then wait for a count its return makes unreachable.

// TestCloseFlushesAndStops checks that Close sends what is left, retrying
// a sink that fails at first, and leaves no goroutine behind.
func TestCloseFlushesAndStops(t *testing.T) {
	waitRunGoroutines(t, 0)
	const before = 0
	s := newSink()
	s.fail = 2
	r := usage.New(s.write, time.Hour, nil)
	waitRunGoroutines(t, before+1)
	for range 10 {
		r.Record("k", latchkey.CodeValid)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.total() != 10 || s.calls != 3 {
		t.Fatalf("after Close: %d verifications in %d calls, want 10 in 3 (two failures, retried)", s.total(), s.calls)
	}
	waitRunGoroutines(t, before)
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// TestCloseGivesUpWithItsContext keeps the sink down: Close returns once
// its context ends, with the sink's error, and still stops the goroutine.
func TestCloseGivesUpWithItsContext(t *testing.T) {
	waitRunGoroutines(t, 0)
	const before = 0
	s := newSink()
	s.failAll = true
	r := usage.New(s.write, time.Hour, nil, usage.WithLogger(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))))
	r.Record("k", latchkey.CodeValid)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); !errors.Is(err, errSinkDown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the sink down: err = %v", err)
	}
	waitRunGoroutines(t, before)
}

func BenchmarkRecord(b *testing.B) {
	r := usage.New(func(context.Context, []latchkey.UsageCount, map[string]time.Time) error { return nil }, time.Hour, nil)
	defer r.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		r.Record("key_0123456789abcdef01234567", latchkey.CodeValid)
	}
}

// BenchmarkRecordParallel is every core recording a key of its own.
func BenchmarkRecordParallel(b *testing.B) {
	r := usage.New(func(context.Context, []latchkey.UsageCount, map[string]time.Time) error { return nil }, time.Hour, nil)
	defer r.Close(context.Background())
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := "key_" + strconv.FormatInt(next.Add(1), 10)
		for pb.Next() {
			r.Record(key, latchkey.CodeValid)
		}
	})
}

// BenchmarkRecordParallelOneKey is every core recording the same key: its
// stripes spread the load over several locks.
func BenchmarkRecordParallelOneKey(b *testing.B) {
	r := usage.New(func(context.Context, []latchkey.UsageCount, map[string]time.Time) error { return nil }, time.Hour, nil)
	defer r.Close(context.Background())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record("hot", latchkey.CodeValid)
		}
	})
}

// TestRecordAtUsesTheGivenTime checks that RecordAt buckets by the time it
// is given, not by the recorder's clock.
func TestRecordAtUsesTheGivenTime(t *testing.T) {
	s := newSink()
	r := newRecorder(t, s, func() time.Time { return t0 })
	at := t0.Add(5*time.Minute + 7*time.Second)
	r.RecordAt("k", latchkey.CodeValid, at)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.totals[rowKey{"k", t0.Add(5 * time.Minute), latchkey.CodeValid}]; n != 1 || !s.lastUsed["k"].Equal(at) {
		t.Fatalf("rows %v, last use %v", s.totals, s.lastUsed["k"])
	}
}

// TestLastUsedIsSentOncePerMinute: a key verified across several flushes
// of one minute has its latest use sent by the first of them only; the
// next minute's use is sent again.
func TestLastUsedIsSentOncePerMinute(t *testing.T) {
	s := newSink()
	c := &clock{}
	r := newRecorder(t, s, c.now)
	flush := func() {
		t.Helper()
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	c.set(t0.Add(5 * time.Second))
	r.Record("k", latchkey.CodeValid)
	flush()
	c.set(t0.Add(50 * time.Second))
	r.Record("k", latchkey.CodeValid)
	flush()
	if got := s.lastUsed["k"]; !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("last use after a second flush in the same minute = %v, want the first, %v", got, t0.Add(5*time.Second))
	}
	if n := s.totals[rowKey{"k", t0, latchkey.CodeValid}]; n != 2 {
		t.Fatalf("count = %d, want 2: counts are sent every flush", n)
	}
	c.set(t0.Add(65 * time.Second))
	r.Record("k", latchkey.CodeValid)
	flush()
	if got := s.lastUsed["k"]; !got.Equal(t0.Add(65 * time.Second)) {
		t.Fatalf("last use in the next minute = %v, want %v", got, t0.Add(65*time.Second))
	}
}
