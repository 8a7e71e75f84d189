// Package storetest is the contract suite for latchkey.Store: one set of
// tests that every storage backend (SQLite and PostgreSQL) must
// pass, so that the layers above can rely on the behaviour documented on the
// interface rather than on one implementation.
//
// A backend's own test calls Run with a function that opens a fresh, empty
// store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) latchkey.Store {
//			s, err := mybackend.Open(t.Context(), dsnFor(t))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite speaks only the latchkey.Store interface. It sets every id and
// timestamp itself, as callers of a Store do: ids are 24 lowercase hex digits
// and times are UTC with microsecond precision, the precision the stores keep.
package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// Run runs the contract suite as subtests of t. open is called once per
// subtest and must return a new, empty store, closed by open's own cleanup.
func Run(t *testing.T, open func(t *testing.T) latchkey.Store) {
	t.Helper()
	for _, tc := range slices.Concat(suite, auditSuite, dashboardSuite, importSuite) {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// contractTest is one test of the suite.
type contractTest struct {
	name string
	fn   func(t *testing.T, s latchkey.Store)
}

var suite = []contractTest{
	{"Meta/NotFoundBeforeSet", testMetaNotFound},
	{"Meta/InitMetaSetsOnce", testInitMetaSetsOnce},
	{"Meta/NamesAreIndependent", testMetaNamesIndependent},
	{"Meta/BinaryValue", testMetaBinaryValue},
	{"Meta/EmptyValue", testMetaEmptyValue},

	{"Meta/ResealRewritesEverySealedValue", testResealRewritesEverySealedValue},
	{"Meta/ResealFailureChangesNothing", testResealFailureChangesNothing},

	{"Accounts/CountEmpty", testCountEmpty},
	{"Accounts/CreateAccountWithKey", testCreateAccountWithKey},
	{"Accounts/DuplicateAccountID", testDuplicateAccountID},
	{"Accounts/DuplicateKeyIDRollsBack", testAccountDuplicateKeyIDRollsBack},
	{"Accounts/DuplicateSecretHashRollsBack", testAccountDuplicateSecretRollsBack},

	{"Apps/CreateAndGet", testAppCreateAndGet},
	{"Apps/CreateMissingAccount", testAppCreateMissingAccount},
	{"Apps/CreateDuplicateID", testAppCreateDuplicateID},
	{"Apps/GetMissing", testAppGetMissing},
	{"Apps/Update", testAppUpdate},
	{"Apps/UpdateToNil", testAppUpdateToNil},
	{"Apps/UpdateMissing", testAppUpdateMissing},
	{"Apps/DeleteMissing", testAppDeleteMissing},
	{"Apps/DeleteCascades", testAppDeleteCascades},
	{"Apps/DeleteLeavesNothingBehind", testAppDeleteLeavesNothingBehind},

	{"ListApps/Pages", testListAppsPages},
	{"ListApps/Empty", testListAppsEmpty},
	{"ListApps/SingleApp", testListAppsSingle},
	{"ListApps/Fields", testListAppsFields},
	{"ListApps/WalkForward", testListAppsWalkForward},
	{"ListApps/WalkBackward", testListAppsWalkBackward},
	{"ListApps/SizeBelowOne", testListAppsSizeBelowOne},

	{"Integrations/CreateAndGet", testIntegrationCreateAndGet},
	{"Integrations/CreateWithoutWebhooks", testIntegrationWithoutWebhooks},
	{"Integrations/CreateMissingApp", testIntegrationCreateMissingApp},
	{"Integrations/CreateDuplicateID", testIntegrationCreateDuplicateID},
	{"Integrations/GetWrongApp", testIntegrationGetWrongApp},
	{"Integrations/List", testListIntegrations},
	{"Integrations/ListTypesCap", testListIntegrationsTypesCap},
	{"Integrations/ListBeyondOneQuery", testListIntegrationsBeyondOneQuery},
	{"Integrations/Update", testIntegrationUpdate},
	{"Integrations/UpdateMissing", testIntegrationUpdateMissing},
	{"Integrations/Delete", testIntegrationDelete},
	{"Integrations/DeleteWrongApp", testIntegrationDeleteWrongApp},

	{"Cascade/AppCheckSeesEveryKey", testCascadeAppCheckSeesEveryKey},
	{"Cascade/AppVetoDeletesNothing", testCascadeAppVetoDeletesNothing},
	{"Cascade/AppWithoutKeys", testCascadeAppWithoutKeys},
	{"Cascade/MissingSkipsCheck", testCascadeMissingSkipsCheck},
	{"Cascade/IntegrationCheckSeesItsKeys", testCascadeIntegrationCheckSeesItsKeys},
	{"Cascade/ConcurrentKeysAreChecked", testCascadeConcurrentKeysAreChecked},
	{"Cascade/ConcurrentVetoHolds", testCascadeConcurrentVetoHolds},

	{"Keys/RoundTrip", testKeyRoundTrip},
	{"Keys/RoundTripOwners", testKeyRoundTripOwners},
	{"Keys/NilPolicyStaysNil", testKeyNilPolicy},
	{"Keys/EmptyListsStayEmpty", testKeyEmptyLists},
	{"Keys/MissingOwner", testKeyMissingOwner},
	{"Keys/MismatchedOwner", testKeyMismatchedOwner},
	{"Keys/DuplicateID", testKeyDuplicateID},
	{"Keys/DuplicateSecretHash", testKeyDuplicateSecretHash},
	{"Keys/DuplicateSecondSecretHash", testKeyDuplicateSecondSecretHash},
	{"Keys/Limit", testKeyLimit},
	{"Keys/LimitFreedByDelete", testKeyLimitFreedByDelete},
	{"Keys/LimitCountsExactOwner", testKeyLimitExactOwner},
	{"Keys/ConcurrentLimit", testKeyConcurrentLimit},
	{"Keys/GetMissing", testKeyGetMissing},
	{"Keys/KeyBySecretHash", testKeyBySecretHash},
	{"Keys/ListExactOwner", testListKeysExactOwner},
	{"Keys/Delete", testKeyDelete},
	{"Keys/DeleteMissing", testKeyDeleteMissing},
	{"Keys/QueryFilterSortPage", testQueryKeys},
	{"Keys/QueryBadPage", testQueryKeysBadPage},
	{"Keys/QueryFilterValuesCap", testQueryKeysFilterValuesCap},
	{"Keys/QuerySortFieldTwice", testQueryKeysSortFieldTwice},
	{"Keys/ListBeyondOneQuery", testListKeysBeyondOneQuery},
	{"Keys/Update", testUpdateKey},

	{"Keys/NativeFields", testKeyNativeFields},
	{"Keys/QueryWithinAfter", testQueryWithinAfter},
	{"Roll/KeepsOldUntil", testRollKeepsOldUntil},
	{"Roll/AtOnce", testRollAtOnce},
	{"Roll/DropsExpiredSecrets", testRollDropsExpiredSecrets},
	{"Roll/Missing", testRollMissing},
	{"Roll/SecretTaken", testRollSecretTaken},
	{"Usage/Adds", testUsageAdds},

	{"Times/MicrosecondsUTC", testTimesMicrosecondsUTC},
	{"Times/NonUTCInput", testTimesNonUTCInput},
}

// ---------------------------------------------------------------------------
// Ids, times and builders.

var idSeq atomic.Uint64

// newID returns a fresh 24-digit lowercase hex id, greater than every id
// newID returned before and than every hexID(i) below 1<<92.
func newID() string { return fmt.Sprintf("f%023x", idSeq.Add(1)) }

// hexID returns the 24-digit lowercase hex id for i, so that ids sort as the
// numbers do.
func hexID(i int) string { return fmt.Sprintf("%024x", i) }

var (
	lowID  = strings.Repeat("0", 24) // before every id
	highID = strings.Repeat("f", 24) // after every id
)

// now returns the current time as the stores keep it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

func newAccount() *latchkey.Account {
	return &latchkey.Account{ID: newID(), Name: "Account", CreatedAt: now()}
}

func newSecret(seed string, createdAt time.Time) latchkey.Secret {
	h := sha256.Sum256([]byte("hash:" + seed))
	return latchkey.Secret{Hash: h[:], Sealed: []byte("sealed:" + seed), CreatedAt: createdAt}
}

func newKey(o latchkey.KeyOwner) *latchkey.Key {
	id, t0 := newID(), now()
	return &latchkey.Key{
		ID: id, AccountID: o.AccountID, AppID: o.AppID, IntegrationID: o.IntegrationID,
		Name:      "key " + id,
		Policy:    latchkey.Policy{Type: latchkey.KeyTypeSecret},
		Secrets:   []latchkey.Secret{newSecret(id, t0)},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newApp(accountID string) *latchkey.App {
	t0 := now()
	return &latchkey.App{ID: newID(), AccountID: accountID, DisplayName: "App", CreatedAt: t0, UpdatedAt: t0}
}

func newWebhook(n int) latchkey.Webhook {
	return latchkey.Webhook{
		ID: newID(), Version: "v2", Target: fmt.Sprintf("https://example.com/hooks/%d", n),
		Triggers: []string{"conversation:message"}, SealedSecret: []byte(fmt.Sprintf("sealed-webhook-%d", n)),
	}
}

func newIntegration(appID, typ string) *latchkey.Integration {
	t0 := now()
	return &latchkey.Integration{
		ID: newID(), AppID: appID, Type: typ, Status: "active", DisplayName: ptr("Integration"),
		Webhooks:  []latchkey.Webhook{newWebhook(1)},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func accountOwner(accountID string) latchkey.KeyOwner { return latchkey.KeyOwner{AccountID: accountID} }

func appOwner(app *latchkey.App) latchkey.KeyOwner {
	return latchkey.KeyOwner{AccountID: app.AccountID, AppID: app.ID}
}

func integrationOwner(app *latchkey.App, in *latchkey.Integration) latchkey.KeyOwner {
	return latchkey.KeyOwner{AccountID: app.AccountID, AppID: app.ID, IntegrationID: in.ID}
}

// ---------------------------------------------------------------------------
// Setup helpers: they fail the test at once, as nothing after them makes
// sense without them.

func createAccount(t *testing.T, s latchkey.Store) (*latchkey.Account, *latchkey.Key) {
	t.Helper()
	a := newAccount()
	k := newKey(accountOwner(a.ID))
	if err := s.CreateAccountWithKey(t.Context(), a, k); err != nil {
		t.Fatalf("CreateAccountWithKey(%q) error = %v, want nil", a.ID, err)
	}
	return a, k
}

func createApp(t *testing.T, s latchkey.Store, accountID string) *latchkey.App {
	t.Helper()
	return createAppWithID(t, s, accountID, newID())
}

func createAppWithID(t *testing.T, s latchkey.Store, accountID, id string) *latchkey.App {
	t.Helper()
	app := newApp(accountID)
	app.ID = id
	app.DisplayName = "App " + id
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatalf("CreateApp(%q) error = %v, want nil", id, err)
	}
	return app
}

func createIntegration(t *testing.T, s latchkey.Store, appID string) *latchkey.Integration {
	t.Helper()
	return storeIntegration(t, s, newIntegration(appID, latchkey.IntegrationTypeCustom))
}

func storeIntegration(t *testing.T, s latchkey.Store, in *latchkey.Integration) *latchkey.Integration {
	t.Helper()
	if err := s.CreateIntegration(t.Context(), in); err != nil {
		t.Fatalf("CreateIntegration(%q) error = %v, want nil", in.ID, err)
	}
	return in
}

func createKey(t *testing.T, s latchkey.Store, o latchkey.KeyOwner) *latchkey.Key {
	t.Helper()
	return storeKey(t, s, newKey(o), 0)
}

func storeKey(t *testing.T, s latchkey.Store, k *latchkey.Key, maxPerOwner int) *latchkey.Key {
	t.Helper()
	if err := s.CreateKey(t.Context(), k, maxPerOwner); err != nil {
		t.Fatalf("CreateKey(%q, %d) error = %v, want nil", k.ID, maxPerOwner, err)
	}
	return k
}

// ---------------------------------------------------------------------------
// Checks.

// wantErr reports unless err carries code and, if subject is not empty,
// subject. It returns whether the code matched.
func wantErr(t *testing.T, call string, err error, code, subject string) bool {
	t.Helper()
	if got := latchkey.ErrorCode(err); got != code {
		t.Errorf("%s error = %v (code %q), want code %q", call, err, got, code)
		return false
	}
	if subject != "" {
		if got := latchkey.ErrorSubject(err); got != subject {
			t.Errorf("%s error subject = %q, want %q", call, got, subject)
		}
	}
	return true
}

func wantCount(t *testing.T, s latchkey.Store, want int) {
	t.Helper()
	got, err := s.CountAccounts(t.Context())
	if err != nil {
		t.Fatalf("CountAccounts() error = %v", err)
	}
	if got != want {
		t.Errorf("CountAccounts() = %d, want %d", got, want)
	}
}

// wantAccountMissing checks that no account has this id: an app cannot be
// created in it.
func wantAccountMissing(t *testing.T, s latchkey.Store, accountID string) {
	t.Helper()
	err := s.CreateApp(t.Context(), newApp(accountID))
	wantErr(t, fmt.Sprintf("CreateApp() in account %q", accountID), err, latchkey.ENOTFOUND, "account")
}

func wantKey(t *testing.T, s latchkey.Store, want *latchkey.Key) {
	t.Helper()
	got, err := s.Key(t.Context(), want.ID)
	if err != nil {
		t.Errorf("Key(%q) error = %v, want nil", want.ID, err)
		return
	}
	report(t, fmt.Sprintf("Key(%q)", want.ID), diffKey(got, want))
}

func wantKeyByHash(t *testing.T, s latchkey.Store, hash []byte, want *latchkey.Key) {
	t.Helper()
	got, err := s.KeyBySecretHash(t.Context(), hash)
	if err != nil {
		t.Errorf("KeyBySecretHash(%x) error = %v, want key %q", hash, err, want.ID)
		return
	}
	report(t, fmt.Sprintf("KeyBySecretHash(%x)", hash), diffKey(got, want))
}

// wantNoKey checks that neither the key nor any of its secrets is stored.
func wantNoKey(t *testing.T, s latchkey.Store, k *latchkey.Key) {
	t.Helper()
	got, err := s.Key(t.Context(), k.ID)
	if wantErr(t, fmt.Sprintf("Key(%q)", k.ID), err, latchkey.ENOTFOUND, "key") && got != nil {
		t.Errorf("Key(%q) = %+v, want nil", k.ID, got)
	}
	for _, sec := range k.Secrets {
		_, err := s.KeyBySecretHash(t.Context(), sec.Hash)
		wantErr(t, fmt.Sprintf("KeyBySecretHash(%x)", sec.Hash), err, latchkey.ENOTFOUND, "key")
	}
}

func wantKeys(t *testing.T, s latchkey.Store, o latchkey.KeyOwner, want ...*latchkey.Key) {
	t.Helper()
	got, err := s.ListKeys(t.Context(), o)
	if err != nil {
		t.Errorf("ListKeys(%+v) error = %v, want nil", o, err)
		return
	}
	if g, w := keyIDs(got), keyIDs(want); !slices.Equal(g, w) {
		t.Errorf("ListKeys(%+v) = %v, want %v", o, g, w)
		return
	}
	for i := range got {
		report(t, fmt.Sprintf("ListKeys(%+v)[%d]", o, i), diffKey(got[i], want[i]))
	}
}

func wantApp(t *testing.T, s latchkey.Store, want *latchkey.App) {
	t.Helper()
	got, err := s.App(t.Context(), want.ID)
	if err != nil {
		t.Errorf("App(%q) error = %v, want nil", want.ID, err)
		return
	}
	report(t, fmt.Sprintf("App(%q)", want.ID), diffApp(got, want))
}

func wantIntegration(t *testing.T, s latchkey.Store, want *latchkey.Integration) {
	t.Helper()
	got, err := s.Integration(t.Context(), want.AppID, want.ID)
	if err != nil {
		t.Errorf("Integration(%q, %q) error = %v, want nil", want.AppID, want.ID, err)
		return
	}
	report(t, fmt.Sprintf("Integration(%q, %q)", want.AppID, want.ID), diffIntegration(got, want))
}

func wantNoIntegration(t *testing.T, s latchkey.Store, appID, id string) {
	t.Helper()
	_, err := s.Integration(t.Context(), appID, id)
	wantErr(t, fmt.Sprintf("Integration(%q, %q)", appID, id), err, latchkey.ENOTFOUND, "integration")
}

func report(t *testing.T, call string, diffs []string) {
	t.Helper()
	for _, d := range diffs {
		t.Errorf("%s.%s", call, d)
	}
}

func keyIDs(keys []*latchkey.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func appIDs(apps []*latchkey.App) []string {
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = a.ID
	}
	return ids
}

func integrationIDs(list []*latchkey.Integration) []string {
	ids := make([]string, len(list))
	for i, in := range list {
		ids[i] = in.ID
	}
	return ids
}

// ---------------------------------------------------------------------------
// Field-by-field comparison. Each diff reads "Field = got, want want".

type differ []string

func (d *differ) add(format string, args ...any) { *d = append(*d, fmt.Sprintf(format, args...)) }

func (d *differ) str(field, got, want string) {
	if got != want {
		d.add("%s = %q, want %q", field, got, want)
	}
}

func (d *differ) bytes(field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		d.add("%s = %x, want %x", field, got, want)
	}
}

func (d *differ) time(field string, got, want time.Time) {
	if !got.Equal(want) {
		d.add("%s = %s, want %s", field, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

func (d *differ) timePtr(field string, got, want *time.Time) {
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || !got.Equal(*want):
		d.add("%s = %s, want %s", field, showTimePtr(got), showTimePtr(want))
	}
}

// deep compares with reflect.DeepEqual, so that nil and empty differ.
func (d *differ) deep(field string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		d.add("%s = %s, want %s", field, show(got), show(want))
	}
}

func showTimePtr(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.Format(time.RFC3339Nano)
}

// show prints v, telling nil slices, maps and pointers from empty ones.
func show(v any) string {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Pointer:
		if rv.IsNil() {
			return "nil"
		}
	}
	if rv.Kind() == reflect.Pointer {
		return fmt.Sprintf("&%+v", rv.Elem().Interface())
	}
	if rv.Kind() == reflect.Slice && rv.Len() == 0 {
		return "[] (empty, not nil)"
	}
	return fmt.Sprintf("%+v", v)
}

func diffKey(got, want *latchkey.Key) []string {
	var d differ
	d.str("ID", got.ID, want.ID)
	d.str("AccountID", got.AccountID, want.AccountID)
	d.str("AppID", got.AppID, want.AppID)
	d.str("IntegrationID", got.IntegrationID, want.IntegrationID)
	d.str("Name", got.Name, want.Name)
	d.str("Policy.Type", string(got.Policy.Type), string(want.Policy.Type))
	d.deep("Policy.ACL", got.Policy.ACL, want.Policy.ACL)
	if (got.Policy.AllowedIPs == nil) != (want.Policy.AllowedIPs == nil) ||
		!slices.Equal(got.Policy.AllowedIPs, want.Policy.AllowedIPs) {
		d.add("Policy.AllowedIPs = %s, want %s", show(got.Policy.AllowedIPs), show(want.Policy.AllowedIPs))
	}
	d.timePtr("Policy.ExpiresAt", got.Policy.ExpiresAt, want.Policy.ExpiresAt)
	d.deep("Policy.Metadata", got.Policy.Metadata, want.Policy.Metadata)
	d.deep("Policy.Disabled", got.Policy.Disabled, want.Policy.Disabled)
	d.deep("Policy.RateLimit", got.Policy.RateLimit, want.Policy.RateLimit)
	d.str("Prefix", got.Prefix, want.Prefix)
	d.timePtr("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	if len(got.Secrets) != len(want.Secrets) {
		d.add("Secrets = %d secrets, want %d", len(got.Secrets), len(want.Secrets))
	} else {
		for i := range got.Secrets {
			g, w := got.Secrets[i], want.Secrets[i]
			d.bytes(fmt.Sprintf("Secrets[%d].Hash", i), g.Hash, w.Hash)
			d.bytes(fmt.Sprintf("Secrets[%d].Sealed", i), g.Sealed, w.Sealed)
			d.str(fmt.Sprintf("Secrets[%d].Plain (never persisted)", i), g.Plain, "")
			d.time(fmt.Sprintf("Secrets[%d].CreatedAt", i), g.CreatedAt, w.CreatedAt)
			d.timePtr(fmt.Sprintf("Secrets[%d].ExpiresAt", i), g.ExpiresAt, w.ExpiresAt)
		}
	}
	switch g, w := got.Imported, want.Imported; {
	case (g == nil) != (w == nil):
		d.add("Imported = %v, want %v", g, w)
	case g != nil:
		d.str("Imported.Algorithm", string(g.Algorithm), string(w.Algorithm))
		d.bytes("Imported.Digest", g.Digest, w.Digest)
		d.time("Imported.CreatedAt", g.CreatedAt, w.CreatedAt)
		d.timePtr("Imported.ExpiresAt", g.ExpiresAt, w.ExpiresAt)
	}
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func diffApp(got, want *latchkey.App) []string {
	var d differ
	d.str("ID", got.ID, want.ID)
	d.str("AccountID", got.AccountID, want.AccountID)
	d.str("DisplayName", got.DisplayName, want.DisplayName)
	if !reflect.DeepEqual(got.Settings, want.Settings) {
		g, _ := json.Marshal(got.Settings)
		w, _ := json.Marshal(want.Settings)
		d.add("Settings = %s, want %s", g, w)
	}
	d.deep("Metadata", got.Metadata, want.Metadata)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func diffIntegration(got, want *latchkey.Integration) []string {
	var d differ
	d.str("ID", got.ID, want.ID)
	d.str("AppID", got.AppID, want.AppID)
	d.str("Type", got.Type, want.Type)
	d.str("Status", got.Status, want.Status)
	d.deep("DisplayName", got.DisplayName, want.DisplayName)
	if len(got.Webhooks) != len(want.Webhooks) {
		d.add("Webhooks = %d webhooks, want %d", len(got.Webhooks), len(want.Webhooks))
	} else {
		for i := range got.Webhooks {
			g, w := got.Webhooks[i], want.Webhooks[i]
			p := fmt.Sprintf("Webhooks[%d].", i)
			d.str(p+"ID", g.ID, w.ID)
			d.str(p+"Version", g.Version, w.Version)
			d.str(p+"Target", g.Target, w.Target)
			d.deep(p+"Triggers", g.Triggers, w.Triggers)
			if g.IncludeFullUser != w.IncludeFullUser {
				d.add("%sIncludeFullUser = %t, want %t", p, g.IncludeFullUser, w.IncludeFullUser)
			}
			if g.IncludeFullSource != w.IncludeFullSource {
				d.add("%sIncludeFullSource = %t, want %t", p, g.IncludeFullSource, w.IncludeFullSource)
			}
			d.str(p+"Secret (never persisted)", g.Secret, "")
			d.bytes(p+"SealedSecret", g.SealedSecret, w.SealedSecret)
		}
	}
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

// ---------------------------------------------------------------------------
// Meta.

func testMetaNotFound(t *testing.T, s latchkey.Store) {
	got, err := s.Meta(t.Context(), "index_key_check")
	if wantErr(t, `Meta("index_key_check")`, err, latchkey.ENOTFOUND, "") && got != nil {
		t.Errorf(`Meta("index_key_check") = %q, want nil`, got)
	}
}

func testInitMetaSetsOnce(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	first, second := []byte("first value"), []byte("second value")
	got, err := s.InitMeta(ctx, "check", first)
	if err != nil {
		t.Fatalf(`InitMeta("check", %q) error = %v`, first, err)
	}
	if !bytes.Equal(got, first) {
		t.Errorf(`InitMeta("check", %q) = %q, want %q`, first, got, first)
	}
	if got, err := s.Meta(ctx, "check"); err != nil || !bytes.Equal(got, first) {
		t.Errorf(`Meta("check") = %q, %v, want %q, nil`, got, err, first)
	}
	got, err = s.InitMeta(ctx, "check", second)
	if err != nil {
		t.Fatalf(`InitMeta("check", %q) again error = %v`, second, err)
	}
	if !bytes.Equal(got, first) {
		t.Errorf(`InitMeta("check", %q) again = %q, want the value in force %q`, second, got, first)
	}
	if got, err := s.Meta(ctx, "check"); err != nil || !bytes.Equal(got, first) {
		t.Errorf(`Meta("check") after second InitMeta = %q, %v, want %q, nil`, got, err, first)
	}
}

func testMetaNamesIndependent(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	for _, name := range []string{"a", "b"} {
		if _, err := s.InitMeta(ctx, name, []byte("value "+name)); err != nil {
			t.Fatalf("InitMeta(%q) error = %v", name, err)
		}
	}
	for _, name := range []string{"a", "b"} {
		if got, err := s.Meta(ctx, name); err != nil || string(got) != "value "+name {
			t.Errorf("Meta(%q) = %q, %v, want %q, nil", name, got, err, "value "+name)
		}
	}
	_, err := s.Meta(ctx, "c")
	wantErr(t, `Meta("c")`, err, latchkey.ENOTFOUND, "")
}

func testMetaBinaryValue(t *testing.T, s latchkey.Store) {
	value := make([]byte, 256)
	for i := range value {
		value[i] = byte(i)
	}
	if got, err := s.InitMeta(t.Context(), "bin", value); err != nil || !bytes.Equal(got, value) {
		t.Errorf(`InitMeta("bin") = %x, %v, want %x, nil`, got, err, value)
	}
	if got, err := s.Meta(t.Context(), "bin"); err != nil || !bytes.Equal(got, value) {
		t.Errorf(`Meta("bin") = %x, %v, want %x, nil`, got, err, value)
	}
}

func testMetaEmptyValue(t *testing.T, s latchkey.Store) {
	if got, err := s.InitMeta(t.Context(), "empty", []byte{}); err != nil || len(got) != 0 {
		t.Errorf(`InitMeta("empty", []byte{}) = %q, %v, want "", nil`, got, err)
	}
	if got, err := s.Meta(t.Context(), "empty"); err != nil || len(got) != 0 {
		t.Errorf(`Meta("empty") = %q, %v, want "", nil (set, though empty)`, got, err)
	}
	if got, err := s.InitMeta(t.Context(), "empty", []byte("later")); err != nil || len(got) != 0 {
		t.Errorf(`InitMeta("empty", "later") = %q, %v, want the empty value in force, nil`, got, err)
	}
}

// ---------------------------------------------------------------------------
// Accounts.

func testCountEmpty(t *testing.T, s latchkey.Store) {
	wantCount(t, s, 0)
}

func testCreateAccountWithKey(t *testing.T, s latchkey.Store) {
	a, k := createAccount(t, s)
	wantCount(t, s, 1)
	wantKey(t, s, k)
	wantKeyByHash(t, s, k.Secrets[0].Hash, k)
	wantKeys(t, s, accountOwner(a.ID), k)
	createApp(t, s, a.ID) // the account exists

	createAccount(t, s)
	wantCount(t, s, 2)
}

func testDuplicateAccountID(t *testing.T, s latchkey.Store) {
	a, k := createAccount(t, s)
	dup := &latchkey.Account{ID: a.ID, Name: "Other", CreatedAt: now()}
	k2 := newKey(accountOwner(a.ID))
	err := s.CreateAccountWithKey(t.Context(), dup, k2)
	wantErr(t, "CreateAccountWithKey() with a taken account id", err, latchkey.ECONFLICT, "")
	wantCount(t, s, 1)
	wantNoKey(t, s, k2)
	wantKeys(t, s, accountOwner(a.ID), k)
}

func testAccountDuplicateKeyIDRollsBack(t *testing.T, s latchkey.Store) {
	_, k := createAccount(t, s)
	a2 := newAccount()
	k2 := newKey(accountOwner(a2.ID))
	k2.ID = k.ID
	err := s.CreateAccountWithKey(t.Context(), a2, k2)
	wantErr(t, "CreateAccountWithKey() with a taken key id", err, latchkey.ECONFLICT, "")
	wantCount(t, s, 1)
	wantAccountMissing(t, s, a2.ID)
	wantKey(t, s, k)
	_, err = s.KeyBySecretHash(t.Context(), k2.Secrets[0].Hash)
	wantErr(t, "KeyBySecretHash() of the rejected key", err, latchkey.ENOTFOUND, "")

	// Nothing is left behind: the account can be created afterwards.
	if err := s.CreateAccountWithKey(t.Context(), a2, newKey(accountOwner(a2.ID))); err != nil {
		t.Errorf("CreateAccountWithKey() after the rollback error = %v, want nil", err)
	}
	wantCount(t, s, 2)
}

func testAccountDuplicateSecretRollsBack(t *testing.T, s latchkey.Store) {
	_, k := createAccount(t, s)
	a2 := newAccount()
	k2 := newKey(accountOwner(a2.ID))
	k2.Secrets[0].Hash = k.Secrets[0].Hash
	err := s.CreateAccountWithKey(t.Context(), a2, k2)
	wantErr(t, "CreateAccountWithKey() with a taken secret hash", err, latchkey.ECONFLICT, "")
	wantCount(t, s, 1)
	wantAccountMissing(t, s, a2.ID)
	_, err = s.Key(t.Context(), k2.ID)
	wantErr(t, fmt.Sprintf("Key(%q) of the rejected key", k2.ID), err, latchkey.ENOTFOUND, "key")
	wantKeyByHash(t, s, k.Secrets[0].Hash, k)

	if err := s.CreateAccountWithKey(t.Context(), a2, newKey(accountOwner(a2.ID))); err != nil {
		t.Errorf("CreateAccountWithKey() after the rollback error = %v, want nil", err)
	}
	wantCount(t, s, 2)
}

// ---------------------------------------------------------------------------
// Apps.

func fullApp(accountID string) *latchkey.App {
	app := newApp(accountID)
	app.DisplayName = "Support desk — EU"
	app.Settings = latchkey.AppSettings{
		ConversationRetentionSeconds: ptr(3600),
		MaskCreditCardNumbers:        ptr(true),
		UseAnimalNames:               ptr(false),
		MultiConvoEnabled:            ptr(true),
	}
	app.Metadata = map[string]any{"tier": "gold", "seats": float64(25), "beta": true}
	app.CreatedAt = now().Add(-time.Hour)
	return app
}

func testAppCreateAndGet(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := fullApp(a.ID)
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatalf("CreateApp() error = %v, want nil", err)
	}
	wantApp(t, s, app)

	plain := createApp(t, s, a.ID) // zero settings, nil metadata
	wantApp(t, s, plain)
}

func testAppCreateMissingAccount(t *testing.T, s latchkey.Store) {
	app := newApp(newID())
	err := s.CreateApp(t.Context(), app)
	wantErr(t, "CreateApp() in a missing account", err, latchkey.ENOTFOUND, "account")
	_, err = s.App(t.Context(), app.ID)
	wantErr(t, fmt.Sprintf("App(%q)", app.ID), err, latchkey.ENOTFOUND, "app")
}

func testAppCreateDuplicateID(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	b, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	for _, accountID := range []string{a.ID, b.ID} {
		dup := newApp(accountID)
		dup.ID, dup.DisplayName = app.ID, "Impostor"
		err := s.CreateApp(t.Context(), dup)
		wantErr(t, fmt.Sprintf("CreateApp() with a taken id in account %q", accountID), err, latchkey.ECONFLICT, "")
	}
	wantApp(t, s, app)
	got, _, err := s.ListApps(t.Context(), b.ID, latchkey.Page{Size: 10})
	if err != nil || len(got) != 0 {
		t.Errorf("ListApps(%q) = %v, %v, want [], nil", b.ID, appIDs(got), err)
	}
}

func testAppGetMissing(t *testing.T, s latchkey.Store) {
	got, err := s.App(t.Context(), newID())
	if wantErr(t, "App(missing)", err, latchkey.ENOTFOUND, "app") && got != nil {
		t.Errorf("App(missing) = %+v, want nil", got)
	}
}

func testAppUpdate(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := fullApp(a.ID)
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatalf("CreateApp() error = %v", err)
	}
	other := createApp(t, s, a.ID)

	upd := *app
	upd.DisplayName = "Renamed"
	upd.Settings = latchkey.AppSettings{
		ConversationRetentionSeconds: ptr(0),
		MaskCreditCardNumbers:        ptr(false),
		EchoPostback:                 ptr(true),
		IgnoreAutoConversationStart:  ptr(true),
		AppLocalizationEnabled:       ptr(false),
		EndSessionEnabled:            ptr(true),
		DisableConversationReopen:    ptr(true),
	}
	upd.Metadata = map[string]any{"tier": "silver", "nested": map[string]any{"ok": true}}
	upd.UpdatedAt = app.UpdatedAt.Add(time.Minute)
	if err := s.UpdateApp(t.Context(), &upd); err != nil {
		t.Fatalf("UpdateApp() error = %v, want nil", err)
	}
	wantApp(t, s, &upd)
	wantApp(t, s, other)
}

func testAppUpdateToNil(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := fullApp(a.ID)
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatalf("CreateApp() error = %v", err)
	}
	upd := *app
	upd.Settings = latchkey.AppSettings{}
	upd.Metadata = nil
	if err := s.UpdateApp(t.Context(), &upd); err != nil {
		t.Fatalf("UpdateApp() error = %v, want nil", err)
	}
	wantApp(t, s, &upd)

	// And back again.
	upd.Metadata = map[string]any{"again": "yes"}
	upd.Settings.UseAnimalNames = ptr(true)
	if err := s.UpdateApp(t.Context(), &upd); err != nil {
		t.Fatalf("UpdateApp() error = %v, want nil", err)
	}
	wantApp(t, s, &upd)
}

func testAppUpdateMissing(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := newApp(a.ID)
	err := s.UpdateApp(t.Context(), app)
	wantErr(t, "UpdateApp(missing)", err, latchkey.ENOTFOUND, "app")
	_, err = s.App(t.Context(), app.ID)
	wantErr(t, "App() after UpdateApp(missing)", err, latchkey.ENOTFOUND, "app")
}

func testAppDeleteMissing(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	err := s.DeleteApp(t.Context(), newID(), nil)
	wantErr(t, "DeleteApp(missing)", err, latchkey.ENOTFOUND, "app")

	app := createApp(t, s, a.ID)
	if err := s.DeleteApp(t.Context(), app.ID, nil); err != nil {
		t.Fatalf("DeleteApp() error = %v, want nil", err)
	}
	err = s.DeleteApp(t.Context(), app.ID, nil)
	wantErr(t, "DeleteApp() again", err, latchkey.ENOTFOUND, "app")
}

// appTree is an app with two integrations and keys at every level.
type appTree struct {
	app                *latchkey.App
	in1, in2           *latchkey.Integration
	appKey, in1a, in1b *latchkey.Key
	in2Key             *latchkey.Key
}

func (tr appTree) keys() []*latchkey.Key {
	return []*latchkey.Key{tr.appKey, tr.in1a, tr.in1b, tr.in2Key}
}

func buildAppTree(t *testing.T, s latchkey.Store, accountID string) appTree {
	t.Helper()
	var tr appTree
	tr.app = createApp(t, s, accountID)
	tr.in1 = newIntegration(tr.app.ID, latchkey.IntegrationTypeCustom)
	tr.in1.Webhooks = append(tr.in1.Webhooks, newWebhook(2))
	storeIntegration(t, s, tr.in1)
	tr.in2 = createIntegration(t, s, tr.app.ID)
	tr.appKey = createKey(t, s, appOwner(tr.app))
	tr.in1a = createKey(t, s, integrationOwner(tr.app, tr.in1))
	tr.in1b = createKey(t, s, integrationOwner(tr.app, tr.in1))
	tr.in2Key = createKey(t, s, integrationOwner(tr.app, tr.in2))
	return tr
}

func testAppDeleteCascades(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, accKey := createAccount(t, s)
	accKey2 := createKey(t, s, accountOwner(a.ID))
	gone := buildAppTree(t, s, a.ID)
	kept := buildAppTree(t, s, a.ID)
	b, bKey := createAccount(t, s)
	elsewhere := buildAppTree(t, s, b.ID)

	if err := s.DeleteApp(ctx, gone.app.ID, nil); err != nil {
		t.Fatalf("DeleteApp() error = %v, want nil", err)
	}

	_, err := s.App(ctx, gone.app.ID)
	wantErr(t, "App() of the deleted app", err, latchkey.ENOTFOUND, "app")
	wantNoIntegration(t, s, gone.app.ID, gone.in1.ID)
	wantNoIntegration(t, s, gone.app.ID, gone.in2.ID)
	list, _, err := s.ListIntegrations(ctx, gone.app.ID, nil, latchkey.Page{Size: 10})
	if err != nil || len(list) != 0 {
		t.Errorf("ListIntegrations() of the deleted app = %v, %v, want [], nil", integrationIDs(list), err)
	}
	for _, k := range gone.keys() {
		wantNoKey(t, s, k)
	}
	wantKeys(t, s, appOwner(gone.app))
	wantKeys(t, s, integrationOwner(gone.app, gone.in1))

	for _, tr := range []appTree{kept, elsewhere} {
		wantApp(t, s, tr.app)
		wantIntegration(t, s, tr.in1)
		wantIntegration(t, s, tr.in2)
		for _, k := range tr.keys() {
			wantKey(t, s, k)
			wantKeyByHash(t, s, k.Secrets[0].Hash, k)
		}
	}
	wantKeys(t, s, accountOwner(a.ID), accKey, accKey2)
	wantKeys(t, s, accountOwner(b.ID), bKey)
	apps, _, err := s.ListApps(ctx, a.ID, latchkey.Page{Size: 10})
	if got, want := appIDs(apps), []string{kept.app.ID}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ListApps() after DeleteApp() = %v, %v, want %v, nil", got, err, want)
	}
	wantCount(t, s, 2)
}

// testAppDeleteLeavesNothingBehind recreates everything a deleted app held,
// with the same ids and secret hashes: any leftover row would conflict.
func testAppDeleteLeavesNothingBehind(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	if err := s.DeleteApp(ctx, tr.app.ID, nil); err != nil {
		t.Fatalf("DeleteApp() error = %v, want nil", err)
	}
	if err := s.CreateApp(ctx, tr.app); err != nil {
		t.Fatalf("CreateApp() with the deleted app's id error = %v, want nil", err)
	}
	for _, in := range []*latchkey.Integration{tr.in1, tr.in2} {
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Errorf("CreateIntegration(%q) with the deleted ids error = %v, want nil", in.ID, err)
		}
	}
	for _, k := range tr.keys() {
		if err := s.CreateKey(ctx, k, 0); err != nil {
			t.Errorf("CreateKey(%q) with the deleted id and secret error = %v, want nil", k.ID, err)
		}
	}
	wantIntegration(t, s, tr.in1)
	wantKeys(t, s, integrationOwner(tr.app, tr.in1), tr.in1a, tr.in1b)
}

// ---------------------------------------------------------------------------
// ListApps.

// pageCase is one page request and what it must return.
type pageCase struct {
	name     string
	page     latchkey.Page
	want     []string
	wantInfo latchkey.PageInfo
}

// pagedApps creates, in a scrambled order, apps 2, 4, …, 14 in one account
// and apps 1, 3, …, 15 in another, so that every listing of the first also
// checks that the second's apps neither show nor count.
func pagedApps(t *testing.T, s latchkey.Store) (a, b string, aIDs, bIDs []string) {
	t.Helper()
	acc, _ := createAccount(t, s)
	other, _ := createAccount(t, s)
	for _, i := range []int{5, 1, 7, 3, 6, 2, 4} {
		createAppWithID(t, s, acc.ID, hexID(2*i))
		createAppWithID(t, s, other.ID, hexID(2*i-1))
	}
	createAppWithID(t, s, other.ID, hexID(15))
	for i := 1; i <= 7; i++ {
		aIDs = append(aIDs, hexID(2*i))
	}
	for i := 1; i <= 8; i++ {
		bIDs = append(bIDs, hexID(2*i-1))
	}
	return acc.ID, other.ID, aIDs, bIDs
}

func testListAppsPages(t *testing.T, s latchkey.Store) {
	acc, other, a, b := pagedApps(t, s)
	var none []string
	cases := []pageCase{
		{"First", latchkey.Page{Size: 3}, a[0:3], latchkey.PageInfo{HasMore: true, HasNext: true}},
		{"FirstOfOne", latchkey.Page{Size: 1}, a[0:1], latchkey.PageInfo{HasMore: true, HasNext: true}},
		{"ExactFit", latchkey.Page{Size: 7}, a, latchkey.PageInfo{}},
		{"Larger", latchkey.Page{Size: 100}, a, latchkey.PageInfo{}},
		{"After", latchkey.Page{After: a[2], Size: 3}, a[3:6], latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
		{"AfterToEnd", latchkey.Page{After: a[3], Size: 3}, a[4:7], latchkey.PageInfo{HasPrev: true}},
		{"AfterShortLast", latchkey.Page{After: a[4], Size: 3}, a[5:7], latchkey.PageInfo{HasPrev: true}},
		{"AfterLast", latchkey.Page{After: a[6], Size: 3}, none, latchkey.PageInfo{HasPrev: true}},
		{"AfterBeyondEnd", latchkey.Page{After: highID, Size: 3}, none, latchkey.PageInfo{HasPrev: true}},
		{"AfterBeforeStart", latchkey.Page{After: lowID, Size: 3}, a[0:3], latchkey.PageInfo{HasMore: true, HasNext: true}},
		{"AfterOtherAccountsID", latchkey.Page{After: hexID(5), Size: 2}, a[2:4], latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
		{"AfterOtherAccountsFirst", latchkey.Page{After: hexID(1), Size: 1}, a[0:1], latchkey.PageInfo{HasMore: true, HasNext: true}},
		{"Before", latchkey.Page{Before: a[5], Size: 3}, a[2:5], latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
		{"BeforeToStart", latchkey.Page{Before: a[3], Size: 3}, a[0:3], latchkey.PageInfo{HasNext: true}},
		{"BeforeShortFirst", latchkey.Page{Before: a[2], Size: 3}, a[0:2], latchkey.PageInfo{HasNext: true}},
		{"BeforeFirst", latchkey.Page{Before: a[0], Size: 3}, none, latchkey.PageInfo{HasNext: true}},
		{"BeforeBeforeStart", latchkey.Page{Before: lowID, Size: 3}, none, latchkey.PageInfo{HasNext: true}},
		{"BeforeBeyondEnd", latchkey.Page{Before: highID, Size: 3}, a[4:7], latchkey.PageInfo{HasMore: true, HasPrev: true}},
		{"BeforeBeyondEndAll", latchkey.Page{Before: highID, Size: 7}, a, latchkey.PageInfo{}},
		{"BeforeBeyondEndLarger", latchkey.Page{Before: highID, Size: 100}, a, latchkey.PageInfo{}},
		{"BeforeOtherAccountsLast", latchkey.Page{Before: hexID(15), Size: 2}, a[5:7], latchkey.PageInfo{HasMore: true, HasPrev: true}},
		{"BeforeOtherAccountsID", latchkey.Page{Before: hexID(3), Size: 5}, a[0:1], latchkey.PageInfo{HasNext: true}},
		{"BeforeOfOne", latchkey.Page{Before: a[4], Size: 1}, a[3:4], latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkAppsPage(t, s, acc, tc.page, tc.want, tc.wantInfo)
		})
	}
	t.Run("OtherAccount", func(t *testing.T) {
		checkAppsPage(t, s, other, latchkey.Page{Size: 100}, b, latchkey.PageInfo{})
		checkAppsPage(t, s, other, latchkey.Page{After: b[6], Size: 100}, b[7:], latchkey.PageInfo{HasPrev: true})
	})
}

func checkAppsPage(t *testing.T, s latchkey.Store, accountID string, page latchkey.Page, want []string, wantInfo latchkey.PageInfo) {
	t.Helper()
	apps, info, err := s.ListApps(t.Context(), accountID, page)
	if err != nil {
		t.Errorf("ListApps(%+v) error = %v, want nil", page, err)
		return
	}
	if got := appIDs(apps); !slices.Equal(got, want) {
		t.Errorf("ListApps(%+v) = %v, want %v", page, got, want)
	}
	if info != wantInfo {
		t.Errorf("ListApps(%+v) PageInfo = %+v, want %+v", page, info, wantInfo)
	}
}

func testListAppsEmpty(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	b, _ := createAccount(t, s)
	createApp(t, s, b.ID)
	for _, page := range []latchkey.Page{{Size: 10}, {After: lowID, Size: 10}, {Before: highID, Size: 10}} {
		checkAppsPage(t, s, a.ID, page, nil, latchkey.PageInfo{})
		checkAppsPage(t, s, newID(), page, nil, latchkey.PageInfo{})
	}
}

// testListAppsSingle pages around the one app of an account, using its own
// id as the cursor: the app lies beyond an empty page in either direction.
func testListAppsSingle(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	one := []string{app.ID}
	checkAppsPage(t, s, a.ID, latchkey.Page{Size: 1}, one, latchkey.PageInfo{})
	checkAppsPage(t, s, a.ID, latchkey.Page{After: app.ID, Size: 1}, nil, latchkey.PageInfo{HasPrev: true})
	checkAppsPage(t, s, a.ID, latchkey.Page{Before: app.ID, Size: 1}, nil, latchkey.PageInfo{HasNext: true})
	checkAppsPage(t, s, a.ID, latchkey.Page{After: lowID, Size: 1}, one, latchkey.PageInfo{})
	checkAppsPage(t, s, a.ID, latchkey.Page{Before: highID, Size: 1}, one, latchkey.PageInfo{})
}

func testListAppsFields(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := fullApp(a.ID)
	if err := s.CreateApp(t.Context(), app); err != nil {
		t.Fatalf("CreateApp() error = %v", err)
	}
	plain := createApp(t, s, a.ID)
	for _, page := range []latchkey.Page{{Size: 10}, {Before: highID, Size: 10}} {
		apps, _, err := s.ListApps(t.Context(), a.ID, page)
		if err != nil || len(apps) != 2 {
			t.Fatalf("ListApps(%+v) = %v, %v, want 2 apps", page, appIDs(apps), err)
		}
		report(t, fmt.Sprintf("ListApps(%+v)[0]", page), diffApp(apps[0], app))
		report(t, fmt.Sprintf("ListApps(%+v)[1]", page), diffApp(apps[1], plain))
	}
}

func testListAppsWalkForward(t *testing.T, s latchkey.Store) {
	acc, _, a, _ := pagedApps(t, s)
	for _, size := range []int{1, 2, 3, 7} {
		var got []string
		page := latchkey.Page{Size: size}
		for n := 0; ; n++ {
			if n > len(a) {
				t.Fatalf("size %d: ListApps() pages forward without end", size)
			}
			apps, info, err := s.ListApps(t.Context(), acc, page)
			if err != nil {
				t.Fatalf("ListApps(%+v) error = %v", page, err)
			}
			got = append(got, appIDs(apps)...)
			if info.HasPrev != (n > 0) || info.HasNext != info.HasMore {
				t.Errorf("ListApps(%+v) PageInfo = %+v, want HasPrev %t and HasNext = HasMore", page, info, n > 0)
			}
			if !info.HasMore {
				break
			}
			page = latchkey.Page{After: apps[len(apps)-1].ID, Size: size}
		}
		if !slices.Equal(got, a) {
			t.Errorf("size %d: ListApps() walked forward = %v, want %v", size, got, a)
		}
	}
}

func testListAppsWalkBackward(t *testing.T, s latchkey.Store) {
	acc, _, a, _ := pagedApps(t, s)
	for _, size := range []int{1, 2, 3, 7} {
		var got []string
		page := latchkey.Page{Before: highID, Size: size}
		for n := 0; ; n++ {
			if n > len(a) {
				t.Fatalf("size %d: ListApps() pages backward without end", size)
			}
			apps, info, err := s.ListApps(t.Context(), acc, page)
			if err != nil {
				t.Fatalf("ListApps(%+v) error = %v", page, err)
			}
			ids := appIDs(apps)
			if !slices.IsSorted(ids) {
				t.Errorf("ListApps(%+v) = %v, want ascending id order", page, ids)
			}
			got = append(ids, got...)
			if info.HasNext != (n > 0) || info.HasPrev != info.HasMore {
				t.Errorf("ListApps(%+v) PageInfo = %+v, want HasNext %t and HasPrev = HasMore", page, info, n > 0)
			}
			if !info.HasMore {
				break
			}
			page = latchkey.Page{Before: apps[0].ID, Size: size}
		}
		if !slices.Equal(got, a) {
			t.Errorf("size %d: ListApps() walked backward = %v, want %v", size, got, a)
		}
	}
}

// ---------------------------------------------------------------------------
// Integrations.

func testIntegrationCreateAndGet(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	t0 := now()
	// Webhook ids descend, so that only the stored order can give them back
	// in the order they were given.
	w1, w2, w3 := newID(), newID(), newID()
	in := &latchkey.Integration{
		ID: newID(), AppID: app.ID, Type: latchkey.IntegrationTypeCustom, Status: "active",
		DisplayName: ptr("My integration ✓"),
		Webhooks: []latchkey.Webhook{
			{
				ID: w3, Version: "v2", Target: "https://example.com/a?x=1",
				Triggers:        []string{"conversation:message", "conversation:read", "postback"},
				IncludeFullUser: true, Secret: "plaintext-must-not-persist",
				SealedSecret: []byte{0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x00},
			},
			{
				ID: w1, Version: "v1", Target: "https://example.com/b",
				Triggers: []string{"*"}, IncludeFullSource: true,
				SealedSecret: []byte("sealed-b"),
			},
			{
				ID: w2, Version: "v2", Target: "https://example.com/c",
				Triggers: []string{"conversation:create"}, IncludeFullUser: true, IncludeFullSource: true,
				SealedSecret: bytes.Repeat([]byte{0xab}, 60),
			},
		},
		CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0,
	}
	if err := s.CreateIntegration(t.Context(), in); err != nil {
		t.Fatalf("CreateIntegration() error = %v, want nil", err)
	}
	wantIntegration(t, s, in)
}

func testIntegrationWithoutWebhooks(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := newIntegration(app.ID, "web")
	in.Webhooks = nil
	in.DisplayName = nil
	storeIntegration(t, s, in)
	got, err := s.Integration(t.Context(), app.ID, in.ID)
	if err != nil {
		t.Fatalf("Integration() error = %v, want nil", err)
	}
	if len(got.Webhooks) != 0 {
		t.Errorf("Integration().Webhooks = %+v, want none", got.Webhooks)
	}
	got.Webhooks = nil
	report(t, "Integration()", diffIntegration(got, in))
}

func testIntegrationCreateMissingApp(t *testing.T, s latchkey.Store) {
	in := newIntegration(newID(), latchkey.IntegrationTypeCustom)
	err := s.CreateIntegration(t.Context(), in)
	wantErr(t, "CreateIntegration() in a missing app", err, latchkey.ENOTFOUND, "app")
	wantNoIntegration(t, s, in.AppID, in.ID)
}

func testIntegrationCreateDuplicateID(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	app2 := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	for _, appID := range []string{app.ID, app2.ID} {
		dup := newIntegration(appID, "web")
		dup.ID = in.ID
		err := s.CreateIntegration(t.Context(), dup)
		wantErr(t, fmt.Sprintf("CreateIntegration() with a taken id in app %q", appID), err, latchkey.ECONFLICT, "")
	}
	wantIntegration(t, s, in)
	wantNoIntegration(t, s, app2.ID, in.ID)
}

func testIntegrationGetWrongApp(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	b, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	sibling := createApp(t, s, a.ID)
	foreign := createApp(t, s, b.ID)
	in := createIntegration(t, s, app.ID)
	wantIntegration(t, s, in)
	for _, appID := range []string{sibling.ID, foreign.ID, newID(), ""} {
		wantNoIntegration(t, s, appID, in.ID)
	}
	wantNoIntegration(t, s, app.ID, newID())
}

// pagedIntegrations creates integrations 1…8 of mixed types in one app, and
// integrations 0 and 20 (custom) in another app.
func pagedIntegrations(t *testing.T, s latchkey.Store) (app *latchkey.App, all map[string]*latchkey.Integration) {
	t.Helper()
	a, _ := createAccount(t, s)
	app = createApp(t, s, a.ID)
	other := createApp(t, s, a.ID)
	all = map[string]*latchkey.Integration{}
	types := map[int]string{1: "web", 2: "custom", 3: "custom", 4: "android", 5: "custom", 6: "web", 7: "custom", 8: "web"}
	for _, i := range []int{6, 2, 8, 4, 1, 7, 3, 5} {
		in := newIntegration(app.ID, types[i])
		in.ID = hexID(i)
		in.Webhooks = []latchkey.Webhook{newWebhook(i), newWebhook(i + 100)}
		all[in.ID] = storeIntegration(t, s, in)
	}
	for _, i := range []int{0, 20} {
		in := newIntegration(other.ID, latchkey.IntegrationTypeCustom)
		in.ID = hexID(i)
		storeIntegration(t, s, in)
	}
	return app, all
}

func testListIntegrations(t *testing.T, s latchkey.Store) {
	app, all := pagedIntegrations(t, s)
	ids := func(is ...int) []string {
		out := []string{}
		for _, i := range is {
			out = append(out, hexID(i))
		}
		return out
	}
	custom := []string{latchkey.IntegrationTypeCustom}
	webOrAndroid := []string{"web", "android"}
	cases := []struct {
		name     string
		types    []string
		page     latchkey.Page
		want     []string
		wantInfo latchkey.PageInfo
	}{
		{"All", nil, latchkey.Page{Size: 100}, ids(1, 2, 3, 4, 5, 6, 7, 8), latchkey.PageInfo{}},
		{"EmptyTypesMeansAll", []string{}, latchkey.Page{Size: 100}, ids(1, 2, 3, 4, 5, 6, 7, 8), latchkey.PageInfo{}},
		{"AllFirstPage", nil, latchkey.Page{Size: 3}, ids(1, 2, 3), latchkey.PageInfo{HasMore: true, HasNext: true}},
		{"AllAfter", nil, latchkey.Page{After: hexID(7), Size: 3}, ids(8), latchkey.PageInfo{HasPrev: true}},
		{"AllBefore", nil, latchkey.Page{Before: hexID(4), Size: 2}, ids(2, 3), latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
		{"Custom", custom, latchkey.Page{Size: 100}, ids(2, 3, 5, 7), latchkey.PageInfo{}},
		{"CustomFirstPage", custom, latchkey.Page{Size: 2}, ids(2, 3), latchkey.PageInfo{HasMore: true, HasNext: true}},
		{"CustomAfter", custom, latchkey.Page{After: hexID(3), Size: 2}, ids(5, 7), latchkey.PageInfo{HasPrev: true}},
		{"CustomAfterLast", custom, latchkey.Page{After: hexID(7), Size: 2}, ids(), latchkey.PageInfo{HasPrev: true}},
		{"CustomBefore", custom, latchkey.Page{Before: hexID(5), Size: 5}, ids(2, 3), latchkey.PageInfo{HasNext: true}},
		{"CustomBeforeOfOne", custom, latchkey.Page{Before: hexID(7), Size: 1}, ids(5), latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
		{"CustomBeforeBeyondEnd", custom, latchkey.Page{Before: highID, Size: 3}, ids(3, 5, 7), latchkey.PageInfo{HasMore: true, HasPrev: true}},
		{"SeveralTypes", webOrAndroid, latchkey.Page{Size: 100}, ids(1, 4, 6, 8), latchkey.PageInfo{}},
		{"SeveralTypesAfter", webOrAndroid, latchkey.Page{After: hexID(4), Size: 1}, ids(6), latchkey.PageInfo{HasMore: true, HasPrev: true, HasNext: true}},
		{"UnknownType", []string{"messenger"}, latchkey.Page{Size: 100}, ids(), latchkey.PageInfo{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list, info, err := s.ListIntegrations(t.Context(), app.ID, tc.types, tc.page)
			if err != nil {
				t.Fatalf("ListIntegrations(%q, %+v) error = %v, want nil", tc.types, tc.page, err)
			}
			if got := integrationIDs(list); !slices.Equal(got, tc.want) {
				t.Errorf("ListIntegrations(%q, %+v) = %v, want %v", tc.types, tc.page, got, tc.want)
			}
			if info != tc.wantInfo {
				t.Errorf("ListIntegrations(%q, %+v) PageInfo = %+v, want %+v", tc.types, tc.page, info, tc.wantInfo)
			}
			for i, in := range list {
				if want := all[in.ID]; want != nil {
					report(t, fmt.Sprintf("ListIntegrations(%q, %+v)[%d]", tc.types, tc.page, i), diffIntegration(in, want))
				}
			}
		})
	}
	t.Run("MissingApp", func(t *testing.T) {
		list, info, err := s.ListIntegrations(t.Context(), newID(), nil, latchkey.Page{Size: 10})
		if err != nil || len(list) != 0 || info != (latchkey.PageInfo{}) {
			t.Errorf("ListIntegrations(missing app) = %v, %+v, %v, want [], {}, nil", integrationIDs(list), info, err)
		}
	})
}

func testIntegrationUpdate(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := newIntegration(app.ID, latchkey.IntegrationTypeCustom)
	in.Webhooks = append(in.Webhooks, newWebhook(2))
	storeIntegration(t, s, in)
	other := createIntegration(t, s, app.ID)

	// Only the display name (and the update time) change, whatever else the
	// argument says.
	upd := &latchkey.Integration{
		ID: in.ID, AppID: app.ID, Type: "web", Status: "inactive", DisplayName: ptr("Renamed"),
		CreatedAt: now().Add(time.Hour), UpdatedAt: in.UpdatedAt.Add(time.Minute),
	}
	if err := s.UpdateIntegration(t.Context(), upd); err != nil {
		t.Fatalf("UpdateIntegration() error = %v, want nil", err)
	}
	want := *in
	want.DisplayName = ptr("Renamed")
	want.UpdatedAt = upd.UpdatedAt
	wantIntegration(t, s, &want)

	upd.DisplayName = nil
	upd.UpdatedAt = upd.UpdatedAt.Add(time.Minute)
	if err := s.UpdateIntegration(t.Context(), upd); err != nil {
		t.Fatalf("UpdateIntegration() to nil error = %v, want nil", err)
	}
	want.DisplayName = nil
	want.UpdatedAt = upd.UpdatedAt
	wantIntegration(t, s, &want)

	upd.DisplayName = ptr("")
	if err := s.UpdateIntegration(t.Context(), upd); err != nil {
		t.Fatalf("UpdateIntegration() to empty error = %v, want nil", err)
	}
	want.DisplayName = ptr("")
	wantIntegration(t, s, &want)
	wantIntegration(t, s, other)
}

func testIntegrationUpdateMissing(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	sibling := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)

	missing := newIntegration(app.ID, latchkey.IntegrationTypeCustom)
	err := s.UpdateIntegration(t.Context(), missing)
	wantErr(t, "UpdateIntegration(missing)", err, latchkey.ENOTFOUND, "integration")

	wrong := *in
	wrong.AppID = sibling.ID
	wrong.DisplayName = ptr("Hijacked")
	err = s.UpdateIntegration(t.Context(), &wrong)
	wantErr(t, "UpdateIntegration() through another app", err, latchkey.ENOTFOUND, "integration")
	wantIntegration(t, s, in)
}

func testIntegrationDelete(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, accKey := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	if err := s.DeleteIntegration(ctx, tr.app.ID, tr.in1.ID, nil); err != nil {
		t.Fatalf("DeleteIntegration() error = %v, want nil", err)
	}
	wantNoIntegration(t, s, tr.app.ID, tr.in1.ID)
	wantNoKey(t, s, tr.in1a)
	wantNoKey(t, s, tr.in1b)
	wantKeys(t, s, integrationOwner(tr.app, tr.in1))
	wantKey(t, s, tr.appKey)
	wantKey(t, s, tr.in2Key)
	wantKey(t, s, accKey)
	wantKeys(t, s, appOwner(tr.app), tr.appKey)
	wantApp(t, s, tr.app)
	wantIntegration(t, s, tr.in2)
	list, _, err := s.ListIntegrations(ctx, tr.app.ID, nil, latchkey.Page{Size: 10})
	if got, want := integrationIDs(list), []string{tr.in2.ID}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ListIntegrations() after DeleteIntegration() = %v, %v, want %v, nil", got, err, want)
	}

	err = s.DeleteIntegration(ctx, tr.app.ID, tr.in1.ID, nil)
	wantErr(t, "DeleteIntegration() again", err, latchkey.ENOTFOUND, "integration")

	// Nothing is left behind: the same integration, webhooks and keys can be
	// created again.
	if err := s.CreateIntegration(ctx, tr.in1); err != nil {
		t.Fatalf("CreateIntegration() with the deleted ids error = %v, want nil", err)
	}
	wantIntegration(t, s, tr.in1)
	wantKeys(t, s, integrationOwner(tr.app, tr.in1))
	for _, k := range []*latchkey.Key{tr.in1a, tr.in1b} {
		if err := s.CreateKey(ctx, k, 0); err != nil {
			t.Errorf("CreateKey(%q) with the deleted id and secret error = %v, want nil", k.ID, err)
		}
	}
}

func testIntegrationDeleteWrongApp(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	sibling := createApp(t, s, a.ID)
	for _, appID := range []string{sibling.ID, newID()} {
		err := s.DeleteIntegration(t.Context(), appID, tr.in1.ID, nil)
		wantErr(t, fmt.Sprintf("DeleteIntegration(%q, %q)", appID, tr.in1.ID), err, latchkey.ENOTFOUND, "integration")
	}
	err := s.DeleteIntegration(t.Context(), tr.app.ID, newID(), nil)
	wantErr(t, "DeleteIntegration(missing)", err, latchkey.ENOTFOUND, "integration")
	wantIntegration(t, s, tr.in1)
	wantKeys(t, s, integrationOwner(tr.app, tr.in1), tr.in1a, tr.in1b)
}

// ---------------------------------------------------------------------------
// Keys.

func testKeyRoundTrip(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	t0 := now()
	expires, graceEnd := t0.Add(30*24*time.Hour), t0.Add(time.Hour)
	old, cur := newSecret("old", t0.Add(-time.Hour)), newSecret("new", t0)
	old.Sealed = []byte{0x00, 0xff, 0x10, 0x00, 0x80}
	old.Plain, cur.Plain = "sk_old_plaintext", "sk_new_plaintext"
	old.ExpiresAt = &graceEnd
	k := &latchkey.Key{
		ID: newID(), AccountID: a.ID, AppID: app.ID, IntegrationID: in.ID,
		Name: "Production — payments ✓",
		Policy: latchkey.Policy{
			Type: latchkey.KeyTypePublishable,
			ACL: []latchkey.ACLEntry{
				{
					Scope: latchkey.ACLScope{
						OrganizationID:  []string{"org-1", "org-2"},
						ProductID:       []string{"prod-1"},
						PlanID:          []string{"plan-1"},
						CustomFieldName: []string{"field"},
					},
					Permissions: []string{"GetCustomer", "PostCustomer"},
				},
				{Permissions: []string{"*"}},
			},
			AllowedIPs: []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.0.2.7/32"),
				netip.MustParsePrefix("2001:db8::/32"),
				netip.MustParsePrefix("::1/128"),
			},
			ExpiresAt: &expires,
			Metadata: map[string]any{
				"env": "prod", "count": float64(3), "ratio": 1.5, "enabled": true, "off": false,
			},
		},
		Secrets:   []latchkey.Secret{old, cur},
		CreatedAt: t0.Add(-2 * time.Hour), UpdatedAt: t0,
	}
	if err := s.CreateKey(ctx, k, 10); err != nil {
		t.Fatalf("CreateKey() error = %v, want nil", err)
	}
	wantKey(t, s, k)
	wantKeyByHash(t, s, old.Hash, k)
	wantKeyByHash(t, s, cur.Hash, k)
	wantKeys(t, s, integrationOwner(app, in), k)
}

func testKeyRoundTripOwners(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	for _, o := range []latchkey.KeyOwner{accountOwner(a.ID), appOwner(app), integrationOwner(app, in)} {
		k := newKey(o)
		k.Policy.ACL = []latchkey.ACLEntry{{Permissions: []string{"ListApps"}}}
		storeKey(t, s, k, 10)
		wantKey(t, s, k)
		wantKeyByHash(t, s, k.Secrets[0].Hash, k)
		got, err := s.Key(t.Context(), k.ID)
		if err == nil && got.Scope() != k.Scope() {
			t.Errorf("Key(%q).Scope() = %q, want %q", k.ID, got.Scope(), k.Scope())
		}
	}
}

func testKeyNilPolicy(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	k := newKey(appOwner(app))
	k.Policy = latchkey.Policy{Type: latchkey.KeyTypeSecret}
	storeKey(t, s, k, 0)
	got, err := s.Key(t.Context(), k.ID)
	if err != nil {
		t.Fatalf("Key() error = %v", err)
	}
	if got.Policy.ACL != nil {
		t.Errorf("Key().Policy.ACL = %s, want nil (unrestricted)", show(got.Policy.ACL))
	}
	if got.Policy.AllowedIPs != nil {
		t.Errorf("Key().Policy.AllowedIPs = %s, want nil (any address)", show(got.Policy.AllowedIPs))
	}
	if got.Policy.ExpiresAt != nil {
		t.Errorf("Key().Policy.ExpiresAt = %s, want nil (never)", showTimePtr(got.Policy.ExpiresAt))
	}
	if got.Policy.Metadata != nil {
		t.Errorf("Key().Policy.Metadata = %s, want nil", show(got.Policy.Metadata))
	}
	if len(got.Secrets) == 1 && got.Secrets[0].ExpiresAt != nil {
		t.Errorf("Key().Secrets[0].ExpiresAt = %s, want nil", showTimePtr(got.Secrets[0].ExpiresAt))
	}
	report(t, "Key()", diffKey(got, k))
}

// testKeyEmptyLists checks that empty restrictions stay restrictions: an
// empty ACL allows nothing and empty AllowedIPs admit no address, whereas nil
// would allow everything.
func testKeyEmptyLists(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := newKey(accountOwner(a.ID))
	k.Policy.ACL = []latchkey.ACLEntry{}
	k.Policy.AllowedIPs = []netip.Prefix{}
	storeKey(t, s, k, 0)
	for _, get := range []struct {
		call string
		fn   func() (*latchkey.Key, error)
	}{
		{"Key()", func() (*latchkey.Key, error) { return s.Key(t.Context(), k.ID) }},
		{"KeyBySecretHash()", func() (*latchkey.Key, error) { return s.KeyBySecretHash(t.Context(), k.Secrets[0].Hash) }},
	} {
		got, err := get.fn()
		if err != nil {
			t.Errorf("%s error = %v, want nil", get.call, err)
			continue
		}
		if got.Policy.ACL == nil || len(got.Policy.ACL) != 0 {
			t.Errorf("%s.Policy.ACL = %s, want empty and non-nil", get.call, show(got.Policy.ACL))
		}
		if got.Policy.AllowedIPs == nil || len(got.Policy.AllowedIPs) != 0 {
			t.Errorf("%s.Policy.AllowedIPs = %s, want empty and non-nil", get.call, show(got.Policy.AllowedIPs))
		}
	}
	keys, err := s.ListKeys(t.Context(), accountOwner(a.ID))
	if err != nil {
		t.Fatalf("ListKeys() error = %v", err)
	}
	for _, got := range keys {
		if got.ID == k.ID && (got.Policy.AllowedIPs == nil || got.Policy.ACL == nil) {
			t.Errorf("ListKeys() key %q Policy = %+v, want empty non-nil ACL and AllowedIPs", k.ID, got.Policy)
		}
	}
}

func testKeyMissingOwner(t *testing.T, s latchkey.Store) {
	a, accKey := createAccount(t, s)
	app := createApp(t, s, a.ID)
	cases := []struct {
		name    string
		owner   latchkey.KeyOwner
		subject string
	}{
		{"account", accountOwner(newID()), "account"},
		{"app", latchkey.KeyOwner{AccountID: a.ID, AppID: newID()}, "app"},
		{"integration", latchkey.KeyOwner{AccountID: a.ID, AppID: app.ID, IntegrationID: newID()}, "integration"},
	}
	for _, tc := range cases {
		for _, limit := range []int{0, 10} {
			k := newKey(tc.owner)
			err := s.CreateKey(t.Context(), k, limit)
			wantErr(t, fmt.Sprintf("CreateKey(%d) for a missing %s", limit, tc.name), err, latchkey.ENOTFOUND, tc.subject)
			wantNoKey(t, s, k)
		}
	}
	wantKeys(t, s, accountOwner(a.ID), accKey)
	wantKeys(t, s, appOwner(app))
}

func testKeyMismatchedOwner(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	b, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	sibling := createApp(t, s, a.ID)
	foreign := createApp(t, s, b.ID)
	in := createIntegration(t, s, app.ID)
	cases := []struct {
		name    string
		owner   latchkey.KeyOwner
		subject string
	}{
		{"app of another account", latchkey.KeyOwner{AccountID: b.ID, AppID: app.ID}, "app"},
		{"app of another account (other way)", latchkey.KeyOwner{AccountID: a.ID, AppID: foreign.ID}, "app"},
		{"integration of another app", latchkey.KeyOwner{AccountID: a.ID, AppID: sibling.ID, IntegrationID: in.ID}, "integration"},
		{"integration of another account", latchkey.KeyOwner{AccountID: b.ID, AppID: app.ID, IntegrationID: in.ID}, ""},
		{"integration of an app of another account", latchkey.KeyOwner{AccountID: b.ID, AppID: foreign.ID, IntegrationID: in.ID}, ""},
	}
	for _, tc := range cases {
		k := newKey(tc.owner)
		err := s.CreateKey(t.Context(), k, 10)
		wantErr(t, fmt.Sprintf("CreateKey() for an %s", tc.name), err, latchkey.ENOTFOUND, tc.subject)
		wantNoKey(t, s, k)
	}
	// An integration key without its app is malformed: whatever the error,
	// it must not be stored, where deleting the app would not reach it.
	k := newKey(latchkey.KeyOwner{AccountID: a.ID, IntegrationID: in.ID})
	if err := s.CreateKey(t.Context(), k, 10); err == nil {
		t.Errorf("CreateKey() for an integration without its app error = nil, want an error")
	}
	wantNoKey(t, s, k)
	wantKeys(t, s, appOwner(app))
	wantKeys(t, s, appOwner(sibling))
	wantKeys(t, s, appOwner(foreign))
	wantKeys(t, s, integrationOwner(app, in))
}

func testKeyDuplicateID(t *testing.T, s latchkey.Store) {
	a, accKey := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	k := createKey(t, s, integrationOwner(app, in))
	for _, taken := range []*latchkey.Key{k, accKey} {
		for _, o := range []latchkey.KeyOwner{integrationOwner(app, in), appOwner(app), accountOwner(a.ID)} {
			dup := newKey(o)
			dup.ID, dup.Name = taken.ID, "Impostor"
			err := s.CreateKey(t.Context(), dup, 10)
			wantErr(t, fmt.Sprintf("CreateKey() with taken id %q for %+v", taken.ID, o), err, latchkey.ECONFLICT, "")
			_, err = s.KeyBySecretHash(t.Context(), dup.Secrets[0].Hash)
			wantErr(t, "KeyBySecretHash() of the rejected key", err, latchkey.ENOTFOUND, "key")
		}
		wantKey(t, s, taken)
	}
	wantKeys(t, s, integrationOwner(app, in), k)
	wantKeys(t, s, appOwner(app))
	wantKeys(t, s, accountOwner(a.ID), accKey)
}

func testKeyDuplicateSecretHash(t *testing.T, s latchkey.Store) {
	a, accKey := createAccount(t, s)
	app := createApp(t, s, a.ID)
	taken := createKey(t, s, appOwner(app))
	for _, o := range []latchkey.KeyOwner{appOwner(app), accountOwner(a.ID)} {
		dup := newKey(o)
		dup.Secrets[0].Hash = taken.Secrets[0].Hash
		err := s.CreateKey(t.Context(), dup, 10)
		wantErr(t, fmt.Sprintf("CreateKey() with a taken secret hash for %+v", o), err, latchkey.ECONFLICT, "")
		_, err = s.Key(t.Context(), dup.ID)
		wantErr(t, fmt.Sprintf("Key(%q) of the rejected key", dup.ID), err, latchkey.ENOTFOUND, "key")
	}
	wantKeyByHash(t, s, taken.Secrets[0].Hash, taken)
	wantKeys(t, s, appOwner(app), taken)
	wantKeys(t, s, accountOwner(a.ID), accKey)
}

func testKeyDuplicateSecondSecretHash(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	taken := createKey(t, s, accountOwner(a.ID))
	dup := newKey(accountOwner(a.ID))
	clash := taken.Secrets[0]
	clash.CreatedAt = dup.Secrets[0].CreatedAt.Add(time.Second)
	dup.Secrets = append(dup.Secrets, clash)
	err := s.CreateKey(t.Context(), dup, 0)
	wantErr(t, "CreateKey() whose second secret is taken", err, latchkey.ECONFLICT, "")
	wantNoKey(t, s, &latchkey.Key{ID: dup.ID, Secrets: dup.Secrets[:1]})
	wantKeyByHash(t, s, taken.Secrets[0].Hash, taken)
	wantKey(t, s, taken)
}

// fillKeys gives owner n keys, each created with maxPerOwner limit.
func fillKeys(t *testing.T, s latchkey.Store, o latchkey.KeyOwner, n, limit int) []*latchkey.Key {
	t.Helper()
	keys := make([]*latchkey.Key, n)
	for i := range keys {
		keys[i] = storeKey(t, s, newKey(o), limit)
	}
	return keys
}

func wantLimit(t *testing.T, s latchkey.Store, o latchkey.KeyOwner, limit int) {
	t.Helper()
	k := newKey(o)
	err := s.CreateKey(t.Context(), k, limit)
	wantErr(t, fmt.Sprintf("CreateKey(%d) for full owner %+v", limit, o), err, latchkey.ELIMIT, "")
	wantNoKey(t, s, k)
}

func testKeyLimit(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	o := integrationOwner(app, in)
	keys := fillKeys(t, s, o, 10, 10)
	wantLimit(t, s, o, 10)
	wantLimit(t, s, o, 1)
	wantKeys(t, s, o, keys...)

	keys = append(keys, storeKey(t, s, newKey(o), 11))
	wantLimit(t, s, o, 11)
	keys = append(keys, storeKey(t, s, newKey(o), 0)) // 0: no limit
	wantLimit(t, s, o, 5)
	wantKeys(t, s, o, keys...)
}

func testKeyLimitFreedByDelete(t *testing.T, s latchkey.Store) {
	a, accKey := createAccount(t, s)
	o := accountOwner(a.ID)
	keys := append([]*latchkey.Key{accKey}, fillKeys(t, s, o, 2, 3)...)
	wantLimit(t, s, o, 3)
	if err := s.DeleteKey(t.Context(), keys[1].ID); err != nil {
		t.Fatalf("DeleteKey() error = %v", err)
	}
	k := newKey(o)
	if err := s.CreateKey(t.Context(), k, 3); err != nil {
		t.Errorf("CreateKey(3) after DeleteKey() error = %v, want nil", err)
	}
	wantLimit(t, s, o, 3)
	wantKeys(t, s, o, keys[0], keys[2], k)
}

func testKeyLimitExactOwner(t *testing.T, s latchkey.Store) {
	const limit = 10
	a, accKey := createAccount(t, s)
	p := createApp(t, s, a.ID)
	q := createApp(t, s, a.ID)
	i := createIntegration(t, s, p.ID)
	j := createIntegration(t, s, p.ID)
	b, _ := createAccount(t, s)

	accountKeys := append([]*latchkey.Key{accKey}, fillKeys(t, s, accountOwner(a.ID), limit-1, limit)...)
	// A full account does not stop its apps, nor a full app its integrations.
	pKeys := fillKeys(t, s, appOwner(p), limit, limit)
	iKeys := fillKeys(t, s, integrationOwner(p, i), limit, limit)

	wantLimit(t, s, accountOwner(a.ID), limit)
	wantLimit(t, s, appOwner(p), limit)
	wantLimit(t, s, integrationOwner(p, i), limit)

	// Their siblings and another account are not counted with them.
	qKey := storeKey(t, s, newKey(appOwner(q)), limit)
	jKey := storeKey(t, s, newKey(integrationOwner(p, j)), limit)
	storeKey(t, s, newKey(accountOwner(b.ID)), 2)

	wantKeys(t, s, accountOwner(a.ID), accountKeys...)
	wantKeys(t, s, appOwner(p), pKeys...)
	wantKeys(t, s, integrationOwner(p, i), iKeys...)
	wantKeys(t, s, appOwner(q), qKey)
	wantKeys(t, s, integrationOwner(p, j), jKey)
}

func testKeyConcurrentLimit(t *testing.T, s latchkey.Store) {
	const (
		workers = 20
		limit   = 10
	)
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	o := integrationOwner(app, in)
	keys := make([]*latchkey.Key, workers)
	for n := range keys {
		keys[n] = newKey(o)
	}
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for n := range workers {
		wg.Go(func() {
			<-start
			errs[n] = s.CreateKey(t.Context(), keys[n], limit)
		})
	}
	close(start)
	wg.Wait()

	var created []*latchkey.Key
	limited := 0
	for n, err := range errs {
		switch latchkey.ErrorCode(err) {
		case "":
			created = append(created, keys[n])
		case latchkey.ELIMIT:
			limited++
			wantNoKey(t, s, keys[n])
		default:
			t.Errorf("concurrent CreateKey() error = %v, want nil or code %q", err, latchkey.ELIMIT)
		}
	}
	if len(created) != limit || limited != workers-limit {
		t.Errorf("concurrent CreateKey(): %d succeeded and %d got ELIMIT, want %d and %d", len(created), limited, limit, workers-limit)
	}
	slices.SortFunc(created, func(x, y *latchkey.Key) int { return strings.Compare(x.ID, y.ID) })
	wantKeys(t, s, o, created...)
}

func testKeyGetMissing(t *testing.T, s latchkey.Store) {
	createAccount(t, s)
	got, err := s.Key(t.Context(), newID())
	if wantErr(t, "Key(missing)", err, latchkey.ENOTFOUND, "key") && got != nil {
		t.Errorf("Key(missing) = %+v, want nil", got)
	}
}

func testKeyBySecretHash(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, accKey := createAccount(t, s)
	app := createApp(t, s, a.ID)
	k := newKey(appOwner(app))
	k.Secrets = append(k.Secrets, newSecret("second", k.CreatedAt.Add(time.Second)))
	storeKey(t, s, k, 0)
	wantKeyByHash(t, s, k.Secrets[0].Hash, k)
	wantKeyByHash(t, s, k.Secrets[1].Hash, k)
	wantKeyByHash(t, s, accKey.Secrets[0].Hash, accKey)

	unknown := sha256.Sum256([]byte("unknown"))
	for _, hash := range [][]byte{unknown[:], k.Secrets[0].Hash[:16], append(bytes.Clone(k.Secrets[0].Hash), 0)} {
		got, err := s.KeyBySecretHash(ctx, hash)
		if wantErr(t, fmt.Sprintf("KeyBySecretHash(%x)", hash), err, latchkey.ENOTFOUND, "key") && got != nil {
			t.Errorf("KeyBySecretHash(%x) = %+v, want nil", hash, got)
		}
	}
}

func testListKeysExactOwner(t *testing.T, s latchkey.Store) {
	a, accKey := createAccount(t, s)
	b, bKey := createAccount(t, s)
	p := createApp(t, s, a.ID)
	q := createApp(t, s, a.ID)
	empty := createApp(t, s, a.ID)
	i := createIntegration(t, s, p.ID)
	j := createIntegration(t, s, p.ID)
	foreign := createApp(t, s, b.ID)

	// Keys are created in an order other than their ids'.
	create := func(o latchkey.KeyOwner, n int) []*latchkey.Key {
		keys := make([]*latchkey.Key, n)
		for x := range keys {
			keys[x] = newKey(o)
			keys[x].Name = fmt.Sprintf("key %d of %+v", x, o)
		}
		for x := n - 1; x >= 0; x-- {
			storeKey(t, s, keys[x], 0)
		}
		return keys
	}
	accKeys := append([]*latchkey.Key{accKey}, create(accountOwner(a.ID), 3)...)
	pKeys := create(appOwner(p), 3)
	qKeys := create(appOwner(q), 1)
	iKeys := create(integrationOwner(p, i), 3)
	jKeys := create(integrationOwner(p, j), 2)
	fKeys := create(appOwner(foreign), 2)

	wantKeys(t, s, accountOwner(a.ID), accKeys...)
	wantKeys(t, s, appOwner(p), pKeys...)
	wantKeys(t, s, appOwner(q), qKeys...)
	wantKeys(t, s, appOwner(empty))
	wantKeys(t, s, integrationOwner(p, i), iKeys...)
	wantKeys(t, s, integrationOwner(p, j), jKeys...)
	wantKeys(t, s, accountOwner(b.ID), bKey)
	wantKeys(t, s, appOwner(foreign), fKeys...)
}

func testKeyDelete(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, accKey := createAccount(t, s)
	app := createApp(t, s, a.ID)
	k := newKey(appOwner(app))
	k.Secrets = append(k.Secrets, newSecret("second", k.CreatedAt.Add(time.Second)))
	storeKey(t, s, k, 0)
	other := createKey(t, s, appOwner(app))

	if err := s.DeleteKey(ctx, k.ID); err != nil {
		t.Fatalf("DeleteKey() error = %v, want nil", err)
	}
	wantNoKey(t, s, k)
	wantKey(t, s, other)
	wantKey(t, s, accKey)
	wantKeys(t, s, appOwner(app), other)
	err := s.DeleteKey(ctx, k.ID)
	wantErr(t, "DeleteKey() again", err, latchkey.ENOTFOUND, "key")

	// Its secrets went with it: they can be used again.
	if err := s.CreateKey(ctx, k, 0); err != nil {
		t.Errorf("CreateKey() with the deleted key's id and secrets error = %v, want nil", err)
	}
	wantKeyByHash(t, s, k.Secrets[1].Hash, k)
}

func testKeyDeleteMissing(t *testing.T, s latchkey.Store) {
	_, accKey := createAccount(t, s)
	err := s.DeleteKey(t.Context(), newID())
	wantErr(t, "DeleteKey(missing)", err, latchkey.ENOTFOUND, "key")
	wantKey(t, s, accKey)
}

// ---------------------------------------------------------------------------
// Times.

func wantUTC(t *testing.T, field string, got time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", field, got.Location())
	}
}

func testTimesMicrosecondsUTC(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	// Microseconds that a millisecond or second precision would lose.
	t1 := time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)
	t2 := time.Date(1999, 12, 31, 0, 0, 0, 1000, time.UTC)
	t3 := time.Date(2100, 1, 1, 12, 30, 0, 999999000, time.UTC)

	a := &latchkey.Account{ID: newID(), Name: "Times", CreatedAt: t1}
	k := newKey(accountOwner(a.ID))
	k.CreatedAt, k.UpdatedAt = t1, t2
	k.Policy.ExpiresAt = &t3
	k.Secrets[0].CreatedAt, k.Secrets[0].ExpiresAt = t2, &t3
	if err := s.CreateAccountWithKey(ctx, a, k); err != nil {
		t.Fatalf("CreateAccountWithKey() error = %v", err)
	}
	app := newApp(a.ID)
	app.CreatedAt, app.UpdatedAt = t1, t3
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatalf("CreateApp() error = %v", err)
	}
	in := newIntegration(app.ID, latchkey.IntegrationTypeCustom)
	in.CreatedAt, in.UpdatedAt = t2, t1
	storeIntegration(t, s, in)

	wantKey(t, s, k)
	wantApp(t, s, app)
	wantIntegration(t, s, in)

	if got, err := s.Key(ctx, k.ID); err == nil {
		wantUTC(t, "Key().CreatedAt", got.CreatedAt)
		wantUTC(t, "Key().UpdatedAt", got.UpdatedAt)
		if got.Policy.ExpiresAt != nil {
			wantUTC(t, "Key().Policy.ExpiresAt", *got.Policy.ExpiresAt)
		}
		for n, sec := range got.Secrets {
			wantUTC(t, fmt.Sprintf("Key().Secrets[%d].CreatedAt", n), sec.CreatedAt)
			if sec.ExpiresAt != nil {
				wantUTC(t, fmt.Sprintf("Key().Secrets[%d].ExpiresAt", n), *sec.ExpiresAt)
			}
		}
	}
	if got, err := s.App(ctx, app.ID); err == nil {
		wantUTC(t, "App().CreatedAt", got.CreatedAt)
		wantUTC(t, "App().UpdatedAt", got.UpdatedAt)
	}
	if got, err := s.Integration(ctx, app.ID, in.ID); err == nil {
		wantUTC(t, "Integration().CreatedAt", got.CreatedAt)
		wantUTC(t, "Integration().UpdatedAt", got.UpdatedAt)
	}
}

