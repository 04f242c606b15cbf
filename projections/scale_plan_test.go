package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// The large shape (scaleShape): 10,000 workspaces, about 1M tasks, skewed. Workspace 1 is huge
// (2,000 members, 20 projects, 195k tasks: P1 of 100k tasks, 30% archived, and P2, a board of
// 5,000 tasks, none archived), workspaces 2–5 are large (200 members, 10 projects of 5,000 tasks),
// the other 9,995 are small (2–9 members, 1–5 projects of 1–40 tasks). olga is a member of the
// large ones and of every 50th small one (205 workspaces), and has 20,000 notifications in
// workspace 1. Comments, activity lines, notifications, invitations and sync records in
// proportion: about 6M rows in all. Positions interleave the workspaces as a real log does.
const scaleShape = `
CREATE UNLOGGED TABLE scale_ws AS
	SELECT i, md5('ws' || i)::uuid AS id,
		CASE WHEN i = 1 THEN 2000 WHEN i <= 5 THEN 200 ELSE 2 + i % 8 END AS members,
		CASE WHEN i = 1 THEN 20 WHEN i <= 5 THEN 10 ELSE 1 + i % 5 END AS projects
	FROM generate_series(1, 10000) AS i;
-- member j of workspace i: olga as member 1 of the large workspaces and of every 50th, else one
-- of 40,000 users (1009 is prime to 40,000: a workspace's members are distinct); the tasks
-- repeat this rule for their assignees
CREATE UNLOGGED TABLE scale_members AS
	SELECT w.i, w.id AS ws, j, CASE WHEN j = 1 AND (w.i <= 5 OR w.i % 50 = 0) THEN 'olga'
		ELSE 'user-' || ((w.i * 37 + j * 1009) % 40000) END AS user_id
	FROM scale_ws w CROSS JOIN LATERAL generate_series(1, w.members) AS j;
CREATE UNLOGGED TABLE scale_projects AS
	SELECT w.i, w.id AS ws, k AS j, md5('p' || w.i || '-' || k)::uuid AS id, 'P' || k AS key, w.members,
		CASE WHEN w.i = 1 AND k = 1 THEN 100000 WHEN w.i <= 5 THEN 5000 ELSE 1 + (w.i * k * 7) % 40 END AS tasks,
		m.user_id AS owner
	FROM scale_ws w
	CROSS JOIN LATERAL generate_series(1, w.projects) AS k
	JOIN scale_members m ON m.i = w.i AND m.j = 1;
-- the title phrases and their search vectors, as the projection computes them
CREATE UNLOGGED TABLE scale_titles AS
	SELECT k, phrase, setweight(to_tsvector('english', phrase), 'A') AS vec
	FROM unnest(ARRAY['Login page', 'Billing export', 'Authentication flow', 'Widget loader', 'Database index',
		'Onboarding email', 'Search ranking', 'Mobile layout']) WITH ORDINALITY AS t(phrase, k);
`

// scalePos is the global position of the creation of task number n of project p (scale_projects):
// the log interleaves workspaces and projects. Its transaction id is pos / 3, its time
// 2026-01-01 plus pos milliseconds.
const scalePos = `(n::bigint * 300000 + p.i * 21 + p.j)`

// posOf is scalePos again, from a row's created_at.
const posOf = `(extract(epoch FROM created_at - timestamptz '2026-01-01') * 1000)::bigint`

