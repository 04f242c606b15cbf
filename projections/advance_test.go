package projections_test

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/projections"
)

// TestTryAdvanceRefusesWithoutRaising calls taskforge_projection_try_advance directly: a stale
// prev, an inactive version and a failed projection are reported in its result, not raised, and
// change nothing.
func TestTryAdvanceRefusesWithoutRaising(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	const name = "tasks"
	var v int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT active_version FROM projection_versions WHERE name = $1`, name).Scan(&v))
	type result struct {
		refusal     *string
		tx, pos     *int64 // the checkpoint found, NULL when the version has none
		handled     int64
		cpTx, cpPos int64
	}
	try := func(version int, prevTx, prevPos, tx, pos int64) result {
		t.Helper()
		var r result
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT refusal, checkpoint_tx, checkpoint_pos
			FROM taskforge_projection_try_advance($1, $2, $3, $4, $5, $6, now())`, name, version, prevTx, prevPos, tx, pos).
			Scan(&r.refusal, &r.tx, &r.pos))
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT events_handled, transaction_id, position FROM projection_checkpoints
			WHERE name = $1 AND version = $2`, name, v).Scan(&r.handled, &r.cpTx, &r.cpPos))
		return r
	}
	refusal := func(r result) string {
		if r.refusal == nil {
			return ""
		}
		return *r.refusal
	}

	r := try(v, 0, 0, 5, 1) // from the start to (5, 1)
	require.Empty(t, refusal(r))
	require.Equal(t, []int64{5, 1, 1, 5, 1}, []int64{*r.tx, *r.pos, r.handled, r.cpTx, r.cpPos})

	r = try(v, 0, 0, 5, 2) // stale prev: another worker moved it
	require.Equal(t, "moved", refusal(r))
	require.Equal(t, []int64{5, 1, 1, 5, 1}, []int64{*r.tx, *r.pos, r.handled, r.cpTx, r.cpPos}, "reports the checkpoint, changes nothing")

	r = try(v+1, 5, 1, 5, 2) // not the active version (and no checkpoint row)
	require.Equal(t, "inactive", refusal(r))
	require.Nil(t, r.tx)
	require.Equal(t, []int64{1, 5, 1}, []int64{r.handled, r.cpTx, r.cpPos})

	_, err := f.pool.Exec(f.ctx, `UPDATE projection_checkpoints SET state = 'failed' WHERE name = $1 AND version = $2`, name, v)
	require.NoError(t, err)
	r = try(v, 5, 1, 5, 2) // failed, even from the right prev
	require.Equal(t, "failed", refusal(r))
	require.Equal(t, []int64{1, 5, 1}, []int64{r.handled, r.cpTx, r.cpPos})
}

// TestTwoRunnersApplyEachEventOnce runs every projection in two runners, each with its own pool
// and notifier as two worker processes would, while commands append. Every event is applied
// exactly once, the read tables equal a rebuild, the loser's refusals are counted, and none of
// them was an error in PostgreSQL (each would be an ERROR line in its log).
func TestTwoRunnersApplyEachEventOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	w := f.world(5)

	applied := newAppliedCounts()
	type worker struct {
		r      *projections.Runner
		reg    *prometheus.Registry
		pgErrs *projections.PGErrorCounter
		log    *logBuffer
		stop   func()
	}
	start := func() *worker {
		wk := &worker{reg: prometheus.NewRegistry(), pgErrs: &projections.PGErrorCounter{}, log: &logBuffer{}}
		pool, err := database.Open(f.ctx, f.url, database.PoolOptions{MaxConns: 8, Tracer: wk.pgErrs})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(f.ctx)
		notifier := eventstore.NewNotifier(pool, nil)
		notified := make(chan struct{})
		go func() { defer close(notified); _ = notifier.Run(ctx) }()
		store, err := eventstore.New(pool, eventstore.Options{})
		require.NoError(t, err)
		wk.r, err = projections.NewRunner(store, projections.RunnerOptions{Notifier: notifier,
			Metrics: projections.NewMetrics(wk.reg), OnApplied: applied.OnApplied, Logger: slog.New(slog.NewTextHandler(wk.log, nil))})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- wk.r.Run(ctx) }()
		var once sync.Once
		wk.stop = func() {
			once.Do(func() {
				cancel()
				require.NoError(t, <-done)
				<-notified
				pool.Close()
			})
		}
		t.Cleanup(wk.stop)
		return wk
	}
	workers := []*worker{start(), start()}

	var ops atomic.Int64
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for ops.Load() < 200 {
		require.NoError(t, randomOp(f.ctx, f.h, &w, rng))
		ops.Add(1)
	}
	f.caughtUp()
	for _, wk := range workers {
		wk.stop()
	}

	var events int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM events`).Scan(&events))
	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	require.Len(t, sts, len(projections.All()))
	for _, s := range sts {
		require.Equal(t, projections.StateRunning, s.State, s.Name)
		require.EqualValues(t, events, s.EventsHandled, "%s: events_handled is the number of events", s.Name)
		got := applied.of(s.Name)
		require.Len(t, got, events, "%s: every event applied", s.Name)
		for id, n := range got {
			require.Equal(t, 1, n, "%s applied event %s %d times", s.Name, id, n)
		}
	}

	var refusals int64
	for i, wk := range workers {
		require.Zero(t, wk.pgErrs.Count(), "worker %d: PostgreSQL returned an error: %v", i, wk.pgErrs.First())
		require.Equal(t, float64(wk.r.Refusals()), counterSum(t, wk.reg, "taskforge_projection_checkpoint_refusals_total"), "worker %d", i)
		refusals += wk.r.Refusals()
		// Logged once a minute per projection, not per event: at most once each in this run.
		logged := map[string]int{}
		for _, line := range strings.Split(wk.log.String(), "\n") {
			if strings.Contains(line, "checkpoint advance refused") {
				require.Contains(t, line, "level=INFO")
				_, rest, _ := strings.Cut(line, " projection=")
				name, _, _ := strings.Cut(rest, " ")
				logged[name]++
			}
		}
		for name, n := range logged {
			require.Equal(t, 1, n, "worker %d logged %s's refusals %d times", i, name, n)
		}
		if wk.r.Refusals() > 0 {
			require.NotEmpty(t, logged, "worker %d: refusals are logged", i)
		}
	}
	// Both workers read every event as it commits: the one that is second is refused.
	require.Positive(t, refusals, "two workers never contended: the test proves nothing")
	t.Logf("%d events, %d refused advances", events, refusals)

	f.sameAsRebuild(projections.RebuildOptions{BatchEvents: 100}, "built by two workers")
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// counterSum is the sum of a counter family's series in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestAdvanceLeasedSetsTheTransaction: the lease holder's advance makes its transaction's commit
// asynchronous and bounds its idle time (it has no statement of its own for that: migration
// 00013), for that transaction only.
func TestAdvanceLeasedSetsTheTransaction(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	const name = "tasks"
	var v int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT active_version FROM projection_versions WHERE name = $1`, name).Scan(&v))
	_, err := f.pool.Exec(f.ctx, `INSERT INTO consumer_leases (name, token) VALUES ($1, 7)
		ON CONFLICT (name) DO UPDATE SET token = 7`, name)
	require.NoError(t, err)

	conn, err := f.pool.Acquire(f.ctx)
	require.NoError(t, err)
	defer conn.Release()
	settings := func() []string {
		var sync, idle string
		require.NoError(t, conn.QueryRow(f.ctx, `SELECT current_setting('synchronous_commit'),
			current_setting('idle_in_transaction_session_timeout')`).Scan(&sync, &idle))
		return []string{sync, idle}
	}
	before := settings()
	require.NotEqual(t, []string{"off", "5s"}, before)
	tx, err := conn.Begin(f.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(f.ctx, `SELECT taskforge_projection_advance_leased($1, $2, 0, 0, 5, 1, now(), 7)`, name, v)
	require.NoError(t, err)
	require.Equal(t, []string{"off", "5s"}, settings())
	require.NoError(t, tx.Commit(f.ctx))
	require.Equal(t, before, settings(), "for that transaction only")

	// A stale token still raises, and the checkpoint stays.
	tx, err = conn.Begin(f.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(f.ctx, `SELECT taskforge_projection_advance_leased($1, $2, 5, 1, 5, 2, now(), 6)`, name, v)
	require.ErrorContains(t, err, "refused: fenced")
	require.NoError(t, tx.Rollback(f.ctx))
	var pos int64
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT position FROM projection_checkpoints WHERE name = $1 AND version = $2`, name, v).Scan(&pos))
	require.EqualValues(t, 1, pos)
}
