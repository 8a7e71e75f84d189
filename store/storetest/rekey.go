package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// The Rekey tests join the suite here, so that the contract of Store.Rekey
// lives in one file.
func init() {
	suite = append(suite, []contractTest{
		{"Rekey/BatchesPassEveryValueOnce", testRekeyBatches},
		{"Rekey/AllAtOnce", testRekeyAllAtOnce},
		{"Rekey/ExceptLeavesValuesOut", testRekeyExcept},
		{"Rekey/FnErrorChangesNothing", testRekeyFnError},
		{"Rekey/RequireAndMeta", testRekeyRequireAndMeta},
		{"Rekey/RequireUnsetClaimsOnce", testRekeyRequireUnsetClaimsOnce},
		{"Rekey/BadCursorAndLimit", testRekeyBadInput},
		{"Rekey/RetiredSealRefused", testRekeyRetiredSealRefused},
		{"Rekey/LastCallLeavesNoValueBehind", testRekeyLastCallLeavesNothing},
		{"Rekey/AuditEvent", testRekeyAuditEvent},
	}...)
}

// Values in these tests are "sealed" under a made-up key: its header (of
// latchkey.SealHeaderLen bytes) and the plaintext. rekeyTo moves a value to
// another header and gives a key's secret a hash that names the header.
func rekeyHeader(name string) []byte {
	h := make([]byte, latchkey.SealHeaderLen)
	h[0] = 0x02
	copy(h[1:], name)
	return h
}

func sealedUnder(h []byte, plain string) []byte { return append(slices.Clone(h), plain...) }

func hashUnder(h []byte, plain string) []byte {
	sum := sha256.Sum256(append(slices.Clone(h), plain...))
	return sum[:]
}

func rekeyTo(to []byte) func(v *latchkey.SealedValue) error {
	return func(v *latchkey.SealedValue) error {
		plain := string(v.Sealed[latchkey.SealHeaderLen:])
		v.Sealed = sealedUnder(to, plain)
		if v.Kind == "key" {
			v.Hash = hashUnder(to, plain)
		}
		return nil
	}
}

// rekeyFixture holds values sealed under header "old": an account key with
// two secrets, an integration key, two webhooks and two meta values.
type rekeyFixture struct {
	keys     []*latchkey.Key
	app      *latchkey.App
	in       *latchkey.Integration
	plain    map[string]string // the plaintext of each value, by "kind:id[:n]"
	metaName []string
}

