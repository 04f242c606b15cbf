package projections

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// recorder keeps the statements a pool runs.
type recorder struct {
	mu    sync.Mutex
	stmts []recorded
}

type recorded struct {
	sql  string
	args []any
	// named: run as a cached prepared statement (no exec mode among the arguments, the pool's
	// cache_statement), which PostgreSQL may switch to a generic plan; an unnamed one (customPlan)
	// is planned with its arguments every time
	named bool
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	s := recorded{sql: d.SQL, args: d.Args, named: true}
	if len(s.args) > 0 {
		if m, ok := s.args[0].(pgx.QueryExecMode); ok { // an option, not a parameter
			s.args, s.named = s.args[1:], m == pgx.QueryExecModeCacheStatement
		}
	}
	r.stmts = append(r.stmts, s)
	r.mu.Unlock()
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stmts
	r.stmts = nil
	return out
}

// TestPagesUseTheirIndexes: every page statement, forward and backward, from a cursor and from
// an end, is served by the index its comment names (on an empty table the planner would rather
// scan: every alternative to an index is made expensive, so only a statement that cannot use the
// index does without it).
func TestPagesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	plain := pgtest.Open(t, url)
	require.NoError(t, Ensure(ctx, plain, All()))
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	q := NewQueries(pool)

	at := time.Date(2026, 12, 24, 9, 30, 0, 0, time.UTC)
	id, ws := uuid.New(), uuid.New()
	pos := eventstore.GlobalPosition{TransactionID: 7, Position: 9}
	cases := map[string]struct {
		index  string
		cursor string
		read   func(w Window) error
	}{
		"activity": {`rm_activity_v\d+_pkey`, ActivityItem{Position: pos}.Cursor(), func(w Window) error {
			_, err := q.ActivityFeed(ctx, ws, w)
			return err
		}},
		// On an empty table the planner cannot tell the inbox index from the read-mark one (user,
		// position), a range scan in the same order filtering the workspace: either serves.
		"inbox": {`rm_notifications_v\d+_(inbox|read)_idx`, Notification{Position: pos}.Cursor(), func(w Window) error {
			_, err := q.Inbox(ctx, ws, "u", false, w)
			return err
		}},
		"unread inbox": {`rm_notifications_v\d+_(inbox|read)_idx`, Notification{Position: pos}.Cursor(), func(w Window) error {
			_, err := q.Inbox(ctx, ws, "u", true, w)
			return err
		}},
		"comments": {`rm_comments_v\d+_task_idx`, Comment{CreatedAt: at, ID: id}.Cursor(), func(w Window) error {
			_, err := q.CommentPages(ctx, []Key{{WorkspaceID: ws, ID: id}, {WorkspaceID: ws, ID: uuid.New()}}, w)
			return err
		}},
		"members": {`rm_members_v\d+_name_idx`, Member{DisplayName: "Mia", UserID: "u"}.Cursor(), func(w Window) error {
			_, err := q.MemberPages(ctx, []uuid.UUID{ws, uuid.New()}, w)
			return err
		}},
		"projects": {`rm_projects_v\d+_workspace_idx`, Project{Name: "P", ID: id}.Cursor(), func(w Window) error {
			_, err := q.ProjectPages(ctx, []uuid.UUID{ws, uuid.New()}, w)
			return err
		}},
		"workspaces": {`rm_members_v\d+_user_idx`, Membership{Workspace: Workspace{Name: "W", ID: id}}.Cursor(), func(w Window) error {
			_, err := q.Memberships(ctx, "u", w)
			return err
		}},
	}
	for name, c := range cases {
		for _, w := range []Window{{Limit: 10}, {Limit: 10, Cursor: c.cursor}, {Limit: 10, Backward: true}, {Limit: 10, Backward: true, Cursor: c.cursor}} {
			require.NoError(t, c.read(w), name)
			stmts := rec.take()
			require.Len(t, stmts, 1, "%s: one statement", name)
			plan := explain(t, plain, stmts[0])
			require.Regexp(t, regexp.MustCompile(c.index), plan, "%s %+v:\n%s", name, w, plan)
			require.NotContains(t, plan, "Seq Scan", "%s %+v:\n%s", name, w, plan)
		}
	}
	_, err = q.NodeRefs(ctx, "u", []uuid.UUID{id, ws})
	require.NoError(t, err)
	plan := explain(t, plain, rec.take()[0])
	// (the caller's notifications and memberships: by id, or by user on an empty table)
	for _, index := range []string{`rm_workspaces_v\d+_pkey`, `rm_projects_v\d+_pkey`, `rm_tasks_v\d+_pkey`, `rm_comments_v\d+_pkey`,
		`rm_notifications_v\d+_(pkey|read_idx)`, `rm_members_v\d+_(pkey|user_idx)`} {
		require.Regexp(t, regexp.MustCompile(index), plan, "node refs:\n%s", plan)
	}
	require.NotContains(t, plan, "Seq Scan", "node refs:\n%s", plan)
}

// explain returns the plan of a recorded statement, every alternative to an index made expensive.
func explain(t *testing.T, pool *pgxpool.Pool, s recorded) string {
	t.Helper()
	var plan strings.Builder
	ctx := context.Background()
	err := database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `EXPLAIN `+s.sql, s.args...)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		plan.WriteString(strings.Join(lines, "\n"))
		return err
	})
	require.NoError(t, err)
	return plan.String()
}
