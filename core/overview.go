package core

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// What the dashboard's overview shows of an account. Account keys only:
// the figures are the whole account's.

// RecordCounts reports how many apps, integrations and keys the principal's
// account holds.
func (s *Service) RecordCounts(ctx context.Context, p *latchkey.Principal) (latchkey.RecordCounts, error) {
	if err := requireAccountScope(p); err != nil {
		return latchkey.RecordCounts{}, err
	}
	return s.store.CountRecords(ctx, p.AccountID)
}

// KeyStats counts the principal's account's keys by state and by hygiene
// finding at at.
func (s *Service) KeyStats(ctx context.Context, p *latchkey.Principal, at time.Time) (latchkey.KeyStats, error) {
	if err := requireAccountScope(p); err != nil {
		return latchkey.KeyStats{}, err
	}
	return s.store.KeyStats(ctx, p.AccountID, at)
}

// UsageSummary sums the usage q selects within the principal's account
// (whatever q names): every key's, or those of q.KeyIDs.
func (s *Service) UsageSummary(ctx context.Context, p *latchkey.Principal, q latchkey.UsageQuery) ([]latchkey.UsageCount, error) {
	if err := requireAccountScope(p); err != nil {
		return nil, err
	}
	q.AccountID = p.AccountID
	return s.store.UsageSummary(ctx, q)
}

// RevealSecrets returns one of the account's keys with its secrets in
// plaintext, for the dashboard's explicit "reveal": only a key within the
// principal's rights (EFORBIDDEN otherwise), and the reveal is audited, as
// a change is, since a secret shown is a secret that may leave.
func (s *Service) RevealSecrets(ctx context.Context, p *latchkey.Principal, keyID string) (*latchkey.Key, error) {
	k, err := s.KeyByID(ctx, p, keyID)
	if err != nil {
		return nil, err
	}
	if err := withinRights(p, k); err != nil {
		return nil, err
	}
	ev := s.audited(ctx, p, latchkey.ActionKeyReveal, "key", k.ID)
	if err := s.store.AppendAuditEvents(ctx, latchkey.AuditEventFrom(ev)); err != nil {
		return nil, err
	}
	return k, nil
}
