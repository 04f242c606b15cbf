package sideeffects_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// outboxRows counts every outbox row, whatever its status (emails but invitations).
func (f *fixture) outboxRows() (webhooks, emails int) {
	f.t.Helper()
	require.NoError(f.t, f.pool.QueryRow(f.ctx, `SELECT (SELECT count(*) FROM webhook_deliveries), (SELECT count(*) FROM email_outbox WHERE kind <> 'invited')`).
		Scan(&webhooks, &emails))
	return webhooks, emails
}

// Rebuilding every projection reads the whole log again, but side effects are a separate consumer
// group: no webhook request and no outbox row comes of it.
func TestRebuildFiresNoSideEffects(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusNoContent })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	const n = 3
	for i := range n {
		f.task(b, fmt.Sprintf("task %d", i), other.UserID) // also an assignment email each (skipped: no SMTP)
	}
	f.eventually("all delivered once", f.allIn(b.ws, hook, "delivered", n))
	webhooks, emails := f.outboxRows()
	require.Equal(t, n, webhooks)
	require.Equal(t, n, emails)
	consumer, err := f.inspector.Consumer(f.ctx)
	require.NoError(t, err)

	res, err := projections.Rebuild(f.ctx, f.store, projections.All(), projections.RebuildOptions{BatchEvents: 7})
	require.NoError(t, err)
	require.Len(t, res, len(projections.All()))
	for _, r := range res {
		require.Positive(t, r.Events, r.Name)
	}

	after, err := f.inspector.Consumer(f.ctx)
	require.NoError(t, err)
	require.Equal(t, consumer.TransactionID, after.TransactionID, "the side-effect checkpoint did not move")
	require.Equal(t, consumer.Position, after.Position)
	// A barrier: one more event, delivered after everything the rebuild could have caused,
	// since the consumer group handles the log in order.
	f.task(b, "after the rebuild", "")
	f.eventually("the barrier delivered", f.allIn(b.ws, hook, "delivered", n+1))
	webhooks, emails = f.outboxRows()
	require.Equal(t, n+1, webhooks, "webhook outbox rows")
	require.Equal(t, n, emails, "email outbox rows")
	require.Len(t, rc.requests(), n+1, "webhook requests")
	for key, times := range rc.succeeded() {
		require.Equal(t, 1, times, "requests for %s", key)
	}
}

// A poison event (one the consumer cannot enqueue) stops the consumer at it, loudly: it is retried,
// never skipped, the error is on the consumer's row, and later events wait behind it.
func TestPoisonEventStopsConsumer(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusNoContent })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.task(b, "before", "")
	f.eventually("the first delivered", f.allIn(b.ws, hook, "delivered", 1))

	poison := uuid.New()
	res, err := f.store.Append(f.ctx, eventstore.StreamAppend{
		StreamID: "task-" + poison.String(), StreamType: "task", Expected: eventstore.NoStream(),
		Events: []eventstore.EventData{{ID: poison, Type: domain.EventTaskCreated, SchemaVersion: 1,
			Data: []byte(`{"task_id": 42}`), Metadata: eventstore.Metadata{Actor: "test", WorkspaceID: b.ws}}},
	})
	require.NoError(t, err)
	f.task(b, "after", "")

	f.eventually("the consumer retried the poison event", func() bool {
		return f.counter("taskforge_sideeffects_consumer_events_total", map[string]string{"result": "error"}) >= 3
	})
	s, err := f.inspector.Consumer(f.ctx)
	require.NoError(t, err)
	require.Contains(t, s.LastError, poison.String())
	poisonAt := eventstore.GlobalPosition{TransactionID: s.TransactionID, Position: s.Position}
	at := eventstore.GlobalPosition{TransactionID: res.TransactionID, Position: res.Events[0].Position}
	require.True(t, poisonAt.Less(at), "stopped before the poison event: %+v", s)
	require.Len(t, f.deliveries(b.ws), 1, "nothing after the poison event was enqueued")
	require.Len(t, rc.requests(), 1)
}
