package projections_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/projections"
)

// TestLeasedWorkersApplyEachEventOnce: three workers, each with its own pools, notifier, runner
// and leaser, share the projections while three writers append; meanwhile the lease sessions of
// random workers are terminated (pg_terminate_backend), so leases move while handlers are
// committing. No projection applies an event twice, each checkpoint counts every event once,
// and the read tables equal a rebuild's. With TEST_PGBOUNCER_URL the workers' transactions go
// through PgBouncer (make test-pgbouncer); leases and LISTEN always go direct.
func TestLeasedWorkersApplyEachEventOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	direct := pgtest.OpenDirect(t, f.url)
	applied := newAppliedCounts()
	base := f.world(4)

	var nodes []uuid.UUID
	for range 3 {
		pool, wdirect := pgtest.Open(t, f.url), pgtest.OpenDirect(t, f.url)
		notifier := eventstore.NewNotifier(wdirect, nil)
		store, err := eventstore.New(pool, eventstore.Options{OnCommit: notifier.Wake})
		require.NoError(t, err)
		r, err := projections.NewRunner(store, projections.RunnerOptions{Notifier: notifier, OnApplied: applied.OnApplied})
		require.NoError(t, err)
		var consumers []cluster.Consumer
		for _, name := range r.Consumers() {
			consumers = append(consumers, cluster.Consumer{Name: name, Run: func(ctx context.Context, token int64) error {
				return r.RunConsumer(ctx, name, token)
			}})
		}
		id := uuid.New()
		nodes = append(nodes, id)
		l, err := cluster.NewLeaser(cluster.LeaserOptions{Node: id, Pool: wdirect, TTL: time.Second, Interval: 25 * time.Millisecond}, consumers)
		require.NoError(t, err)
		reg := cluster.New(pool, id, "workers", 200*time.Millisecond, nil)
		ctx, cancel := context.WithCancel(f.ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = notifier.Run(ctx) })
		wg.Go(func() { _ = reg.Run(ctx) })
		wg.Go(func() { _ = l.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() })
	}

	stopChurn := make(chan struct{})
	churned := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(5, 5))
		n := 0
		defer func() { churned <- n }()
		for {
			select {
			case <-stopChurn:
				return
			case <-time.After(time.Duration(100+rng.IntN(150)) * time.Millisecond):
			}
			var killed bool
			if err := direct.QueryRow(f.ctx, `SELECT coalesce(bool_or(pg_terminate_backend(lease_pid)), false) FROM cluster_nodes
				WHERE id = $1 AND lease_pid IS NOT NULL`, nodes[rng.IntN(len(nodes))]).Scan(&killed); err != nil {
				t.Error(err)
				return
			}
			if killed {
				n++
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 3 {
		w := base
		w.tasks = slices.Clone(base.tasks)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 50 {
				if err := randomOp(f.ctx, f.h, &w, rng); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stopChurn)
	t.Logf("%d lease sessions terminated while writing", <-churned)
	f.caughtUp()

	rows, err := f.pool.Query(f.ctx, `SELECT event_id FROM events`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, p := range projections.All() {
		got := applied.of(p.Name)
		// At most once by the runners' count (an event whose commit outcome was lost with its
		// connection is not counted), and exactly once by the checkpoint's (events_handled below).
		for _, id := range ids {
			require.LessOrEqual(t, got[id], 1, "%s applied event %s %d times", p.Name, id, got[id])
		}
	}
	for _, s := range sts {
		require.Equal(t, projections.StateRunning, s.State, s.Name)
		require.EqualValues(t, len(ids), s.EventsHandled, s.Name)
	}
	f.sameAsRebuild(projections.RebuildOptions{LockPool: direct}, "applied by leased workers")
}