func newRekeyFixture(t *testing.T, s latchkey.Store, old []byte) *rekeyFixture {
	t.Helper()
	f := &rekeyFixture{plain: map[string]string{}}
	a := newAccount()
	k := newKey(accountOwner(a.ID))
	k.Secrets = []latchkey.Secret{
		{Hash: hashUnder(old, k.ID+"-1"), Sealed: sealedUnder(old, k.ID+"-1"), CreatedAt: k.CreatedAt},
		{Hash: hashUnder(old, k.ID+"-2"), Sealed: sealedUnder(old, k.ID+"-2"), CreatedAt: k.CreatedAt.Add(time.Microsecond)},
	}
	if err := s.CreateAccountWithKey(t.Context(), a, k); err != nil {
		t.Fatal(err)
	}
	f.app = createApp(t, s, a.ID)
	in := newIntegration(f.app.ID, latchkey.IntegrationTypeCustom)
	in.Webhooks = []latchkey.Webhook{newWebhook(1), newWebhook(2)}
	for i := range in.Webhooks {
		in.Webhooks[i].SealedSecret = sealedUnder(old, "webhook-"+in.Webhooks[i].ID)
	}
	f.in = storeIntegration(t, s, in)
	ik := newKey(integrationOwner(f.app, f.in))
	ik.Secrets[0].Hash, ik.Secrets[0].Sealed = hashUnder(old, ik.ID), sealedUnder(old, ik.ID)
	storeKey(t, s, ik, 0)
	f.keys = []*latchkey.Key{k, ik}
	f.metaName = []string{"sealed_a", "sealed_b"}
	for _, name := range f.metaName {
		if _, err := s.InitMeta(t.Context(), name, sealedUnder(old, "meta-"+name)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// values returns every sealed value of the fixture as the store has it,
// labelled "kind:id" (a key's secrets by their plaintext).
func (f *rekeyFixture) values(t *testing.T, s latchkey.Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range f.keys {
		got, err := s.Key(t.Context(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range got.Secrets {
			out["key:"+string(sec.Sealed[latchkey.SealHeaderLen:])] = sec.Sealed
		}
	}
	in, err := s.Integration(t.Context(), f.app.ID, f.in.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range in.Webhooks {
		out["webhook:"+w.ID] = w.SealedSecret
	}
	for _, name := range f.metaName {
		v, err := s.Meta(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		out["meta:"+name] = v
	}
	return out
}

// wantAllUnder checks that every value of the fixture is sealed under h,
// and that every key is found by its secrets' hashes under h, and not by
// those under notH.
func (f *rekeyFixture) wantAllUnder(t *testing.T, s latchkey.Store, h, notH []byte) {
	t.Helper()
	vals := f.values(t, s)
	if len(vals) != 7 {
		t.Fatalf("the fixture holds %d values, want 7", len(vals))
	}
	for name, v := range vals {
		if !bytes.HasPrefix(v, h) {
			t.Errorf("%s = %q, want it under %q", name, v, h)
		}
	}
	for _, k := range f.keys {
		got, err := s.Key(t.Context(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range got.Secrets {
			plain := string(sec.Sealed[latchkey.SealHeaderLen:])
			wantKeyIDByHash(t, s, hashUnder(h, plain), k.ID)
			if _, err := s.KeyBySecretHash(t.Context(), hashUnder(notH, plain)); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
				t.Errorf("KeyBySecretHash(the old hash of %s) error = %v, want ENOTFOUND", plain, err)
			}
		}
	}
}

func wantKeyIDByHash(t *testing.T, s latchkey.Store, hash []byte, id string) {
	t.Helper()
	if got, err := s.KeyBySecretHash(t.Context(), hash); err != nil || got.ID != id {
		t.Errorf("KeyBySecretHash(%x) = %v, %v; want key %s", hash, got, err, id)
	}
}

func testRekeyBatches(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	for _, limit := range []int{1, 2, 3, 100} {
		from, to := old, next
		if limit%2 == 0 {
			from, to = next, old // move them back, so that each limit has work
		}
		seen := map[string]int{}
		after, calls := "", 0
		for {
			var batch int
			fn := rekeyTo(to)
			next, err := s.Rekey(t.Context(), latchkey.RekeyBatch{
				After: after, Limit: limit, MetaNames: append(f.metaName, "never_set"),
				Fn: func(v *latchkey.SealedValue) error {
					batch++
					if !bytes.HasPrefix(v.Sealed, from) {
						return nil // a value this pass moved already, met again under its new hash
					}
					seen[v.Kind+":"+string(v.Sealed[latchkey.SealHeaderLen:])]++
					if v.Kind == "key" && !bytes.Equal(v.Hash, hashUnder(from, string(v.Sealed[latchkey.SealHeaderLen:]))) {
						t.Errorf("Rekey passed %s with hash %x, not the stored one", v.ID, v.Hash)
					}
					return fn(v)
				},
			})
			if err != nil {
				t.Fatalf("limit %d: Rekey(after %q) error = %v", limit, after, err)
			}
			if batch > limit {
				t.Errorf("limit %d: a batch passed %d values", limit, batch)
			}
			if calls++; calls > 50 {
				t.Fatalf("limit %d: Rekey has not finished a pass after 50 calls", limit)
			}
			if next == "" {
				break
			}
			after = next
		}
		if len(seen) != 7 {
			t.Errorf("limit %d: Rekey passed %d values, want all 7: %v", limit, len(seen), seen)
		}
		for name, n := range seen {
			if n != 1 {
				t.Errorf("limit %d: Rekey passed %s %d times, want once", limit, name, n)
			}
		}
		f.wantAllUnder(t, s, to, from)
	}
}

func testRekeyAllAtOnce(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	n := 0
	fn := rekeyTo(next)
	cursor, err := s.Rekey(t.Context(), latchkey.RekeyBatch{MetaNames: f.metaName, Fn: func(v *latchkey.SealedValue) error {
		n++
		return fn(v)
	}})
	if err != nil || cursor != "" || n != 7 {
		t.Fatalf("Rekey(Limit 0) = %q, %v after %d values; want \"\", nil after all 7", cursor, err, n)
	}
	f.wantAllUnder(t, s, next, old)
}

func testRekeyExcept(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	// Half the values are already under next: two of the three secrets, a
	// webhook and a meta value.
	_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{MetaNames: f.metaName, Fn: func(v *latchkey.SealedValue) error {
		switch {
		case v.Kind == "key" && strings.HasSuffix(string(v.Sealed), "-1"),
			v.Kind == "webhook" && v.ID == f.in.Webhooks[0].ID,
			v.Kind == "meta" && v.ID == f.metaName[0]:
			return rekeyTo(next)(v)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var passed []string
	for _, limit := range []int{0, 1} {
		passed = passed[:0]
		after := ""
		for {
			cursor, err := s.Rekey(t.Context(), latchkey.RekeyBatch{After: after, Limit: limit, Except: next, MetaNames: f.metaName,
				Fn: func(v *latchkey.SealedValue) error {
					if bytes.HasPrefix(v.Sealed, next) {
						t.Errorf("Rekey passed %s:%s, which begins with Except", v.Kind, v.ID)
					}
					passed = append(passed, v.Kind+":"+v.ID)
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			if cursor == "" {
				break
			}
			after = cursor
		}
		want := []string{"key:" + f.keys[0].ID, "key:" + f.keys[1].ID, "webhook:" + f.in.Webhooks[1].ID, "meta:" + f.metaName[1]}
		slices.Sort(passed)
		slices.Sort(want)
		if !slices.Equal(passed, want) {
			t.Errorf("limit %d: Rekey with Except passed %v, want %v", limit, passed, want)
		}
	}
}

func testRekeyFnError(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	before := f.values(t, s)
	boom := errors.New("does not open")
	calls := 0
	fn := rekeyTo(next)
	for _, limit := range []int{0, 5} {
		calls = 0
		_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Limit: limit, MetaNames: f.metaName,
			SetMeta: map[string][]byte{"marker": []byte("x")},
			Fn: func(v *latchkey.SealedValue) error {
				if calls++; calls == 4 {
					return boom
				}
				return fn(v)
			}})
		if !errors.Is(err, boom) {
			t.Fatalf("limit %d: Rekey error = %v, want Fn's", limit, err)
		}
	}
	for name, got := range f.values(t, s) {
		if !bytes.Equal(got, before[name]) {
			t.Errorf("after a failed Rekey, %s = %q, want it unchanged", name, got)
		}
	}
	if _, err := s.Meta(t.Context(), "marker"); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Errorf("a failed Rekey set its meta value: %v", err)
	}
}

func testRekeyRequireAndMeta(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	before := f.values(t, s)
	if _, err := s.InitMeta(t.Context(), "phase", []byte("one")); err != nil {
		t.Fatal(err)
	}
	for _, require := range []map[string][]byte{
		{"phase": []byte("two")},
		{"phase": nil},
		{"phase": []byte("one"), "absent": []byte("x")},
	} {
		_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Require: require, Fn: rekeyTo(next), MetaNames: f.metaName,
			SetMeta: map[string][]byte{"phase": []byte("three")}, DeleteMeta: []string{"sealed_a"}})
		wantErr(t, fmt.Sprintf("Rekey(Require %q)", require), err, latchkey.ECONFLICT, "meta")
	}
	for name, got := range f.values(t, s) {
		if !bytes.Equal(got, before[name]) {
			t.Errorf("after a refused Rekey, %s = %q, want it unchanged", name, got)
		}
	}
	if v, _ := s.Meta(t.Context(), "phase"); string(v) != "one" {
		t.Errorf("after a refused Rekey, phase = %q, want one", v)
	}

	// Met, the requirements let the values and the meta changes through,
	// in one transaction; without Fn, only the meta changes.
	_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Require: map[string][]byte{"phase": []byte("one"), "absent": nil},
		SetMeta: map[string][]byte{"phase": []byte("two"), "new": {}}, DeleteMeta: []string{"sealed_b", "never_set"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(t.Context(), "phase"); string(v) != "two" || err != nil {
		t.Errorf("phase = %q, %v; want two", v, err)
	}
	if v, err := s.Meta(t.Context(), "new"); len(v) != 0 || err != nil {
		t.Errorf("new = %q, %v; want empty", v, err)
	}
	if _, err := s.Meta(t.Context(), "sealed_b"); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Errorf("Rekey(DeleteMeta sealed_b): Meta error = %v, want ENOTFOUND", err)
	}
	f.metaName = f.metaName[:1]
	for name, got := range f.values(t, s) {
		if !bytes.Equal(got, before[name]) {
			t.Errorf("Rekey without Fn changed %s", name)
		}
	}
	_, err = s.Rekey(t.Context(), latchkey.RekeyBatch{Require: map[string][]byte{"phase": []byte("two")}, Fn: rekeyTo(next),
		MetaNames: f.metaName, SetMeta: map[string][]byte{"phase": []byte("done")}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Meta(t.Context(), "phase"); string(v) != "done" {
		t.Errorf("phase = %q, want done", v)
	}
	for name, got := range f.values(t, s) {
		if !bytes.HasPrefix(got, next) {
			t.Errorf("%s = %q, want it re-keyed", name, got)
		}
	}
}

// testRekeyRequireUnsetClaimsOnce: of processes that all require a meta
// value unset and set it, at once, exactly one succeeds; the value is
// that one's.
func testRekeyRequireUnsetClaimsOnce(t *testing.T, s latchkey.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Rekey(t.Context(), latchkey.RekeyBatch{Require: map[string][]byte{"claim": nil},
				SetMeta: map[string][]byte{"claim": fmt.Appendf(nil, "%d", i)}})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("both %d and %d claimed the value", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, "Rekey(a claim already made)", err, latchkey.ECONFLICT, "meta")
		}
	}
	if v, err := s.Meta(t.Context(), "claim"); err != nil || string(v) != fmt.Sprint(winner) {
		t.Errorf("claim = %q, %v; want the winner's, %d", v, err, winner)
	}
}

func testRekeyBadInput(t *testing.T, s latchkey.Store) {
	newRekeyFixture(t, s, rekeyHeader("old"))
	nop := func(*latchkey.SealedValue) error { return nil }
	for _, after := range []string{"x:1", "k:not hex"} {
		_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{After: after, Limit: 1, Fn: nop})
		wantErr(t, fmt.Sprintf("Rekey(After %q)", after), err, latchkey.EINVALID, "")
	}
	_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Limit: -1, Fn: nop})
	wantErr(t, "Rekey(Limit -1)", err, latchkey.EINVALID, "")
}

// testRekeyRetiredSealRefused: once the meta value RetiredSealMeta(h) is
// set, a key secret or webhook secret sealed under h is refused, whether
// added or changed; others are not.
func testRekeyRetiredSealRefused(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	// The values under old are moved first: a rotation retires a key only
	// once nothing is sealed under it.
	if _, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Fn: rekeyTo(next), MetaNames: f.metaName,
		SetMeta: map[string][]byte{latchkey.RetiredSealMeta(old): []byte("retired")}}); err != nil {
		t.Fatal(err)
	}
	refused := func(call string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), latchkey.RetiredSealMessage) {
			t.Errorf("%s under a retired key: error = %v, want one saying %q", call, err, latchkey.RetiredSealMessage)
		}
	}
	// Create a key, create an account with its key, roll a key.
	k := newKey(integrationOwner(f.app, f.in))
	k.Secrets[0].Sealed = sealedUnder(old, k.ID)
	refused("CreateKey", s.CreateKey(t.Context(), k, 0))
	wantNoKey(t, s, k)
	a := newAccount()
	ak := newKey(accountOwner(a.ID))
	ak.Secrets[0].Sealed = sealedUnder(old, ak.ID)
	refused("CreateAccountWithKey", s.CreateAccountWithKey(t.Context(), a, ak))
	roll := newSecret("rolled", now())
	roll.Sealed = sealedUnder(old, "rolled")
	refused("RollKey", s.RollKey(t.Context(), f.keys[1].ID, roll, nil))
	in := newIntegration(f.app.ID, latchkey.IntegrationTypeCustom)
	in.Webhooks[0].SealedSecret = sealedUnder(old, "webhook")
	refused("CreateIntegration", s.CreateIntegration(t.Context(), in))
	// A rekey that would move a value back under the retired key.
	_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Fn: rekeyTo(old)})
	refused("Rekey", err)
	f.wantAllUnder(t, s, next, old)

	// Under the next key, or without a header (values sealed before
	// headers), all goes through.
	for _, sealed := range [][]byte{sealedUnder(next, "fine"), []byte("legacy value without a header")} {
		k := newKey(integrationOwner(f.app, f.in))
		k.Secrets[0].Sealed = sealed
		storeKey(t, s, k, 0)
		in := newIntegration(f.app.ID, latchkey.IntegrationTypeCustom)
		in.Webhooks[0].SealedSecret = sealed
		storeIntegration(t, s, in)
	}
	roll.Sealed = sealedUnder(next, "rolled")
	if err := s.RollKey(t.Context(), f.keys[1].ID, roll, nil); err != nil {
		t.Errorf("RollKey under the next key: %v", err)
	}
}

