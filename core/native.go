package core

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// OwnerOf returns the owner that holds k.
func OwnerOf(k *latchkey.Key) latchkey.KeyOwner {
	return latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}
}

// KeyByID returns a key by its id alone, as the native API addresses keys,
// with its secrets unsealed where the principal may see them. A key the
// principal could not reach through its owner (another account, another
// app, an integration of its own not its) is ENOTFOUND, as if it did not
// exist.
func (s *Service) KeyByID(ctx context.Context, p *latchkey.Principal, keyID string) (*latchkey.Key, error) {
	k, err := s.store.Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	owner := OwnerOf(k)
	if k.AccountID != p.AccountID || s.ownerFor(ctx, p, &owner) != nil {
		return nil, latchkey.NotFound("key")
	}
	return k, s.reveal(p, k)
}

// MaxGracePeriod bounds how long a rolled-over secret keeps working.
const MaxGracePeriod = 30 * 24 * time.Hour

// RollKey gives one of owner's keys a new secret and returns the key with
// it in plaintext (once). The secrets it had keep working for grace, never
// past the key's own expiry; a grace of 0 ends them at once. Rolling needs
// rights over the key, as changing it does.
func (s *Service) RollKey(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID string, grace time.Duration) (*latchkey.Key, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return nil, latchkey.Invalid("gracePeriod", "gracePeriod must be between 0 and 720h")
	}
	k, err := s.ownedKey(ctx, p, owner, keyID)
	if err != nil {
		return nil, err
	}
	if err := withinRights(p, k); err != nil {
		return nil, err
	}
	now := s.timestamp()
	next, err := s.newSecret(k, now)
	if err != nil {
		return nil, err
	}
	var oldUntil *time.Time
	if grace > 0 {
		until := now.Add(grace)
		if exp := k.Policy.ExpiresAt; exp != nil && exp.Before(until) {
			until = *exp
		}
		oldUntil = &until
	}
	if err := s.store.RollKey(s.audited(ctx, p, latchkey.ActionKeyRoll, "key", keyID, "gracePeriod", grace.String()), keyID, next, oldUntil); err != nil {
		return nil, err
	}
	s.added(keyID, next)
	if k, err = s.store.Key(ctx, keyID); err != nil {
		return nil, err
	}
	if err := s.unseal(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Granularity is the width of the buckets a usage report sums into.
type Granularity string

// The granularities a usage report offers.
const (
	ByMinute Granularity = "minute"
	ByHour   Granularity = "hour"
	ByDay    Granularity = "day"
)

// MaxUsageBuckets bounds one usage report, so that a wide range at a fine
// granularity cannot ask for an unbounded answer.
const MaxUsageBuckets = 10000

// KeyUsage returns a key's verification counts by outcome between from and
// to (to excluded), summed into buckets of the granularity (UTC), oldest
// first; only buckets with counts appear. The principal needs to be able to
// see the key (KeyByID).
func (s *Service) KeyUsage(ctx context.Context, p *latchkey.Principal, keyID string, from, to time.Time, g Granularity) ([]latchkey.UsageCount, error) {
	width := map[Granularity]time.Duration{ByMinute: time.Minute, ByHour: time.Hour, ByDay: 24 * time.Hour}[g]
	switch {
	case width == 0:
		return nil, latchkey.Invalid("granularity", "granularity must be minute, hour or day")
	case !from.Before(to):
		return nil, latchkey.Invalid("from", "from must be before to")
	case to.Sub(from)/width > MaxUsageBuckets:
		return nil, latchkey.Invalid("granularity", "that range holds too many buckets at this granularity; use a coarser one")
	}
	if _, err := s.KeyByID(ctx, p, keyID); err != nil {
		return nil, err
	}
	counts, err := s.store.Usage(ctx, keyID, from.UTC().Truncate(width), to.UTC())
	if err != nil {
		return nil, err
	}
	var out []latchkey.UsageCount
	index := map[[2]string]int{}
	for _, c := range counts {
		c.Minute = c.Minute.Truncate(width)
		k := [2]string{c.Minute.Format(time.RFC3339), string(c.Code)}
		if i, ok := index[k]; ok {
			out[i].Count += c.Count
			continue
		}
		index[k] = len(out)
		out = append(out, c)
	}
	return out, nil
}
