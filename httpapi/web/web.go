// Package web holds the HTTP plumbing every surface shares: reading a bounded
// JSON body, writing JSON, finding the methods a path allows, and carrying the
// authenticated key id to the request log. It knows no dialect's error format.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// MaxBodyBytes caps a request body: 100 kB, as Sunshine Conversations does.
const MaxBodyBytes = 100 * 1000

// BodyError is a request body that cannot be used. Status is the HTTP status
// it calls for (400, 413 or 415); Message is safe to show the client. Field,
// when the problem lies with one member (a duplicate, a lone surrogate), is
// its dot path, such as "acl.0.scope".
//
// Value marks a body that is well-formed JSON whose value at Field cannot be
// kept as sent (U+0000, a number a float64 would round): a problem with a
// member's value rather than with the document, which a surface may answer
// as it answers its other invalid values (Rebilly: 422 with invalidFields).
type BodyError struct {
	Status  int
	Message string
	Field   string
	Value   bool
}

func (e *BodyError) Error() string { return e.Message }

// DecodeObject reads r's body, which must be one JSON object, into a map of
// its members, left undecoded so that each surface can check their types and
// word its own messages. The body must also pass checkStrict (strictjson.go):
// valid UTF-8, no lone surrogates, no U+0000, no member named twice, numbers
// kept exactly, at most MaxDepth levels, at any depth and in members the
// surface then ignores, so that what a surface stores is what was sent.
// Unknown members are the caller's to refuse or ignore.
func DecodeObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	return DecodeObjectUpTo(w, r, MaxBodyBytes)
}

// DecodeObjectUpTo is DecodeObject with a cap of limit bytes (a multiple of
// 1000), for the few routes whose bodies are batches.
func DecodeObjectUpTo(w http.ResponseWriter, r *http.Request, limit int64) (map[string]json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &BodyError{Status: http.StatusUnsupportedMediaType, Message: "Content-Type must be application/json"}
		}
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, tooLarge(limit)
	case err != nil:
		return nil, &BodyError{Status: http.StatusBadRequest, Message: "Could not read the request body"}
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, &BodyError{Status: http.StatusBadRequest, Message: "Request body must be a JSON object"}
	}
	if err := checkStrict(body); err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, &BodyError{Status: http.StatusBadRequest, Message: "Request body is not valid JSON"}
	}
	return obj, nil
}

func tooLarge(limit int64) error {
	return &BodyError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request body is larger than %d kB", limit/1000)}
}

// WriteJSON writes v as JSON with the given status. The body has no trailing
// newline: the official Sunshine client resolves a DELETE's body to its text
// when it is an empty object, and callers compare that text with "{}".
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"response could not be encoded"}`)
	}
	// Content-Type must be set before WriteHeader, or it is lost.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503 sent while
// the database is unavailable: the default staleness bound, about how soon
// a node notices the database is back; a client that retries sooner only
// adds load to an outage.
const RetryAfterUnavailable = "1"

// SetRetryAfter sets the Retry-After of a 503 for an unavailable database.
func SetRetryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", RetryAfterUnavailable)
}

// unavailableLogged is when LogUnavailable last wrote (Unix nanoseconds),
// and unavailableSince how many it left out since.
var unavailableLogged, unavailableSince atomic.Int64

// LogUnavailable logs, as a warning, that a request was answered 503
// because the database is unavailable: at most once a second, with how many
// such requests went unlogged before it. During an outage every request
// fails alike, at gateway rates; the request log still has a line for each.
func LogUnavailable(logger *slog.Logger, r *http.Request, err error) {
	now := time.Now().UnixNano()
	last := unavailableLogged.Load()
	if now-last < int64(time.Second) || !unavailableLogged.CompareAndSwap(last, now) {
		unavailableSince.Add(1)
		return
	}
	logger.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err,
		"alsoSinceLastLine", unavailableSince.Swap(0))
}

// AllowedMethods returns the methods for which mux has a real route
// matching r's path: the Allow header of a 405. Matches of the catch-all "/"
// and of the given fallback patterns do not count.
func AllowedMethods(mux *http.ServeMux, r *http.Request, fallbacks ...string) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" && !slices.Contains(fallbacks, pattern) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// LogInfo is what a surface learns about a request and hands back to the
// request log: the key it was authenticated with; for a gateway's authorize
// call, the request the gateway is asking about; and whether the request
// was a verification.
type LogInfo struct {
	KeyID, Origin string
	// Verification marks a verify or authorize call: a gateway makes one for
	// every request it serves, and usage already counts them by key and
	// outcome, so the request log writes them at debug level only.
	Verification bool
}

type logInfoKey struct{}

// WithLogInfo returns a context through which the request's handlers fill
// in info, for the request log to read once the request is served. The
// caller owns info (and may allocate it with the rest of what it keeps of
// the request).
func WithLogInfo(ctx context.Context, info *LogInfo) context.Context {
	return context.WithValue(ctx, logInfoKey{}, info)
}

// SetVerification marks the request as a verification, for the request log.
func SetVerification(ctx context.Context) {
	if info, ok := ctx.Value(logInfoKey{}).(*LogInfo); ok {
		info.Verification = true
	}
}

// SetOrigin records, for the request log, the request a gateway asks
// about ("GET /orders/17"). Only the path of uri is kept: a query may
// carry a client's credential, and logs never carry one. It is the
// client's own text, logged and never trusted for a decision.
func SetOrigin(ctx context.Context, method, uri string) {
	path, _, _ := strings.Cut(uri, "?")
	if info, ok := ctx.Value(logInfoKey{}).(*LogInfo); ok && (method != "" || path != "") {
		info.Origin = strings.TrimSpace(method + " " + path)
	}
}

// SetKeyID records which key authenticated the request, for the request log.
// Only the id: never a secret.
func SetKeyID(ctx context.Context, keyID string) {
	if info, ok := ctx.Value(logInfoKey{}).(*LogInfo); ok {
		info.KeyID = keyID
	}
}
