package postgres

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
)

// scaleKeys is how many keys the large store of the scale benchmark has:
// a million with LATCHKEY_SCALE=1 (seeding takes about a minute), else
// 10,000, so that `go test -bench` stays quick. As in store/sqlite.
func scaleKeys() int {
	if os.Getenv("LATCHKEY_SCALE") == "1" {
		return 1_000_000
	}
	return 10_000
}

// seedKeys fills a fresh database with an account and n keys, the i-th
// with id key_%020d of i+1, one secret each whose hash is the SHA-256 of
// that id: in SQL, server-side, since a million CreateKey calls would take
// a commit each. The rows are shaped as insertKey writes them.
func seedKeys(b *testing.B, n int) *Store {
	ctx := context.Background()
	dsn := pgtest.DSN(b)
	s, err := Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.CreateAccountWithKey(ctx, &latchkey.Account{ID: "act_scale", Name: "scale", CreatedAt: now},
		newTestKey(latchkey.KeyOwner{AccountID: "act_scale"}, 0)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO keys (id, account_id, name, type, created_at, updated_at)
			SELECT format('key_%s', lpad(i::text, 20, '0')), 'act_scale', 'scale', 'secret', $1, $1
			FROM generate_series(1, $2) AS i`,
		`INSERT INTO key_secrets (hash, key_id, sealed, created_at)
			SELECT sha256(convert_to(format('key_%s', lpad(i::text, 20, '0')), 'UTF8')),
				format('key_%s', lpad(i::text, 20, '0')), '\x00'::bytea, $1
			FROM generate_series(1, $2) AS i`,
		`ANALYZE keys`, `ANALYZE key_secrets`,
	} {
		args := []any{now, n}
		if q[0] == 'A' {
			args = nil
		}
		if _, err := s.pool.Exec(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d keys in %v", n, time.Since(start).Round(time.Millisecond))
	return s
}

// BenchmarkKeyBySecretHashCold measures the store's side of verifying a
// key the verifier has not cached, KeyBySecretHash of a key picked at
// random, with 1,000 keys and with the large store (see scaleKeys), and
// reports the p50, p99 and largest lookup.
//
//	LATCHKEY_SCALE=1 go test -run '^$' -bench KeyBySecretHashCold -count 5 -timeout 30m ./store/postgres/
func BenchmarkKeyBySecretHashCold(b *testing.B) {
	for _, n := range []int{1000, scaleKeys()} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s := seedKeys(b, n)
			ctx := b.Context()
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			var lat []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				i := rng.IntN(n) + 1
				h := sha256.Sum256(fmt.Appendf(nil, "key_%020d", i))
				t := time.Now()
				k, err := s.KeyBySecretHash(ctx, h[:])
				lat = append(lat, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				if want := fmt.Sprintf("key_%020d", i); k.ID != want || len(k.Secrets) != 1 {
					b.Fatalf("lookup of %s found %s with %d secrets", want, k.ID, len(k.Secrets))
				}
			}
			slices.Sort(lat)
			at := func(q float64) time.Duration { return lat[max(0, int(math.Ceil(q*float64(len(lat))))-1)] }
			b.ReportMetric(float64(at(0.50))/1e3, "p50-µs")
			b.ReportMetric(float64(at(0.99))/1e3, "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1])/1e3, "max-µs")
		})
	}
}
