package sunshine

import (
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// Page sizes, from the specification's page schema.
const (
	defaultPageSize = 25
	maxPageSize     = 100
)

// listQuery is a list request's cursor pagination: page[after], page[before]
// and page[size], passed as deepObject query parameters.
type listQuery struct {
	page     latchkey.Page
	sizeText string // as given, to carry into links
}

func parsePage(r *http.Request) (listQuery, error) {
	q := r.URL.Query()
	lq := listQuery{page: latchkey.Page{After: q.Get("page[after]"), Before: q.Get("page[before]"), Size: defaultPageSize}}
	bad := invalid("Invalid page query parameters")
	if lq.page.After != "" && lq.page.Before != "" {
		return lq, bad
	}
	for _, cursor := range []string{"page[after]", "page[before]"} {
		if q.Has(cursor) && !core.IsObjectID(q.Get(cursor)) {
			return lq, bad
		}
	}
	if q.Has("page[size]") {
		lq.sizeText = q.Get("page[size]")
		n, ok := web.ParseInt(lq.sizeText, 1, maxPageSize)
		if !ok {
			return lq, bad
		}
		lq.page.Size = n
	}
	return lq, nil
}

type meta struct {
	HasMore      bool   `json:"hasMore"`
	AfterCursor  string `json:"afterCursor,omitempty"`
	BeforeCursor string `json:"beforeCursor,omitempty"`
}

type links struct {
	Next string `json:"next,omitempty"`
	Prev string `json:"prev,omitempty"`
}

// writePage writes one page of a list as {name: [...], meta, links}, each
// item rendered by render; links start with base (scheme and host). extra holds query parameters (a filter) that the
// links must keep.
func writePage[T, J any](w http.ResponseWriter, r *http.Request, base, name string, items []T, render func(T) J, id func(T) string,
	lq listQuery, info latchkey.PageInfo, extra url.Values) {
	out := make([]J, len(items))
	var first, last string
	for i, item := range items {
		out[i] = render(item)
	}
	if len(items) > 0 {
		first, last = id(items[0]), id(items[len(items)-1])
	}
	m, l := pageMeta(r, base, lq, first, last, info, extra)
	web.WriteJSON(w, http.StatusOK, map[string]any{name: out, "meta": m, "links": l})
}

// pageMeta describes a page with the ids at its edges: cursors and links
// appear only where there are records beyond that edge.
func pageMeta(r *http.Request, base string, lq listQuery, first, last string, info latchkey.PageInfo, extra url.Values) (meta, links) {
	m := meta{HasMore: info.HasMore}
	var l links
	link := func(param, cursor string) string {
		// Brackets stay literal, as in the specification's examples.
		u := base + r.URL.Path + "?" + param + "=" + url.QueryEscape(cursor)
		if lq.sizeText != "" {
			u += "&page[size]=" + url.QueryEscape(lq.sizeText)
		}
		for k, vs := range extra {
			for _, v := range vs {
				u += "&" + k + "=" + url.QueryEscape(v)
			}
		}
		return u
	}
	if info.HasNext && last != "" {
		m.AfterCursor, l.Next = last, link("page[after]", last)
	}
	if info.HasPrev && first != "" {
		m.BeforeCursor, l.Prev = first, link("page[before]", first)
	}
	return m, l
}