// testRekeyLastCallLeavesNoValueBehind runs a rotation's passes while
// writers keep adding keys and webhooks sealed under the old key, as
// servers that have not heard of the rotation yet do: once the last call
// (Limit 0, which also retires the old key) returns, no value is left under
// the old key, and every writer's value was either moved by a pass or
// refused.
func testRekeyLastCallLeavesNothing(t *testing.T, s latchkey.Store) {
	old, next := rekeyHeader("old"), rekeyHeader("next")
	f := newRekeyFixture(t, s, old)
	ctx, cancel := context.WithCancel(t.Context())
	var (
		wg                      sync.WaitGroup
		stored, refused, others atomic.Int64
		mu                      sync.Mutex
		keys                    []*latchkey.Key
		ins                     []*latchkey.Integration
		firstOther              atomic.Value
	)
	note := func(err error) {
		switch {
		case err == nil:
			stored.Add(1)
		case strings.Contains(err.Error(), latchkey.RetiredSealMessage):
			refused.Add(1)
		case ctx.Err() == nil:
			others.Add(1)
			firstOther.CompareAndSwap(nil, err.Error())
		}
	}
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if w == 2 {
					in := newIntegration(f.app.ID, latchkey.IntegrationTypeCustom)
					in.Webhooks[0].SealedSecret = sealedUnder(old, "webhook-"+in.Webhooks[0].ID)
					err := s.CreateIntegration(ctx, in)
					note(err)
					if err == nil {
						mu.Lock()
						ins = append(ins, in)
						mu.Unlock()
					}
					continue
				}
				k := newKey(integrationOwner(f.app, f.in))
				k.Secrets[0].Hash, k.Secrets[0].Sealed = hashUnder(old, k.ID), sealedUnder(old, k.ID)
				err := s.CreateKey(ctx, k, 0)
				note(err)
				if err == nil {
					mu.Lock()
					keys = append(keys, k)
					mu.Unlock()
				}
			}
		})
	}
	// Batches while the writers run, then the last call.
	time.Sleep(20 * time.Millisecond)
	fn := rekeyTo(next)
	moved := 0
	after := ""
	for pass := 0; pass < 2; pass++ {
		for {
			cursor, err := s.Rekey(t.Context(), latchkey.RekeyBatch{After: after, Limit: 3, Except: next, MetaNames: f.metaName, Fn: func(v *latchkey.SealedValue) error {
				moved++
				return fn(v)
			}})
			if err != nil {
				t.Fatal(err)
			}
			if after = cursor; cursor == "" {
				break
			}
		}
	}
	_, err := s.Rekey(t.Context(), latchkey.RekeyBatch{Except: next, Fn: fn, MetaNames: f.metaName,
		SetMeta: map[string][]byte{latchkey.RetiredSealMeta(old): []byte("retired")}})
	if err != nil {
		t.Fatal(err)
	}
	// The writers go on against the retired key: refused.
	for deadline := time.Now().Add(5 * time.Second); refused.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if others.Load() > 0 {
		t.Fatalf("%d writes failed for another reason than the retired key, such as: %v", others.Load(), firstOther.Load())
	}
	if refused.Load() == 0 || stored.Load() == 0 {
		t.Fatalf("the writers stored %d values and had %d refused; want some of each", stored.Load(), refused.Load())
	}
	// Every value stored, before or during the last call, is under the
	// next key: none was left behind, none came after.
	f.wantAllUnder(t, s, next, old)
	for _, k := range keys {
		got, err := s.Key(t.Context(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sealed := got.Secrets[0].Sealed; !bytes.HasPrefix(sealed, next) {
			t.Fatalf("key %s written during the rotation is still under the old key: %q", k.ID, sealed)
		}
		wantKeyIDByHash(t, s, hashUnder(next, k.ID), k.ID)
	}
	for _, in := range ins {
		got, err := s.Integration(t.Context(), f.app.ID, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sealed := got.Webhooks[0].SealedSecret; !bytes.HasPrefix(sealed, next) {
			t.Fatalf("webhook %s written during the rotation is still under the old key: %q", in.Webhooks[0].ID, sealed)
		}
	}
	t.Logf("%d keys and %d webhooks written during the passes, %d values moved by the batches, %d writes refused after the key was retired",
		len(keys), len(ins), moved, refused.Load())
}

// testRekeyAuditEvent: the event the context carries is written once, with
// the call's changes, and not by a call that fails.
func testRekeyAuditEvent(t *testing.T, s latchkey.Store) {
	newRekeyFixture(t, s, rekeyHeader("old"))
	at := now()
	ev := func(id string) *latchkey.AuditEvent {
		return &latchkey.AuditEvent{ID: id, Time: at, Action: latchkey.ActionMasterKeyRotate, TargetType: "master_key",
			TargetID: "next", Surface: "cli", Outcome: latchkey.OutcomeSuccess, Detail: map[string]string{"phase": "finished"}}
	}
	_, err := s.Rekey(latchkey.WithAuditEvent(t.Context(), ev("01J0000000000000000000000A")), latchkey.RekeyBatch{
		Require: map[string][]byte{"absent": []byte("x")}})
	wantErr(t, "Rekey(unmet Require)", err, latchkey.ECONFLICT, "meta")
	if _, err := s.Rekey(latchkey.WithAuditEvent(t.Context(), ev("01J0000000000000000000000B")), latchkey.RekeyBatch{
		Fn: rekeyTo(rekeyHeader("next")), SetMeta: map[string][]byte{"done": {}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditEvents(t.Context(), latchkey.AuditQuery{All: true, Action: latchkey.ActionMasterKeyRotate, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "01J0000000000000000000000B" || got[0].Detail["phase"] != "finished" {
		t.Errorf("audit events = %+v, want the one event of the call that succeeded", got)
	}
}
