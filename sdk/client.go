package sdk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Version is this SDK's version, sent in the default User-Agent.
const Version = "0.1.0"

// Response bounds. A response larger than these is refused with an error
// rather than read into memory: a misbehaving server, or something that is
// not Latchkey at the configured address, cannot exhaust the caller's
// memory.
const (
	// MaxResponseBytes bounds a successful response body. The largest
	// legitimate answer, a page of 100 keys each carrying a full policy,
	// is well below it.
	MaxResponseBytes = 32 << 20
	// maxErrorBytes bounds an error response body.
	maxErrorBytes = 64 << 10
)

// defaultTimeout is the timeout of the HTTP client New makes when none is
// given with WithHTTPClient.
const defaultTimeout = 30 * time.Second

// Client calls Latchkey's native API (/v1). It is safe for concurrent use
// by many goroutines; make one and share it.
//
// A Client never logs, and never puts its API key or any secret it
// handles in an error message. Printing a Client with fmt shows no secret.
type Client struct {
	baseURL   string // without a trailing slash
	http      *http.Client
	userAgent string
	// authorize sets the Authorization header. The API key lives only in
	// this closure, so that printing a Client (fmt's %+v, a debugger's
	// struct dump) shows a function address, not the key.
	authorize func(h http.Header)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests through hc: for your
// own timeouts, proxies, TLS settings or instrumentation. The default is an
// http.Client with a 30-second timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request. The default is
// "latchkey-go-sdk/" followed by Version.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a Client for the Latchkey server at baseURL (such as
// "https://keys.example.com"; a path prefix is kept) that authenticates
// with apiKey.
//
// apiKey is a key secret (sent as "Authorization: Bearer <secret>"), an
// HS256 JWT (sent the same way), or "keyId:secret" (sent as HTTP Basic).
// Each method needs the permission of the same name on that key; Verify
// needs "VerifyKey". An account key holds every permission.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		http:      &http.Client{Timeout: defaultTimeout},
		userAgent: "latchkey-go-sdk/" + Version,
	}
	var value string
	if id, secret, ok := strings.Cut(apiKey, ":"); ok {
		value = "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	} else {
		value = "Bearer " + apiKey
	}
	c.authorize = func(h http.Header) { h.Set("Authorization", value) }
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// do sends one request and decodes its answer into out (if out is not
// nil). Any status other than want is returned as an *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any, want int) error {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("latchkey: encoding the %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("latchkey: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	c.authorize(req.Header)

	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the method and URL (no secret: the key travels in
		// a header, never in a URL) and keeps the cause for errors.Is.
		return fmt.Errorf("latchkey: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != want {
		return readError(resp)
	}
	if out == nil {
		// Drain a little, so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
		return nil
	}
	b, err := readBounded(resp.Body, MaxResponseBytes)
	if err != nil {
		return fmt.Errorf("latchkey: reading the %s %s response: %w", method, path, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("latchkey: decoding the %s %s response: %w", method, path, err)
	}
	return nil
}

// errTooLarge is returned for a response body beyond its bound.
var errTooLarge = errors.New("response body too large")

// readBounded reads at most limit bytes of r, or fails.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
	}
	return b, nil
}

// keyPath is the path of one key, its id escaped.
func keyPath(id string) string { return "/v1/keys/" + url.PathEscape(id) }

// appPath is the path of one app, its id escaped.
func appPath(id string) string { return "/v1/apps/" + url.PathEscape(id) }