// testTimesNonUTCInput gives times in another zone: they come back as the
// same instants, in UTC.
func testTimesNonUTCInput(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	t1 := now().In(zone)
	t2 := t1.Add(time.Hour)
	a, _ := createAccount(t, s)
	k := newKey(accountOwner(a.ID))
	k.CreatedAt, k.UpdatedAt = t1, t2
	k.Policy.ExpiresAt = &t2
	k.Secrets[0].CreatedAt = t1
	storeKey(t, s, k, 0)
	app := newApp(a.ID)
	app.CreatedAt, app.UpdatedAt = t1, t2
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatalf("CreateApp() error = %v", err)
	}
	wantKey(t, s, k)
	wantApp(t, s, app)
	if got, err := s.Key(ctx, k.ID); err == nil {
		wantUTC(t, "Key().CreatedAt", got.CreatedAt)
		if got.Policy.ExpiresAt != nil {
			wantUTC(t, "Key().Policy.ExpiresAt", *got.Policy.ExpiresAt)
		}
	}
	if got, err := s.App(ctx, app.ID); err == nil {
		wantUTC(t, "App().UpdatedAt", got.UpdatedAt)
	}
}

func testListAppsSizeBelowOne(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	createApp(t, s, a.ID)
	for _, size := range []int{0, -1} {
		_, _, err := s.ListApps(t.Context(), a.ID, latchkey.Page{Size: size})
		if got := latchkey.ErrorCode(err); got != latchkey.EINVALID {
			t.Errorf("ListApps(Size: %d) error code = %q, want %q", size, got, latchkey.EINVALID)
		}
		_, _, err = s.ListIntegrations(t.Context(), "000000000000000000000000", nil, latchkey.Page{Size: size})
		if got := latchkey.ErrorCode(err); got != latchkey.EINVALID {
			t.Errorf("ListIntegrations(Size: %d) error code = %q, want %q", size, got, latchkey.EINVALID)
		}
	}
}

