package sqlite

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// benchDir returns an empty directory for a benchmark's database: in
// $LATCHKEY_BENCH_DIR if set, else the test's temporary directory. What
// synchronous=FULL costs is an fsync per commit, which is free on tmpfs; on
// a machine whose temporary directory is tmpfs (check with df -T), point
// LATCHKEY_BENCH_DIR at a real disk.
func benchDir(b *testing.B) string {
	root := os.Getenv("LATCHKEY_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "latchkey-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// BenchmarkCreateKey measures what durable commits cost management: one key
// created per call of CreateKey, each in its own transaction, on a real
// SQLite file. synchronous=FULL is what Open ships; synchronous=NORMAL, the
// setting before it, is the baseline, measured in the same run.
func BenchmarkCreateKey(b *testing.B) {
	for _, sync := range []synchronous{syncFull, syncNormal} {
		b.Run("synchronous="+string(sync), func(b *testing.B) {
			ctx := b.Context()
			s, err := open(ctx, filepath.Join(benchDir(b), "latchkey.db"), sync)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			// Make sure the level asked for is the one in force, or the
			// comparison means nothing.
			var level string
			if err := s.write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
				b.Fatal(err)
			}
			if want := map[synchronous]string{syncFull: "2", syncNormal: "1"}[sync]; level != want {
				b.Fatalf("PRAGMA synchronous = %s, want %s", level, want)
			}
			now := time.Now().UTC()
			acc := &latchkey.Account{ID: "act_bench", Name: "bench", CreatedAt: now}
			if err := s.CreateAccountWithKey(ctx, acc, benchKey(acc.ID, -1, now)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.CreateKey(ctx, benchKey(acc.ID, i, now), 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// benchKey is the i-th account key of the benchmark, with one secret, shaped
// like the keys the core creates.
func benchKey(accountID string, i int, now time.Time) *latchkey.Key {
	id := fmt.Sprintf("key_%020d", i+1)
	hash := sha256.Sum256([]byte(id)) // an HMAC-SHA256 in real keys: as long, and as unique
	return &latchkey.Key{ID: id, AccountID: accountID, Name: "bench key " + id,
		Policy:    latchkey.Policy{Type: latchkey.KeyTypeSecret},
		Secrets:   []latchkey.Secret{{Hash: hash[:], Sealed: make([]byte, 96), CreatedAt: now}},
		CreatedAt: now, UpdatedAt: now}
}
