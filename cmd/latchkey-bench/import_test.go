package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/importhash"
)

// TestImportKeysGenerated checks the generated file's keys: the mix, ids
// and secrets unique, every secret one the import takes, every hash one it
// reads and that matches the key's secret.
func TestImportKeysGenerated(t *testing.T) {
	o := &importOptions{keys: 3000, saltedPool: 3, bcryptCost: 4, argonMemory: 64, seed: 7}
	keys, err := genImportKeys(o)
	if err != nil {
		t.Fatal(err)
	}
	var counts [numImportKinds]int
	ids, secrets := map[string]bool{}, map[string]bool{}
	for i := range keys {
		k := &keys[i]
		counts[k.kind]++
		if ids[k.line.ID] {
			t.Fatalf("id %s twice", k.line.ID)
		}
		ids[k.line.ID] = true
		if !auth.ForeignSecretShape(k.secret) {
			t.Fatalf("key %d: secret %q is not one the import takes", i, k.secret)
		}
		switch k.kind {
		case kindPlain:
			if k.line.Secret != k.secret || k.line.Hash != "" {
				t.Fatalf("key %d: plaintext key without its secret", i)
			}
		default:
			alg, digest, err := importhash.Parse(k.line.HashAlgorithm, k.line.Hash)
			if err != nil || k.line.Secret != "" {
				t.Fatalf("key %d (%s): %v", i, importKindNames[k.kind], err)
			}
			if (k.kind == kindSHAHex || k.kind == kindSHABase64 || i < 200) && !importhash.Match(alg, digest, k.secret) {
				t.Fatalf("key %d (%s): the hash does not match the secret", i, importKindNames[k.kind])
			}
		}
		if k.kind != kindBcrypt && k.kind != kindArgon2 {
			if secrets[k.secret] {
				t.Fatalf("key %d: secret twice", i)
			}
			secrets[k.secret] = true
		}
	}
	for kind := range kindNative {
		want := o.keys * importMix[kind] / 1000
		if d := counts[kind] - want; d < -want/3-10 || d > want/3+10 {
			t.Errorf("%s: %d keys, want about %d", importKindNames[kind], counts[kind], want)
		}
	}
	again, _ := genImportKeys(o)
	if again[100].line.ID != keys[100].line.ID || again[100].secret != keys[100].secret {
		t.Error("the same seed made other keys")
	}
}

// TestImportSmall runs the scenario end to end on a few hundred keys: the
// real server and the real latchkey import. It asserts what was made,
// skipped and verified, never a time.
func TestImportSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("the real server and CLI, built for the test")
	}
	bin, err := latchkeyForTests()
	if err != nil {
		t.Fatal(err)
	}
	o := &importOptions{keys: 400, rounds: 1, baselineKeys: 30, batch: 150, sample: 4, saltedPool: 3, bcryptCost: 4, argonMemory: 64,
		latchkeyBin: bin, profileSecs: 1, seed: 1, quiet: true}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := importBench(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.print(&b)
	t.Logf("\n%s", b.String())
	if rep.invalid != "" {
		t.Fatalf("not valid: %s", rep.invalid)
	}
	if len(rep.sqlite) != 1 {
		t.Fatalf("%d SQLite rounds, want 1", len(rep.sqlite))
	}
	r := rep.sqlite[0]
	if r.first.created != o.keys || r.again.skipped != o.keys {
		t.Errorf("import created %d, rerun skipped %d; want %d each", r.first.created, r.again.skipped, o.keys)
	}
	if want := (o.keys + o.batch - 1) / o.batch; r.first.batchN != want || r.again.batchN != want {
		t.Errorf("batches in the server's log: %d and %d, want %d", r.first.batchN, r.again.batchN, want)
	}
	if r.c1.n != o.baselineKeys || r.c1.failed != 0 || r.c16.failed != 0 {
		t.Errorf("baseline: %d made, %d and %d failed", r.c1.n, r.c1.failed, r.c16.failed)
	}
	for kind := range numImportKinds {
		// Salted kinds: the enabled keys among the first -salted-pool.
		want := o.sample
		if kind == kindBcrypt || kind == kindArgon2 {
			want = min(o.sample, o.saltedPool)
		}
		if n := r.use.n[kind]; n < 1 || n > want {
			t.Errorf("first use of %s keys: %d verified, want 1 to %d", importKindNames[kind], n, want)
		}
	}
	if !strings.Contains(b.String(), "| **median** |") {
		t.Error("the report has no medians")
	}
}

func TestImportOptions(t *testing.T) {
	o, err := parseImportOptions([]string{"-server-cpus", "", "-client-cpus", ""})
	if err != nil {
		t.Fatal(err)
	}
	if o.keys != 100000 || o.batch != 500 || o.baselineKeys != 5000 || o.bcryptCost != 10 || o.pin.taskset != "" {
		t.Errorf("defaults: %+v", o)
	}
	for _, args := range [][]string{{"-keys", "0"}, {"-batch", "1001"}, {"-bcrypt-cost", "15"}, {"-rounds", "0"}, {"-argon2-memory", "4"}, {"x"}} {
		if _, err := parseImportOptions(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
