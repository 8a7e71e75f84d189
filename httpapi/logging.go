package httpapi

import (
	"context"
	"log/slog"

	"github.com/latchkey/latchkey/audit"
)

// LogHandler wraps h so that every line logged for a request carries the
// request's id (request_id, as sent back in X-Request-Id), whichever code
// logs it: a log call made with the request's context (the *Context
// methods of slog.Logger) is enough. Lines that name a request_id already
// (the request log's own line) are left as they are.
func LogHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if req := audit.RequestFrom(ctx); req != nil && req.ID != "" && !hasAttr(rec, "request_id") {
		rec = rec.Clone()
		rec.AddAttrs(slog.String("request_id", req.ID))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

func hasAttr(rec slog.Record, key string) bool {
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
