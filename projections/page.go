package projections

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/internal/cursor"
)

// Window asks for a page of a list (Relay's connections): the Limit items just after Cursor
// (forward: first/after), or, Backward, the Limit items just before it (last/before). Without
// a cursor a forward page starts at the list's start, a backward one ends at its end.
type Window struct {
	Limit    int // 1 to MaxPage (anything else reads MaxPage)
	Backward bool
	Cursor   string
}

// Page is one page of a list, in the list's order, and whether the list has items before and
// after it (Relay's hasPreviousPage and hasNextPage, exact in both directions).
type Page[T any] struct {
	Items       []T
	HasPrevious bool
	HasNext     bool
}

// keyset is how a list is ordered and paged: by the tuple of key columns, ascending or
// descending, its cursors (of kind) holding the key's values. A page is one statement: the items
// beyond the cursor in the page's direction (one more than asked: is there a next page?), and
// the one item at or behind the cursor (is there a previous one?), each an index range scan
// that stops at its LIMIT, both served by the index on (parent, key…) in either direction.
type keyset struct {
	kind byte
	cols []string // the key's columns in the statement, e.g. "c.created_at", "c.id"
	out  []string // their names in the statement's output, e.g. "created_at", "id"
	desc bool     // the list is in descending key order
	// read reads a cursor's key values, as statement arguments in the order of cols.
	read func(*cursor.Reader) []any
}

// check parses a cursor of the list: ErrBadCursor for another list's or a malformed one.
func (k keyset) check(s string) ([]any, error) {
	r, ok := cursor.Open(s, k.kind)
	if !ok {
		return nil, fmt.Errorf("%w: not a cursor of this list", ErrBadCursor)
	}
	vals := k.read(r)
	if !r.Done() {
		return nil, fmt.Errorf("%w: not a cursor of this list", ErrBadCursor)
	}
	return vals, nil
}

// ValidCursor reports whether s is a cursor of the list of kind (internal/cursor's kinds), for
// the API to refuse a bad after or before before it reads anything.
func ValidCursor(kind byte, s string) bool {
	for _, k := range []keyset{activityKeys, inboxKeys, commentKeys, memberKeys, projectKeys, workspaceKeys} {
		if k.kind == kind {
			_, err := k.check(s)
			return err == nil
		}
	}
	return false
}

// args numbers a statement's arguments.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// order is the ORDER BY list of cols, ascending when asc.
func order(cols []string, asc bool) string {
	dir := " DESC"
	if asc {
		dir = ""
	}
	return strings.Join(cols, dir+", ") + dir
}

// union is the page's statement body over sel (the select list) and from (FROM … WHERE …, to
// which the key's condition is added with AND): its rows carry a last column, probe, true for the
// row behind the cursor. Order the whole by probe, then k.listOrder().
func (k keyset) union(sel, from string, a *args, w Window) (string, error) {
	limit := pageSize(w.Limit)
	asc := !k.desc // the list's direction
	main, back := asc, !asc
	if w.Backward {
		main, back = !asc, asc
	}
	key := "(" + strings.Join(k.cols, ", ") + ")"
	if w.Cursor == "" {
		return fmt.Sprintf(`(SELECT %s, false AS probe %s ORDER BY %s LIMIT %s)`, sel, from, order(k.cols, main), a.add(limit+1)), nil
	}
	vals, err := k.check(w.Cursor)
	if err != nil {
		return "", err
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = a.add(v)
	}
	at := "(" + strings.Join(ph, ", ") + ")"
	beyond, behind := ">", "<="
	if !main {
		beyond, behind = "<", ">="
	}
	return fmt.Sprintf(`(SELECT %[1]s, false AS probe %[2]s AND %[3]s %[4]s %[5]s ORDER BY %[6]s LIMIT %[7]s)
		UNION ALL (SELECT %[1]s, true %[2]s AND %[3]s %[8]s %[5]s ORDER BY %[9]s LIMIT 1)`,
		sel, from, key, beyond, at, order(k.cols, main), a.add(limit+1), behind, order(k.cols, back)), nil
}

// listOrder is the list's order over the statement's output, named alias.
func (k keyset) listOrder(alias string) string {
	cols := make([]string, len(k.out))
	for i, c := range k.out {
		cols[i] = alias + "." + c
	}
	return order(cols, !k.desc)
}

// probed is a row of a page statement and its probe flag.
type probed[T any] struct {
	v     T
	probe bool
}

// flagRow scans a row's last column (probe) into flag, or ws, the others with the list's scan.
type flagRow struct {
	pgx.Row
	flag *bool
	ws   *uuid.UUID
}

func (r flagRow) Scan(dest ...any) error {
	if r.ws != nil {
		return r.Row.Scan(append(dest, r.ws)...)
	}
	return r.Row.Scan(append(dest, r.flag)...)
}

func scanProbed[T any](scan func(pgx.Row) (T, error)) func(pgx.Row) (probed[T], error) {
	return func(row pgx.Row) (probed[T], error) {
		var p probed[T]
		v, err := scan(flagRow{Row: row, flag: &p.probe})
		p.v = v
		return p, err
	}
}

// cut makes a page of a page statement's rows (in list order, the probe last): the extra row
// says the list goes on in the page's direction, the probe that it has items behind the cursor.
func cut[T any](rows []probed[T], w Window) Page[T] {
	limit := pageSize(w.Limit)
	items := make([]T, 0, len(rows))
	behind := false
	for _, r := range rows {
		if r.probe {
			behind = true
		} else {
			items = append(items, r.v)
		}
	}
	more := len(items) > limit
	if w.Backward {
		if more {
			items = items[len(items)-limit:]
		}
		return Page[T]{Items: items, HasPrevious: more, HasNext: behind}
	}
	if more {
		items = items[:limit]
	}
	return Page[T]{Items: items, HasPrevious: behind, HasNext: more}
}

// cutEach makes a page of each parent's rows (rows grouped by parent, each group as cut takes
// them), in the order of parents; a parent without rows has an empty page.
func cutEach[K comparable, T any](rows []probed[T], parent func(T) K, parents []K, w Window) map[K]Page[T] {
	out := make(map[K]Page[T], len(parents))
	for start := 0; start < len(rows); {
		p := parent(rows[start].v)
		end := start + 1
		for end < len(rows) && parent(rows[end].v) == p {
			end++
		}
		out[p] = cut(rows[start:end], w)
		start = end
	}
	for _, p := range parents {
		if _, ok := out[p]; !ok {
			out[p] = Page[T]{Items: []T{}}
		}
	}
	return out
}
