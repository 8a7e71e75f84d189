package ulid

import (
	"strings"
	"testing"
	"time"
)

func TestNewSortsByTime(t *testing.T) {
	a := New()
	time.Sleep(2 * time.Millisecond)
	b := New()
	if len(a) != 26 || len(b) != 26 || a >= b {
		t.Errorf("New() = %q then %q, want two 26-character ids in order", a, b)
	}
	for _, c := range a + b {
		if !strings.ContainsRune(crockford, c) {
			t.Fatalf("New() has %q, not in the Crockford alphabet", c)
		}
	}
}

func TestMonotonicWithinAMillisecondAndBackwards(t *testing.T) {
	var m Monotonic
	t0 := time.Now()
	prev := m.New(t0)
	for i := range 1000 {
		at := t0
		if i%3 == 0 {
			at = t0.Add(-time.Second) // a clock that stepped back
		}
		next := m.New(at)
		if next <= prev {
			t.Fatalf("id %d = %q, not after %q", i, next, prev)
		}
		prev = next
	}
}

func TestEncodeKnownValue(t *testing.T) {
	// The specification's example: time 1469918176385 with all-zero
	// randomness starts 01ARYZ6S41.
	got := encode(1469918176385, [10]byte{})
	if want := "01ARYZ6S410000000000000000"; got != want {
		t.Errorf("encode = %q, want %q", got, want)
	}
}
