package sdk

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"time"
)

// VerifyRequest asks whether a credential your API received may be used,
// and for what. Only Key is required.
type VerifyRequest struct {
	// Key is the credential as your client sent it: a secret, an HS256
	// JWT, or "keyId:secret" (from HTTP Basic). CredentialFromRequest
	// extracts it from a request.
	Key string `json:"key"`
	// Apps, if not empty, counts only keys held by these apps (or their
	// integrations): any other key is NOT_FOUND, so that keys made for one
	// API never open another.
	Apps []string `json:"apps,omitempty"`
	// Permissions must all be granted to the key (on Scope, if given).
	Permissions []string `json:"permissions,omitempty"`
	// Scope names what the request is about, for the key's scoped ACL
	// entries.
	Scope *VerifyScope `json:"scope,omitempty"`
	// IP is the address your client connected from. A key with allowed
	// addresses is IP_NOT_ALLOWED when it is empty.
	IP string `json:"ip,omitempty"`
	// Cost is what the request takes from the key's rate limit: 1 to
	// 1,000,000; 0 means 1.
	Cost int `json:"cost,omitempty"`
}

// VerifyScope names, with one value each, what a verified request is
// about: its ACL entries scoped to these values grant too.
type VerifyScope struct {
	OrganizationID  string `json:"organizationId,omitempty"`
	ProductID       string `json:"productId,omitempty"`
	PlanID          string `json:"planId,omitempty"`
	CustomFieldName string `json:"customFieldName,omitempty"`
}

// VerifyResult is a verdict. For CodeNotFound only Valid and Code are set:
// Latchkey says nothing about a key the caller may not see.
type VerifyResult struct {
	// Valid is true for CodeValid only.
	Valid bool `json:"valid"`
	Code  Code `json:"code"`
	// KeyID, Owner and Name identify the key that was presented.
	KeyID string `json:"keyId,omitempty"`
	Owner *Owner `json:"owner,omitempty"`
	Name  string `json:"name,omitempty"`
	// Permissions are the key's unscoped permissions.
	Permissions []string       `json:"permissions,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	ExpiresAt   *time.Time     `json:"expiresAt,omitempty"`
	// RateLimit is where the key stands against its rate limit, when it has
	// one and the check reached it.
	RateLimit *RateLimitStatus `json:"rateLimit,omitempty"`
}

// RateLimitStatus is where a key stands against its rate limit. For a
// RATE_LIMITED verdict, Reset is the earliest time the same request would
// be admitted; otherwise when the limit is whole again.
type RateLimitStatus struct {
	Limit     int       `json:"limit"`
	Remaining int       `json:"remaining"`
	Reset     time.Time `json:"reset"`
}

// clone copies a verdict deeply enough that its holders may not disturb
// one another: the cache hands out clones.
func (r *VerifyResult) clone() *VerifyResult {
	out := *r
	if r.Owner != nil {
		o := *r.Owner
		out.Owner = &o
	}
	out.Permissions = slices.Clone(r.Permissions)
	out.Metadata = maps.Clone(r.Metadata)
	if r.ExpiresAt != nil {
		t := *r.ExpiresAt
		out.ExpiresAt = &t
	}
	if r.RateLimit != nil {
		rl := *r.RateLimit
		out.RateLimit = &rl
	}
	return &out
}

// ErrNoCredential is returned by Verify, before any request, for an empty
// VerifyRequest.Key.
var ErrNoCredential = errors.New("latchkey: no credential to verify")

// Verify asks Latchkey whether a credential may be used (POST /v1/verify).
// The Client's own key needs the VerifyKey permission: make a key with
// Permissions []string{"VerifyKey"} for your API servers.
//
// A verdict, valid or not, is a *VerifyResult with a nil error: check
// Valid, or Code for why not. An error means there is no verdict: the
// request was malformed (an *Error with Fields), the Client's key was
// refused (an *Error), or Latchkey could not be reached. Treat an error as
// "refuse", never as "admit".
//
// Each call counts towards the key's usage and, when the key has one, its
// rate limit (by Cost).
func (c *Client) Verify(ctx context.Context, req VerifyRequest) (*VerifyResult, error) {
	if req.Key == "" {
		return nil, ErrNoCredential
	}
	var res VerifyResult
	if err := c.do(ctx, http.MethodPost, "/v1/verify", nil, req, &res, http.StatusOK); err != nil {
		return nil, err
	}
	return &res, nil
}