// scaleLoad fills the read tables: phases one after the other, the groups of a phase side by
// side (one per core), the statements of a group in order.
var scaleLoad = [][][]string{{{
	// tasks: half done; a quarter unassigned, the others spread over the workspace's members;
	// a third with a due date; labels as users write them; the search vector of the projection,
	// its words from a cast rather than a parser (the same lexemes, a fifth of the time)
	`INSERT INTO rm_tasks_v1 (id, workspace_id, project_id, number, key, title, description, status, priority, priority_order,
			assignee_id, assignee_name, due_date, labels, labels_ci, rank, comment_count, archived, created_by, created_at, updated_at,
			version, search)
		SELECT gen_random_uuid(), p.ws, p.id, n, p.key || '-' || n, t.phrase || ' ' || n, 'Steps to reproduce ' || n,
			CASE WHEN n % 10 < 5 THEN 'done' WHEN n % 10 < 7 THEN 'todo' WHEN n % 10 = 7 THEN 'in_progress'
				WHEN n % 10 = 8 THEN 'in_review' ELSE 'cancelled' END,
			(ARRAY['none','low','medium','high','urgent'])[1 + n % 5], n % 5,
			v.assignee, 'Name of ' || v.assignee,
			CASE WHEN n % 3 = 0 THEN timestamptz '2026-06-01' + (n % 400) * interval '1 day' END,
			CASE n % 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['Bug'] WHEN 2 THEN ARRAY['ui', 'Backend']
				ELSE ARRAY['Feature' || n % 50] END,
			CASE n % 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['bug'] WHEN 2 THEN ARRAY['ui', 'backend']
				ELSE ARRAY['feature' || n % 50] END,
			lpad(n::text, 8, '0'), n % 3,
			CASE WHEN p.i = 1 AND p.j = 1 THEN n % 10 < 3 WHEN p.i = 1 AND p.j = 2 THEN false ELSE n % 20 = 0 END,
			p.owner, v.at, v.at + (n % 1000) * interval '1 minute', 1 + n % 7,
			('''' || lower(p.key) || '-' || n || ''':1A')::tsvector || t.vec || ('''' || n || ''':3A')::tsvector
		FROM scale_projects p
		CROSS JOIN LATERAL generate_series(1, p.tasks) AS n
		JOIN scale_titles t ON t.k = 1 + n % 8
		CROSS JOIN LATERAL (SELECT 1 + (n * 13) % p.members AS m) AS a
		CROSS JOIN LATERAL (SELECT CASE WHEN n % 4 = 0 THEN NULL WHEN a.m = 1 AND (p.i <= 5 OR p.i % 50 = 0) THEN 'olga'
				ELSE 'user-' || ((p.i * 37 + a.m * 1009) % 40000) END AS assignee,
			timestamptz '2026-01-01' + ` + scalePos + ` * interval '1 millisecond' AS at) AS v`,
}, {
	`INSERT INTO rm_workspaces_v1 (id, name, plan, created_by, member_count, created_at, updated_at, version)
		SELECT id, 'Workspace ' || i, CASE WHEN i <= 5 THEN 'pro' ELSE 'free' END, 'user-' || i, members,
			timestamptz '2026-01-01' + i * interval '1 second', timestamptz '2026-01-01' + i * interval '1 second', 1 + members
		FROM scale_ws`,
	`INSERT INTO rm_members_v1 (workspace_id, user_id, email, display_name, role, joined_at)
		SELECT ws, user_id, user_id || '@example.com', 'Name of ' || user_id,
			CASE WHEN j = 1 THEN 'owner' WHEN j % 10 = 0 THEN 'viewer' ELSE 'member' END,
			timestamptz '2026-01-01' + (i * 10 + j) * interval '1 second'
		FROM scale_members`,
	`INSERT INTO rm_invitations_v1 (id, workspace_id, email, role, invited_by, created_at, expires_at)
		SELECT gen_random_uuid(), w.id, 'invitee-' || ((w.i * 7 + k) % 30000) || '@example.com', 'member', 'user-1',
			timestamptz '2026-12-01' + k * interval '1 minute', timestamptz '2026-12-01' + (k % 20) * interval '1 day'
		FROM scale_ws w CROSS JOIN LATERAL generate_series(1, CASE WHEN w.i = 1 THEN 500 ELSE 2 END) AS k`,
	`INSERT INTO rm_projects_v1 (id, workspace_id, key, name, archived, workflow, closed_statuses, created_by, created_at, updated_at, version)
		SELECT id, ws, key, 'Project ' || j, j % 11 = 10, '{"statuses": []}', ARRAY['done', 'cancelled'], owner,
			timestamptz '2026-01-01', timestamptz '2026-01-01', 1 + tasks
		FROM scale_projects`,
	`INSERT INTO rm_project_changes_v1 (workspace_id, kind, key, tx, pos)
		SELECT ws, 'project', id::text, (i * 21 + j) / 3, i * 21 + j FROM scale_projects`,
	`INSERT INTO rm_workspace_changes_v1 (workspace_id, kind, key, tx, pos)
		SELECT id, 'workspace', id::text, i * 7, i * 21 FROM scale_ws
		UNION ALL
		SELECT ws, kind, user_id, (i * 21 + j::bigint * 300000) / 3, i * 21 + j::bigint * 300000
		FROM scale_members CROSS JOIN unnest(ARRAY['member', 'access']) AS kind`,
}}, {{
	`INSERT INTO rm_project_tasks_v1 (task_id, project_id, status, due_date, archived, open)
		SELECT id, project_id, status, due_date, archived, status NOT IN ('done', 'cancelled') FROM rm_tasks_v1`,
	`INSERT INTO rm_project_status_counts_v1 (project_id, status, tasks)
		SELECT project_id, status, count(*) FROM rm_tasks_v1 WHERE NOT archived GROUP BY 1, 2`,
	// a sync record and a feed line per task, at its creation
	`INSERT INTO rm_task_changes_v1 (workspace_id, kind, key, tx, pos, removed)
		SELECT workspace_id, 'task', id::text, pos / 3, pos, archived FROM rm_tasks_v1, LATERAL (SELECT ` + posOf + ` AS pos) AS p`,
	`INSERT INTO rm_activity_v1 (workspace_id, transaction_id, position, event_id, event_type, actor_id, actor_name, subject_id, line, at)
		SELECT workspace_id, pos / 3, pos, gen_random_uuid(), 'task.created', created_by, 'Name of ' || created_by, id,
			'created ' || key, created_at
		FROM rm_tasks_v1, LATERAL (SELECT ` + posOf + ` AS pos) AS p`,
}, {
	// one comment on every fourth task, two on every eighth, 3,000 on P1-1 of workspace 1
	`INSERT INTO rm_comments_v1 (id, task_id, workspace_id, author_id, author_name, body, mentions, created_at)
		SELECT gen_random_uuid(), t.id, t.workspace_id, t.created_by, 'Name of ' || t.created_by, 'Looks good ' || k, '{}',
			t.created_at + k * interval '1 second'
		FROM rm_tasks_v1 t
		CROSS JOIN LATERAL generate_series(1, CASE WHEN t.project_id = md5('p1-1')::uuid AND t.number = 1 THEN 3000
			WHEN t.number % 8 = 0 THEN 2 WHEN t.number % 4 = 0 THEN 1 ELSE 0 END) AS k`,
	`INSERT INTO rm_task_changes_v1 (workspace_id, kind, key, tx, pos)
		SELECT workspace_id, 'comment', id::text, pos / 3, pos FROM rm_comments_v1, LATERAL (SELECT ` + posOf + ` AS pos) AS p`,
	// assigned notifications for a third of the assigned tasks, 20,000 mentions of olga in workspace 1
	`INSERT INTO rm_notifications_v1 (id, user_id, workspace_id, kind, task_id, actor_id, line, transaction_id, position, at)
		SELECT gen_random_uuid(), assignee_id, workspace_id, 'assigned', id, created_by, 'assigned you ' || key, pos / 3, pos + 1, created_at
		FROM rm_tasks_v1, LATERAL (SELECT ` + posOf + ` AS pos) AS p
		WHERE assignee_id IS NOT NULL AND number % 3 = 0`,
	`INSERT INTO rm_notifications_v1 (id, user_id, workspace_id, kind, task_id, actor_id, line, transaction_id, position, at)
		SELECT gen_random_uuid(), 'olga', workspace_id, 'mentioned', id, created_by, 'mentioned you on ' || key, pos / 3, pos + 2, created_at
		FROM rm_tasks_v1, LATERAL (SELECT ` + posOf + ` AS pos) AS p
		WHERE project_id = md5('p1-1')::uuid AND number <= 20000`,
	// read marks half way through half the inboxes (olga's among them), single reads above some
	`INSERT INTO notification_reads (user_id, workspace_id, transaction_id, position)
		SELECT user_id, workspace_id, mid / 3, mid
		FROM (SELECT user_id, workspace_id, percentile_disc(0.5) WITHIN GROUP (ORDER BY position) AS mid
			FROM rm_notifications_v1 GROUP BY 1, 2) AS m
		WHERE user_id = 'olga' OR hashtext(user_id || workspace_id::text) & 1 = 0`,
	`INSERT INTO notification_read_items (user_id, notification_id, workspace_id, transaction_id, position)
		SELECT user_id, id, workspace_id, transaction_id, position FROM rm_notifications_v1 WHERE position % 97 = 0`,
	// every sync projection has applied the whole log
	`UPDATE projection_checkpoints SET transaction_id = 1099511627776, position = 3298534883328`,
}}}

