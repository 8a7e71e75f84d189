package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/latchkey/latchkey/sdk"
)

// printJSON writes v to stdout as indented JSON, for scripts (--json).
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printTable writes rows under a header, in aligned columns, for people.
// Every cell is made safe for a terminal (sanitize), and an empty cell
// shows as "-".
func (c *cli) printTable(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, cell := range row {
			cells[i] = cellText(cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printFields writes one object as name and value pairs, a pair a line.
func (c *cli) printFields(fields [][2]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s\t%s\n", f[0], cellText(f[1]))
	}
	return tw.Flush()
}

func cellText(s string) string {
	if s == "" {
		return "-"
	}
	return sanitize(s)
}

// sanitize escapes what a terminal would act on: control characters
// (escape sequences among them) and the tabs and newlines that would break
// a table. Names cannot hold them, but metadata can, and it is the API's
// callers' own.
func sanitize(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// timeString shows a time in UTC, RFC 3339, to the second; "" for none.
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func timePtrString(t *time.Time) string {
	if t == nil {
		return ""
	}
	return timeString(*t)
}

// ownerString shows an owner the way --owner takes it: account:ID, app:ID
// or integration:APP_ID/ID.
func ownerString(o sdk.Owner) string {
	if o.Type == sdk.OwnerIntegration {
		return "integration:" + o.AppID + "/" + o.ID
	}
	return string(o.Type) + ":" + o.ID
}

// metadataString shows metadata as compact JSON, its keys sorted.
func metadataString(md map[string]any) string {
	if md == nil {
		return ""
	}
	b, err := json.Marshal(md)
	if err != nil {
		return fmt.Sprint(md)
	}
	return string(b)
}

// rateLimitString shows a rate limit the way --rate-limit takes it.
func rateLimitString(r *sdk.RateLimit) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// permissionsString shows a key's unscoped permissions, and how many ACL
// entries grant more within a scope.
func permissionsString(k *sdk.Key) string {
	s := strings.Join(k.Permissions, ",")
	if s == "" {
		s = "(none)"
	}
	if n := len(k.ACL); n > 0 {
		s += fmt.Sprintf(" +%d scoped", n)
	}
	return s
}

// keyStatus is enabled, disabled or expired.
func keyStatus(k *sdk.Key) string {
	switch {
	case !k.Enabled:
		return "disabled"
	case k.ExpiresAt != nil && !k.ExpiresAt.After(time.Now()):
		return "expired"
	}
	return "enabled"
}

// listFlags are a list command's --limit and --cursor.
type listFlags struct {
	limit  int
	cursor string
}

// add declares --limit (with its default: 0 for every item) and --cursor.
func (l *listFlags) add(fs *flag.FlagSet, defaultLimit int) {
	fs.IntVar(&l.limit, "limit", defaultLimit, "show at most this many, the first in the list's order; 0: every one")
	fs.StringVar(&l.cursor, "cursor", "", "start after the items an earlier --limit showed: the cursor it gave")
}

// collect gathers a list's items with page, from --cursor on: every one,
// a page of maxPage at a time, or with --limit at most that many. next is
// the cursor that continues where the items stopped, "" when none remain.
func collect[T any](ctx context.Context, l listFlags,
	page func(ctx context.Context, cursor string, size int) (*sdk.Page[T], error)) (items []T, next string, err error) {
	if l.limit < 0 {
		return nil, "", usageError("--limit %d: want 0 (every one) or more", l.limit)
	}
	items = []T{} // [] in JSON, never null
	cursor := l.cursor
	for l.limit == 0 || len(items) < l.limit {
		// Under a limit, each page is sized to end where the limit does,
		// so that the page's own next cursor is where to continue.
		size := maxPage
		if l.limit > 0 {
			size = min(l.limit-len(items), maxPage)
		}
		p, err := page(ctx, cursor, size)
		if err != nil {
			return nil, "", err
		}
		items = append(items, p.Data...)
		if p.NextCursor == "" || p.NextCursor == cursor || (l.limit > 0 && len(p.Data) == 0) {
			return items, "", nil
		}
		cursor = p.NextCursor
	}
	return items, cursor, nil
}

// maxPage is the API's largest page.
const maxPage = 100

// printList prints a list: a JSON array, or a table with a note on where
// to continue if --limit cut it short.
func printList[T any](c *cli, items []T, next string, header []string, row func(*T) []string) error {
	if c.json {
		return c.printJSON(items)
	}
	rows := make([][]string, len(items))
	for i := range items {
		rows[i] = row(&items[i])
	}
	if err := c.printTable(header, rows); err != nil {
		return err
	}
	if next != "" {
		c.warnf("more follow: continue with --cursor %s", next)
	}
	return nil
}

// kvFlag is a --metadata k=v flag, given once per pair.
type kvFlag struct {
	pairs map[string]any
	order []string
}

func (f *kvFlag) String() string { return strings.Join(f.order, ",") }

func (f *kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	if f.pairs == nil {
		f.pairs = map[string]any{}
	}
	if _, dup := f.pairs[k]; dup {
		return fmt.Errorf("%s given twice", k)
	}
	f.pairs[k] = val
	f.order = append(f.order, k)
	return nil
}

// metadataFlags are --metadata KEY=VALUE (repeatable; the values are
// strings) and --metadata-json for any JSON object.
type metadataFlags struct {
	kv   kvFlag
	json string
}

func (m *metadataFlags) add(fs *flag.FlagSet, what string) {
	fs.Var(&m.kv, "metadata", "a metadata entry, `KEY=VALUE` (a string value); repeat for more; replaces the "+what+"'s metadata as a whole")
	fs.StringVar(&m.json, "metadata-json", "", "the "+what+"'s metadata as a JSON object, for values that are not strings; replaces it as a whole")
}

// value returns the metadata the flags give, and whether they give any.
func (m *metadataFlags) value() (map[string]any, bool, error) {
	switch {
	case m.json != "" && m.kv.pairs != nil:
		return nil, false, usageError("give --metadata or --metadata-json, not both")
	case m.json != "":
		var md map[string]any
		if err := json.Unmarshal([]byte(m.json), &md); err != nil || md == nil {
			return nil, false, usageError("--metadata-json: want a JSON object, such as {\"plan\":\"gold\",\"seats\":5}")
		}
		return md, true, nil
	case m.kv.pairs != nil:
		return m.kv.pairs, true, nil
	}
	return nil, false, nil
}

// clearFlag is --clear MEMBER, repeatable, for the members an update can
// remove; allowed names them.
type clearFlag struct {
	allowed []string
	set     []string
}

func (f *clearFlag) String() string { return strings.Join(f.set, ",") }

func (f *clearFlag) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if !slices.Contains(f.allowed, name) {
			return fmt.Errorf("%q: want one of %s", name, strings.Join(f.allowed, ", "))
		}
		f.set = append(f.set, name)
	}
	return nil
}

func (f *clearFlag) has(name string) bool { return slices.Contains(f.set, name) }

// given returns the names of the flags set on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// parseTimeFlag reads a time: RFC 3339, or a duration from now, such as
// 30d or 12h (ahead, for an expiry; back, for a report's start: sign).
func parseTimeFlag(name, v string, sign time.Duration, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := parseDays(v)
	if err != nil || d <= 0 {
		return time.Time{}, usageError("--%s %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z, or a duration such as 30d or 12h", name, v)
	}
	return now.Add(sign * d), nil
}
