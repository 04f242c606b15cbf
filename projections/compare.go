package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TableDifference is how one read table of a projection differs between two versions, row by
// row: a row is its whole text form (every column, in the DDL's order, which both versions share).
type TableDifference struct {
	Table        string // base name, e.g. rm_tasks
	RowsA, RowsB int64
	// OnlyA counts the rows of version A's table that version B's lacks (with multiplicity), and
	// OnlyB the reverse.
	OnlyA, OnlyB int64
}

// Equal reports whether both versions hold exactly the same rows.
func (d TableDifference) Equal() bool { return d.OnlyA == 0 && d.OnlyB == 0 && d.RowsA == d.RowsB }

// CompareVersions compares every table of p between versions a and b, for instance the version a
// live runner fed and the one Rebuild (with KeepOld) folded from the whole log: after any crash,
// the two must hold the same rows (a commit of the checkpoint with its writes makes the effect
// exactly once). It reads whole tables (a sequential scan and a hash of each): an operator's
// check, not a query to serve.
func CompareVersions(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, p *Projection, a, b int) ([]TableDifference, error) {
	out := make([]TableDifference, 0, len(p.Tables))
	for _, t := range p.Tables {
		ta, tb := pgx.Identifier{t + suffix(a)}.Sanitize(), pgx.Identifier{t + suffix(b)}.Sanitize()
		d := TableDifference{Table: t}
		// EXCEPT ALL keeps duplicates apart, so a row written twice in one version and once in
		// the other counts as a difference.
		err := q.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+ta+`), (SELECT count(*) FROM `+tb+`),
			(SELECT count(*) FROM (SELECT r::text FROM `+ta+` r EXCEPT ALL SELECT r::text FROM `+tb+` r) x),
			(SELECT count(*) FROM (SELECT r::text FROM `+tb+` r EXCEPT ALL SELECT r::text FROM `+ta+` r) x)`).
			Scan(&d.RowsA, &d.RowsB, &d.OnlyA, &d.OnlyB)
		if err != nil {
			return nil, fmt.Errorf("compare %s versions %d and %d: %w", t, a, b, err)
		}
		out = append(out, d)
	}
	return out, nil
}
