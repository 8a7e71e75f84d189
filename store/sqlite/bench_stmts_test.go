package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// The benchmarks in this file measure the CPU of the statements the store
// prepares once (see stmts). They run at synchronous=NORMAL, so that the
// fsync of a commit at FULL, which costs the same either way and varies
// with the disk, does not bury what they measure.

// benchStore opens a store at synchronous=NORMAL with one account.
func benchStore(b *testing.B) (*Store, *latchkey.Account) {
	b.Helper()
	s, err := open(b.Context(), filepath.Join(benchDir(b), "latchkey.db"), syncNormal)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	acc := &latchkey.Account{ID: "act_bench", Name: "bench", CreatedAt: now}
	if err := s.CreateAccountWithKey(b.Context(), acc, benchKey(acc.ID, -1, now)); err != nil {
		b.Fatal(err)
	}
	return s, acc
}

// benchEvent is an audit event shaped like the one the core writes with a
// key it creates.
func benchEvent(i int, k *latchkey.Key) *latchkey.AuditEvent {
	return &latchkey.AuditEvent{ID: fmt.Sprintf("01J%023d", i), Time: k.CreatedAt, AccountID: k.AccountID,
		Actor: "key_00000000000000000000", Action: "key.create", TargetType: "key", TargetID: k.ID,
		ClientIP: "192.0.2.1", RequestID: "req-bench", Surface: "native", Outcome: latchkey.OutcomeSuccess}
}

// seedKeys creates n keys of acc, with their audit events, in one
// transaction.
func seedKeys(b *testing.B, s *Store, acc *latchkey.Account, n int, now time.Time) []*latchkey.Key {
	b.Helper()
	keys := make([]*latchkey.Key, n)
	events := make([]*latchkey.AuditEvent, n)
	for i := range keys {
		keys[i] = benchKey(acc.ID, i, now)
		events[i] = benchEvent(i, keys[i])
	}
	if err := s.CreateKeys(b.Context(), keys, events); err != nil {
		b.Fatal(err)
	}
	return keys
}

// BenchmarkCreateKeyAudited is POST /v1/keys's store call: CreateKey with
// the audit event its context carries, one transaction per key.
func BenchmarkCreateKeyAudited(b *testing.B) {
	s, acc := benchStore(b)
	now := time.Now().UTC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := benchKey(acc.ID, i, now)
		ctx := latchkey.WithAuditEvent(b.Context(), benchEvent(i, k))
		if err := s.CreateKey(ctx, k, 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateKeys is an import's store call: 100 keys with their audit
// events per CreateKeys, in one transaction.
func BenchmarkCreateKeys(b *testing.B) {
	const batch = 100
	s, acc := benchStore(b)
	now := time.Now().UTC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		keys := make([]*latchkey.Key, batch)
		events := make([]*latchkey.AuditEvent, batch)
		for j := range keys {
			keys[j] = benchKey(acc.ID, i, now)
			events[j] = benchEvent(i, keys[j])
			i++
		}
		if err := s.CreateKeys(b.Context(), keys, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/key")
}

// BenchmarkKeyByID is Key, the lookup by id (a Basic credential names its
// key), on a store of 1,000 keys.
func BenchmarkKeyByID(b *testing.B) {
	s, acc := benchStore(b)
	now := time.Now().UTC()
	const n = 1000
	keys := seedKeys(b, s, acc, n, now)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k, err := s.Key(b.Context(), keys[i%n].ID)
		if err != nil || len(k.Secrets) != 1 {
			b.Fatalf("Key(%s) = %v, %v", keys[i%n].ID, k, err)
		}
		i++
	}
}

// BenchmarkAddUsageSmall is a usage flush as the recorder makes them on a
// server with a few busy keys: 20 count rows and 20 latest uses.
func BenchmarkAddUsageSmall(b *testing.B) {
	s, acc := benchStore(b)
	now := time.Now().UTC()
	const n = 20
	keys := seedKeys(b, s, acc, n, now)
	minute := now.Truncate(time.Minute)
	counts := make([]latchkey.UsageCount, n)
	used := make(map[string]time.Time, n)
	for i, k := range keys {
		counts[i] = latchkey.UsageCount{KeyID: k.ID, Minute: minute, Code: latchkey.CodeValid, Count: 1}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for _, k := range keys {
			used[k.ID] = minute.Add(time.Duration(i) * time.Microsecond)
		}
		if err := s.AddUsage(b.Context(), counts, used); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
