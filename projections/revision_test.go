package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

// TestOutdatedRevisionIsRebuilt: a projection installed by a release of an older table shape is
// outdated for a release that raised its Revision, and a rebuild records the new revision (so the
// next start finds nothing to do); an older release's code is never told to rebuild newer tables.
func TestOutdatedRevisionIsRebuilt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tasks, err := projections.ByName(projections.Tasks)
	require.NoError(t, err)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	f.world(3)

	out, err := projections.Outdated(f.ctx, f.pool, projections.All())
	require.NoError(t, err)
	require.Empty(t, out, "a fresh install is of the code's revision")

	next := *tasks[0]
	next.Revision = tasks[0].Revision + 1
	if next.Revision < 2 {
		next.Revision = 2
	}
	out, err = projections.Outdated(f.ctx, f.pool, []*projections.Projection{&next})
	require.NoError(t, err)
	require.Len(t, out, 1)

	_, err = projections.Rebuild(f.ctx, f.store, out, projections.RebuildOptions{})
	require.NoError(t, err)
	out, err = projections.Outdated(f.ctx, f.pool, []*projections.Projection{&next})
	require.NoError(t, err)
	require.Empty(t, out, "the rebuild recorded the new revision")
	out, err = projections.Outdated(f.ctx, f.pool, tasks)
	require.NoError(t, err)
	require.Empty(t, out, "tables newer than the code are not outdated")
	var rev int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT active_revision FROM projection_versions WHERE name = $1`,
		projections.Tasks).Scan(&rev))
	require.Equal(t, next.Revision, rev)
}
