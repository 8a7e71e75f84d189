package postgres

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// listPage runs a keyset-paginated list over table: the rows matching cond
// (with args), ordered by id, one page at a time. Keyset rather than OFFSET:
// a page costs the same wherever it lies, and rows added meanwhile do not
// shift it.
func listPage[T any](ctx context.Context, q querier, table, cols, cond string, args params,
	page latchkey.Page, scan func(scanner) (T, error), idOf func(T) string) ([]T, latchkey.PageInfo, error) {
	var info latchkey.PageInfo
	if page.Size < 1 {
		return nil, info, latchkey.Errorf(latchkey.EINVALID, "page size must be at least 1, got %d", page.Size)
	}
	query := `SELECT ` + cols + ` FROM ` + table + ` WHERE ` + cond
	qargs := slices.Clone(args)
	backward := page.Before != ""
	switch {
	case backward:
		query += ` AND ` + compareID(&qargs, "<", page.Before) + ` ORDER BY id DESC LIMIT ` + qargs.add(page.Size+1)
	case page.After != "":
		query += ` AND ` + compareID(&qargs, ">", page.After) + ` ORDER BY id ASC LIMIT ` + qargs.add(page.Size+1)
	default:
		query += ` ORDER BY id ASC LIMIT ` + qargs.add(page.Size+1)
	}
	rows, err := q.Query(ctx, query, qargs...)
	if err != nil {
		return nil, info, err
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, info, err
	}
	info.HasMore = len(items) > page.Size
	if info.HasMore {
		items = items[:page.Size]
	}
	exists := func(op, id string) (bool, error) {
		eargs := slices.Clone(args)
		var found bool
		err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE `+cond+` AND `+compareID(&eargs, op, id)+`)`,
			eargs...).Scan(&found)
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
	if len(items) == 0 {
		items = nil // an empty page is nil, as from SQLite's store
	}
	return items, info, err
}

// compareID returns the condition "id op cursor", adding cursor to p. Ids
// are COLLATE "C", so they compare bytewise, as in SQLite. A cursor that
// PostgreSQL cannot hold as text (see representable) is compared as bytes
// instead, against the id's UTF-8: as exact, though it cannot use the index;
// no id the store made is such a cursor.
func compareID(p *params, op, cursor string) string {
	if representable(cursor) {
		return "id " + op + " " + p.add(cursor)
	}
	return "convert_to(id, 'UTF8') " + op + " " + p.add([]byte(cursor))
}
