package projections_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

// TestReadPositionsFollowTheWorkspacesEvents: after random work, each projection's position of a
// workspace (read_positions, the response cache's key) is an event of that workspace, and the
// tasks projection's is the workspace's last task event (every one writes rm_tasks).
func TestReadPositionsFollowTheWorkspacesEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.world(5)
	f.run(projections.RunnerOptions{})
	rng := rand.New(rand.NewPCG(7, 13))
	for range 150 {
		require.NoError(t, randomOp(f.ctx, f.h, &w, rng))
	}
	f.caughtUp()

	rows, err := f.pool.Query(f.ctx, `SELECT r.workspace_id, r.projection, r.position, coalesce(e.metadata->>'workspace_id', 'missing')
		FROM read_positions r LEFT JOIN events e ON e.position = r.position`)
	require.NoError(t, err)
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var ws uuid.UUID
		var name, eventWS string
		var pos int64
		require.NoError(t, rows.Scan(&ws, &name, &pos, &eventWS))
		require.Equal(t, ws.String(), eventWS, "%s's position of %s is not an event of it", name, ws)
		seen[name] = true
		if name == projections.Tasks && ws != uuid.Nil {
			var last int64
			require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT max(position) FROM events
				WHERE stream_type = 'task' AND metadata->>'workspace_id' = $1`, ws.String()).Scan(&last))
			require.Equal(t, last, pos, "the tasks projection's position of %s", ws)
		}
	}
	require.NoError(t, rows.Err())
	for _, p := range []string{projections.Workspaces, projections.Projects, projections.Tasks} {
		require.True(t, seen[p], "no position recorded by %s", p)
	}
}
