package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey"
)

// Store operations InstrumentStore times, as the operation label names
// them.
const (
	OpKey             = "key"
	OpKeyBySecretHash = "key_by_secret_hash"
	OpSession         = "session"
	OpAddUsage        = "add_usage"
	OpCreateKey       = "create_key"
	OpUpdateKey       = "update_key"
	OpRollKey         = "roll_key"
	OpDeleteKey       = "delete_key"
	OpListKeys        = "list_keys"
	OpQueryKeys       = "query_keys"
)

// InstrumentStore returns s with the duration of these operations observed
// in latchkey_store_operation_duration_seconds: the verifier's reads on a
// cache miss (Key, KeyBySecretHash), the dashboard's session read
// (Session), the usage flush (AddUsage), and the key operations of the
// management APIs (CreateKey, UpdateKey, RollKey, DeleteKey, ListKeys,
// QueryKeys). Every other method passes through untimed. With a nil m, s
// is returned as it is.
//
// The store returned is only a latchkey.Store: type assertions for other
// interfaces (latchkey.SharedStore and the like) must be made on s.
func (m *Metrics) InstrumentStore(s latchkey.Store) latchkey.Store {
	if m == nil {
		return s
	}
	op := func(name string) prometheus.Observer { return m.store.WithLabelValues(name) }
	return &timedStore{
		Store: s,
		key:   op(OpKey), keyBySecretHash: op(OpKeyBySecretHash), session: op(OpSession), addUsage: op(OpAddUsage),
		createKey: op(OpCreateKey), updateKey: op(OpUpdateKey), rollKey: op(OpRollKey), deleteKey: op(OpDeleteKey),
		listKeys: op(OpListKeys), queryKeys: op(OpQueryKeys),
	}
}

type timedStore struct {
	latchkey.Store
	key, keyBySecretHash, session, addUsage                       prometheus.Observer
	createKey, updateKey, rollKey, deleteKey, listKeys, queryKeys prometheus.Observer
}

func since(o prometheus.Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

func (s *timedStore) Key(ctx context.Context, id string) (*latchkey.Key, error) {
	defer since(s.key, time.Now())
	return s.Store.Key(ctx, id)
}

func (s *timedStore) KeyBySecretHash(ctx context.Context, hash []byte) (*latchkey.Key, error) {
	defer since(s.keyBySecretHash, time.Now())
	return s.Store.KeyBySecretHash(ctx, hash)
}

func (s *timedStore) Session(ctx context.Context, hash []byte) (*latchkey.Session, error) {
	defer since(s.session, time.Now())
	return s.Store.Session(ctx, hash)
}

func (s *timedStore) AddUsage(ctx context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) error {
	defer since(s.addUsage, time.Now())
	return s.Store.AddUsage(ctx, counts, lastUsed)
}

func (s *timedStore) CreateKey(ctx context.Context, k *latchkey.Key, maxPerOwner int) error {
	defer since(s.createKey, time.Now())
	return s.Store.CreateKey(ctx, k, maxPerOwner)
}

func (s *timedStore) UpdateKey(ctx context.Context, k *latchkey.Key) error {
	defer since(s.updateKey, time.Now())
	return s.Store.UpdateKey(ctx, k)
}

func (s *timedStore) RollKey(ctx context.Context, keyID string, next latchkey.Secret, oldUntil *time.Time) error {
	defer since(s.rollKey, time.Now())
	return s.Store.RollKey(ctx, keyID, next, oldUntil)
}

func (s *timedStore) DeleteKey(ctx context.Context, id string) error {
	defer since(s.deleteKey, time.Now())
	return s.Store.DeleteKey(ctx, id)
}

func (s *timedStore) ListKeys(ctx context.Context, owner latchkey.KeyOwner) ([]*latchkey.Key, error) {
	defer since(s.listKeys, time.Now())
	return s.Store.ListKeys(ctx, owner)
}

func (s *timedStore) QueryKeys(ctx context.Context, q latchkey.KeyQuery) ([]*latchkey.Key, int, error) {
	defer since(s.queryKeys, time.Now())
	return s.Store.QueryKeys(ctx, q)
}
