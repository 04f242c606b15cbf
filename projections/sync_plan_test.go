package projections_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

// TestChangesPlan: a page of sync records reads each change table (and the caller's inbox) by
// its index range after since — never a Seq Scan — over analyzed tables of 40 workspaces with
// 20,000 changed entities, as production's would be. (Without statistics the planner took fresh
// change tables for empty and read them whole: Rebuild analyzes a version before it serves.)
func TestChangesPlan(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := f.ctx
	require.NoError(t, projections.Ensure(ctx, f.pool, projections.All()))
	table := func(base string) string {
		var name string
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE $1
			ORDER BY c.relname DESC LIMIT 1`, base+`\_v%`).Scan(&name))
		return name
	}
	tables := map[string]string{}
	for _, base := range []string{"rm_task_changes", "rm_project_changes", "rm_workspace_changes", "rm_notifications"} {
		tables[base] = table(base)
	}
	for _, base := range []string{"rm_task_changes", "rm_project_changes", "rm_workspace_changes"} {
		_, err := f.pool.Exec(ctx, `INSERT INTO `+tables[base]+` (workspace_id, kind, key, tx, pos, removed)
			SELECT md5('ws' || w)::uuid, 'task', gen_random_uuid()::text, 1000 + n, n, n % 17 = 0
			FROM generate_series(1, 40) AS w, generate_series(1, 500) AS n`)
		require.NoError(t, err)
	}
	_, err := f.pool.Exec(ctx, `INSERT INTO `+tables["rm_notifications"]+` (id, user_id, workspace_id, kind, task_id, actor_id, line,
			transaction_id, position, at)
		SELECT gen_random_uuid(), 'user-' || (n % 7), md5('ws' || w)::uuid, 'assigned', gen_random_uuid(), 'a', 'line', 1000 + n, n, now()
		FROM generate_series(1, 40) AS w, generate_series(1, 500) AS n`)
	require.NoError(t, err)
	for _, tbl := range tables {
		_, err := f.pool.Exec(ctx, `ANALYZE `+tbl)
		require.NoError(t, err)
	}
	var control []byte
	require.NoError(t, f.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT key FROM rm_task_changes WHERE client_mutation_id = 'x'`).Scan(&control))
	require.True(t, seqScanOf(t, control, tables["rm_task_changes"]), "the check sees a Seq Scan where there is one")
	var ws uuid.UUID
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT md5('ws' || 7)::uuid`).Scan(&ws))
	for name, since := range map[string][2]int64{"from the beginning": {0, 0}, "mid-log": {1250, 250}, "near the end": {1490, 490}} {
		var plan []byte
		require.NoError(t, f.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+projections.ChangesSQL,
			ws, since[0], since[1], int64(1<<40), int64(1<<40), "user-3", 201).Scan(&plan))
		for base, tbl := range tables {
			require.False(t, seqScanOf(t, plan, tbl), "%s: a Seq Scan of %s (%s):\n%s", name, base, tbl, plan)
		}
	}
}
