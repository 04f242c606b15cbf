package sideeffects_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// A receiver that fails each event's first two attempts gets every event exactly once with a 2xx,
// signed, after backoff.
func TestWebhookRetriesThenDeliversEachEventOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(attempt int, _ *http.Request) int {
		if attempt <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	const n = 5
	for i := range n {
		f.task(b, fmt.Sprintf("task %d", i), "")
	}

	f.eventually("all delivered", f.allIn(b.ws, hook, "delivered", n))
	ok := rc.succeeded()
	require.Len(t, ok, n, "distinct idempotency keys answered 2xx")
	for key, times := range ok {
		require.Equal(t, 1, times, "2xx responses for %s", key)
	}
	for _, r := range rc.requests() {
		require.True(t, r.signatureOK, "signature of %s", r.key)
		require.Equal(t, domain.EventTaskCreated, r.eventType)
		require.Equal(t, b.ws, r.payload.WorkspaceID)
		require.NotZero(t, r.payload.Position)
	}
	require.Len(t, rc.requests(), 3*n)
	for _, d := range f.deliveries(b.ws) {
		require.Equal(t, 3, d.Attempts)
		require.NotNil(t, d.DeliveredAt)
	}
	require.Equal(t, float64(n), f.counter("taskforge_sideeffects_deliveries_total", map[string]string{"kind": "webhook", "outcome": "delivered"}))
	require.Equal(t, float64(2*n), f.counter("taskforge_sideeffects_deliveries_total", map[string]string{"kind": "webhook", "outcome": "retry"}))
}

