package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// insertAuditEvents writes events in tx: with the change they record (see
// inTx), or alone (AppendAuditEvents).
func insertAuditEvents(ctx context.Context, tx pgx.Tx, events ...*latchkey.AuditEvent) error {
	for _, ev := range events {
		var detail []byte
		if len(ev.Detail) > 0 {
			b, err := json.Marshal(ev.Detail)
			if err != nil {
				return err
			}
			detail = b
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_events
			(id, time, account_id, actor, action, target_type, target_id, client_ip, request_id, surface, outcome, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			ev.ID, ev.Time, ev.AccountID, ev.Actor, ev.Action, ev.TargetType, ev.TargetID,
			ev.ClientIP, ev.RequestID, ev.Surface, string(ev.Outcome), detail)
		if err != nil {
			return mapError(err, "audit event")
		}
	}
	return nil
}

// AppendAuditEvents appends events that record no change of their own.
func (s *Store) AppendAuditEvents(ctx context.Context, events ...*latchkey.AuditEvent) (err error) {
	defer markUnavailable(&err)
	if len(events) == 0 {
		return nil
	}
	ctx = latchkey.WithAuditEvent(ctx, nil) // these events only
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return insertAuditEvents(ctx, tx, events...)
	})
}

// AuditEvents lists the events q selects.
func (s *Store) AuditEvents(ctx context.Context, q latchkey.AuditQuery) (_ []*latchkey.AuditEvent, err error) {
	defer markUnavailable(&err)
	if err := latchkey.ValidAuditQuery(q); err != nil {
		return nil, err
	}
	var where []string
	var p params
	eq := func(column, v string) {
		where = append(where, column+" = "+p.add(textArg(v)))
	}
	if !q.All {
		eq("account_id", q.AccountID)
	}
	if q.Actor != "" {
		eq("actor", q.Actor)
	}
	if q.Target != "" {
		eq("target_id", q.Target)
	}
	if q.Action != "" {
		eq("action", q.Action)
	}
	if q.Outcome != "" {
		eq("outcome", string(q.Outcome))
	}
	if !q.From.IsZero() {
		where = append(where, "time >= "+p.add(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "time < "+p.add(q.To))
	}
	order := "DESC"
	if q.Oldest {
		order = "ASC"
	}
	if q.After != "" {
		op := "<"
		if q.Oldest {
			op = ">"
		}
		where = append(where, "id "+op+" "+p.add(textArg(q.After)))
	}
	query := `SELECT id, time, account_id, actor, action, target_type, target_id, client_ip, request_id, surface, outcome, detail
		FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id " + order + " LIMIT " + p.add(q.Limit)
	rows, err := s.pool.Query(ctx, query, p...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*latchkey.AuditEvent
	for rows.Next() {
		var ev latchkey.AuditEvent
		var outcome string
		var detail []byte
		if err := rows.Scan(&ev.ID, &ev.Time, &ev.AccountID, &ev.Actor, &ev.Action, &ev.TargetType, &ev.TargetID,
			&ev.ClientIP, &ev.RequestID, &ev.Surface, &outcome, &detail); err != nil {
			return nil, err
		}
		ev.Time = ev.Time.UTC()
		ev.Outcome = latchkey.AuditOutcome(outcome)
		if detail != nil {
			if err := json.Unmarshal(detail, &ev.Detail); err != nil {
				return nil, err
			}
		}
		out = append(out, &ev)
	}
	return out, rows.Err()
}

// PruneAuditEvents deletes the events older than before.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (n int64, err error) {
	defer markUnavailable(&err)
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE time < $1`, before)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
