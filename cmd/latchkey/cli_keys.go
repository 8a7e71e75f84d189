package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/sdk"
)

// keyCommands are latchkey keys ….
func keyCommands() []command {
	id := func(path, summary string, setup func(*flag.FlagSet) runFunc) command {
		return command{path: path, args: "KEY_ID", minArgs: 1, maxArgs: 1, remote: true, summary: summary, setup: setup}
	}
	types := map[string][]string{"type": {string(sdk.KeyTypeSecret), string(sdk.KeyTypePublishable)}}
	update := id("keys update", "change a key's name or policy: each flag given replaces that part, --clear removes one", keysUpdateSetup)
	update.values = map[string][]string{"clear": keyClearable}
	create := command{path: "keys create", remote: true, setup: keysCreateSetup, values: types,
		summary: "make a key; its secret is printed this once, never again"}
	return []command{
		{path: "keys list", remote: true, summary: "list keys, in id order: every key within the caller's own owner, or one owner's with --owner",
			setup: keysListSetup},
		id("keys get", "show a key (never its secret)", keysGetSetup),
		create,
		update,
		id("keys roll", "give a key a new secret, printed this once; the old one keeps working for --grace", keysRollSetup),
		id("keys disable", "switch a key off: it authenticates nowhere until enabled, and keeps its settings", keysSwitchSetup(false)),
		id("keys enable", "switch a disabled key back on", keysSwitchSetup(true)),
		id("keys delete", "delete a key: it stops working at once", keysDeleteSetup),
	}
}

var keyHeader = []string{"ID", "NAME", "OWNER", "TYPE", "STATUS", "PERMISSIONS", "EXPIRES", "LAST USED"}

func keyRow(k *sdk.Key) []string {
	return []string{k.ID, k.Name, ownerString(k.Owner), string(k.Type), keyStatus(k), permissionsString(k),
		timePtrString(k.ExpiresAt), timePtrString(k.LastUsedAt)}
}

// printKey shows one key. Its secret is in the answers of create and roll
// only: then it is shown, with a warning on stderr that it is shown once
// (with --json, as the API returns it).
func (c *cli) printKey(k *sdk.Key) error {
	if c.json {
		return c.printJSON(k)
	}
	permissions, acl := strings.Join(k.Permissions, ","), ""
	if permissions == "" {
		permissions = "(none)"
	}
	if len(k.ACL) > 0 {
		b, _ := json.Marshal(k.ACL)
		acl = string(b)
	}
	fields := [][2]string{
		{"ID", k.ID}, {"NAME", k.Name}, {"OWNER", ownerString(k.Owner)}, {"TYPE", string(k.Type)}, {"PREFIX", k.Prefix},
		{"STATUS", keyStatus(k)}, {"PERMISSIONS", permissions}, {"ACL", acl},
		{"ALLOWED IPS", strings.Join(k.AllowedIPs, ",")}, {"EXPIRES", timePtrString(k.ExpiresAt)},
		{"RATE LIMIT", rateLimitString(k.RateLimit)}, {"METADATA", metadataString(k.Metadata)},
		{"CREATED", timeString(k.CreatedAt)}, {"UPDATED", timeString(k.UpdatedAt)}, {"LAST USED", timePtrString(k.LastUsedAt)},
	}
	if k.Secret != "" {
		fields = append(fields, [2]string{"SECRET", k.Secret.Reveal()})
	}
	if err := c.printFields(fields); err != nil {
		return err
	}
	if k.Secret != "" {
		fmt.Fprintln(c.stderr, "latchkey: the secret is shown this once and never again: store it now")
	}
	return nil
}

