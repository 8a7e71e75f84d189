package sdk

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CreateKeyRequest is the body of CreateKey. Only Name is required.
//
// Slices and maps are sent when they are not nil, even when empty, so
// that Permissions: []string{} says "no permissions" and an empty
// AllowedIPs is refused by the server rather than silently dropped.
type CreateKeyRequest struct {
	Name string `json:"name"`
	// Owner defaults to the owner of the Client's own key.
	Owner *Owner `json:"owner,omitempty"`
	// Type defaults to KeyTypeSecret.
	Type KeyType `json:"type,omitempty"`
	// Prefix is 0 to 16 lowercase letters, digits and "_".
	Prefix string `json:"prefix,omitempty"`
	// Permissions and ACL are what the key may do. A key made with
	// neither may do nothing at all (it fails closed); []string{"*"} is
	// every permission.
	Permissions []string   `json:"permissions,omitzero"`
	ACL         []ACLEntry `json:"acl,omitzero"`
	// AllowedIPs: 1 to 100 addresses or CIDR ranges; nil allows any.
	AllowedIPs []string `json:"allowedIps,omitzero"`
	// ExpiresAt must lie ahead; it is kept to the second.
	ExpiresAt *time.Time     `json:"expiresAt,omitempty"`
	RateLimit *RateLimit     `json:"rateLimit,omitempty"`
	Metadata  map[string]any `json:"metadata,omitzero"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// UpdateKeyRequest is the body of UpdateKey, a merge (PATCH): what is set
// replaces the key's, what is left unset stays.
//
//   - A pointer field is sent when it is not nil: Name: new("Renamed").
//   - A slice or map field is sent when it is not nil, even when empty:
//     Permissions: []string{} removes every unscoped permission.
//   - The Clear flags send JSON null, which removes the key's address
//     restriction, expiry, rate limit or metadata. Setting a Clear flag
//     together with its field is an error, returned before any request.
//
// A key's type, prefix and owner are fixed when it is made.
type UpdateKeyRequest struct {
	Name        *string
	Permissions []string
	ACL         []ACLEntry
	AllowedIPs  []string
	ExpiresAt   *time.Time
	RateLimit   *RateLimit
	Metadata    map[string]any
	Enabled     *bool

	ClearAllowedIPs bool
	ClearExpiresAt  bool
	ClearRateLimit  bool
	ClearMetadata   bool
}

// ErrConflictingPatch is returned by UpdateKey and UpdateApp, before any
// request is sent, when a Clear flag is set together with its field.
var ErrConflictingPatch = errors.New("latchkey: a patch both sets and clears the same member")

// body is the JSON object the request stands for.
func (u UpdateKeyRequest) body() (map[string]any, error) {
	b := map[string]any{}
	if u.Name != nil {
		b["name"] = *u.Name
	}
	if u.Permissions != nil {
		b["permissions"] = u.Permissions
	}
	if u.ACL != nil {
		b["acl"] = u.ACL
	}
	if u.Enabled != nil {
		b["enabled"] = *u.Enabled
	}
	nullable := []struct {
		name  string
		set   bool
		value any
		clear bool
	}{
		{"allowedIps", u.AllowedIPs != nil, u.AllowedIPs, u.ClearAllowedIPs},
		{"expiresAt", u.ExpiresAt != nil, u.ExpiresAt, u.ClearExpiresAt},
		{"rateLimit", u.RateLimit != nil, u.RateLimit, u.ClearRateLimit},
		{"metadata", u.Metadata != nil, u.Metadata, u.ClearMetadata},
	}
	for _, m := range nullable {
		switch {
		case m.set && m.clear:
			return nil, ErrConflictingPatch
		case m.set:
			b[m.name] = m.value
		case m.clear:
			b[m.name] = nil
		}
	}
	return b, nil
}

// ListKeysOptions selects a page of keys.
type ListKeysOptions struct {
	// Limit is the page size, 1 to 100; 0 means the server's default, 25.
	Limit int
	// Cursor is the previous page's NextCursor; "" for the first page.
	Cursor string
	// Owner lists exactly that owner's keys (an integration also names its
	// AppID). Without it the list holds every key within the Client's own
	// owner: an account key sees the whole account.
	Owner *Owner
}

func (o ListKeysOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Owner != nil {
		q.Set("ownerType", string(o.Owner.Type))
		q.Set("ownerId", o.Owner.ID)
		if o.Owner.AppID != "" {
			q.Set("ownerAppId", o.Owner.AppID)
		}
	}
	return q
}

// UsageOptions selects a usage report. Zero values take the server's
// defaults: To is now, From is 24 hours before To, and Granularity is
// GranularityHour. A report holds at most 10,000 buckets.
type UsageOptions struct {
	From, To    time.Time
	Granularity Granularity
}

// CreateKey makes a key (POST /v1/keys). The answer carries the key's
// Secret, this once: store it at once, it is never shown again.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest) (*Key, error) {
	var k Key
	if err := c.do(ctx, http.MethodPost, "/v1/keys", nil, req, &k, http.StatusCreated); err != nil {
		return nil, err
	}
	return &k, nil
}

// GetKey returns a key, without its secret (GET /v1/keys/{id}).
func (c *Client) GetKey(ctx context.Context, id string) (*Key, error) {
	var k Key
	if err := c.do(ctx, http.MethodGet, keyPath(id), nil, nil, &k, http.StatusOK); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListKeys returns one page of keys, in id order (GET /v1/keys). AllKeys
// walks every page.
func (c *Client) ListKeys(ctx context.Context, opts ListKeysOptions) (*Page[Key], error) {
	var p Page[Key]
	if err := c.do(ctx, http.MethodGet, "/v1/keys", opts.query(), nil, &p, http.StatusOK); err != nil {
		return nil, err
	}
	return &p, nil
}

// AllKeys iterates over every key opts selects, fetching a page at a time
// from opts.Cursor on; opts.Limit is the page size. An error ends the
// iteration after it is yielded:
//
//	for key, err := range client.AllKeys(ctx, sdk.ListKeysOptions{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(key.ID, key.Name)
//	}
func (c *Client) AllKeys(ctx context.Context, opts ListKeysOptions) iter.Seq2[*Key, error] {
	return all(ctx, opts.Cursor, func(ctx context.Context, cursor string) (*Page[Key], error) {
		opts.Cursor = cursor
		return c.ListKeys(ctx, opts)
	})
}

// UpdateKey changes a key (PATCH /v1/keys/{id}) and returns it as it now
// is. See UpdateKeyRequest for what is sent.
func (c *Client) UpdateKey(ctx context.Context, id string, req UpdateKeyRequest) (*Key, error) {
	body, err := req.body()
	if err != nil {
		return nil, err
	}
	var k Key
	if err := c.do(ctx, http.MethodPatch, keyPath(id), nil, body, &k, http.StatusOK); err != nil {
		return nil, err
	}
	return &k, nil
}

// DeleteKey deletes a key (DELETE /v1/keys/{id}): it stops authenticating
// at once. A key cannot delete itself (409).
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, keyPath(id), nil, nil, nil, http.StatusNoContent)
}

// RollKey gives a key a new secret (POST /v1/keys/{id}/roll), returned in
// the answer's Secret this once. The old secrets keep working for grace (at
// most 720 h, and never beyond the key's expiry); 0 stops them at once.
func (c *Client) RollKey(ctx context.Context, id string, grace time.Duration) (*Key, error) {
	body := map[string]string{"gracePeriod": grace.String()}
	var k Key
	if err := c.do(ctx, http.MethodPost, keyPath(id)+"/roll", nil, body, &k, http.StatusOK); err != nil {
		return nil, err
	}
	return &k, nil
}

// KeyUsage returns a key's verification counts by verdict
// (GET /v1/keys/{id}/usage). Counts reach the report within a few seconds
// of the verifications.
func (c *Client) KeyUsage(ctx context.Context, id string, opts UsageOptions) (*Usage, error) {
	q := url.Values{}
	if !opts.From.IsZero() {
		q.Set("from", opts.From.UTC().Format(time.RFC3339))
	}
	if !opts.To.IsZero() {
		q.Set("to", opts.To.UTC().Format(time.RFC3339))
	}
	if opts.Granularity != "" {
		q.Set("granularity", string(opts.Granularity))
	}
	var u Usage
	if err := c.do(ctx, http.MethodGet, keyPath(id)+"/usage", q, nil, &u, http.StatusOK); err != nil {
		return nil, err
	}
	return &u, nil
}

// WhoAmI returns the Client's own key, without its secret (GET /v1/whoami).
// Any secret key may call it, whatever its permissions: use it to check a
// configuration.
func (c *Client) WhoAmI(ctx context.Context) (*Key, error) {
	var k Key
	if err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &k, http.StatusOK); err != nil {
		return nil, err
	}
	return &k, nil
}

// all iterates over the items of every page list returns, from cursor on.
func all[T any](ctx context.Context, cursor string, list func(context.Context, string) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for {
			p, err := list(ctx, cursor)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range p.Data {
				if !yield(&p.Data[i], nil) {
					return
				}
			}
			if p.NextCursor == "" || p.NextCursor == cursor {
				return
			}
			cursor = p.NextCursor
		}
	}
}
