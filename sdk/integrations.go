package sdk

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// IntegrationTypeCustom is the one integration type Latchkey manages: a
// custom integration, which holds keys of its own.
const IntegrationTypeCustom = "custom"

// CreateIntegrationRequest is the body of CreateIntegration.
type CreateIntegrationRequest struct {
	// Name is 1 to 100 characters.
	Name string `json:"name"`
	// Type defaults to IntegrationTypeCustom, the only type there is.
	Type string `json:"type,omitempty"`
}

// UpdateIntegrationRequest is the body of UpdateIntegration, a merge
// (PATCH): Name is sent when not nil. An integration's type and app are
// fixed.
type UpdateIntegrationRequest struct {
	Name *string `json:"name,omitempty"`
}

// ListIntegrationsOptions selects a page of an app's integrations.
type ListIntegrationsOptions struct {
	// Limit is the page size, 1 to 100; 0 means the server's default, 25.
	Limit int
	// Cursor is the previous page's NextCursor; "" for the first page.
	Cursor string
}

// CreateIntegration makes a custom integration in an app
// (POST /v1/apps/{appId}/integrations). Account and app keys only.
func (c *Client) CreateIntegration(ctx context.Context, appID string, req CreateIntegrationRequest) (*Integration, error) {
	var in Integration
	if err := c.do(ctx, http.MethodPost, appPath(appID)+"/integrations", nil, req, &in, http.StatusCreated); err != nil {
		return nil, err
	}
	return &in, nil
}

// GetIntegration returns an integration of an app
// (GET /v1/apps/{appId}/integrations/{integrationId}). An integration key
// may get only its own.
func (c *Client) GetIntegration(ctx context.Context, appID, id string) (*Integration, error) {
	var in Integration
	if err := c.do(ctx, http.MethodGet, integrationPath(appID, id), nil, nil, &in, http.StatusOK); err != nil {
		return nil, err
	}
	return &in, nil
}

// ListIntegrations returns one page of an app's integrations, in id order
// (GET /v1/apps/{appId}/integrations). AllIntegrations walks every page.
// Account and app keys only.
func (c *Client) ListIntegrations(ctx context.Context, appID string, opts ListIntegrationsOptions) (*Page[Integration], error) {
	q := url.Values{}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	var p Page[Integration]
	if err := c.do(ctx, http.MethodGet, appPath(appID)+"/integrations", q, nil, &p, http.StatusOK); err != nil {
		return nil, err
	}
	return &p, nil
}

// AllIntegrations iterates over every integration of an app from
// opts.Cursor on, a page at a time; an error ends the iteration after it is
// yielded.
func (c *Client) AllIntegrations(ctx context.Context, appID string, opts ListIntegrationsOptions) iter.Seq2[*Integration, error] {
	return all(ctx, opts.Cursor, func(ctx context.Context, cursor string) (*Page[Integration], error) {
		opts.Cursor = cursor
		return c.ListIntegrations(ctx, appID, opts)
	})
}

// UpdateIntegration changes an integration
// (PATCH /v1/apps/{appId}/integrations/{integrationId}) and returns it as
// it now is.
func (c *Client) UpdateIntegration(ctx context.Context, appID, id string, req UpdateIntegrationRequest) (*Integration, error) {
	var in Integration
	if err := c.do(ctx, http.MethodPatch, integrationPath(appID, id), nil, req, &in, http.StatusOK); err != nil {
		return nil, err
	}
	return &in, nil
}

// DeleteIntegration deletes an integration with its keys
// (DELETE /v1/apps/{appId}/integrations/{integrationId}); those keys stop
// authenticating at once. It is refused (403) if any of them has rights
// beyond the Client's key.
func (c *Client) DeleteIntegration(ctx context.Context, appID, id string) error {
	return c.do(ctx, http.MethodDelete, integrationPath(appID, id), nil, nil, nil, http.StatusNoContent)
}

// integrationPath is the path of one integration, its ids escaped.
func integrationPath(appID, id string) string {
	return appPath(appID) + "/integrations/" + url.PathEscape(id)
}
