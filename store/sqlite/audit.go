package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const insertAuditSQL = `INSERT INTO audit_events
	(id, time, account_id, actor, action, target_type, target_id, client_ip, request_id, surface, outcome, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertAuditEvents writes events in tx: with the change they record (see
// inWriteTx), or alone (AppendAuditEvents).
func (s *Store) insertAuditEvents(ctx context.Context, tx *sql.Tx, events ...*latchkey.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	st := stmtIn(ctx, tx, s.stmts.insertAudit)
	defer st.Close()
	for _, ev := range events {
		var detail any
		if len(ev.Detail) > 0 {
			b, err := json.Marshal(ev.Detail)
			if err != nil {
				return err
			}
			detail = string(b)
		}
		_, err := st.ExecContext(ctx, ev.ID, formatTime(ev.Time), ev.AccountID, ev.Actor, ev.Action, ev.TargetType, ev.TargetID,
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
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		return s.insertAuditEvents(ctx, tx, events...)
	})
}

// AuditEvents lists the events q selects.
func (s *Store) AuditEvents(ctx context.Context, q latchkey.AuditQuery) (_ []*latchkey.AuditEvent, err error) {
	defer markUnavailable(&err)
	if err := latchkey.ValidAuditQuery(q); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if !q.All {
		add("account_id = ?", q.AccountID)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Target != "" {
		add("target_id = ?", q.Target)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.Outcome != "" {
		add("outcome = ?", string(q.Outcome))
	}
	if !q.From.IsZero() {
		add("time >= ?", formatTime(q.From))
	}
	if !q.To.IsZero() {
		add("time < ?", formatTime(q.To))
	}
	order := "DESC"
	if q.Oldest {
		order = "ASC"
	}
	if q.After != "" {
		if q.Oldest {
			add("id > ?", q.After)
		} else {
			add("id < ?", q.After)
		}
	}
	query := `SELECT id, time, account_id, actor, action, target_type, target_id, client_ip, request_id, surface, outcome, detail
		FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id " + order + " LIMIT ?"
	args = append(args, q.Limit)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*latchkey.AuditEvent
	for rows.Next() {
		var ev latchkey.AuditEvent
		var at, outcome string
		var detail sql.NullString
		if err := rows.Scan(&ev.ID, &at, &ev.AccountID, &ev.Actor, &ev.Action, &ev.TargetType, &ev.TargetID,
			&ev.ClientIP, &ev.RequestID, &ev.Surface, &outcome, &detail); err != nil {
			return nil, err
		}
		if ev.Time, err = parseTime(at); err != nil {
			return nil, err
		}
		ev.Outcome = latchkey.AuditOutcome(outcome)
		if detail.Valid {
			if err := json.Unmarshal([]byte(detail.String), &ev.Detail); err != nil {
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
	ctx = latchkey.WithAuditEvent(ctx, nil)
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE time < ?`, formatTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