// parseOwner reads --owner: account:ID, app:ID or integration:APP_ID/ID.
func parseOwner(v string) (*sdk.Owner, error) {
	kind, id, _ := strings.Cut(v, ":")
	bad := usageError("--owner %q: want account:ACCOUNT_ID, app:APP_ID or integration:APP_ID/INTEGRATION_ID", v)
	if id == "" {
		return nil, bad
	}
	switch sdk.OwnerType(kind) {
	case sdk.OwnerAccount, sdk.OwnerApp:
		if strings.Contains(id, "/") {
			return nil, bad
		}
		return &sdk.Owner{Type: sdk.OwnerType(kind), ID: id}, nil
	case sdk.OwnerIntegration:
		app, in, ok := strings.Cut(id, "/")
		if !ok || app == "" || in == "" {
			return nil, bad
		}
		return &sdk.Owner{Type: sdk.OwnerIntegration, ID: in, AppID: app}, nil
	}
	return nil, bad
}

// parseRateLimit reads --rate-limit N/PERIOD, such as 100/1m.
func parseRateLimit(v string) (*sdk.RateLimit, error) {
	n, period, ok := strings.Cut(v, "/")
	limit, err := strconv.Atoi(n)
	if !ok || err != nil || limit < 1 {
		return nil, usageError("--rate-limit %q: want N/PERIOD, such as 100/1m", v)
	}
	d, err := time.ParseDuration(period)
	if err != nil {
		return nil, usageError("--rate-limit %q: the period is a duration such as 1s, 1m or 24h", v)
	}
	return &sdk.RateLimit{Limit: limit, Period: d}, nil
}

// keyClearable are the members keys update --clear removes, named as the
// flags that set them: permission (none left), acl-json (no scoped
// entries), allow-ip (any address), expires (never), rate-limit (none),
// metadata (none).
var keyClearable = []string{"permission", "acl-json", "allow-ip", "expires", "rate-limit", "metadata"}

// policyFlags are the flags keys create and keys update share.
type policyFlags struct {
	name        string
	permissions multiFlag
	aclJSON     string
	allowIPs    multiFlag
	expires     string
	rateLimit   string
	metadata    metadataFlags
}

func (p *policyFlags) add(fs *flag.FlagSet, create bool) {
	nameUsage := "the key's new name"
	if create {
		nameUsage = "the key's name, 1 to 255 characters (required)"
	}
	fs.StringVar(&p.name, "name", "", nameUsage)
	fs.Var(&p.permissions, "permission", "a `PERMISSION` granted everywhere, such as orders.read, orders.* or * (every one); repeat for more. "+
		"A key made without any may do nothing at all")
	fs.StringVar(&p.aclJSON, "acl-json", "", `permissions granted within a scope, as the API's acl: [{"scope":{"productId":["p1"]},"permissions":["billing.read"]}]`)
	fs.Var(&p.allowIPs, "allow-ip", "an `ADDRESS` or CIDR range the key may be used from; repeat for more; without: any")
	fs.StringVar(&p.expires, "expires", "", "when the key expires: an RFC 3339 time, or a duration from now such as 30d or 12h")
	fs.StringVar(&p.rateLimit, "rate-limit", "", "how often the key may be verified, N/PERIOD, such as 100/1m")
	p.metadata.add(fs, "key")
}

// policy is what the flags given set: each nil or unset when not given.
type policy struct {
	name        *string
	permissions []string
	acl         []sdk.ACLEntry
	allowIPs    []string
	expires     *time.Time
	rateLimit   *sdk.RateLimit
	metadata    map[string]any
}

func (p *policyFlags) read(set map[string]bool) (*policy, error) {
	var (
		out policy
		err error
	)
	if set["name"] {
		out.name = &p.name
	}
	if set["permission"] {
		out.permissions = p.permissions
	}
	if set["acl-json"] {
		if err := json.Unmarshal([]byte(p.aclJSON), &out.acl); err != nil || out.acl == nil {
			return nil, usageError(`--acl-json: want a JSON array such as [{"scope":{"productId":["p1"]},"permissions":["billing.read"]}]`)
		}
	}
	if set["allow-ip"] {
		out.allowIPs = p.allowIPs
	}
	if set["expires"] {
		t, err := parseTimeFlag("expires", p.expires, 1, time.Now())
		if err != nil {
			return nil, err
		}
		out.expires = &t
	}
	if set["rate-limit"] {
		if out.rateLimit, err = parseRateLimit(p.rateLimit); err != nil {
			return nil, err
		}
	}
	if out.metadata, _, err = p.metadata.value(); err != nil {
		return nil, err
	}
	return &out, nil
}

