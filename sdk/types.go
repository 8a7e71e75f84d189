package sdk

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Secret is a key's secret, as CreateKey and RollKey return it. It prints
// as "[REDACTED]" through fmt (every verb) and log/slog, so that logging a
// Key never leaks it; Reveal, or string(s), gives the plaintext. JSON
// encoding keeps the plaintext, so a Key can be stored or handed on:
// do not log a Key as JSON.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the plaintext secret.
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]", or "" for no secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format makes every fmt verb print String's redacted form.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue makes log/slog print String's redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// KeyType is a key's type, fixed when it is made.
type KeyType string

const (
	// KeyTypeSecret keys (sk_…) are for servers: the default.
	KeyTypeSecret KeyType = "secret"
	// KeyTypePublishable keys (pk_…) are meant for browsers; Latchkey's
	// management routes refuse them.
	KeyTypePublishable KeyType = "publishable"
)

// OwnerType says what owns a key.
type OwnerType string

const (
	OwnerAccount     OwnerType = "account"
	OwnerApp         OwnerType = "app"
	OwnerIntegration OwnerType = "integration"
)

// Owner names a key's owner: an account, an app, or an integration, which
// also names its app in AppID.
type Owner struct {
	Type  OwnerType `json:"type"`
	ID    string    `json:"id"`
	AppID string    `json:"appId,omitempty"`
}

// ACLScope narrows an ACL entry. An entry grants its permissions only for
// requests naming one of the listed values of each list that is not empty.
type ACLScope struct {
	OrganizationID  []string `json:"organizationId,omitempty"`
	ProductID       []string `json:"productId,omitempty"`
	PlanID          []string `json:"planId,omitempty"`
	CustomFieldName []string `json:"customFieldName,omitempty"`
}

// ACLEntry grants permissions within a scope. Unscoped permissions belong
// in Key.Permissions; an entry must name at least one scope value.
type ACLEntry struct {
	Scope       ACLScope `json:"scope"`
	Permissions []string `json:"permissions"`
}

// RateLimit is how often a key may be verified: Limit units per Period
// (1 s to 24 h, in whole milliseconds). On the wire Period is a Go duration
// string such as "1m".
type RateLimit struct {
	Limit  int
	Period time.Duration
}

type rateLimitJSON struct {
	Limit  int    `json:"limit"`
	Period string `json:"period"`
}

// MarshalJSON encodes {"limit": N, "period": "1m"}, the period as the API
// shows it: a Go duration without zero units ("1m", not "1m0s").
func (r RateLimit) MarshalJSON() ([]byte, error) {
	return json.Marshal(rateLimitJSON{Limit: r.Limit, Period: formatPeriod(r.Period)})
}

// String is the rate limit as "limit/period", the period as on the wire:
// "100/1m". The latchkey CLI's --rate-limit takes this form.
func (r RateLimit) String() string {
	return strconv.Itoa(r.Limit) + "/" + formatPeriod(r.Period)
}

// formatPeriod is d as time.ParseDuration reads it, without the zero units
// time.Duration.String adds.
func formatPeriod(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalJSON decodes {"limit": N, "period": "1m"}.
func (r *RateLimit) UnmarshalJSON(b []byte) error {
	var v rateLimitJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := time.ParseDuration(v.Period)
	if err != nil {
		return fmt.Errorf("rateLimit.period: %w", err)
	}
	r.Limit, r.Period = v.Limit, d
	return nil
}

// Key is an API key as Latchkey shows it. Members that may be unset are nil
// then.
type Key struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Owner Owner   `json:"owner"`
	Type  KeyType `json:"type"`
	// Prefix starts the key's secrets: "acme" gives "acme_sk_live_…".
	Prefix string `json:"prefix"`
	// Permissions are granted everywhere; ["*"] is every permission.
	Permissions []string `json:"permissions"`
	// ACL holds the permissions granted only within a scope.
	ACL []ACLEntry `json:"acl"`
	// AllowedIPs restricts the client addresses (IPs and CIDR ranges); nil
	// allows any.
	AllowedIPs []string       `json:"allowedIps"`
	ExpiresAt  *time.Time     `json:"expiresAt"`
	RateLimit  *RateLimit     `json:"rateLimit"`
	Metadata   map[string]any `json:"metadata"`
	Enabled    bool           `json:"enabled"`
	CreatedAt  time.Time      `json:"createdAt"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	LastUsedAt *time.Time     `json:"lastUsedAt"`
	// Secret is set in the answers of CreateKey and RollKey only: Latchkey
	// shows a secret once, never again. Store it at once.
	Secret Secret `json:"secret,omitempty"`
}

// App is an app: a tenant of your API whose keys you manage together, the
// same app the Sunshine routes show.
type App struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
}

// Integration is a custom integration of an app: a holder of keys of its
// own, such as one per bot or per partner, the same integration the
// Sunshine routes show. Name is nil for one made there without a name.
type Integration struct {
	ID        string    `json:"id"`
	AppID     string    `json:"appId"`
	Type      string    `json:"type"`
	Name      *string   `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Page is one page of a list, in id order. NextCursor is "" on the last
// page; otherwise pass it as the next request's Cursor.
type Page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"nextCursor"`
}

// Code is the verdict of a verification.
type Code string

// The verdicts Verify returns. Only CodeValid admits a request.
const (
	CodeValid                   Code = "VALID"
	CodeNotFound                Code = "NOT_FOUND" // unknown, malformed, of another account, or outside Apps
	CodeExpired                 Code = "EXPIRED"
	CodeDisabled                Code = "DISABLED"
	CodeInsufficientPermissions Code = "INSUFFICIENT_PERMISSIONS"
	CodeIPNotAllowed            Code = "IP_NOT_ALLOWED"
	CodeRateLimited             Code = "RATE_LIMITED"
)

// Granularity is the width of a usage bucket.
type Granularity string

const (
	GranularityMinute Granularity = "minute"
	GranularityHour   Granularity = "hour"
	GranularityDay    Granularity = "day"
)

// Usage is a key's verification counts by verdict, in buckets, oldest
// first. Only buckets with counts appear.
type Usage struct {
	KeyID       string        `json:"keyId"`
	From        time.Time     `json:"from"`
	To          time.Time     `json:"to"`
	Granularity Granularity   `json:"granularity"`
	Buckets     []UsageBucket `json:"buckets"`
}

// UsageBucket is the count of each verdict within one bucket.
type UsageBucket struct {
	Start  time.Time      `json:"start"`
	Counts map[Code]int64 `json:"counts"`
}
