package projections_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/projections"
)

// Lag counts the events committed but held behind the read horizon (an idle transaction in
// another database of the cluster): measured on main before, status said lag 0 while nothing
// reached the projections.
func TestLagCountsEventsHeldBehindTheHorizon(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	f.world(2)
	f.caughtUp()

	conn, err := pgx.Connect(f.ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(f.ctx) })
	tx, err := conn.Begin(f.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(f.ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	f.world(1) // acknowledged writes the projections cannot see yet

	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, s := range sts {
		require.Positive(t, s.LagEvents, s.Name)
		require.Equal(t, s.LagEvents, s.PendingEvents, "%s: all of its lag is held", s.Name)
		require.Positive(t, s.LagSeconds, s.Name)
	}
	require.NoError(t, tx.Commit(f.ctx))
	f.caughtUp()
	sts, err = projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, s := range sts {
		require.Zero(t, s.LagEvents, s.Name)
		require.Zero(t, s.PendingEvents, s.Name)
	}
}
