package core

import (
	"regexp"
	"testing"
	"time"
)

func TestNewULID(t *testing.T) {
	shape := regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Z]{25}$`)
	prev := ""
	for range 1000 {
		id := NewULID()
		if !shape.MatchString(id) {
			t.Fatalf("NewULID() = %q, not a ULID", id)
		}
		if id == prev {
			t.Fatal("NewULID repeated itself")
		}
		prev = id
	}
	// The first 10 characters are the time: ids made later sort later.
	a := NewULID()
	time.Sleep(2 * time.Millisecond)
	if b := NewULID(); b[:10] <= a[:10] {
		t.Fatalf("time part %q then %q does not increase", a[:10], b[:10])
	}
}

func TestNewObjectID(t *testing.T) {
	for range 100 {
		if id := NewObjectID(); !IsObjectID(id) {
			t.Fatalf("NewObjectID() = %q", id)
		}
	}
	for _, bad := range []string{"", "6B029F47B2742937A88A2342", "6b029f47b2742937a88a234", "6b029f47b2742937a88a2342x", "6b029f47b2742937a88a234g"} {
		if IsObjectID(bad) {
			t.Errorf("IsObjectID(%q) = true", bad)
		}
	}
}
