package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/eventstore/feed"
)

// memCheckpoints is an in-memory CheckpointStore (an at-least-once consumer's).
type memCheckpoints struct {
	mu  sync.Mutex
	pos map[string]eventstore.GlobalPosition
}

func (m *memCheckpoints) Load(_ context.Context, g string) (eventstore.GlobalPosition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos[g], nil
}

func (m *memCheckpoints) Save(_ context.Context, g string, p eventstore.GlobalPosition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos[g] = p
	return nil
}

func event() eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "test.happened", SchemaVersion: 1, Data: json.RawMessage(`{}`)}
}

// consume acks messages from ch until n were received or the deadline passes.
func consume(t *testing.T, ch <-chan *message.Message, n int, d time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	deadline := time.After(d)
	for len(out) < n {
		select {
		case msg := <-ch:
			re, _, err := feed.EventFromMessage(msg)
			require.NoError(t, err)
			out = append(out, re)
			msg.Ack()
		case <-deadline:
			t.Fatalf("received %d of %d events", len(out), n)
		}
	}
	return out
}

// TestSubscriberCommitOrder: writers whose transactions commit in the reverse order of their
// positions; every event is delivered exactly once, in commit-safe order, across a restart.
func TestSubscriberCommitOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cps := &memCheckpoints{pos: map[string]eventstore.GlobalPosition{}}
	sub, err := feed.NewSubscriber(f.store, f.notifier, cps, feed.SubscriberConfig{BatchSize: 7})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	ch, err := sub.Subscribe(ctx, "test")
	require.NoError(t, err)

	const writers, rounds = 8, 10
	var all []uuid.UUID
	var mu sync.Mutex
	for round := range rounds {
		// Each writer appends inside a transaction that stays open; they commit in reverse.
		txs := make([]pgx.Tx, writers)
		for w := range writers {
			tx, err := f.pool.Begin(f.ctx)
			require.NoError(t, err)
			ev := event()
			_, err = f.store.AppendTx(f.ctx, tx, eventstore.StreamAppend{StreamID: fmt.Sprintf("s-%d-%d", round, w), StreamType: "s",
				Expected: eventstore.NoStream(), Events: []eventstore.EventData{ev}})
			require.NoError(t, err)
			txs[w] = tx
			mu.Lock()
			all = append(all, ev.ID)
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for w := writers - 1; w >= 0; w-- {
			require.NoError(t, txs[w].Commit(f.ctx))
			wg.Go(func() {
				_, err := f.store.Append(f.ctx, eventstore.StreamAppend{StreamID: fmt.Sprintf("c-%d-%d", round, w), StreamType: "s",
					Expected: eventstore.NoStream(), Events: []eventstore.EventData{event()}})
				require.NoError(t, err)
			})
		}
		wg.Wait()
	}
	total := rounds * writers * 2
	first := consume(t, ch, total/2, 10*time.Second)
	cancel()
	require.NoError(t, sub.Close())

	// Resume from the checkpoint with a new subscriber.
	sub2, err := feed.NewSubscriber(f.store, f.notifier, cps, feed.SubscriberConfig{})
	require.NoError(t, err)
	ch2, err := sub2.Subscribe(f.ctx, "test")
	require.NoError(t, err)
	rest := consume(t, ch2, total-len(first), 10*time.Second)
	require.NoError(t, sub2.Close())

	got := append(first, rest...)
	seen := map[uuid.UUID]bool{}
	for i, re := range got {
		require.False(t, seen[re.ID], "event %s delivered twice", re.ID)
		seen[re.ID] = true
		if i > 0 {
			require.True(t, got[i-1].GlobalPosition().Less(re.GlobalPosition()), "out of order at %d", i)
		}
	}
	for _, id := range all {
		require.True(t, seen[id], "event %s never delivered", id)
	}
	want, err := f.store.ReadAll(f.ctx, eventstore.GlobalPosition{}, 0)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].ID, got[i].ID)
	}
}

// TestSubscriberWakesOnNotify: an append by another store (no in-process wake-up) is delivered
// through LISTEN/NOTIFY, long before the fallback poll.
func TestSubscriberWakesOnNotify(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other, err := eventstore.New(f.pool, eventstore.Options{}) // commits only NOTIFY
	require.NoError(t, err)
	cps := &memCheckpoints{pos: map[string]eventstore.GlobalPosition{}}
	const poll = 30 * time.Second
	sub, err := feed.NewSubscriber(f.store, f.notifier, cps, feed.SubscriberConfig{PollInterval: poll})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(f.ctx, "wake")
	require.NoError(t, err)
	var worst time.Duration
	for i := range 10 {
		start := time.Now()
		_, err := other.Append(f.ctx, eventstore.StreamAppend{StreamID: fmt.Sprintf("w-%d", i), StreamType: "s",
			Expected: eventstore.NoStream(), Events: []eventstore.EventData{event()}})
		require.NoError(t, err)
		consume(t, ch, 1, poll/2)
		worst = max(worst, time.Since(start))
	}
	t.Logf("append → delivery via NOTIFY: worst of 10 = %s (fallback poll %s)", worst, poll)
}

