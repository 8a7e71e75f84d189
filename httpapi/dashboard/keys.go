package dashboard

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/native"
	"github.com/latchkey/latchkey/secret"
)

// keysPageSize is how many keys a list shows at a time.
const keysPageSize = 50

// keyRow is a key as lists show it.
type keyRow struct {
	Key       *latchkey.Key
	State     latchkey.KeyState
	Owner     ownerLabel
	Spark     template.HTML
	NeverUsed bool
}

// ownerLabel names a key's owner and links to it.
type ownerLabel struct {
	Kind, Name, Href string
}

// keyTable is a page of keys with its pager.
type keyTable struct {
	Rows    []keyRow
	Total   int
	Pager   pager
	NewHref string
}

// pager links to the pages around this one.
type pager struct {
	Prev, Next, Label string
}

// Every key of a page gets its sparkline from one usage query, which takes
// at most MaxUsageKeys keys.
var _ [latchkey.MaxUsageKeys - keysPageSize]struct{}

// maxPage bounds the page a list is asked for, far beyond any account's
// keys, so that its offset cannot overflow.
const maxPage = 1_000_000

// keyTable lists one page of the keys q selects (its Limit and Offset are
// set here from ?page=, clamped to the pages there are), with owners named
// and each key's last 24 hours as a sparkline. newOwner is the owner a
// "new key" link presets.
func (d *dashboard) keyTable(r *http.Request, s *session, q latchkey.KeyQuery, newOwner string) (keyTable, error) {
	ctx, p, now := r.Context(), s.principal, d.now().UTC()
	pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pageNo = min(max(pageNo, 1), maxPage)
	q.Limit, q.Offset = keysPageSize, (pageNo-1)*keysPageSize
	keys, total, err := d.svc.QueryKeys(ctx, p, q)
	if err == nil && len(keys) == 0 && total > 0 {
		// Past the end (an old link, a typed number): the last page.
		pageNo = (total + keysPageSize - 1) / keysPageSize
		q.Offset = (pageNo - 1) * keysPageSize
		keys, total, err = d.svc.QueryKeys(ctx, p, q)
	}
	if err != nil {
		return keyTable{}, err
	}
	t := keyTable{Total: total}
	if d.may(r, s, "CreateKey", "") {
		t.NewHref = Base + "/keys/new"
		if newOwner != "" {
			t.NewHref += "?" + url.Values{"owner": {newOwner}}.Encode()
		}
	}
	t.Pager = pageLinks(r.URL, pageNo, keysPageSize, total, len(keys))
	showUsage := d.may(r, s, "GetKeyUsage", "")
	sparks := map[string][]latchkey.UsageCount{}
	to := now.Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-24 * time.Hour)
	if len(keys) > 0 && showUsage {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		counts, err := d.svc.UsageSummary(ctx, p, latchkey.UsageQuery{KeyIDs: ids, From: from, To: to, Bucket: latchkey.BucketHour, ByKey: true})
		if err != nil {
			return keyTable{}, err
		}
		for _, c := range counts {
			sparks[c.KeyID] = append(sparks[c.KeyID], c)
		}
	}
	owners := ownerNames{d: d, r: r, s: s}
	for _, k := range keys {
		row := keyRow{Key: withoutSecrets(k), State: k.StateAt(now), Owner: owners.label(k), NeverUsed: k.LastUsedAt == nil}
		if showUsage {
			row.Spark = sparkline(sparks[k.ID], from, 24, time.Hour)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// withoutSecrets is a copy of k with no secret in it, for a view: what a
// page shows of a secret is worked out in Go (maskSecret), never left to a
// template.
func withoutSecrets(k *latchkey.Key) *latchkey.Key {
	c := *k
	c.Secrets = nil
	return &c
}

// pageLinks builds the pager of a list at page n of size items a page,
// total items in all, shown on this one, keeping the list's other query
// parameters.
func pageLinks(u *url.URL, n, size, total, shown int) pager {
	var pg pager
	if total == 0 {
		return pg
	}
	first := (n-1)*size + 1
	pg.Label = formatCount(first) + "–" + formatCount(first+max(shown, 1)-1) + " of " + formatCount(total)
	link := func(to int) string {
		q := u.Query()
		q.Del("done")
		q.Set("page", strconv.Itoa(to))
		return u.Path + "?" + q.Encode()
	}
	if n > 1 {
		pg.Prev = link(n - 1)
	}
	if n*size < total {
		pg.Next = link(n + 1)
	}
	return pg
}

// ownerNames names keys' owners, reading each app and integration once
// per page.
type ownerNames struct {
	d     *dashboard
	r     *http.Request
	s     *session
	names map[string]string
}

// label names k's owner: by its name where the key may read the app or
// integration (GetApp, GetIntegration), else by its id.
func (o *ownerNames) label(k *latchkey.Key) ownerLabel {
	if o.names == nil {
		o.names = map[string]string{}
	}
	switch {
	case k.IntegrationID != "":
		name, ok := o.names[k.IntegrationID]
		if !ok {
			name = k.IntegrationID
			if o.d.may(o.r, o.s, "GetIntegration", k.AppID) {
				if in, err := o.d.svc.Integration(o.r.Context(), o.s.principal, k.AppID, k.IntegrationID); err == nil {
					name = integrationName(in)
				}
			}
			o.names[k.IntegrationID] = name
		}
		return ownerLabel{Kind: "Integration", Name: name, Href: Base + "/apps/" + k.AppID + "/integrations/" + k.IntegrationID}
	case k.AppID != "":
		name, ok := o.names[k.AppID]
		if !ok {
			name = k.AppID
			if o.d.may(o.r, o.s, "GetApp", k.AppID) {
				if app, err := o.d.svc.App(o.r.Context(), o.s.principal, k.AppID); err == nil {
					name = app.DisplayName
				}
			}
			o.names[k.AppID] = name
		}
		return ownerLabel{Kind: "App", Name: name, Href: Base + "/apps/" + k.AppID}
	}
	return ownerLabel{Kind: "Account", Name: "Account"}
}

// ownerParam names an owner in a query parameter: "account",
// "app:<id>" or "integration:<app id>:<id>".
func ownerParam(o latchkey.KeyOwner) string {
	switch {
	case o.IntegrationID != "":
		return "integration:" + o.AppID + ":" + o.IntegrationID
	case o.AppID != "":
		return "app:" + o.AppID
	}
	return "account"
}

// parseOwnerParam reads ownerParam's form; ok false if it is not one.
func parseOwnerParam(s string, accountID string) (latchkey.KeyOwner, bool) {
	parts := strings.Split(s, ":")
	switch {
	case s == "account":
		return latchkey.KeyOwner{AccountID: accountID}, true
	case len(parts) == 2 && parts[0] == "app" && core.IsObjectID(parts[1]):
		return latchkey.KeyOwner{AccountID: accountID, AppID: parts[1]}, true
	case len(parts) == 3 && parts[0] == "integration" && core.IsObjectID(parts[1]) && core.IsObjectID(parts[2]):
		return latchkey.KeyOwner{AccountID: accountID, AppID: parts[1], IntegrationID: parts[2]}, true
	}
	return latchkey.KeyOwner{}, false
}

// keysView is the keys page: the filters as given and a page of keys.
type keysView struct {
	Search, State, Hygiene, Type, Owner string
	OwnerName                           string
	States                              []option
	Hygienes                            []option
	Table                               keyTable
	Problem                             string
	Filtered                            bool
}

type option struct{ Value, Label string }

// listKeys lists the account's keys, searchable by name or id and
// filtered by state, hygiene finding, type and owner.
func (d *dashboard) listKeys(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	p, now := s.principal, d.now().UTC()
	v := keysView{Search: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Hygiene: q.Get("hygiene"), Type: q.Get("type"), Owner: q.Get("owner")}
	for _, st := range latchkey.KeyStates {
		v.States = append(v.States, option{string(st), stateLabels[st]})
	}
	for _, h := range latchkey.KeyHygienes {
		v.Hygienes = append(v.Hygienes, option{string(h), hygieneText[h].Label})
	}
	query := latchkey.KeyQuery{Owner: latchkey.KeyOwner{AccountID: p.AccountID}, Within: true, At: now, Search: v.Search}
	var problems []string
	if len(v.Search) > latchkey.MaxSearchLen {
		problems = append(problems, "Search for at most 100 bytes: 100 letters of plain ASCII, fewer of others.")
	}
	if v.State != "" {
		if !slices.Contains(latchkey.KeyStates, latchkey.KeyState(v.State)) {
			problems = append(problems, "Choose a state from the list.")
		}
		query.States = []latchkey.KeyState{latchkey.KeyState(v.State)}
	}
	if v.Hygiene != "" {
		if !slices.Contains(latchkey.KeyHygienes, latchkey.KeyHygiene(v.Hygiene)) {
			problems = append(problems, "Choose a finding from the list.")
		}
		query.Hygiene = latchkey.KeyHygiene(v.Hygiene)
	}
	if v.Type != "" {
		if v.Type != string(latchkey.KeyTypeSecret) && v.Type != string(latchkey.KeyTypePublishable) {
			problems = append(problems, "Choose a type from the list.")
		}
		query.Filters = []latchkey.KeyFilter{{Field: latchkey.KeyFieldType, Values: []string{v.Type}}}
	}
	if v.Owner != "" {
		owner, ok := parseOwnerParam(v.Owner, p.AccountID)
		if !ok {
			problems = append(problems, "That owner is not one this list can show.")
		}
		query.Owner, query.Within = owner, false
		v.OwnerName = (&ownerNames{d: d, r: r, s: s}).label(&latchkey.Key{AccountID: owner.AccountID, AppID: owner.AppID, IntegrationID: owner.IntegrationID}).Name
	}
	v.Filtered = v.Search != "" || v.State != "" || v.Hygiene != "" || v.Type != "" || v.Owner != ""
	status := http.StatusOK
	if len(problems) > 0 {
		v.Problem = strings.Join(problems, " ")
		status = http.StatusBadRequest
	} else {
		var err error
		if v.Table, err = d.keyTable(r, s, query, v.Owner); err != nil {
			return err
		}
	}
	d.render(w, r, status, "keys", &page{Title: "Keys", Section: "keys", session: s, Data: v})
	return nil
}

// keyView is a key's page.
type keyView struct {
	Key   *latchkey.Key
	JSON  native.Key
	State latchkey.KeyState
	Owner ownerLabel
	// Secrets as shown: masked unless revealed.
	Secrets  []secretRow
	Metadata string
	ACL      string
	// Chart is the usage chart at View ("minute", "hour", "day").
	Chart *usageChart
	View  string
	Views []option
	// NewSecret is a secret just made (create, roll), shown this once.
	NewSecret                              string
	MayEdit, MayRoll, MayRevoke, MayReveal bool
	Revealed                               bool
	// Self is set on the page of the key that signed in: disabling it or
	// rolling it at once ends this session, and it cannot revoke itself.
	Self bool
	// Version is the key's UpdatedAt, which the roll and edit forms send
	// back: a form for a key that changed since it was shown is refused
	// (a reloaded roll would roll again; an edit would undo another's).
	Version string
}

type secretRow struct {
	Shown      string
	CreatedAt  time.Time
	GraceUntil *time.Time
}

// usageViews are the key page's chart views: the span each shows and the
// bucket it sums into.
var usageViews = []struct {
	name   string
	label  string
	span   time.Duration
	bucket latchkey.UsageBucket
}{
	{"minute", "Last hour, by minute", time.Hour, latchkey.BucketMinute},
	{"hour", "Last 24 hours, by hour", 24 * time.Hour, latchkey.BucketHour},
	{"day", "Last 30 days, by day", 30 * 24 * time.Hour, latchkey.BucketDay},
}

func (d *dashboard) showKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.svc.KeyByID(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	return d.renderKey(w, r, s, k, keyView{}, false)
}

// renderKey shows k (as the core returned it, its secrets unsealed where
// the signed-in key may see them): its policy, its secrets (masked unless
// reveal), its usage chart, and the actions the signed-in key may take on
// it. v.NewSecret, after a create or a roll, is shown once; then nothing
// that could fail stands between the user and it (a chart that cannot be
// read is left out).
func (d *dashboard) renderKey(w http.ResponseWriter, r *http.Request, s *session, k *latchkey.Key, v keyView, reveal bool) error {
	ctx, p, now := r.Context(), s.principal, d.now().UTC()
	v.Key, v.JSON, v.State = withoutSecrets(k), native.RenderKey(k), k.StateAt(now)
	v.Version = k.UpdatedAt.Format(time.RFC3339Nano)
	v.Owner = (&ownerNames{d: d, r: r, s: s}).label(k)
	// The actions that need rights over the key itself are offered only
	// where the core would allow them (it would refuse the others, 403).
	within := core.WithinRights(p, k)
	v.Self = k.ID == p.KeyID
	v.MayEdit = within && d.may(r, s, "UpdateKey", "")
	v.MayRoll = within && d.may(r, s, "RollKey", "")
	v.MayRevoke = within && !v.Self && d.may(r, s, "DeleteKey", "")
	v.MayReveal = within && len(k.Secrets) > 0 && d.may(r, s, "GetKey", "")
	v.Revealed = reveal
	for _, sec := range k.Secrets {
		row := secretRow{Shown: maskSecret(sec.Plain), CreatedAt: sec.CreatedAt, GraceUntil: sec.ExpiresAt}
		if reveal {
			row.Shown = sec.Plain
		}
		v.Secrets = append(v.Secrets, row)
	}
	slices.Reverse(v.Secrets) // newest first
	v.Metadata = prettyJSON(v.JSON.Metadata)
	if len(v.JSON.ACL) > 0 {
		v.ACL = prettyJSON(v.JSON.ACL)
	}
	if d.may(r, s, "GetKeyUsage", "") {
		v.View = r.URL.Query().Get("view")
		view := usageViews[1]
		for _, uv := range usageViews {
			v.Views = append(v.Views, option{uv.name, uv.label})
			if uv.name == v.View {
				view = uv
			}
		}
		v.View = view.name
		to := now.Truncate(view.bucket.Width()).Add(view.bucket.Width())
		from := to.Add(-view.span)
		counts, err := d.svc.KeyUsage(ctx, p, k.ID, from, to, core.Granularity(view.bucket))
		switch {
		case err == nil:
			chart := newUsageChart("Verifications of this key: "+strings.ToLower(view.label[:1])+view.label[1:]+", by outcome", counts, from, to, view.bucket)
			v.Chart = &chart
		case v.NewSecret == "":
			return err
		default:
			d.logger.WarnContext(ctx, "dashboard: a new key's usage could not be read; its page is shown without it", "key", k.ID, "err", err)
		}
	}
	status := http.StatusOK
	if v.NewSecret != "" {
		status = http.StatusCreated
	}
	d.render(w, r, status, "key", &page{Title: k.Name, Section: "keys", session: s, Data: v})
	return nil
}

// maskSecret shows a secret's public prefix (its brand, kind and
// environment, as in acme_sk_live_) and its last four characters, which
// are its checksum's, and hides the random part between them.
func maskSecret(plain string) string {
	if plain == "" {
		return "•••••••• (beyond your key's rights to show)"
	}
	prefix, ok := secret.PublicPrefix(plain)
	if !ok {
		return "••••••••"
	}
	return prefix + "••••••••" + plain[len(plain)-4:]
}

// revealKey shows a key's secrets: an explicit action, audited.
func (d *dashboard) revealKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.svc.RevealSecrets(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	return d.renderKey(w, r, s, k, keyView{}, true)
}

// switchKey enables or disables a key (enabled=true or false).
func (d *dashboard) switchKey(w http.ResponseWriter, r *http.Request, s *session) error {
	on := r.PostForm.Get("enabled") == "true"
	k, err := d.changeKey(r, s, map[string]any{"enabled": on})
	if err != nil {
		return err
	}
	notice := "key-disabled"
	if on {
		notice = "key-enabled"
	}
	done(w, r, Base+"/keys/"+k.ID, notice)
	return nil
}

// confirmRevokeKey asks before a key is deleted.
func (d *dashboard) confirmRevokeKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.svc.KeyByID(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "confirm-revoke", &page{Title: "Revoke " + k.Name, Section: "keys", session: s, Data: k})
	return nil
}

// revokeKey deletes a key: it stops authenticating at once.
func (d *dashboard) revokeKey(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, p := r.Context(), s.principal
	k, err := d.svc.KeyByID(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := d.svc.DeleteKey(ctx, p, core.OwnerOf(k), k.ID); err != nil {
		return err
	}
	done(w, r, Base+"/keys", "key-revoked")
	return nil
}

// rollView is the roll confirmation: the grace period presets, what was
// chosen, and the key's version as shown (see keyView.Version).
type rollView struct {
	Key                             *latchkey.Key
	Version, Grace, Custom, Problem string
	Presets                         []option
}

var gracePresets = []option{{"0", "Now: the current secret stops at once"}, {"1h", "1 hour"}, {"24h", "24 hours"}, {"168h", "7 days"}, {"custom", "Custom"}}

func (d *dashboard) confirmRollKey(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.renderRoll(w, r, s, http.StatusOK, rollView{Grace: "24h"})
}

func (d *dashboard) renderRoll(w http.ResponseWriter, r *http.Request, s *session, status int, v rollView) error {
	k, err := d.svc.KeyByID(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Key, v.Presets = withoutSecrets(k), gracePresets
	if v.Version == "" {
		v.Version = k.UpdatedAt.Format(time.RFC3339Nano)
	}
	d.render(w, r, status, "confirm-roll", &page{Title: "Roll " + k.Name, Section: "keys", session: s, Data: v})
	return nil
}

// errChanged refuses a form for a key that changed since the form was
// shown.
var errChanged = &latchkey.Error{Code: latchkey.ECONFLICT,
	Message: "This key changed since the page was shown, so nothing was done. Look at the key as it is now, then try again"}

// rollKey gives a key a new secret, shown once; the old one works for the
// grace period chosen. A form for a key that changed since it was shown
// is refused: that is what a reloaded or repeated roll looks like, and it
// must not roll again, least of all the secret just copied.
func (d *dashboard) rollKey(w http.ResponseWriter, r *http.Request, s *session) error {
	v := rollView{Grace: r.PostForm.Get("grace"), Custom: strings.TrimSpace(r.PostForm.Get("custom"))}
	text := v.Grace
	if v.Grace == "custom" {
		text = v.Custom
	}
	grace, err := parseGrace(text)
	if err != nil || grace < 0 || grace > core.MaxGracePeriod {
		v.Problem = "Enter a grace period such as 30m, 36h or 3d, at most 30 days."
		return d.renderRoll(w, r, s, http.StatusBadRequest, v)
	}
	ctx, p := r.Context(), s.principal
	k, err := d.svc.KeyByID(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if r.PostForm.Get("version") != k.UpdatedAt.Format(time.RFC3339Nano) {
		return errChanged
	}
	if k, err = d.svc.RollKey(ctx, p, core.OwnerOf(k), k.ID, grace); err != nil {
		return err
	}
	return d.renderKey(w, r, s, k, keyView{NewSecret: k.NewestSecret().Plain}, false)
}

// parseGrace reads a grace period: a Go duration (90m, 36h) or a whole
// number of days up to 30 (3d).
func parseGrace(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 30 || strings.HasPrefix(days, "+") {
			return 0, errBadTime
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