func keysListSetup(fs *flag.FlagSet) runFunc {
	var l listFlags
	l.add(fs, 0)
	owner := fs.String("owner", "", "list exactly this `OWNER`'s keys: account:ID, app:APP_ID or integration:APP_ID/INTEGRATION_ID")
	return func(ctx context.Context, c *cli, _ []string) error {
		var opts sdk.ListKeysOptions
		if *owner != "" {
			o, err := parseOwner(*owner)
			if err != nil {
				return err
			}
			opts.Owner = o
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		keys, next, err := collect(ctx, l,
			func(ctx context.Context, cursor string, size int) (*sdk.Page[sdk.Key], error) {
				o := opts
				o.Cursor, o.Limit = cursor, size
				return client.ListKeys(ctx, o)
			})
		if err != nil {
			return err
		}
		return printList(c, keys, next, keyHeader, keyRow)
	}
}

func keysGetSetup(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		client, err := c.client()
		if err != nil {
			return err
		}
		k, err := client.GetKey(ctx, args[0])
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func keysCreateSetup(fs *flag.FlagSet) runFunc {
	var p policyFlags
	p.add(fs, true)
	owner := fs.String("owner", "", "the key's `OWNER`: account:ID, app:APP_ID or integration:APP_ID/INTEGRATION_ID; default: the owner of the key in use")
	typ := fs.String("type", "", "secret (the default: for servers) or publishable (for browsers)")
	prefix := fs.String("prefix", "", "the start of the key's secrets, 0 to 16 lowercase letters, digits and _: acme gives acme_sk_live_…")
	disabled := fs.Bool("disabled", false, "make the key switched off; keys enable switches it on")
	return func(ctx context.Context, c *cli, _ []string) error {
		if p.name == "" {
			return usageError("--name is required")
		}
		pol, err := p.read(given(fs))
		if err != nil {
			return err
		}
		req := sdk.CreateKeyRequest{Name: p.name, Type: sdk.KeyType(*typ), Prefix: *prefix, Permissions: pol.permissions,
			ACL: pol.acl, AllowedIPs: pol.allowIPs, ExpiresAt: pol.expires, RateLimit: pol.rateLimit, Metadata: pol.metadata}
		if *owner != "" {
			if req.Owner, err = parseOwner(*owner); err != nil {
				return err
			}
		}
		if *disabled {
			req.Enabled = new(false)
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		k, err := client.CreateKey(ctx, req)
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func keysUpdateSetup(fs *flag.FlagSet) runFunc {
	var p policyFlags
	p.add(fs, false)
	clear := clearFlag{allowed: keyClearable}
	fs.Var(&clear, "clear", "remove a `PART` of the key's policy, named as its flag: "+strings.Join(keyClearable, ", ")+"; repeat for more")
	return func(ctx context.Context, c *cli, args []string) error {
		set := given(fs)
		pol, err := p.read(set)
		if err != nil {
			return err
		}
		if set["metadata-json"] {
			set["metadata"] = true
		}
		for _, name := range clear.set {
			if set[name] {
				return usageError("--%s and --clear %s: give one, not both", name, name)
			}
		}
		req := sdk.UpdateKeyRequest{Name: pol.name, Permissions: pol.permissions, ACL: pol.acl, AllowedIPs: pol.allowIPs,
			ExpiresAt: pol.expires, RateLimit: pol.rateLimit, Metadata: pol.metadata,
			ClearAllowedIPs: clear.has("allow-ip"), ClearExpiresAt: clear.has("expires"),
			ClearRateLimit: clear.has("rate-limit"), ClearMetadata: clear.has("metadata")}
		if clear.has("permission") {
			req.Permissions = []string{}
		}
		if clear.has("acl-json") {
			req.ACL = []sdk.ACLEntry{}
		}
		if len(clear.set) == 0 && !slices.ContainsFunc([]string{"name", "permission", "acl-json", "allow-ip", "expires", "rate-limit", "metadata"},
			func(name string) bool { return set[name] }) {
			return usageError("nothing to change: give a flag of latchkey keys update -h")
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		k, err := client.UpdateKey(ctx, args[0], req)
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func keysRollSetup(fs *flag.FlagSet) runFunc {
	grace := fs.Duration("grace", 0, "how long the old secret keeps working, such as 24h (at most 720h); 0: it stops at once")
	return func(ctx context.Context, c *cli, args []string) error {
		client, err := c.client()
		if err != nil {
			return err
		}
		k, err := client.RollKey(ctx, args[0], *grace)
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func keysSwitchSetup(enabled bool) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc {
		return func(ctx context.Context, c *cli, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			k, err := client.UpdateKey(ctx, args[0], sdk.UpdateKeyRequest{Enabled: &enabled})
			if err != nil {
				return err
			}
			return c.printKey(k)
		}
	}
}

func keysDeleteSetup(fs *flag.FlagSet) runFunc {
	yes := fs.Bool("yes", false, "delete without asking")
	return func(ctx context.Context, c *cli, args []string) error {
		client, err := c.client()
		if err != nil {
			return err
		}
		if err := c.confirm(*yes, "key "+args[0]); err != nil {
			return err
		}
		if err := client.DeleteKey(ctx, args[0]); err != nil {
			return err
		}
		return c.printDeleted("key", args[0])
	}
}

// verifySetup is "latchkey verify [SECRET|-]".
func verifySetup(fs *flag.FlagSet) runFunc {
	var apps, permissions multiFlag
	fs.Var(&apps, "app", "count only keys of this `APP_ID` (or of its integrations): any other is NOT_FOUND; repeat for more")
	fs.Var(&permissions, "permission", "a `PERMISSION` the key must hold; repeat for more")
	ip := fs.String("ip", "", "the client's address, checked against the key's allowed addresses")
	cost := fs.Int("cost", 0, "what the request takes from the key's rate limit, 1 to 1000000 (default 1)")
	return func(ctx context.Context, c *cli, args []string) error {
		var (
			secret string
			err    error
		)
		if len(args) == 1 && args[0] != "-" {
			secret = args[0]
		} else if secret, err = c.readSecret("Key to verify", false); err != nil {
			return err
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		res, err := client.Verify(ctx, sdk.VerifyRequest{Key: secret, Apps: apps, Permissions: permissions, IP: *ip, Cost: *cost})
		if err != nil {
			return err
		}
		if c.json {
			err = c.printJSON(res)
		} else {
			err = c.printVerdict(res)
		}
		if err != nil || res.Valid {
			return err
		}
		return &exitError{status: statusVerdictNotOK, code: "verdict", err: fmt.Errorf("the verdict is %s", res.Code), reported: true}
	}
}

func (c *cli) printVerdict(res *sdk.VerifyResult) error {
	fields := [][2]string{{"CODE", string(res.Code)}}
	if res.KeyID != "" {
		fields = append(fields, [2]string{"KEY", res.KeyID}, [2]string{"NAME", res.Name})
	}
	if res.Owner != nil {
		fields = append(fields, [2]string{"OWNER", ownerString(*res.Owner)})
	}
	if res.KeyID != "" {
		fields = append(fields, [2]string{"PERMISSIONS", strings.Join(res.Permissions, ",")},
			[2]string{"EXPIRES", timePtrString(res.ExpiresAt)})
	}
	if res.Metadata != nil {
		fields = append(fields, [2]string{"METADATA", metadataString(res.Metadata)})
	}
	if rl := res.RateLimit; rl != nil {
		fields = append(fields, [2]string{"RATE LIMIT", fmt.Sprintf("%d of %d left, whole again at %s", rl.Remaining, rl.Limit, timeString(rl.Reset))})
	}
	return c.printFields(fields)
}

// usageSetup is "latchkey usage KEY_ID".
func usageSetup(fs *flag.FlagSet) runFunc {
	from := fs.String("from", "", "the report's start: an RFC 3339 time, or a duration back from now such as 7d or 12h (default: 24h before --to)")
	to := fs.String("to", "", "the report's end: an RFC 3339 time, or a duration back from now (default: now)")
	granularity := fs.String("granularity", "", "the width of a bucket: minute, hour (the default) or day")
	return func(ctx context.Context, c *cli, args []string) error {
		opts := sdk.UsageOptions{Granularity: sdk.Granularity(*granularity)}
		now := time.Now()
		var err error
		if *from != "" {
			if opts.From, err = parseTimeFlag("from", *from, -1, now); err != nil {
				return err
			}
		}
		if *to != "" {
			if opts.To, err = parseTimeFlag("to", *to, -1, now); err != nil {
				return err
			}
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		u, err := client.KeyUsage(ctx, args[0], opts)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(u)
		}
		// A column per verdict seen, VALID first.
		var codes []sdk.Code
		for _, b := range u.Buckets {
			for code := range b.Counts {
				if !slices.Contains(codes, code) {
					codes = append(codes, code)
				}
			}
		}
		slices.SortFunc(codes, func(a, b sdk.Code) int {
			switch {
			case a == b:
				return 0
			case a == sdk.CodeValid:
				return -1
			case b == sdk.CodeValid:
				return 1
			}
			return strings.Compare(string(a), string(b))
		})
		header := []string{"START"}
		for _, code := range codes {
			header = append(header, string(code))
		}
		header = append(header, "TOTAL")
		rows := make([][]string, len(u.Buckets))
		for i, b := range u.Buckets {
			var total int64
			row := []string{timeString(b.Start)}
			for _, code := range codes {
				row = append(row, strconv.FormatInt(b.Counts[code], 10))
				total += b.Counts[code]
			}
			rows[i] = append(row, strconv.FormatInt(total, 10))
		}
		if len(rows) == 0 {
			c.warnf("no verifications of %s from %s to %s", u.KeyID, timeString(u.From), timeString(u.To))
		}
		return c.printTable(header, rows)
	}
}

// auditListSetup is "latchkey audit list".
func auditListSetup(fs *flag.FlagSet) runFunc {
	var l listFlags
	l.add(fs, 100)
	actor := fs.String("actor", "", "only events of this actor: the key that acted")
	target := fs.String("target", "", "only events about this id: a key, app or integration")
	action := fs.String("action", "", "only events of this action, such as key.create or app.delete")
	outcome := fs.String("outcome", "", "only events of this outcome: success, unauthorized, forbidden, throttled or failure")
	from := fs.String("from", "", "only events at or after this time: RFC 3339, or a duration back from now such as 7d")
	to := fs.String("to", "", "only events before this time: RFC 3339, or a duration back from now")
	return func(ctx context.Context, c *cli, _ []string) error {
		opts := sdk.ListAuditEventsOptions{Actor: *actor, Target: *target, Action: *action, Outcome: sdk.AuditOutcome(*outcome)}
		now := time.Now()
		var err error
		if *from != "" {
			if opts.From, err = parseTimeFlag("from", *from, -1, now); err != nil {
				return err
			}
		}
		if *to != "" {
			if opts.To, err = parseTimeFlag("to", *to, -1, now); err != nil {
				return err
			}
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		events, next, err := collect(ctx, l,
			func(ctx context.Context, cursor string, size int) (*sdk.Page[sdk.AuditEvent], error) {
				o := opts
				o.Cursor, o.Limit = cursor, size
				return client.ListAuditEvents(ctx, o)
			})
		if err != nil {
			return err
		}
		return printList(c, events, next, []string{"TIME", "ACTION", "OUTCOME", "ACTOR", "TARGET", "SURFACE", "CLIENT IP"},
			func(ev *sdk.AuditEvent) []string {
				actor, target := "", ""
				if ev.Actor != nil {
					actor = *ev.Actor
				}
				if ev.Target != nil {
					target = ev.Target.Type + ":" + ev.Target.ID
				}
				return []string{timeString(ev.Time), ev.Action, string(ev.Outcome), actor, target, ev.Surface, ev.ClientIP}
			})
	}
}
