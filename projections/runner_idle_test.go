package projections_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

// TestIdleQueryRate reports the queries an idle runner issues (all projections).
func TestIdleQueryRate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.run(projections.RunnerOptions{})
	f.world(1)
	f.caughtUp()
	var before, after int64
	stat := func() int64 {
		var n int64
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
		return n
	}
	time.Sleep(2 * time.Second) // let the wake-ups of the setup settle (a measurement, not synchronisation)
	q0 := r.Subscriber().Queries()
	before = stat()
	start := time.Now()
	time.Sleep(5 * time.Second) // the measurement window
	after = stat()
	el := time.Since(start).Seconds()
	subRate := float64(r.Subscriber().Queries()-q0) / el
	// Backends flush pg_stat_database counters lazily (up to seconds late): an estimate.
	dbRate := float64(after-before-1) / el
	t.Logf("idle: subscriber %.2f queries/s, database %.2f transactions/s (all %d projections)", subRate, dbRate, len(projections.All()))
	require.Less(t, subRate, 5.0)
}
