package sdk

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestVerdictCacheBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newVerdictCache(CacheOptions{TTL: 10 * time.Second, MaxEntries: 8, now: func() time.Time { return now }})
	valid := &VerifyResult{Valid: true, Code: CodeValid, KeyID: "key_1"}

	// Entries that are about to expire, then live ones: the expired go first.
	for i := range 8 {
		c.put(c.key(fmt.Sprint("old", i), "", nil, nil), valid)
	}
	now = now.Add(11 * time.Second)
	var live [][32]byte
	for i := range 6 {
		k := c.key(fmt.Sprint("new", i), "", nil, nil)
		live = append(live, k)
		c.put(k, valid)
		if n := c.len(); n > 8 {
			t.Fatalf("%d entries, bound 8", n)
		}
	}
	for i, k := range live {
		if _, ok := c.get(k); !ok {
			t.Fatalf("live entry %d was evicted while expired ones remained", i)
		}
	}
	// Full of live entries: arbitrary ones go, the bound holds.
	for i := range 100 {
		c.put(c.key(fmt.Sprint("more", i), "", nil, nil), valid)
		if n := c.len(); n > 8 {
			t.Fatalf("%d entries, bound 8", n)
		}
	}
}

func TestVerdictCacheKeys(t *testing.T) {
	c := newVerdictCache(CacheOptions{TTL: time.Second})
	// Every part counts, and parts cannot run into one another.
	keys := map[[32]byte]string{}
	for name, k := range map[string][32]byte{
		"base":         c.key("sk_1", "203.0.113.1", []string{"app"}, []string{"a", "b"}),
		"other cred":   c.key("sk_2", "203.0.113.1", []string{"app"}, []string{"a", "b"}),
		"other ip":     c.key("sk_1", "203.0.113.2", []string{"app"}, []string{"a", "b"}),
		"other apps":   c.key("sk_1", "203.0.113.1", nil, []string{"a", "b"}),
		"other perms":  c.key("sk_1", "203.0.113.1", []string{"app"}, []string{"ab"}),
		"shifted":      c.key("sk_1203.0.113.1", "", []string{"app"}, []string{"a", "b"}),
		"apps↔perms":   c.key("sk_1", "203.0.113.1", []string{"app", "a"}, []string{"b"}),
		"perms ↔ apps": c.key("sk_1", "203.0.113.1", []string{}, []string{"app", "a", "b"}),
	} {
		if other, dup := keys[k]; dup {
			t.Fatalf("%s and %s share a key", name, other)
		}
		keys[k] = name
	}
	// Keyed by a secret HMAC key per cache, and never by the credential.
	d := newVerdictCache(CacheOptions{TTL: time.Second})
	if c.key("sk_1", "", nil, nil) == d.key("sk_1", "", nil, nil) {
		t.Fatal("two caches derive the same entry key")
	}
	c.put(c.key("sk_live_plaintext", "", nil, nil), &VerifyResult{Valid: true, Code: CodeValid})
	if strings.Contains(fmt.Sprintf("%v", c.entries), "sk_live_plaintext") {
		t.Fatal("the cache holds the credential")
	}
	// Handed-out verdicts are copies.
	k := c.key("sk_3", "", nil, nil)
	c.put(k, &VerifyResult{Valid: true, Code: CodeValid, Permissions: []string{"a"}, Metadata: map[string]any{"m": "1"}})
	got, _ := c.get(k)
	got.Permissions[0], got.Metadata["m"] = "changed", "changed"
	again, _ := c.get(k)
	if again.Permissions[0] != "a" || again.Metadata["m"] != "1" {
		t.Fatal("a holder changed the cached verdict")
	}
}

func TestNormalizeIP(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.1": "203.0.113.1", " 203.0.113.1 ": "203.0.113.1", "::ffff:203.0.113.1": "203.0.113.1",
		"fe80::1%eth0": "fe80::1", "2001:db8::1": "2001:db8::1", "": "", "example.com": "", "203.0.113.1:80": "",
	} {
		if got := normalizeIP(in); got != want {
			t.Errorf("normalizeIP(%q) = %q, want %q", in, got, want)
		}
	}
}