// TestSubscriberSharesEmptyReads: five subscriptions (the projections' shape) that finish the same
// event all ask what follows it; one read answers all of them until a commit is announced. Without
// the sharing every subscription reads for itself: at least five empty reads a commit.
func TestSubscriberSharesEmptyReads(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cps := &memCheckpoints{pos: map[string]eventstore.GlobalPosition{}}
	sub, err := feed.NewSubscriber(f.store, f.notifier, cps, feed.SubscriberConfig{PollInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	const groups, rounds = 5, 20
	chs := make([]<-chan *message.Message, groups)
	for g := range chs {
		chs[g], err = sub.Subscribe(f.ctx, fmt.Sprintf("group-%d", g))
		require.NoError(t, err)
	}
	var ids []uuid.UUID
	for i := range rounds {
		ev := event()
		_, err := f.store.Append(f.ctx, eventstore.StreamAppend{StreamID: fmt.Sprintf("e-%d", i), StreamType: "s",
			Expected: eventstore.NoStream(), Events: []eventstore.EventData{ev}})
		require.NoError(t, err)
		ids = append(ids, ev.ID)
		for _, ch := range chs {
			got := consume(t, ch, 1, 10*time.Second)
			require.Equal(t, ev.ID, got[0].ID, "every subscription gets every event, in order")
		}
	}
	// Each commit wakes the subscriptions twice (in-process, then its NOTIFY): at most two shared empty
	// reads, plus a few at start-up.
	empty := sub.EmptyReads()
	t.Logf("%d empty reads for %d commits and %d subscriptions (%d queries in all)", empty, rounds, groups, sub.Queries())
	require.LessOrEqual(t, empty, int64(2*rounds+groups))
}

// TestSubscriberSeesEventsReleasedWithoutNotify: an event that commits behind an older running
// transaction is readable only when that transaction ends, which sends no NOTIFY. The
// subscriptions must keep looking (not wait for a wake-up that never comes: the poll is an hour
// here) and deliver it.
func TestSubscriberSeesEventsReleasedWithoutNotify(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cps := &memCheckpoints{pos: map[string]eventstore.GlobalPosition{}}
	sub, err := feed.NewSubscriber(f.store, f.notifier, cps, feed.SubscriberConfig{PollInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	chs := make([]<-chan *message.Message, 3)
	for g := range chs {
		chs[g], err = sub.Subscribe(f.ctx, fmt.Sprintf("group-%d", g))
		require.NoError(t, err)
	}
	for round := range 5 {
		older, err := f.pool.Begin(f.ctx)
		require.NoError(t, err)
		var xid string
		require.NoError(t, older.QueryRow(f.ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid)) // holds the horizon
		ev := event()
		_, err = f.store.Append(f.ctx, eventstore.StreamAppend{StreamID: fmt.Sprintf("r-%d", round), StreamType: "s",
			Expected: eventstore.NoStream(), Events: []eventstore.EventData{ev}})
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond) // let the subscriptions find the event waiting (not a timing assertion)
		require.NoError(t, older.Rollback(f.ctx))
		for _, ch := range chs {
			got := consume(t, ch, 1, 10*time.Second)
			require.Equal(t, ev.ID, got[0].ID)
		}
	}
}

// TestSubscriberBatchMessages: events already waiting come as one message (MaxBatch), in order,
// decoded in the message's context; a copy that lost the context says so instead of guessing.
func TestSubscriberBatchMessages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var want []uuid.UUID
	evs := make([]eventstore.EventData, 5)
	for i := range evs {
		evs[i] = event()
		want = append(want, evs[i].ID)
	}
	_, err := f.store.Append(f.ctx, eventstore.StreamAppend{StreamID: "batch", StreamType: "s",
		Expected: eventstore.NoStream(), Events: evs})
	require.NoError(t, err)
	cps := &memCheckpoints{pos: map[string]eventstore.GlobalPosition{}}
	sub, err := feed.NewSubscriber(f.store, f.notifier, cps, feed.SubscriberConfig{MaxBatch: 10})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(f.ctx, "batches")
	require.NoError(t, err)
	var got []uuid.UUID
	batches := 0
	for len(got) < len(want) {
		select {
		case msg := <-ch:
			batch, prev, err := feed.EventsFromMessage(msg)
			require.NoError(t, err)
			if len(got) == 0 {
				require.Equal(t, eventstore.GlobalPosition{}, prev)
			}
			if len(batch) > 1 {
				batches++
				require.Equal(t, strconv.Itoa(len(batch)), msg.Metadata.Get(feed.MetaBatchSize))
				_, _, err := feed.EventsFromMessage(msg.Copy())
				require.ErrorContains(t, err, "lost its events")
			}
			for _, ev := range batch {
				got = append(got, ev.ID)
			}
			msg.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d events", len(got), len(want))
		}
	}
	require.Equal(t, want, got)
	require.Positive(t, batches, "events stored before the subscription started come batched")
}
