package sideeffects_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/sideeffects"
)

// The enqueuer under a lease: it runs while its token is the lease's, and once another process
// took the lease (the token moved on) its next checkpoint advance is refused, it stops with
// ErrFenced, and nothing of that event is enqueued or checkpointed.
func TestConsumerStopsWhenFenced(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusNoContent })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.stop() // the fixture's unleased runner

	_, err := f.pool.Exec(f.ctx, `INSERT INTO consumer_leases (name, token) VALUES ($1, 5)`, sideeffects.ConsumerName)
	require.NoError(t, err)
	opts := f.opts
	opts.Metrics = prometheus.NewRegistry()
	r, err := sideeffects.NewRunner(f.pool, f.store, f.reg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.RunConsumer(ctx, 5) }()
	go func() { _ = r.RunDelivery(ctx) }()

	f.task(b, "under the lease", "")
	f.eventually("enqueued and delivered under token 5", f.allIn(b.ws, hook, "delivered", 1))

	// Another process takes the lease.
	_, err = f.pool.Exec(f.ctx, `UPDATE consumer_leases SET token = 6 WHERE name = $1`, sideeffects.ConsumerName)
	require.NoError(t, err)
	before, err := f.inspector.Consumer(f.ctx)
	require.NoError(t, err)
	f.task(b, "after the takeover", "")
	select {
	case err := <-done:
		require.ErrorIs(t, err, sideeffects.ErrFenced)
	case <-time.After(20 * time.Second):
		t.Fatal("the fenced consumer did not stop")
	}
	after, err := f.inspector.Consumer(f.ctx)
	require.NoError(t, err)
	require.Equal(t, before.Position, after.Position, "a fenced consumer's checkpoint did not move")
	require.Len(t, f.deliveries(b.ws), 1, "nothing enqueued for the event after the takeover")
}

// Claims name their node; ReleaseClaims makes the rows claimed by departed nodes (row gone, or
// lease session gone from pg_stat_activity) due at once, so a delivery in flight at a kill is
// repeated without waiting for its claim's lease (at least once, same Idempotency-Key), while the
// claims of live nodes are left alone: also a node whose heartbeat is late but whose session is
// alive (a loaded machine; releasing its claim made a delivery it was making happen twice), and a
// node that has not opened its lease session yet.
func TestClaimsOfDepartedNodesAreReleased(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusNoContent })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.stop()
	for _, title := range []string{"one", "two", "three", "four"} {
		f.task(b, title, "")
	}
	// Run the consumer alone so that the rows exist, undelivered.
	opts := f.opts
	opts.Metrics = prometheus.NewRegistry()
	r, err := sideeffects.NewRunner(f.pool, f.store, f.reg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.RunConsumer(ctx, 0) }()
	f.eventually("all enqueued", func() bool { return len(f.deliveries(b.ws)) == 4 })

	// A live lease session: a connection held for the test.
	session, err := f.pool.Acquire(f.ctx)
	require.NoError(t, err)
	defer session.Release()
	var pid int
	require.NoError(t, session.QueryRow(f.ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	gone, late, starting := uuid.New(), uuid.New(), uuid.New()
	_, err = f.pool.Exec(f.ctx, `INSERT INTO cluster_nodes (id, role, host, pid, version, heartbeat_at, lease_pid, lease_session_start)
		SELECT $1::uuid, 'workers', 'h', 1, 'v', now(), 2147483647, now()
		UNION ALL SELECT $2, 'workers', 'h', 2, 'v', now() - interval '1 hour', a.pid, a.backend_start
			FROM pg_stat_activity a WHERE a.pid = $4
		UNION ALL SELECT $3, 'workers', 'h', 3, 'v', now(), NULL, NULL`, gone, late, starting, pid)
	require.NoError(t, err)

	// Four deliveries in flight with an hour left on their claims: by a node without a row, by one
	// whose session is gone, by the late live one and by the starting one.
	var rows []int64
	require.NoError(t, pgxCollect(f, `SELECT id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id`, &rows, hook))
	require.Len(t, rows, 4)
	claimers := []uuid.UUID{uuid.New(), gone, late, starting}
	for i, id := range rows {
		_, err = f.pool.Exec(f.ctx, `UPDATE webhook_deliveries SET status = 'delivering', claim_id = gen_random_uuid(),
			claimed_until = now() + interval '1 hour', attempts = 1, claimed_by = $2 WHERE id = $1`, id, claimers[i])
		require.NoError(t, err)
	}
	go func() { _ = r.RunDelivery(ctx) }()
	require.NoError(t, r.ReleaseClaims(f.ctx))
	status := func(id int64) string {
		var s string
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT status FROM webhook_deliveries WHERE id = $1`, id).Scan(&s))
		return s
	}
	f.eventually("the departed nodes' deliveries are made again", func() bool {
		return status(rows[0]) == "delivered" && status(rows[1]) == "delivered"
	})
	require.Equal(t, "delivering", status(rows[2]), "a live node's claim is left to it, however late its heartbeat")
	require.Equal(t, "delivering", status(rows[3]), "a node without a lease session yet keeps its claim")
	require.Len(t, rc.requests(), 2)
}

// pgxCollect scans one int64 column of sql's rows into out.
func pgxCollect(f *fixture, sql string, out *[]int64, args ...any) error {
	rows, err := f.pool.Query(f.ctx, sql, args...)
	if err != nil {
		return err
	}
	*out, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	return err
}
