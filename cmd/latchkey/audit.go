package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/latchkey/latchkey"
)

// auditCommand runs "latchkey audit SUBCOMMAND".
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return errors.New(`usage: latchkey audit export [--from RFC3339] [--to RFC3339] [--account ID] [database flags]`)
	}
	return auditExport(ctx, args[1:], getenv, stdout, stderr)
}

// exportedEvent is one line of the export: every field of the event, with
// the account, since the export spans every account.
type exportedEvent struct {
	ID         string            `json:"id"`
	Time       string            `json:"time"`
	AccountID  string            `json:"accountId,omitempty"`
	Actor      string            `json:"actor,omitempty"`
	Action     string            `json:"action"`
	TargetType string            `json:"targetType,omitempty"`
	TargetID   string            `json:"targetId,omitempty"`
	ClientIP   string            `json:"clientIp,omitempty"`
	RequestID  string            `json:"requestId,omitempty"`
	Surface    string            `json:"surface"`
	Outcome    string            `json:"outcome"`
	Detail     map[string]string `json:"detail,omitempty"`
}

// auditExport writes the audit log, every account's and the server-wide
// events, as JSON lines, oldest first, reading it a page at a time. It takes
// the same database settings as serve and runs beside a running server.
func auditExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var from, to, account string
	_, _, app, err := startApp(ctx, "audit export", args, getenv, stderr, func(fs *flagSet) {
		fs.StringVar(&from, "from", "", "only events at or after this time (RFC 3339)")
		fs.StringVar(&to, "to", "", "only events before this time (RFC 3339)")
		fs.StringVar(&account, "account", "", "only this account's events; default: every account's, and the server-wide events")
	})
	if err != nil {
		return err
	}
	defer app.close()
	q := latchkey.AuditQuery{AccountID: account, All: account == "", Oldest: true, Limit: latchkey.MaxAuditPage}
	for _, b := range []struct {
		flag, value string
		dst         *time.Time
	}{{"--from", from, &q.From}, {"--to", to, &q.To}} {
		if b.value == "" {
			continue
		}
		if *b.dst, err = time.Parse(time.RFC3339Nano, b.value); err != nil {
			return fmt.Errorf("%s %q: want an RFC 3339 time, such as 2026-01-02T15:04:05Z", b.flag, b.value)
		}
	}
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	for {
		page, err := app.store.AuditEvents(ctx, q)
		if err != nil {
			return err
		}
		for _, ev := range page {
			line := exportedEvent{
				ID: ev.ID, Time: ev.Time.UTC().Format(time.RFC3339Nano), AccountID: ev.AccountID, Actor: ev.Actor,
				Action: ev.Action, TargetType: ev.TargetType, TargetID: ev.TargetID, ClientIP: ev.ClientIP,
				RequestID: ev.RequestID, Surface: ev.Surface, Outcome: string(ev.Outcome), Detail: ev.Detail,
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return out.Flush()
		}
		q.After = page[len(page)-1].ID
	}
}
