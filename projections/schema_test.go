package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/pgtest"
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

// Ensure on an installed schema takes no lock that writes wait for: every process runs it at
// start, and CREATE INDEX IF NOT EXISTS takes a ShareLock on the table even when the index is
// there, which held the live projections' commits (and the starting process behind them).
func TestEnsureInstalledDoesNotBlockWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Open(t, pgtest.NewDatabase(t))
	require.NoError(t, projections.Ensure(ctx, pool, projections.All()))
	// A write in flight on every read table.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	for _, p := range projections.All() {
		for _, table := range p.Tables {
			// the lock an UPDATE holds until its transaction ends
			_, err := tx.Exec(ctx, `LOCK TABLE `+table+`_v1 IN ROW EXCLUSIVE MODE`)
			require.NoError(t, err, table)
		}
	}
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, projections.Ensure(ectx, pool, projections.All()), "Ensure waited for the writes")
}

// TestEnsureTurnsGINPendingListsOff: the GIN indexes of a database made before their definitions
// turned fastupdate off get it turned off at the next start (a pending list's merge holds one
// live commit for as long as it takes), and nothing else changes.
func TestEnsureTurnsGINPendingListsOff(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	options := func() map[string]string {
		out := map[string]string{}
		rows, err := f.pool.Query(f.ctx, `SELECT c.relname, coalesce(array_to_string(c.reloptions, ','), '') FROM pg_class c
			JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' AND c.relname LIKE 'rm\_%'`)
		require.NoError(t, err)
		for rows.Next() {
			var name, opts string
			require.NoError(t, rows.Scan(&name, &opts))
			out[name] = opts
		}
		require.NoError(t, rows.Err())
		return out
	}
	want := map[string]string{"rm_tasks_v1_labels_idx": "fastupdate=off", "rm_tasks_v1_search_idx": "fastupdate=off"}
	require.Equal(t, want, options())

	// As a database of the earlier definitions has them.
	for idx := range want {
		_, err := f.pool.Exec(f.ctx, `ALTER INDEX `+idx+` RESET (fastupdate)`)
		require.NoError(t, err)
	}
	require.Equal(t, map[string]string{"rm_tasks_v1_labels_idx": "", "rm_tasks_v1_search_idx": ""}, options())
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	require.Equal(t, want, options())
}