// genericCase names the generic plan of a case.
const genericCase = "generic plan: "

// planCase is one call of a read query: the indexes its statements must use (each at least once)
// and the others they may use, as names with vN for the version ("rm_tasks_vN_board_idx").
type planCase struct {
	name string
	uses []string
	may  []string
	read func() error
}

// problems are what is wrong with the scans of the plans of c's statements: a Seq Scan of a
// table of more than 5,000 rows (sizes), an index c does not name, an index it must use unused.
func (c planCase) problems(plans [][]planNode, sizes map[string]float64) []string {
	var out []string
	used := map[string]bool{}
	for _, nodes := range plans {
		for _, n := range nodes {
			switch {
			case n.typ == "Seq Scan" && sizes[n.relation] > 5000:
				out = append(out, fmt.Sprintf("Seq Scan of %s (%.0f rows)", n.relation, sizes[n.relation]))
			case n.index != "":
				used[n.index] = true
				if !matchAny(n.index, c.uses) && !matchAny(n.index, c.may) {
					out = append(out, fmt.Sprintf("%s by unintended %s", n.typ, n.index))
				}
			}
		}
	}
	for _, want := range c.uses {
		found := false
		for idx := range used {
			found = found || matchAny(idx, []string{want})
		}
		if !found {
			out = append(out, "does not use "+want)
		}
	}
	return out
}

