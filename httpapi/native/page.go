package native

import (
	"net/url"

	"github.com/latchkey/latchkey/httpapi/web"
)

// Listing bounds: every list answers at most maxLimit items.
const (
	defaultLimit = 25
	maxLimit     = 100
	// maxCursorLen bounds a cursor: it is the last id of a page, and ids
	// are far shorter.
	maxCursorLen = 200
)

// pageQuery is a validated limit and cursor. The cursor is the id of the
// last item of the previous page: opaque to clients, who only send back
// what nextCursor said.
type pageQuery struct {
	limit  int
	cursor string
}

// readPage reads limit and cursor from a query; validCursor says whether a
// cursor could be an id of the listed kind.
func readPage(q url.Values, errs *fieldErrors, validCursor func(string) bool) pageQuery {
	out := pageQuery{limit: defaultLimit}
	if q.Has("limit") {
		n, ok := web.ParseInt(q.Get("limit"), 1, maxLimit)
		if !ok {
			errs.add("limit", "Must be an integer from 1 to %d.", maxLimit)
		} else {
			out.limit = n
		}
	}
	if q.Has("cursor") {
		c := q.Get("cursor")
		if c == "" || len(c) > maxCursorLen || !validCursor(c) {
			errs.add("cursor", "Must be a nextCursor from a previous page.")
		} else {
			out.cursor = c
		}
	}
	return out
}

// pageJSON is one page of a list; NextCursor is null on the last page.
type pageJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// newPage renders a page of items; more says whether items follow the last.
func newPage[I, T any](items []I, more bool, id func(I) string, render func(I) T) pageJSON[T] {
	out := pageJSON[T]{Data: make([]T, len(items))}
	for i, it := range items {
		out.Data[i] = render(it)
	}
	if more && len(items) > 0 {
		next := id(items[len(items)-1])
		out.NextCursor = &next
	}
	return out
}
