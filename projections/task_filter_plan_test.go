package projections_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
)

// TestTaskFilterPlans: every shape of the filter grammar, alone and combined, with each order,
// paged both ways, is planned with an index on rm_tasks — never a Seq Scan — over a table of
// 40 workspaces × 500 tasks, analyzed, as production's would be.
func TestTaskFilterPlans(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := f.ctx
	require.NoError(t, projections.Ensure(ctx, f.pool, projections.All()))
	var table string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE 'rm\_tasks\_v%'
		ORDER BY c.relname DESC LIMIT 1`).Scan(&table))
	// Rows as the projection writes them: labels_ci and search computed by the same expressions.
	_, err := f.pool.Exec(ctx, `INSERT INTO `+table+` (id, workspace_id, project_id, number, key, title, description, status, priority,
			priority_order, assignee_id, assignee_name, due_date, labels, labels_ci, rank, created_by, created_at, updated_at, version, search)
		SELECT gen_random_uuid(), ws, pr, n, 'P' || (n % 5) || '-' || n, title, 'description ' || n,
			(ARRAY['todo','in_progress','in_review','done','cancelled','backlog'])[1 + n % 6],
			(ARRAY['none','low','medium','high','urgent'])[1 + n % 5], n % 5,
			CASE WHEN n % 4 = 0 THEN NULL ELSE 'user-' || (n % 23) END, NULL,
			CASE WHEN n % 3 = 0 THEN NULL ELSE now() + (n % 90 - 45) * interval '1 day' END,
			labels, ARRAY(SELECT lower(l) FROM unnest(labels) AS l), lpad(n::text, 8, '0'), 'u',
			now() - n * interval '1 hour', now() - (n * 7 % 1000) * interval '1 minute', 1,
			to_tsvector('english', title)
		FROM generate_series(1, 40) AS w(i)
		CROSS JOIN LATERAL (SELECT md5('ws' || i)::uuid AS ws) AS wsid
		CROSS JOIN LATERAL generate_series(1, 500) AS s(n)
		CROSS JOIN LATERAL (SELECT md5('p' || i || '-' || n % 5)::uuid AS pr,
			(ARRAY['Login page', 'Billing export', 'Authentication flow', 'Widget loader', 'Database index'])[1 + n % 5] || ' ' || n AS title,
			CASE n % 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['Bug'] WHEN 2 THEN ARRAY['ui', 'Backend']
				ELSE ARRAY['Feature' || n % 50] END AS labels) AS v`)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `ANALYZE `+table)
	require.NoError(t, err)
	var ws, project uuid.UUID
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT workspace_id, project_id FROM rm_tasks ORDER BY workspace_id, project_id LIMIT 1`).Scan(&ws, &project))
	var control []byte
	require.NoError(t, f.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT id FROM rm_tasks WHERE description = $1`, "x").Scan(&control))
	require.True(t, seqScanOf(t, control, table), "the check sees a Seq Scan where there is one")
	var some projections.Task
	some.ID, some.UpdatedAt, some.Number = uuid.New(), time.Now().UTC().Truncate(time.Microsecond), 250
	now := time.Now().UTC()
	cond := func(field projections.TaskField, op projections.TaskOp, v any) projections.TaskExpr {
		return projections.TaskExpr{Conds: []projections.TaskCond{{Field: field, Op: op, Value: v}}}
	}
	label := func(q projections.Quantifier, op projections.TaskOp, v any) projections.TaskExpr {
		return projections.TaskExpr{Conds: []projections.TaskCond{{Field: projections.FieldLabels, Quantifier: q, Op: op, Value: v}}}
	}
	shapes := map[string]projections.TaskExpr{
		"none":               {},
		"id eq":              cond(projections.FieldID, projections.OpEq, some.ID),
		"id in":              cond(projections.FieldID, projections.OpIn, []uuid.UUID{some.ID, uuid.New()}),
		"project eq":         cond(projections.FieldProject, projections.OpEq, project),
		"project in":         cond(projections.FieldProject, projections.OpIn, []uuid.UUID{project, uuid.New()}),
		"project nin":        cond(projections.FieldProject, projections.OpNin, []uuid.UUID{project}),
		"status eq":          cond(projections.FieldStatus, projections.OpEq, "in_review"),
		"status in":          cond(projections.FieldStatus, projections.OpIn, []string{"todo", "done"}),
		"status neq":         cond(projections.FieldStatus, projections.OpNeq, "todo"),
		"priority gte":       cond(projections.FieldPriority, projections.OpGte, domain.PriorityHigh),
		"priority in":        cond(projections.FieldPriority, projections.OpIn, []domain.Priority{domain.PriorityLow}),
		"assignee eq":        cond(projections.FieldAssignee, projections.OpEq, "user-3"),
		"assignee null":      cond(projections.FieldAssignee, projections.OpNull, true),
		"assignee nin":       cond(projections.FieldAssignee, projections.OpNin, []string{"user-3"}),
		"labels some eq":     label(projections.QuantSome, projections.OpEq, "BUG"),
		"labels some in":     label(projections.QuantSome, projections.OpIn, []string{"feature7", "UI"}),
		"labels every in":    label(projections.QuantEvery, projections.OpIn, []string{"ui", "backend"}),
		"labels none eq":     label(projections.QuantNone, projections.OpEq, "bug"),
		"labels some nin":    label(projections.QuantSome, projections.OpNin, []string{"bug"}),
		"labels empty":       {Conds: []projections.TaskCond{{Field: projections.FieldLabels, Op: projections.OpNull, Value: true}}},
		"due lt":             cond(projections.FieldDueDate, projections.OpLt, now.Add(7*24*time.Hour)),
		"due null":           cond(projections.FieldDueDate, projections.OpNull, true),
		"due neq":            cond(projections.FieldDueDate, projections.OpNeq, now),
		"created gt":         cond(projections.FieldCreatedAt, projections.OpGt, now.Add(-24*time.Hour)),
		"updated gt":         cond(projections.FieldUpdatedAt, projections.OpGt, now.Add(-time.Hour)),
		"number lt":          cond(projections.FieldNumber, projections.OpLt, int64(10)),
		"number in":          cond(projections.FieldNumber, projections.OpIn, []int64{1, 2, 3}),
		"title eq":           cond(projections.FieldTitle, projections.OpEq, "Login page 5"),
		"title startsWith":   cond(projections.FieldTitle, projections.OpStartsWith, "Billing ex"),
		"title contains":     cond(projections.FieldTitle, projections.OpContainsIgnoreCase, "EXPORT"),
		"archived eq":        cond(projections.FieldArchived, projections.OpEq, true),
		"or of fields":       {Or: []projections.TaskExpr{cond(projections.FieldStatus, projections.OpEq, "done"), label(projections.QuantSome, projections.OpEq, "bug")}},
		"and of or (nested)": {And: []projections.TaskExpr{{Or: []projections.TaskExpr{cond(projections.FieldAssignee, projections.OpNull, true), cond(projections.FieldPriority, projections.OpEq, domain.PriorityUrgent)}}}, Conds: []projections.TaskCond{{Field: projections.FieldDueDate, Op: projections.OpLt, Value: now}}},
	}
	orders := []projections.TaskFilter{
		{Order: projections.OrderUpdated},
		{Order: projections.OrderUpdatedAsc, After: projections.CursorOf(projections.OrderUpdated, some).String()},
		{Order: projections.OrderUpdated, Last: true, Before: projections.CursorOf(projections.OrderUpdated, some).String()},
		{Order: projections.OrderNumber, ProjectID: project, After: projections.CursorOf(projections.OrderNumber, some).String()},
		{Order: projections.OrderRelevance, Search: "auth lo", Last: true},
		{Order: projections.OrderUpdated, Search: "billing", IncludeArchived: true},
	}
	for name, expr := range shapes {
		for _, base := range orders {
			filter := base
			filter.Where, filter.Limit = expr, 50
			sql, args, err := projections.TaskListSQL(ws, filter)
			require.NoError(t, err)
			var plan []byte
			require.NoError(t, f.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+sql, args...).Scan(&plan))
			var text string
			rows, err := f.pool.Query(ctx, `EXPLAIN `+sql, args...)
			require.NoError(t, err)
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				text += line + "\n"
			}
			rows.Close()
			if testing.Verbose() && base.Order == projections.OrderUpdated && !base.Last && base.Search == "" {
				t.Logf("%s:\n%s", name, text)
			}
			require.False(t, seqScanOf(t, plan, table), "%s (%s, search %q, last %v): a Seq Scan of %s:\n%s", name, filter.Order,
				filter.Search, filter.Last, table, text)
		}
	}
}

// seqScanOf reports whether an EXPLAIN (FORMAT JSON) plan scans table sequentially.
func seqScanOf(t *testing.T, plan []byte, table string) bool {
	var doc []struct{ Plan map[string]any }
	require.NoError(t, json.Unmarshal(plan, &doc))
	var walk func(n map[string]any) bool
	walk = func(n map[string]any) bool {
		if n["Node Type"] == "Seq Scan" && n["Relation Name"] == table {
			return true
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok && walk(m) {
				return true
			}
		}
		return false
	}
	return len(doc) == 1 && walk(doc[0].Plan)
}