// TestPlansAtScale: every read query, run with realistic arguments against read tables of the
// large shape (scaleShape), analyzed and vacuumed as production's are, with the planner's own
// costs (no enable_* overrides), is planned on the indexes its "served by" comment names, for a
// huge and for a small workspace: never a Seq Scan of a table of more than a few thousand rows,
// never another index (the board query once preferred a BitmapAnd of two other indexes on a
// 50k-task table). Each statement a query runs is recorded and explained with its arguments
// (the custom plan), and, when it runs as a cached prepared statement (not customPlan), as the
// generic plan PostgreSQL switches to when that one looks cheaper: both are checked. Any problem
// fails the test; a case allows another index only where its "may" list argues why.
func TestPlansAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("loads about 6M rows")
	}
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	plain := pgtest.Open(t, url)
	loadScale(t, plain)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	q := NewQueries(pool)

	sizes := map[string]float64{}
	rows, err := plain.Query(ctx, `SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		var n float64
		require.NoError(t, rows.Scan(&name, &n))
		sizes[name] = n
	}
	require.NoError(t, rows.Err())

	cases := scaleCases(t, plain, q)
	rec.take() // the reads that found the cursors
	bad, generic := map[string]string{}, map[string]string{}
	for _, c := range cases {
		require.NoError(t, c.read(), c.name)
		stmts := rec.take()
		require.NotEmpty(t, stmts, c.name)
		var custom, gen [][]planNode
		var plans, genPlans []string
		adopted, named := true, false
		for _, s := range stmts {
			nodes, cost, text := explainAtScale(t, plain, s)
			custom, plans = append(custom, nodes), append(plans, text)
			if !s.named { // unnamed (customPlan): planned with its arguments at every execution
				gen, genPlans = append(gen, nodes), append(genPlans, "(unnamed: the custom plan)\n"+text)
				continue
			}
			named = true
			gnodes, gcost, gtext := explainGeneric(t, plain, s)
			gen, genPlans = append(gen, gnodes), append(genPlans, fmt.Sprintf("(cost %.0f, the custom plan's %.0f)\n%s", gcost, cost, gtext))
			adopted = adopted && gcost < cost
		}
		if problems := c.problems(custom, sizes); len(problems) > 0 {
			bad[c.name] = strings.Join(problems, "; ") + ":\n" + strings.Join(plans, "\n")
		}
		// A generic plan cheaper than the custom one is what the plan cache runs from the sixth
		// execution on, for every argument (plan_cache_mode auto): a wrong one is a wrong plan.
		// A dearer one is only taken after cheaper custom plans of other arguments: reported.
		if problems := c.problems(gen, sizes); named && len(problems) > 0 {
			what := strings.Join(problems, "; ") + ":\n" + strings.Join(genPlans, "\n")
			if adopted {
				bad[genericCase+c.name] = what
			} else {
				generic[c.name] = what
			}
		}
	}
	names := make([]string, 0, len(generic))
	for name := range generic {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("generic plan (dearer than the custom one), %s: %s", name, generic[name])
	}
	names = names[:0]
	for name := range bad {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Errorf("%s: %s", name, bad[name])
	}
}

// matchAny reports whether index is one of names ("vN" standing for any version).
func matchAny(index string, names []string) bool {
	for _, n := range names {
		if regexp.MustCompile(`^` + strings.ReplaceAll(regexp.QuoteMeta(n), "vN", `v\d+`) + `$`).MatchString(index) {
			return true
		}
	}
	return false
}

// planNode is a scan of an EXPLAIN (FORMAT JSON) plan.
type planNode struct {
	typ, relation, index string
}

// explainAtScale returns the scans of a recorded statement's plan, its cost and the plan as
// text. The planner's own costs: no enable_* override.
func explainAtScale(t *testing.T, pool *pgxpool.Pool, s recorded) ([]planNode, float64, string) {
	t.Helper()
	ctx := context.Background()
	var doc []byte
	require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+s.sql, s.args...).Scan(&doc), s.sql)
	rows, err := pool.Query(ctx, `EXPLAIN `+s.sql, s.args...)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	nodes, cost := scans(t, doc)
	return nodes, cost, strings.Join(lines, "\n")
}

// explainGeneric is explainAtScale for the generic plan of the statement: the plan a cached
// prepared statement (pgx caches every statement) switches to after five executions when it does
// not look dearer than the custom plans, for every argument alike.
func explainGeneric(t *testing.T, pool *pgxpool.Pool, s recorded) ([]planNode, float64, string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	const name = "tf_scale_generic"
	sd, err := conn.Conn().Prepare(ctx, name, s.sql)
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Conn().Deallocate(ctx, name)) }()
	// EXECUTE takes its arguments as literals, in their text form
	lits := make([]string, len(sd.ParamOIDs))
	for i, oid := range sd.ParamOIDs {
		buf, err := conn.Conn().TypeMap().Encode(oid, pgtype.TextFormatCode, s.args[i], nil)
		require.NoError(t, err)
		lits[i] = "NULL"
		if buf != nil {
			lits[i] = "'" + strings.ReplaceAll(string(buf), "'", "''") + "'"
		}
	}
	exec := `EXECUTE ` + name
	if len(lits) > 0 {
		exec += `(` + strings.Join(lits, ", ") + `)`
	}
	_, err = conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	defer func() { _, _ = conn.Exec(ctx, `RESET plan_cache_mode`) }()
	var doc []byte
	require.NoError(t, conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+exec).Scan(&doc), s.sql)
	rows, err := conn.Query(ctx, `EXPLAIN `+exec)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	nodes, cost := scans(t, doc)
	return nodes, cost, strings.Join(lines, "\n")
}

// scans returns the scans of an EXPLAIN (FORMAT JSON) plan and its total cost.
func scans(t *testing.T, doc []byte) ([]planNode, float64) {
	t.Helper()
	var plans []struct{ Plan map[string]any }
	require.NoError(t, json.Unmarshal(doc, &plans))
	var out []planNode
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		typ, _ := n["Node Type"].(string)
		rel, _ := n["Relation Name"].(string)
		idx, _ := n["Index Name"].(string)
		if rel != "" || idx != "" {
			out = append(out, planNode{typ: typ, relation: rel, index: idx})
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok {
				walk(m)
			}
		}
	}
	cost := 0.0
	for _, p := range plans {
		walk(p.Plan)
		c, _ := p.Plan["Total Cost"].(float64)
		cost += c
	}
	return out, cost
}

// loadScale builds the large shape in the read tables of version 1 (through Ensure, so with every
// index production has), ANALYZEd and VACUUMed: loaded without indexes, which are built after,
// as a rebuild does.
func loadScale(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	require.NoError(t, Ensure(ctx, pool, All()))
	type index struct{ table, name, def, constraint string }
	var indexes []index
	rows, err := pool.Query(ctx, `SELECT t.relname, c.relname, pg_get_indexdef(c.oid), coalesce(pg_get_constraintdef(k.oid), '')
		FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
		LEFT JOIN pg_constraint k ON k.conindid = c.oid AND k.conrelid = t.oid
		WHERE t.relnamespace = 'public'::regnamespace AND t.relname LIKE 'rm\_%\_v1'`)
	require.NoError(t, err)
	for rows.Next() {
		var i index
		require.NoError(t, rows.Scan(&i.table, &i.name, &i.def, &i.constraint))
		indexes = append(indexes, i)
	}
	require.NoError(t, rows.Err())
	for _, i := range indexes {
		drop := `DROP INDEX ` + i.name
		if i.constraint != "" {
			drop = `ALTER TABLE ` + i.table + ` DROP CONSTRAINT ` + i.name
		}
		_, err := pool.Exec(ctx, drop)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, scaleShape)
	require.NoError(t, err)
	for _, phase := range scaleLoad {
		g, gctx := errgroup.WithContext(ctx)
		for _, steps := range phase {
			g.Go(func() error {
				for _, s := range steps {
					t0 := time.Now()
					if _, err := pool.Exec(gctx, s); err != nil {
						return fmt.Errorf("%s: %w", s, err)
					}
					if testing.Verbose() {
						t.Logf("%5.1fs %.70s", time.Since(t0).Seconds(), strings.Join(strings.Fields(s), " "))
					}
				}
				return nil
			})
		}
		require.NoError(t, g.Wait())
	}
	loaded := time.Since(start)
	// the biggest tables' indexes first, two at a time (one per core)
	sort.SliceStable(indexes, func(a, b int) bool { return indexes[a].table == "rm_tasks_v1" && indexes[b].table != "rm_tasks_v1" })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, i := range indexes {
		g.Go(func() error {
			sql := i.def
			if i.constraint != "" {
				sql = `ALTER TABLE ` + i.table + ` ADD CONSTRAINT ` + i.name + ` ` + i.constraint
			}
			// (memory for the sorts of a million rows: a quarter of the time)
			_, err := pool.Exec(gctx, `SET maintenance_work_mem = '256MB'; `+sql+`; RESET maintenance_work_mem`)
			return err
		})
	}
	require.NoError(t, g.Wait())
	indexed := time.Since(start)
	_, err = pool.Exec(ctx, `VACUUM ANALYZE`)
	require.NoError(t, err)
	var sizes []string
	rows, err = pool.Query(ctx, `SELECT relname || ' ' || reltuples::bigint FROM pg_class
		WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname NOT LIKE 'scale\_%' AND reltuples > 1000
		ORDER BY reltuples DESC`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		sizes = append(sizes, s)
	}
	require.NoError(t, rows.Err())
	t.Logf("large shape: loaded in %s, indexed at %s, vacuumed and analyzed at %s: %s", loaded.Round(time.Millisecond),
		indexed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), strings.Join(sizes, ", "))
}

// scaleCases are the calls of every read query, for the huge workspace and for a small one.
func scaleCases(t *testing.T, pool *pgxpool.Pool, q *Queries) []planCase {
	t.Helper()
	ctx := context.Background()
	id := func(sql string, args ...any) uuid.UUID {
		var v uuid.UUID
		require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&v), sql)
		return v
	}
	md5 := func(s string) uuid.UUID { return id(`SELECT md5($1)::uuid`, s) }
	huge, small := md5("ws1"), md5("ws50")                                                     // olga is a member of both
	bigProject, board, smallProject := md5("p1-1"), md5("p1-2"), md5("p50-1")                  // 100k, 5k, 31 tasks
	hugeTask := id(`SELECT id FROM rm_tasks WHERE project_id = $1 AND number = 1`, bigProject) // 3,000 comments
	midTask := id(`SELECT id FROM rm_tasks WHERE project_id = $1 AND number = 50000`, bigProject)
	smallTask := id(`SELECT id FROM rm_tasks WHERE project_id = $1 AND number = 8`, smallProject)
	comment := id(`SELECT id FROM rm_comments WHERE task_id = $1 LIMIT 1`, smallTask)
	notification := id(`SELECT id FROM rm_notifications WHERE user_id = 'olga' AND workspace_id = $1 ORDER BY position LIMIT 1 OFFSET 15000`, huge)
	var smallUser string
	require.NoError(t, pool.QueryRow(ctx, `SELECT user_id FROM rm_members WHERE workspace_id = $1 AND user_id <> 'olga' LIMIT 1`, small).Scan(&smallUser))
	var olgasWorkspaces []uuid.UUID
	rows, err := pool.Query(ctx, `SELECT workspace_id FROM rm_members WHERE user_id = 'olga'`)
	require.NoError(t, err)
	for rows.Next() {
		var ws uuid.UUID
		require.NoError(t, rows.Scan(&ws))
		olgasWorkspaces = append(olgasWorkspaces, ws)
	}
	require.NoError(t, rows.Err())
	var mid eventstore.GlobalPosition
	var midTx int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT tx, pos FROM rm_task_changes WHERE workspace_id = $1 ORDER BY tx, pos LIMIT 1 OFFSET 100000`,
		huge).Scan(&midTx, &mid.Position))
	mid.TransactionID = uint64(midTx)
	var cases []planCase
	add := func(name string, uses, may []string, read func() error) {
		cases = append(cases, planCase{name: name, uses: uses, may: may, read: read})
	}
	// windows: the first page, a page after a cursor in the middle, the last page, a page before
	// the cursor; cursorOf reads the middle cursor from a real page
	windows := func(name string, uses, may []string, cursorOf func() string, read func(w Window) error) {
		c := cursorOf()
		for _, w := range []Window{{Limit: 50}, {Limit: 50, Cursor: c}, {Limit: 50, Backward: true}, {Limit: 50, Backward: true, Cursor: c}} {
			add(fmt.Sprintf("%s %s", name, windowName(w)), uses, may, func() error { return read(w) })
		}
	}
	middle := func(cursor func(i int) string, n int) string {
		require.Greater(t, n, 0)
		return cursor(n / 2)
	}
	take := func(read func() error) {
		require.NoError(t, read())
	}

	// workspaces and members
	for _, ws := range []uuid.UUID{huge, small} {
		size := map[uuid.UUID]string{huge: "huge", small: "small"}[ws]
		add("Workspace "+size, []string{"rm_workspaces_vN_pkey"}, nil, func() error { _, err := q.Workspace(ctx, ws); return err })
		windows("MemberPages "+size, []string{"rm_members_vN_name_idx"}, nil, func() string {
			var c string
			take(func() error {
				p, err := q.MemberPages(ctx, []uuid.UUID{ws}, Window{Limit: 200})
				c = middle(func(i int) string { return p[ws].Items[i].Cursor() }, len(p[ws].Items))
				return err
			})
			return c
		}, func(w Window) error { _, err := q.MemberPages(ctx, []uuid.UUID{ws, md5("ws7")}, w); return err })
		add("WorkspaceInvitations "+size, []string{"rm_invitations_vN_workspace_idx", "rm_workspaces_vN_pkey", "rm_members_vN_key_idx"}, nil,
			func() error {
				_, err := q.WorkspaceInvitations(ctx, ws, time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC))
				return err
			})
	}
	for _, user := range []string{"olga", smallUser} {
		who := map[string]string{"olga": "olga (205 workspaces)", smallUser: "a member of one"}[user]
		add("WorkspacesOfUser "+who, []string{"rm_members_vN_user_idx", "rm_workspaces_vN_pkey"}, nil,
			func() error { _, err := q.WorkspacesOfUser(ctx, user); return err })
		// (a few ids: rm_members_vN_key_idx per workspace, better than the comment's user_idx)
		add("MembershipsByIDs "+who, []string{"rm_workspaces_vN_pkey"}, []string{"rm_members_vN_user_idx", "rm_members_vN_key_idx"},
			func() error {
				_, err := q.MembershipsByIDs(ctx, user, []uuid.UUID{huge, small, md5("ws7")})
				return err
			})
		windows("Memberships "+who, []string{"rm_members_vN_user_idx", "rm_workspaces_vN_pkey"}, nil, func() string {
			var c string
			take(func() error {
				p, err := q.Memberships(ctx, user, Window{Limit: 200})
				c = middle(func(i int) string { return p.Items[i].Cursor() }, len(p.Items))
				return err
			})
			return c
		}, func(w Window) error { _, err := q.Memberships(ctx, user, w); return err })
	}
	add("MembersByKeys", []string{"rm_members_vN_key_idx"}, nil, func() error {
		_, err := q.MembersByKeys(ctx, []MemberKey{{WorkspaceID: huge, UserID: "olga"}, {WorkspaceID: small, UserID: smallUser}})
		return err
	})
	add("InvitationsForEmail", []string{"rm_invitations_vN_email_idx", "rm_workspaces_vN_pkey", "rm_members_vN_key_idx"}, nil, func() error {
		_, err := q.InvitationsForEmail(ctx, "Invitee-17@example.com", time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC), 50)
		return err
	})

	// projects (each read with its counts: rm_project_status_counts_vN_pkey, overdue_idx)
	counts := []string{"rm_project_status_counts_vN_pkey", "rm_project_tasks_vN_overdue_idx"}
	windows("ProjectPages huge and small", append([]string{"rm_projects_vN_workspace_idx"}, counts...), nil, func() string {
		var c string
		take(func() error {
			p, err := q.ProjectPages(ctx, []uuid.UUID{huge}, Window{Limit: 200})
			c = middle(func(i int) string { return p[huge].Items[i].Cursor() }, len(p[huge].Items))
			return err
		})
		return c
	}, func(w Window) error { _, err := q.ProjectPages(ctx, []uuid.UUID{huge, small}, w); return err })
	add("ProjectsByKeys", append([]string{"rm_projects_vN_pkey"}, counts...), nil, func() error {
		_, err := q.ProjectsByKeys(ctx, []Key{{WorkspaceID: huge, ID: bigProject}, {WorkspaceID: huge, ID: board}, {WorkspaceID: small, ID: smallProject}})
		return err
	})
	add("ProjectInWorkspaces (olga's 205)", append([]string{"rm_projects_vN_pkey"}, counts...), nil, func() error {
		_, err := q.ProjectInWorkspaces(ctx, olgasWorkspaces, bigProject)
		return err
	})

	// tasks
	add("TaskByKey huge", []string{"rm_tasks_vN_key_idx"}, nil, func() error { _, err := q.TaskByKey(ctx, huge, "P1-50000"); return err })
	add("TaskByKey small", []string{"rm_tasks_vN_key_idx"}, nil, func() error { _, err := q.TaskByKey(ctx, small, "P1-8"); return err })
	add("Task", []string{"rm_tasks_vN_pkey"}, nil, func() error { _, err := q.Task(ctx, huge, midTask); return err })
	add("TaskInWorkspaces (olga's 205)", []string{"rm_tasks_vN_pkey"}, nil, func() error {
		_, err := q.TaskInWorkspaces(ctx, olgasWorkspaces, midTask)
		return err
	})
	add("TasksByKeys", []string{"rm_tasks_vN_pkey"}, nil, func() error {
		_, err := q.TasksByKeys(ctx, []Key{{WorkspaceID: huge, ID: midTask}, {WorkspaceID: huge, ID: hugeTask}, {WorkspaceID: small, ID: smallTask}})
		return err
	})
	for name, b := range map[string][2]uuid.UUID{"100k tasks": {huge, bigProject}, "5k open tasks": {huge, board}, "small": {small, smallProject}} {
		add("Board "+name, []string{"rm_tasks_vN_board_idx"}, nil, func() error { _, err := q.Board(ctx, b[0], b[1], 200); return err })
	}
	add("BoardsByKeys", []string{"rm_tasks_vN_board_idx"}, nil, func() error {
		_, err := q.BoardsByKeys(ctx, []Key{{WorkspaceID: huge, ID: bigProject}, {WorkspaceID: huge, ID: board}, {WorkspaceID: small, ID: smallProject}}, 200)
		return err
	})
	var some Task
	take(func() error {
		p, err := q.ListTasks(ctx, huge, TaskFilter{Limit: 200, After: ""})
		require.NotEmpty(t, p.Tasks)
		some = p.Tasks[len(p.Tasks)/2]
		return err
	})
	// wholeWorkspace are the indexes that begin with workspace_id, which the planner may take
	// for the workspace's rows alone: in the small workspace (31 tasks) any of them reads a few
	// dozen entries, whatever the size of the table; in the huge one it must not (the lists'
	// own indexes)
	wholeWorkspace := []string{"rm_tasks_vN_key_idx", "rm_tasks_vN_title_idx", "rm_tasks_vN_updated_idx", "rm_tasks_vN_status_idx",
		"rm_tasks_vN_ws_assignee_idx", "rm_tasks_vN_created_idx", "rm_tasks_vN_due_idx", "rm_tasks_vN_board_idx"}
	due := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	updated := []string{"rm_tasks_vN_updated_idx"}
	lists := []struct {
		name string
		f    TaskFilter
		uses []string
		may  []string
	}{
		{"newest", TaskFilter{}, updated, nil},
		{"oldest after a cursor", TaskFilter{Order: OrderUpdatedAsc, After: CursorOf(OrderUpdated, some).String()}, updated, nil},
		{"last before a cursor", TaskFilter{Last: true, Before: CursorOf(OrderUpdated, some).String()}, updated, nil},
		{"status", TaskFilter{Status: "in_review"}, nil, append([]string{"rm_tasks_vN_status_idx"}, updated...)},
		{"assignee", TaskFilter{AssigneeID: "olga"}, nil, append([]string{"rm_tasks_vN_ws_assignee_idx"}, updated...)},
		{"label", TaskFilter{Label: "BUG"}, nil, append([]string{"rm_tasks_vN_labels_idx"}, updated...)},
		{"rare label", TaskFilter{Label: "feature7"}, nil, append([]string{"rm_tasks_vN_labels_idx"}, updated...)},
		{"due before", TaskFilter{DueBefore: &due}, nil, append([]string{"rm_tasks_vN_due_idx"}, updated...)},
		{"project by number", TaskFilter{ProjectID: bigProject, Order: OrderNumber, After: CursorOf(OrderNumber, Task{Number: 5000}).String()},
			[]string{"rm_tasks_vN_number_idx"}, nil},
		{"5k board by number", TaskFilter{ProjectID: board, Order: OrderNumber}, []string{"rm_tasks_vN_number_idx"}, nil},
		{"project newest", TaskFilter{ProjectID: board}, []string{"rm_tasks_vN_project_updated_idx"}, nil},
		{"search by relevance", TaskFilter{Search: "auth flo", Order: OrderRelevance}, []string{"rm_tasks_vN_search_idx"}, nil},
		{"search newest", TaskFilter{Search: "billing"}, nil, append([]string{"rm_tasks_vN_search_idx"}, updated...)},
		{"title prefix", TaskFilter{Where: TaskExpr{Conds: []TaskCond{{Field: FieldTitle, Op: OpStartsWith, Value: "Widget loader 12"}}}},
			nil, append([]string{"rm_tasks_vN_title_idx"}, updated...)},
		{"created since", TaskFilter{Where: TaskExpr{Conds: []TaskCond{{Field: FieldCreatedAt, Op: OpGt, Value: created}}}},
			nil, append([]string{"rm_tasks_vN_created_idx"}, updated...)},
		{"status and label", TaskFilter{Where: TaskExpr{Conds: []TaskCond{{Field: FieldStatus, Op: OpEq, Value: "todo"},
			{Field: FieldLabels, Quantifier: QuantSome, Op: OpEq, Value: "ui"}}}},
			nil, append([]string{"rm_tasks_vN_status_idx", "rm_tasks_vN_labels_idx"}, updated...)},
	}
	for _, ws := range []uuid.UUID{huge, small} {
		size := map[uuid.UUID]string{huge: "huge", small: "small"}[ws]
		for _, l := range lists {
			f := l.f
			f.Limit = 50
			uses, may := l.uses, l.may
			if ws == small { // (the list's own index, or any that reads the whole small workspace)
				if f.ProjectID != uuid.Nil {
					f.ProjectID = smallProject
				}
				uses, may = nil, append(append(may[:len(may):len(may)], l.uses...), wholeWorkspace...)
			}
			if l.name == "search by relevance" {
				// every match is ranked: the workspace's bitmap in a BitmapAnd with the search's
				// cuts the heap visits to the workspace's matches
				may = append(may[:len(may):len(may)], wholeWorkspace...)
			}
			add("ListTasks "+size+" "+l.name, uses, may, func() error { _, err := q.ListTasks(ctx, ws, f); return err })
		}
	}

	// comments
	for name, task := range map[string]Key{"3,000 comments": {WorkspaceID: huge, ID: hugeTask}, "2 comments": {WorkspaceID: small, ID: smallTask}} {
		windows("CommentPages "+name, []string{"rm_comments_vN_task_idx"}, nil, func() string {
			var c string
			take(func() error {
				p, err := q.CommentPages(ctx, []Key{task}, Window{Limit: 200})
				c = middle(func(i int) string { return p[task].Items[i].Cursor() }, len(p[task].Items))
				return err
			})
			return c
		}, func(w Window) error {
			_, err := q.CommentPages(ctx, []Key{task, {WorkspaceID: huge, ID: midTask}}, w)
			return err
		})
	}
	add("CommentsByKeys", []string{"rm_comments_vN_pkey"}, nil, func() error {
		_, err := q.CommentsByKeys(ctx, []Key{{WorkspaceID: small, ID: comment}, {WorkspaceID: huge, ID: uuid.New()}})
		return err
	})
	add("CommentsByIDs", []string{"rm_comments_vN_pkey"}, nil, func() error {
		_, err := q.CommentsByIDs(ctx, small, []uuid.UUID{comment, uuid.New()})
		return err
	})

	// activity
	for _, ws := range []uuid.UUID{huge, small} {
		size := map[uuid.UUID]string{huge: "huge", small: "small"}[ws]
		windows("ActivityFeed "+size, []string{"rm_activity_vN_pkey"}, nil, func() string {
			var c string
			take(func() error {
				p, err := q.ActivityFeed(ctx, ws, Window{Limit: 200})
				c = middle(func(i int) string { return p.Items[i].Cursor() }, len(p.Items))
				return err
			})
			return c
		}, func(w Window) error { _, err := q.ActivityFeed(ctx, ws, w); return err })
	}

	// notifications: olga's inbox of 20,000 in the huge workspace, hers in a small one
	readState := []string{"notification_reads_pkey", "notification_read_items_pkey"}
	for _, ws := range []uuid.UUID{huge, small} {
		size := map[uuid.UUID]string{huge: "huge", small: "small"}[ws]
		for _, unread := range []bool{false, true} {
			name := fmt.Sprintf("Inbox %s unread only %v", size, unread)
			windows(name, []string{"rm_notifications_vN_inbox_idx"}, readState, func() string {
				var c string
				take(func() error {
					p, err := q.Inbox(ctx, ws, "olga", unread, Window{Limit: 200})
					if len(p.Items) == 0 {
						c = Notification{Position: mid}.Cursor()
						return err
					}
					c = middle(func(i int) string { return p.Items[i].Cursor() }, len(p.Items))
					return err
				})
				return c
			}, func(w Window) error { _, err := q.Inbox(ctx, ws, "olga", unread, w); return err })
		}
		add("Notifications "+size, []string{"rm_notifications_vN_inbox_idx"}, readState, func() error {
			_, err := q.Notifications(ctx, ws, "olga", &mid, 50)
			return err
		})
		add("UnreadNotifications "+size, []string{"rm_notifications_vN_inbox_idx"}, readState, func() error {
			_, err := q.UnreadNotifications(ctx, ws, "olga", nil, 50)
			return err
		})
	}
	add("UnreadNotificationCounts", []string{"rm_notifications_vN_inbox_idx"}, readState, func() error {
		_, err := q.UnreadNotificationCounts(ctx, []InboxKey{{WorkspaceID: huge, UserID: "olga"}, {WorkspaceID: small, UserID: "olga"},
			{WorkspaceID: small, UserID: smallUser}})
		return err
	})
	add("NotificationsByIDs", []string{"rm_notifications_vN_pkey"}, readState, func() error {
		_, _, err := q.NotificationsByIDs(ctx, "olga", []uuid.UUID{notification, uuid.New()})
		return err
	})
	add("NotificationPreferences", nil, []string{"notification_preferences_pkey"}, func() error {
		_, err := q.NotificationPreferences(ctx, "olga")
		return err
	})
	add("MarkNotificationRead", []string{"rm_notifications_vN_pkey"}, readState, func() error {
		return q.MarkNotificationRead(ctx, "olga", notification)
	})
	marks := []string{"notification_reads_pkey", "notification_read_items_mark_idx"}
	add("MarkNotificationsRead", []string{"rm_notifications_vN_read_idx"}, marks, func() error {
		var through eventstore.GlobalPosition
		var tx int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT transaction_id, position FROM rm_notifications WHERE id = $1`, notification).Scan(&tx, &through.Position))
		through.TransactionID = uint64(tx)
		return q.MarkNotificationsRead(ctx, "olga", through)
	})
	add("MarkAllNotificationsRead", []string{"rm_notifications_vN_inbox_idx"}, marks, func() error {
		return q.MarkAllNotificationsRead(ctx, small, "olga")
	})

	// nodes and sync
	add("NodeRefs", []string{"rm_workspaces_vN_pkey", "rm_projects_vN_pkey", "rm_tasks_vN_pkey", "rm_comments_vN_pkey",
		"rm_notifications_vN_pkey", "rm_members_vN_key_idx"}, nil, func() error {
		_, err := q.NodeRefs(ctx, "olga", []uuid.UUID{huge, bigProject, midTask, comment, notification, uuid.New()})
		return err
	})
	checkpoints := []string{"projection_checkpoints_pkey", "projection_versions_pkey"}
	add("SyncBound", nil, checkpoints, func() error { _, err := q.SyncBound(ctx); return err })
	since := []string{"rm_task_changes_vN_since_idx", "rm_project_changes_vN_since_idx", "rm_workspace_changes_vN_since_idx",
		"rm_notifications_vN_inbox_idx", "rm_workspace_changes_vN_pkey"}
	add("Changes huge from the middle", since, checkpoints, func() error {
		_, err := q.Changes(ctx, huge, "olga", mid, 200)
		return err
	})
	// (a small workspace's few project and workspace records: read whole by their pkey's
	// workspace_id prefix and sorted, or by since_idx)
	smallUses := []string{"rm_task_changes_vN_since_idx", "rm_notifications_vN_inbox_idx", "rm_workspace_changes_vN_pkey"}
	smallMay := append(checkpoints, "rm_project_changes_vN_since_idx", "rm_workspace_changes_vN_since_idx", "rm_project_changes_vN_pkey")
	add("Changes small from the start", smallUses, smallMay, func() error {
		_, err := q.Changes(ctx, small, smallUser, eventstore.GlobalPosition{}, 200)
		return err
	})
	add("TaskChangesByKeys", []string{"rm_task_changes_vN_pkey"}, nil, func() error {
		_, err := q.TaskChangesByKeys(ctx, []Key{{WorkspaceID: huge, ID: midTask}, {WorkspaceID: small, ID: smallTask}})
		return err
	})
	return cases
}

func windowName(w Window) string {
	dir := "forward"
	if w.Backward {
		dir = "backward"
	}
	if w.Cursor != "" {
		return dir + " from a cursor"
	}
	return dir + " from the end"
}
