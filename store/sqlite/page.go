package sqlite

import (
	"context"
	"database/sql"
	"slices"

	"github.com/latchkey/latchkey"
)

// listPage runs a keyset-paginated list over table: the rows matching cond
// (with args), ordered by id, one page at a time. Keyset rather than OFFSET:
// a page costs the same wherever it lies, and rows added meanwhile do not
// shift it.
func listPage[T any](ctx context.Context, q querier, table, cols, cond string, args []any,
	page latchkey.Page, scan func(*sql.Rows) (T, error), idOf func(T) string) ([]T, latchkey.PageInfo, error) {
	var info latchkey.PageInfo
	if page.Size < 1 {
		return nil, info, latchkey.Errorf(latchkey.EINVALID, "page size must be at least 1, got %d", page.Size)
	}
	query := `SELECT ` + cols + ` FROM ` + table + ` WHERE ` + cond
	qargs := slices.Clone(args)
	backward := page.Before != ""
	switch {
	case backward:
		query += ` AND id < ? ORDER BY id DESC LIMIT ?`
		qargs = append(qargs, page.Before, page.Size+1)
	case page.After != "":
		query += ` AND id > ? ORDER BY id ASC LIMIT ?`
		qargs = append(qargs, page.After, page.Size+1)
	default:
		query += ` ORDER BY id ASC LIMIT ?`
		qargs = append(qargs, page.Size+1)
	}
	rows, err := q.QueryContext(ctx, query, qargs...)
	if err != nil {
		return nil, info, err
	}
	var items []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, info, err
		}
		items = append(items, item)
	}
	if err := rows.Close(); err != nil {
		return nil, info, err
	}
	if err := rows.Err(); err != nil {
		return nil, info, err
	}
	info.HasMore = len(items) > page.Size
	if info.HasMore {
		items = items[:page.Size]
	}
	exists := func(op, id string) (bool, error) {
		var found bool
		err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE `+cond+` AND id `+op+` ?)`,
			append(slices.Clone(args), id)...).Scan(&found)
		return found, err
	}
	if backward {
		slices.Reverse(items)
		info.HasPrev = info.HasMore
		if len(items) > 0 {
			info.HasNext, err = exists(">", idOf(items[len(items)-1]))
		} else {
			info.HasNext, err = exists(">=", page.Before)
		}
	} else {
		info.HasNext = info.HasMore
		switch {
		case len(items) > 0:
			info.HasPrev, err = exists("<", idOf(items[0]))
		case page.After != "":
			info.HasPrev, err = exists("<=", page.After)
		}
	}
	return items, info, err
}
