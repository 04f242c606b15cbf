package sideeffects_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
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

// Claims name their node; ReleaseClaims makes the rows claimed by nodes that left due at once, so
// a delivery in flight at a kill is repeated without waiting for its claim's lease (at least
// once, same Idempotency-Key), while live nodes' claims are left alone.
func TestClaimsOfDepartedNodesAreReleased(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusNoContent })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.stop()
	f.task(b, "one", "")
	f.task(b, "two", "")
	// Run the consumer alone so that both rows exist, undelivered.
	opts := f.opts
	opts.Metrics = prometheus.NewRegistry()
	r, err := sideeffects.NewRunner(f.pool, f.store, f.reg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.RunConsumer(ctx, 0) }()
	f.eventually("both enqueued", func() bool { return len(f.deliveries(b.ws)) == 2 })

	// Two deliveries in flight with an hour left on their claims: one by a node that died, one by
	// a live node.
	dead, live := uuid.New(), uuid.New()
	var deadRow, liveRow int64
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT min(id), max(id) FROM webhook_deliveries WHERE webhook_id = $1`, hook).
		Scan(&deadRow, &liveRow))
	_, err = f.pool.Exec(f.ctx, `UPDATE webhook_deliveries SET status = 'delivering', claim_id = gen_random_uuid(),
		claimed_until = now() + interval '1 hour', attempts = 1,
		claimed_by = CASE WHEN id = $1 THEN $2::uuid ELSE $3::uuid END WHERE webhook_id = $4`, deadRow, dead, live, hook)
	require.NoError(t, err)
	go func() { _ = r.RunDelivery(ctx) }()
	require.NoError(t, r.ReleaseClaims(f.ctx, []uuid.UUID{live}))
	status := func(id int64) string {
		var s string
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT status FROM webhook_deliveries WHERE id = $1`, id).Scan(&s))
		return s
	}
	f.eventually("the dead node's delivery is made again", func() bool { return status(deadRow) == "delivered" })
	require.Equal(t, "delivering", status(liveRow), "a live node's claim is left to it")
	require.Len(t, rc.requests(), 1)
}
