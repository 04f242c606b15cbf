package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned by single-row queries when nothing matches in the tenant.
var ErrNotFound = errors.New("projections: not found")

// MaxPage bounds every page.
const MaxPage = 200

// Queries reads the active versions of the read tables (through the views). Every query is
// scoped to the tenant: one workspace, or, for the batch queries (…ByKeys, …OfWorkspaces), each
// key or row to its own workspace; each runs a bounded number of statements, however many keys
// and workspaces, each served by an index named next to it.
type Queries struct {
	pool *pgxpool.Pool
}

// NewQueries returns the read side over pool.
func NewQueries(pool *pgxpool.Pool) *Queries { return &Queries{pool: pool} }

// customPlan, first among a statement's arguments, sends it as an unnamed statement (pgx's
// cache_describe: its description cached, still one round trip), which PostgreSQL plans with its
// arguments at every execution. Under pgx's default a statement is prepared once per connection,
// and from its sixth execution PostgreSQL may keep a generic plan, estimated for an average
// workspace or project: for a skewed one (a project of 100k tasks, a workspace of 200k) a
// BitmapAnd and a sort of everything (TestPlansAtScale explains both plans; on a seeded database
// the board of a 100k-task project took 1.57 s in its generic plan before board_idx began with
// workspace_id, 0.4 ms in its custom one). Unlike plan_cache_mode as a startup parameter, which
// PgBouncer rejects or drops, or a role setting, which a shared database's owner must make, it
// works through any pooler; it costs a parse per execution (the custom plan is made anyway).
// Statements whose every parameter selects alike (a primary key) keep their cached plans.
const customPlan = pgx.QueryExecModeCacheDescribe

func pageSize(n int) int {
	if n <= 0 || n > MaxPage {
		return MaxPage
	}
	return n
}

// Key names a row of a workspace (a project, a task) for the batch queries: a key only ever
// matches a row of its own workspace, so one statement serves keys of any number of workspaces
// with the tenant safety of one statement per workspace.
type Key struct {
	WorkspaceID uuid.UUID
	ID          uuid.UUID
}

// MemberKey names a member of a workspace.
type MemberKey struct {
	WorkspaceID uuid.UUID
	UserID      string
}

// splitKeys returns keys' workspaces and ids as two parallel arrays, for unnest($1, $2).
func splitKeys(keys []Key) (workspaces, ids []uuid.UUID) {
	workspaces, ids = make([]uuid.UUID, len(keys)), make([]uuid.UUID, len(keys))
	for i, k := range keys {
		workspaces[i], ids[i] = k.WorkspaceID, k.ID
	}
	return workspaces, ids
}
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// list runs one query and scans every row with scan.
func list[T any](ctx context.Context, pool *pgxpool.Pool, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read model query: %w", err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read model scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read model query: %w", err)
	}
	return out, nil
}
