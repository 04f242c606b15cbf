package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

// TestEnsureAddsMissingQueryIndexes: an installed projection whose active version lacks a query
// index (a database from before the release that added it) gets it at the next start, and
// nothing else changes.
func TestEnsureAddsMissingQueryIndexes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	indexes := func() []string {
		var names []string
		rows, err := f.pool.Query(f.ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'rm\_%' ORDER BY 1`)
		require.NoError(t, err)
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			names = append(names, n)
		}
		require.NoError(t, rows.Err())
		return names
	}
	before := indexes()
	require.Contains(t, before, "rm_tasks_v1_due_idx")
	_, err := f.pool.Exec(f.ctx, `DROP INDEX rm_tasks_v1_due_idx`)
	require.NoError(t, err)
	require.NotContains(t, indexes(), "rm_tasks_v1_due_idx")

	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	require.Equal(t, before, indexes())
}
