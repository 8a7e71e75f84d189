package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// scaleEnv, set to 1, makes the scale benchmarks use a store of a million
// keys. Seeding it takes minutes and about a gigabyte of disk (in
// LATCHKEY_BENCH_DIR, else the temporary directory), so by default the
// large store has 10,000 keys and `go test -bench` stays quick.
const scaleEnv = "LATCHKEY_SCALE"

// scaleKeys is how many keys the large store of the scale benchmarks has.
func scaleKeys() int {
	if os.Getenv(scaleEnv) == "1" {
		return 1_000_000
	}
	return 10_000
}

// bulkInsertKeys writes n account keys shaped like benchKey's (the i-th
// with id key_%020d of i+1 and the SHA-256 of that id as its secret's
// hash) for accountID, batch keys per transaction. It is for seeding large
// benchmark stores only: one commit per key, as CreateKey makes, would take
// an fsync each. It goes through insertKey, as CreateKey does, so the rows
// and indexes are the ones the store makes.
func bulkInsertKeys(ctx context.Context, s *Store, accountID string, n, batch int, now time.Time) error {
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		if err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
			for i := start; i < end; i++ {
				if err := s.insertKey(ctx, tx, benchKey(accountID, i, now)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("insert keys %d to %d: %w", start, end, err)
		}
	}
	return nil
}

// seedScaleStore opens a store in dir holding an account with n keys
// written by bulkInsertKeys, and returns it with each key's secret hash.
func seedScaleStore(b *testing.B, dir string, n int) (*Store, [][]byte) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "latchkey.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	acc := &latchkey.Account{ID: "act_scale", Name: "scale", CreatedAt: now}
	if err := s.CreateAccountWithKey(ctx, acc, benchKey(acc.ID, -1, now)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := bulkInsertKeys(ctx, s, acc.ID, n, 10_000, now); err != nil {
		b.Fatal(err)
	}
	hashes := make([][]byte, n)
	for i := range hashes {
		h := sha256.Sum256(fmt.Appendf(nil, "key_%020d", i+1))
		hashes[i] = h[:]
	}
	if fi, err := os.Stat(filepath.Join(dir, "latchkey.db")); err == nil {
		b.Logf("seeded %d keys in %v; database %d MB", n, time.Since(start).Round(time.Millisecond), fi.Size()>>20)
	}
	return s, hashes
}

// BenchmarkKeyBySecretHashCold measures the store's side of verifying a
// key the verifier has not cached: KeyBySecretHash of a key picked at
// random, in a store of 1,000 keys and in a large one (1,000,000 keys with
// LATCHKEY_SCALE=1, else 10,000). Each lookup is timed and the run reports
// the p50, p99 and largest of them. With a million keys most lookups miss
// SQLite's own page cache (2 MB per connection) and read from the OS's;
// the files were just written, so the OS has them.
func BenchmarkKeyBySecretHashCold(b *testing.B) {
	sizes := []int{1000, scaleKeys()}
	type seeded struct {
		s      *Store
		hashes [][]byte
	}
	stores := map[int]seeded{}
	for _, n := range sizes {
		s, h := seedScaleStore(b, benchDir(b), n)
		stores[n] = seeded{s, h}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			ctx := b.Context()
			st := stores[n]
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				i := rng.IntN(n)
				t := time.Now()
				k, err := st.s.KeyBySecretHash(ctx, st.hashes[i])
				lat = append(lat, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				if want := fmt.Sprintf("key_%020d", i+1); k.ID != want || len(k.Secrets) != 1 {
					b.Fatalf("lookup of %s found %s with %d secrets", want, k.ID, len(k.Secrets))
				}
			}
			reportLatencies(b, lat)
		})
	}
}

// reportLatencies reports the p50, p99 and largest of the latencies, in
// microseconds.
func reportLatencies(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	// The nearest rank: the smallest value that q of the values do not exceed.
	at := func(q float64) time.Duration { return lat[max(0, int(math.Ceil(q*float64(len(lat))))-1)] }
	b.ReportMetric(float64(at(0.50))/1e3, "p50-µs")
	b.ReportMetric(float64(at(0.99))/1e3, "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1])/1e3, "max-µs")
}

// BenchmarkAddUsage measures a usage flush after an interval in which every
// key of the large store (see scaleKeys) was verified: one count row and
// one latest-use time per key, one AddUsage call per op.
func BenchmarkAddUsage(b *testing.B) {
	n := scaleKeys()
	s, _ := seedScaleStore(b, b.TempDir(), n)
	counts := make([]latchkey.UsageCount, n)
	used := make(map[string]time.Time, n)
	minute := time.Now().UTC().Truncate(time.Minute)
	for i := range counts {
		id := fmt.Sprintf("key_%020d", i+1)
		counts[i] = latchkey.UsageCount{KeyID: id, Minute: minute, Code: latchkey.CodeValid, Count: 3}
		used[id] = minute.Add(time.Duration(i) * time.Microsecond)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := s.AddUsage(ctx, counts, used); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	got, err := s.Usage(ctx, counts[n-1].KeyID, minute, minute.Add(time.Minute))
	if err != nil || len(got) != 1 || got[0].Count != 3*int64(b.N) {
		b.Fatalf("usage of the last key: %v, %v; want one row of %d", got, err, 3*b.N)
	}
}