// queryIDs runs QueryKeys and returns the ids and the total.
func queryIDs(t *testing.T, s latchkey.Store, q latchkey.KeyQuery) ([]string, int) {
	t.Helper()
	keys, total, err := s.QueryKeys(t.Context(), q)
	if err != nil {
		t.Fatalf("QueryKeys(%+v) error = %v", q, err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
		if len(k.Secrets) == 0 {
			t.Fatalf("QueryKeys returned key %s without its secrets", k.ID)
		}
	}
	return ids, total
}

func testQueryKeys(t *testing.T, s latchkey.Store) {
	a, acctKey := createAccount(t, s)
	app := createApp(t, s, a.ID)
	createKey(t, s, appOwner(app)) // another owner: never listed below
	base := now()
	var ids []string
	for i, spec := range []struct {
		name string
		typ  latchkey.KeyType
	}{{"alpha", latchkey.KeyTypeSecret}, {"beta", latchkey.KeyTypePublishable}, {"alpha", latchkey.KeyTypePublishable}, {"gamma", latchkey.KeyTypeSecret}} {
		k := newKey(accountOwner(a.ID))
		k.ID = hexID(100 + i)
		k.Name, k.Policy.Type = spec.name, spec.typ
		k.CreatedAt = base.Add(time.Duration(i) * time.Second)
		k.UpdatedAt = base.Add(time.Duration(10-i) * time.Second)
		k.Secrets = []latchkey.Secret{newSecret(k.ID, k.CreatedAt)}
		storeKey(t, s, k, 0)
		ids = append(ids, k.ID)
	}
	all := append([]string{acctKey.ID}, ids...)
	owner := accountOwner(a.ID)
	byCreated := []latchkey.KeySort{{Field: latchkey.KeyFieldCreated}}
	tests := []struct {
		name      string
		q         latchkey.KeyQuery
		want      []string
		wantTotal int
	}{
		{"no filter, by id", latchkey.KeyQuery{Owner: owner, Limit: 100}, sortedCopy(all), 5},
		{"limit and offset", latchkey.KeyQuery{Owner: owner, Limit: 2, Offset: 1, Sort: byCreated}, ids[:2], 5},
		{"limit 0 still counts", latchkey.KeyQuery{Owner: owner, Limit: 0}, []string{}, 5},
		{"offset past the end", latchkey.KeyQuery{Owner: owner, Limit: 10, Offset: 9}, []string{}, 5},
		{"created descending", latchkey.KeyQuery{Owner: owner, Limit: 3, Sort: []latchkey.KeySort{{Field: latchkey.KeyFieldCreated, Desc: true}}},
			[]string{ids[3], ids[2], ids[1]}, 5},
		{"updated ascending", latchkey.KeyQuery{Owner: owner, Limit: 2, Filters: []latchkey.KeyFilter{{Field: latchkey.KeyFieldID, Values: ids}},
			Sort: []latchkey.KeySort{{Field: latchkey.KeyFieldUpdated}}}, []string{ids[3], ids[2]}, 4},
		{"type filter", latchkey.KeyQuery{Owner: owner, Limit: 10, Filters: []latchkey.KeyFilter{{Field: latchkey.KeyFieldType, Values: []string{"publishable"}}}},
			[]string{ids[1], ids[2]}, 2},
		{"negated type filter", latchkey.KeyQuery{Owner: owner, Limit: 10, Sort: byCreated,
			Filters: []latchkey.KeyFilter{{Field: latchkey.KeyFieldType, Values: []string{"publishable"}, Negate: true}}},
			[]string{acctKey.ID, ids[0], ids[3]}, 3},
		{"name alternatives and id", latchkey.KeyQuery{Owner: owner, Limit: 10, Filters: []latchkey.KeyFilter{
			{Field: latchkey.KeyFieldName, Values: []string{"alpha", "gamma"}}, {Field: latchkey.KeyFieldID, Values: []string{ids[2], ids[3]}}}},
			[]string{ids[2], ids[3]}, 2},
		{"nothing matches", latchkey.KeyQuery{Owner: owner, Limit: 10, Filters: []latchkey.KeyFilter{{Field: latchkey.KeyFieldName, Values: []string{"x"}}}},
			[]string{}, 0},
		{"app owner sees only its key", latchkey.KeyQuery{Owner: appOwner(app), Limit: 10}, nil, 1},
	}
	for _, tt := range tests {
		got, total := queryIDs(t, s, tt.q)
		if total != tt.wantTotal || (tt.want != nil && !slices.Equal(got, tt.want)) {
			t.Errorf("%s: QueryKeys = %v (total %d), want %v (total %d)", tt.name, got, total, tt.want, tt.wantTotal)
		}
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func testQueryKeysBadPage(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	for _, q := range []latchkey.KeyQuery{
		{Owner: accountOwner(a.ID), Limit: -1},
		{Owner: accountOwner(a.ID), Limit: 1, Offset: -1},
		{Owner: accountOwner(a.ID), Limit: 1, Filters: []latchkey.KeyFilter{{Field: "secret", Values: []string{"x"}}}},
		{Owner: accountOwner(a.ID), Limit: 1, Filters: []latchkey.KeyFilter{{Field: latchkey.KeyFieldID}}},
		{Owner: accountOwner(a.ID), Limit: 1, Sort: []latchkey.KeySort{{Field: "name; DROP TABLE keys"}}},
	} {
		if _, _, err := s.QueryKeys(t.Context(), q); latchkey.ErrorCode(err) != latchkey.EINVALID {
			t.Errorf("QueryKeys(%+v) error = %v, want EINVALID", q, err)
		}
	}
	if _, total, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: accountOwner(a.ID), Limit: 1}); err != nil || total != 1 {
		t.Fatalf("after refused queries: total %d, err %v", total, err)
	}
}

func testUpdateKey(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	exp := now().Add(time.Hour)
	upd := *k
	upd.Name = "renamed"
	upd.Policy = latchkey.Policy{
		Type:       latchkey.KeyTypeSecret,
		ACL:        []latchkey.ACLEntry{{Scope: latchkey.ACLScope{OrganizationID: []string{"o1"}}, Permissions: []string{"GetApiKey"}}},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		ExpiresAt:  &exp,
		Metadata:   map[string]any{"team": "billing"},
	}
	upd.UpdatedAt = now().Add(time.Minute)
	upd.Secrets = nil // UpdateKey leaves secrets alone
	if err := s.UpdateKey(t.Context(), &upd); err != nil {
		t.Fatal(err)
	}
	got, err := s.Key(t.Context(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "renamed" || !reflect.DeepEqual(got.Policy, upd.Policy) || !got.UpdatedAt.Equal(upd.UpdatedAt) ||
		!got.CreatedAt.Equal(k.CreatedAt) || len(got.Secrets) != 1 || !bytes.Equal(got.Secrets[0].Hash, k.Secrets[0].Hash) {
		t.Fatalf("after UpdateKey: %+v, want name, policy and updatedAt replaced, secrets and createdAt kept", got)
	}
	// Back to unrestricted: nil stays nil.
	upd.Policy = latchkey.Policy{Type: latchkey.KeyTypeSecret}
	if err := s.UpdateKey(t.Context(), &upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Key(t.Context(), k.ID); got.Policy.ACL != nil || got.Policy.AllowedIPs != nil || got.Policy.ExpiresAt != nil {
		t.Fatalf("policy after clearing = %+v", got.Policy)
	}
	missing := upd
	missing.ID = newID()
	if err := s.UpdateKey(t.Context(), &missing); latchkey.ErrorCode(err) != latchkey.ENOTFOUND || latchkey.ErrorSubject(err) != "key" {
		t.Fatalf("UpdateKey(missing) error = %v, want ENOTFOUND key", err)
	}
}
