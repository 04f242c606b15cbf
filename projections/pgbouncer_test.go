package projections_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/projections"
)

// setupThroughPgBouncer is setup as a deployment behind PgBouncer runs: every transaction through
// PgBouncer in transaction mode (TEST_PGBOUNCER_URL; skipped without it), LISTEN on a direct
// connection. It returns the fixture and the direct pool.
func setupThroughPgBouncer(t *testing.T) (*fixture, *pgxpool.Pool) {
	t.Helper()
	pgtest.PgBouncerURL(t, pgtest.URL()) // skips without a PgBouncer
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool := pgtest.Open(t, url) // through PgBouncer
	direct := pgtest.OpenDirect(t, url)
	notifier := eventstore.NewNotifier(direct, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = notifier.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	store, err := eventstore.New(pool, eventstore.Options{OnCommit: notifier.Wake})
	require.NoError(t, err)
	rt, err := commands.NewRuntime(store, domain.NewRegistry(), commands.Options{})
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(t, err)
	return &fixture{t: t, ctx: ctx, url: url, pool: pool, store: store, notifier: notifier, h: h, q: projections.NewQueries(pool)}, direct
}

// TestExactlyOnceThroughPgBouncer: two runners (two workers' worth) apply the log through PgBouncer
// while three writers append; every projection applies every event exactly once, its checkpoint
// counts each once, and the read tables equal a rebuild's (run through PgBouncer too, its lock
// on the direct pool).
func TestExactlyOnceThroughPgBouncer(t *testing.T) {
	t.Parallel()
	f, direct := setupThroughPgBouncer(t)
	applied := newAppliedCounts()
	base := f.world(4)
	f.run(projections.RunnerOptions{OnApplied: applied.OnApplied})
	f.run(projections.RunnerOptions{OnApplied: applied.OnApplied})

	var wg sync.WaitGroup
	for g := range 3 {
		w := base
		w.tasks = slices.Clone(base.tasks)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 40 {
				if err := randomOp(f.ctx, f.h, &w, rng); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	f.caughtUp()

	rows, err := f.pool.Query(f.ctx, `SELECT event_id FROM events`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	require.Greater(t, len(ids), 100)
	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, p := range projections.All() {
		got := applied.of(p.Name)
		for _, id := range ids {
			require.Equal(t, 1, got[id], "%s applied event %s %d times", p.Name, id, got[id])
		}
		require.Len(t, got, len(ids), p.Name)
	}
	for _, s := range sts {
		require.Equal(t, projections.StateRunning, s.State, s.Name)
		require.EqualValues(t, len(ids), s.EventsHandled, s.Name)
	}

	f.sameAsRebuild(projections.RebuildOptions{BatchEvents: 50, LockPool: direct}, "through PgBouncer")
}

// TestRebuildLockOnTheDirectPool: the rebuild lock is a session advisory lock, so it is taken
// on the direct pool; one held there makes a rebuild through PgBouncer refuse to start.
func TestRebuildLockOnTheDirectPool(t *testing.T) {
	t.Parallel()
	f, direct := setupThroughPgBouncer(t)
	ps, err := projections.ByName("tasks")
	require.NoError(t, err)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, ps))
	conn, err := direct.Acquire(f.ctx)
	require.NoError(t, err)
	defer conn.Release()
	var ok bool
	require.NoError(t, conn.QueryRow(f.ctx, `SELECT pg_try_advisory_lock(hashtextextended('taskforge:rebuild:' || $1, 0))`, "tasks").Scan(&ok))
	require.True(t, ok)
	_, err = projections.Rebuild(f.ctx, f.store, ps, projections.RebuildOptions{LockPool: direct})
	require.ErrorIs(t, err, projections.ErrRebuildRunning)
	_, err = conn.Exec(f.ctx, `SELECT pg_advisory_unlock(hashtextextended('taskforge:rebuild:' || $1, 0))`, "tasks")
	require.NoError(t, err)
	_, err = projections.Rebuild(f.ctx, f.store, ps, projections.RebuildOptions{LockPool: direct})
	require.NoError(t, err)
}
