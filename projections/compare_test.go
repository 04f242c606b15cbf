package projections_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

// TestCompareVersions: a live version and its rebuild compare equal table by table; a row changed
// in one counts on both sides, a row missing on one side only.
func TestCompareVersions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(3)
	f.caughtUp()
	ps, err := projections.ByName(projections.Tasks)
	require.NoError(t, err)
	res, err := projections.Rebuild(f.ctx, f.store, ps, projections.RebuildOptions{KeepOld: true})
	require.NoError(t, err)
	live, rebuilt := res[0].FromVersion, res[0].Version

	diffs, err := projections.CompareVersions(f.ctx, f.pool, ps[0], live, rebuilt)
	require.NoError(t, err)
	require.Len(t, diffs, len(ps[0].Tables))
	for _, d := range diffs {
		require.True(t, d.Equal(), "%+v", d)
	}
	require.EqualValues(t, 3, diffs[0].RowsA, "rm_tasks: one row per task")

	// The old version is no longer fed after the swap: change it behind the runner's back.
	table := fmt.Sprintf("rm_tasks_v%d", live)
	_, err = f.pool.Exec(f.ctx, `UPDATE `+table+` SET title = 'tampered' WHERE id = $1`, w.tasks[0])
	require.NoError(t, err)
	_, err = f.pool.Exec(f.ctx, `DELETE FROM `+table+` WHERE id = $1`, w.tasks[1])
	require.NoError(t, err)
	diffs, err = projections.CompareVersions(f.ctx, f.pool, ps[0], live, rebuilt)
	require.NoError(t, err)
	require.Equal(t, projections.TableDifference{Table: "rm_tasks", RowsA: 2, RowsB: 3, OnlyA: 1, OnlyB: 2}, diffs[0])
	require.False(t, diffs[0].Equal())
	for _, d := range diffs[1:] {
		require.True(t, d.Equal(), "%+v", d)
	}
}