// A receiver that always fails ends in dead letters after MaxAttempts; retry requeues them and the
// receiver, healthy again, gets them.
func TestWebhookDeadLettersAndRetry(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	var healthy atomic.Bool
	rc := newReceiver(t, func(int, *http.Request) int {
		if healthy.Load() {
			return http.StatusOK
		}
		return http.StatusBadRequest // 4xx is retried too
	})
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.task(b, "one", "")
	f.task(b, "two", "")

	f.eventually("dead letters", f.allIn(b.ws, hook, "dead", 2))
	require.Empty(t, rc.succeeded())
	require.Len(t, rc.requests(), 2*4, "MaxAttempts per event")
	page, err := f.inspector.ListDeadLetters(f.ctx, sideeffects.DeadLetterQuery{})
	require.NoError(t, err)
	dead := page.Items
	require.Len(t, dead, 2)
	for _, d := range dead {
		require.Equal(t, "webhook", d.Kind)
		require.Equal(t, 4, d.Attempts)
		require.Equal(t, rc.srv.URL, d.Target)
		require.Contains(t, d.LastError, "400")
		require.False(t, d.DeadAt.IsZero())
	}

	// Retry one by id, then the rest.
	healthy.Store(true)
	require.NoError(t, f.inspector.Retry(f.ctx, dead[0].ID))
	f.eventually("first retried", func() bool { return len(rc.succeeded()) == 1 })
	require.ErrorIs(t, f.inspector.Retry(f.ctx, dead[0].ID), sideeffects.ErrNotRetryable, "no longer dead")
	require.ErrorIs(t, f.inspector.Retry(f.ctx, sideeffects.DeadLetterID{Kind: sideeffects.KindWebhook, Row: 1 << 40}), sideeffects.ErrNotFound)
	n, err := f.inspector.RetryAll(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	f.eventually("all delivered after retry", f.allIn(b.ws, hook, "delivered", 2))
	require.Len(t, rc.succeeded(), 2)
	for _, d := range f.deliveries(b.ws) {
		require.Equal(t, 1, d.Attempts, "attempts since the requeue")
		require.Equal(t, 1, d.Requeues)
	}
	page, err = f.inspector.ListDeadLetters(f.ctx, sideeffects.DeadLetterQuery{})
	require.NoError(t, err)
	dead = page.Items
	require.Empty(t, dead)
}

// A receiver that does not answer (until the test ends, at most 60 s) delays neither another
// endpoint nor the consumer, and no transaction is open while it waits.
func TestSlowEndpointDelaysNothingElse(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	release := make(chan struct{})
	var slowInFlight atomic.Int32
	slowStarted := make(chan struct{}, 16)
	slow := newReceiver(t, func(int, *http.Request) int {
		slowInFlight.Add(1)
		defer slowInFlight.Add(-1)
		slowStarted <- struct{}{}
		// Held until the test ends: with 5 s, a loaded CI machine served the fast endpoint after
		// the slow request had returned, and the test saw no overlap.
		select {
		case <-release:
		case <-time.After(60 * time.Second):
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	var mu sync.Mutex
	slowBusyAt := map[string]bool{} // event id → was a slow request in flight when fast got it
	fast := newReceiver(t, func(_ int, r *http.Request) int {
		mu.Lock()
		slowBusyAt[r.Header.Get("Idempotency-Key")] = slowInFlight.Load() > 0
		mu.Unlock()
		return http.StatusOK
	})
	slowHook := f.webhook(b.ws, slow.srv.URL, domain.EventTaskCreated)
	f.webhook(b.ws, fast.srv.URL, domain.EventTaskCreated)

	f.task(b, "one", "")
	select {
	case <-slowStarted:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow endpoint was never called")
	}
	// While the slow request is in flight:
	// the claim is committed (visible to another session) and nothing is idle in a transaction;
	var status string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT status FROM webhook_deliveries WHERE webhook_id = $1`, slowHook).Scan(&status))
	require.Equal(t, "delivering", status)
	// a transaction held across the request would be idle in transaction for all of it, while the
	// projections' commits are so only between two round trips: a moment with none, while the
	// slow request is still in flight, shows that the delivery holds none.
	f.eventually("no session idle in transaction while the slow request is in flight", func() bool {
		var idleInTx int
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idleInTx))
		return idleInTx == 0 && slowInFlight.Load() > 0
	})
	// the other endpoint gets this event and a later one, which the consumer enqueued meanwhile;
	two := f.task(b, "two", "")
	second := lastEventID(t, f, domain.TaskStream(two), 1).String()
	f.eventually("fast endpoint served the second event", func() bool { return fast.succeeded()[second] == 1 })
	mu.Lock()
	require.True(t, slowBusyAt[second], "the fast delivery happened while the slow one was in flight")
	mu.Unlock()
	// and the projections, separate consumers, apply it too, all while the slow request still waits.
	runCtx, stopRunner := context.WithCancel(f.ctx)
	defer stopRunner()
	runner, err := projections.NewRunner(f.store, projections.RunnerOptions{Notifier: f.notifier})
	require.NoError(t, err)
	go func() { _ = runner.Run(runCtx) }()
	evs, err := f.store.ReadStream(f.ctx, domain.TaskStream(two), 1, 1)
	require.NoError(t, err)
	waitCtx, cancelWait := context.WithTimeout(f.ctx, 30*time.Second) // the slow request is held for 60 s
	defer cancelWait()
	require.NoError(t, projections.NewQueries(f.pool).WaitFor(waitCtx, evs[0].GlobalPosition()),
		"the projections applied the event while a webhook receiver was slow")
	require.Positive(t, slowInFlight.Load())
	// Still nothing held in a transaction: the slow endpoint now has both its deliveries in flight.
	f.eventually("no session idle in transaction while both slow requests are in flight", func() bool {
		var idleInTx int
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idleInTx))
		return idleInTx == 0 && slowInFlight.Load() > 0
	})
}

// The event-type filter is respected, and a removed endpoint gets nothing more.
func TestWebhookFilterAndRemoval(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	ok := func(int, *http.Request) int { return http.StatusOK }
	filtered := newReceiver(t, ok)
	sentinel := newReceiver(t, ok)
	hook := f.webhook(b.ws, filtered.srv.URL, domain.EventTaskAssigned)
	f.webhook(b.ws, sentinel.srv.URL) // every type

	task := f.task(b, "one", "")
	_, err := f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: task, Assignee: other.UserID})
	require.NoError(t, err)
	f.eventually("assignment delivered", func() bool { return len(filtered.succeeded()) == 1 })

	_, err = f.h.RemoveWebhook.Handle(f.ctx, commands.RemoveWebhook{Actor: admin, WorkspaceID: b.ws, WebhookID: hook})
	require.NoError(t, err)
	res, err := f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: task, Assignee: member.UserID})
	require.NoError(t, err)
	// The sentinel getting the later event proves the consumer has passed it.
	last := lastEventID(t, f, domain.TaskStream(task), res.Version)
	f.eventually("sentinel got the last assignment", func() bool { return sentinel.succeeded()[last.String()] == 1 })

	reqs := filtered.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, domain.EventTaskAssigned, reqs[0].eventType)
	for _, d := range f.deliveries(b.ws) {
		if d.WebhookID == hook {
			require.NotEqual(t, last, d.EventID, "no delivery enqueued for a removed endpoint")
		}
	}
	types := map[string]bool{}
	for _, r := range sentinel.requests() {
		types[r.eventType] = true
	}
	require.True(t, types[domain.EventTaskCreated] && types[domain.EventTaskAssigned])
	require.False(t, types[domain.EventWebhookRegistered] || types[domain.EventWebhookRemoved], "webhook config is never delivered")
}

func lastEventID(t *testing.T, f *fixture, stream string, version int64) uuid.UUID {
	t.Helper()
	evs, err := f.store.ReadStream(f.ctx, stream, version, 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return evs[0].ID
}

// A worker that dies mid-attempt leaves a lease; once it expires the delivery is attempted again
// with the same idempotency key, or becomes a dead letter if that was its last attempt.
func TestExpiredLeaseIsReclaimed(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusOK })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.task(b, "one", "")
	f.task(b, "two", "")
	f.eventually("delivered", f.allIn(b.ws, hook, "delivered", 2))
	ds := f.deliveries(b.ws)

	// As if workers had died: one after its first attempt, one during its last (MaxAttempts = 4).
	_, err := f.pool.Exec(f.ctx, `UPDATE webhook_deliveries SET status = 'delivering', claim_id = gen_random_uuid(),
		claimed_until = now() - interval '1 second', attempts = CASE WHEN id = $1 THEN 1 ELSE 4 END`, ds[0].ID)
	require.NoError(t, err)
	f.eventually("reclaimed", func() bool {
		got := map[string]bool{}
		for _, d := range f.deliveries(b.ws) {
			got[d.Status] = true
		}
		return len(got) == 2 && got["delivered"] && got["dead"]
	})
	for _, d := range f.deliveries(b.ws) {
		if d.ID == ds[0].ID {
			require.Equal(t, "delivered", d.Status)
			require.Equal(t, 2, d.Attempts)
			require.Equal(t, 2, rc.succeeded()[d.EventID.String()], "at least once, same idempotency key")
		} else {
			require.Equal(t, "dead", d.Status)
			require.Contains(t, d.LastError, "lease expired")
		}
	}
}

// Stopping the runner cancels attempts in flight and releases their claims at once, without
// counting the attempt, so the delivery is not stuck until its lease expires.
func TestShutdownReleasesClaims(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	started := make(chan struct{}, 1)
	rc := newReceiver(t, func(_ int, r *http.Request) int {
		started <- struct{}{}
		<-r.Context().Done() // hangs until the client gives up
		return http.StatusOK
	})
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.task(b, "one", "")
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("never called")
	}
	f.stop()
	ds := f.deliveries(b.ws)
	require.Len(t, ds, 1)
	require.Equal(t, hook, ds[0].WebhookID)
	require.Equal(t, "pending", ds[0].Status)
	require.Zero(t, ds[0].Attempts, "an interrupted attempt does not count")
	require.Equal(t, "interrupted by shutdown", ds[0].LastError)
}
