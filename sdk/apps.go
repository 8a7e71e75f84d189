package sdk

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// CreateAppRequest is the body of CreateApp.
type CreateAppRequest struct {
	// Name is 1 to 100 characters.
	Name string `json:"name"`
	// Metadata is a flat object of strings, numbers and booleans, at most
	// 4096 bytes as compact JSON.
	Metadata map[string]any `json:"metadata,omitzero"`
}

// UpdateAppRequest is the body of UpdateApp, a merge (PATCH): Name is sent
// when not nil, Metadata when not nil (it replaces the app's), and
// ClearMetadata sends null, which removes it. Setting both Metadata and
// ClearMetadata is ErrConflictingPatch.
type UpdateAppRequest struct {
	Name          *string
	Metadata      map[string]any
	ClearMetadata bool
}

// ListAppsOptions selects a page of apps.
type ListAppsOptions struct {
	// Limit is the page size, 1 to 100; 0 means the server's default, 25.
	Limit int
	// Cursor is the previous page's NextCursor; "" for the first page.
	Cursor string
}

// CreateApp makes an app (POST /v1/apps).
func (c *Client) CreateApp(ctx context.Context, req CreateAppRequest) (*App, error) {
	var a App
	if err := c.do(ctx, http.MethodPost, "/v1/apps", nil, req, &a, http.StatusCreated); err != nil {
		return nil, err
	}
	return &a, nil
}

// GetApp returns an app (GET /v1/apps/{id}).
func (c *Client) GetApp(ctx context.Context, id string) (*App, error) {
	var a App
	if err := c.do(ctx, http.MethodGet, appPath(id), nil, nil, &a, http.StatusOK); err != nil {
		return nil, err
	}
	return &a, nil
}

// ListApps returns one page of the account's apps, in id order
// (GET /v1/apps). AllApps walks every page.
func (c *Client) ListApps(ctx context.Context, opts ListAppsOptions) (*Page[App], error) {
	q := url.Values{}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	var p Page[App]
	if err := c.do(ctx, http.MethodGet, "/v1/apps", q, nil, &p, http.StatusOK); err != nil {
		return nil, err
	}
	return &p, nil
}

// AllApps iterates over every app from opts.Cursor on, a page at a time;
// an error ends the iteration after it is yielded.
func (c *Client) AllApps(ctx context.Context, opts ListAppsOptions) iter.Seq2[*App, error] {
	return all(ctx, opts.Cursor, func(ctx context.Context, cursor string) (*Page[App], error) {
		opts.Cursor = cursor
		return c.ListApps(ctx, opts)
	})
}

// UpdateApp changes an app (PATCH /v1/apps/{id}) and returns it as it now
// is.
func (c *Client) UpdateApp(ctx context.Context, id string, req UpdateAppRequest) (*App, error) {
	body := map[string]any{}
	if req.Name != nil {
		body["name"] = *req.Name
	}
	switch {
	case req.Metadata != nil && req.ClearMetadata:
		return nil, ErrConflictingPatch
	case req.Metadata != nil:
		body["metadata"] = req.Metadata
	case req.ClearMetadata:
		body["metadata"] = nil
	}
	var a App
	if err := c.do(ctx, http.MethodPatch, appPath(id), nil, body, &a, http.StatusOK); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteApp deletes an app with its integrations and their keys
// (DELETE /v1/apps/{id}); those keys stop authenticating at once. It is
// refused (403) if any of those keys has rights beyond the Client's key.
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, appPath(id), nil, nil, nil, http.StatusNoContent)
}
