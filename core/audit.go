package core

import (
	"context"

	"github.com/latchkey/latchkey"
)

// AuditEvents lists the audit events of the principal's account that q
// selects; q's account is the principal's, whatever q says. Account keys
// only: an app's or an integration's key would see the whole account's
// log.
func (s *Service) AuditEvents(ctx context.Context, p *latchkey.Principal, q latchkey.AuditQuery) ([]*latchkey.AuditEvent, error) {
	if err := requireAccountScope(p); err != nil {
		return nil, err
	}
	q.AccountID, q.All = p.AccountID, false
	return s.store.AuditEvents(ctx, q)
}
