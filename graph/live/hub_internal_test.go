package live

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// testHub is a hub without a log: the tests publish to it directly.
func testHub(o HubOptions) *Hub {
	h := newHub(o)
	close(h.ready)
	return h
}

// taskEvent is a board event at position n of transaction 7.
func taskEvent(n int) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{Type: domain.EventTaskStatusChanged, TransactionID: 7, Position: int64(n)}
}

// ends records how a subscription ended.
type ends struct {
	mu  sync.Mutex
	got []End
}

func (e *ends) on(end End) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, end)
}

func (e *ends) list() []End {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]End(nil), e.got...)
}

// TestHubBurstWithPromptReader: a burst far beyond any fixed buffer, queued before the client
// reads a message, is delivered whole and in order to a client that reads: a server-side burst
// never makes a subscription slow.
func TestHubBurstWithPromptReader(t *testing.T) {
	t.Parallel()
	h := testHub(HubOptions{SlowAfter: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	project := uuid.New()
	var end ends
	board, err := subscribe[*model.BoardChange](ctx, h, newHubSub(subBoard, Target{Project: project, User: "reader"}), end.on)
	require.NoError(t, err)
	tasks, err := subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "reader"}), end.on)
	require.NoError(t, err)
	const n = 5000
	for i := 1; i <= n; i++ {
		h.publishTask(taskEvent(i), project, &model.Task{Version: i}, true)
	}
	require.EqualValues(t, 2*n, h.Pending())
	for i := 1; i <= n; i++ {
		require.Equal(t, i, (<-board).Task.Version)
		require.Equal(t, i, (<-tasks).Version)
	}
	require.Zero(t, h.Dropped())
	require.Equal(t, 2, h.Subscriptions())
	require.Eventually(t, func() bool { return h.Pending() == 0 }, 10*time.Second, time.Millisecond)
	require.Empty(t, end.list())
}

// TestHubDropsAClientThatStopsReading: a client that leaves a message untaken for SlowAfter is
// dropped (EndSlow) with the position of the last message it took; the others keep receiving.
// A subscription with nothing queued is never slow, however long it idles.
func TestHubDropsAClientThatStopsReading(t *testing.T) {
	t.Parallel()
	const slowAfter = 100 * time.Millisecond
	h := testHub(HubOptions{SlowAfter: slowAfter})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	project := uuid.New()
	var slowEnd, readerEnd ends
	slow, err := subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "slow"}), slowEnd.on)
	require.NoError(t, err)
	board, err := subscribe[*model.BoardChange](ctx, h, newHubSub(subBoard, Target{Project: project, User: "reader"}), readerEnd.on)
	require.NoError(t, err)

	// Idle for several times SlowAfter: nobody is slow.
	require.Never(t, func() bool { return h.Dropped() > 0 }, 4*slowAfter, slowAfter/4)
	h.publishTask(taskEvent(1), project, &model.Task{Version: 1}, true)
	h.publishTask(taskEvent(2), project, &model.Task{Version: 2}, true)
	require.Equal(t, 1, (<-slow).Version)
	require.Equal(t, 2, (<-slow).Version)
	require.Equal(t, 1, (<-board).Task.Version)
	require.Equal(t, 2, (<-board).Task.Version)
	// slow stops reading; the reader goes on.
	h.publishTask(taskEvent(3), project, &model.Task{Version: 3}, true)
	require.Equal(t, 3, (<-board).Task.Version)
	require.Eventually(t, func() bool { return h.Dropped() == 1 }, 10*time.Second, time.Millisecond)
	_, open := <-slow
	require.False(t, open, "a dropped subscription's channel closes without what it did not take")
	require.Equal(t, []End{{Reason: EndSlow, LastPosition: taskEvent(2).GlobalPosition()}}, slowEnd.list())
	require.Equal(t, 1, h.Subscriptions())
	h.publishTask(taskEvent(4), project, &model.Task{Version: 4}, true)
	require.Equal(t, 4, (<-board).Task.Version)

	// A subscription whose context ends is removed and its channel closed, with no error.
	cancel()
	_, open = <-board
	require.False(t, open)
	require.Eventually(t, func() bool { return h.Subscriptions() == 0 && h.Pending() == 0 }, 10*time.Second, time.Millisecond)
	require.Equal(t, []End{{Reason: EndDone, LastPosition: taskEvent(4).GlobalPosition()}}, readerEnd.list())
}

// TestHubMaxQueue: a subscription with MaxQueue messages pending is dropped at the next one,
// at once, with the position it started at when it took none.
func TestHubMaxQueue(t *testing.T) {
	t.Parallel()
	h := testHub(HubOptions{MaxQueue: 3, SlowAfter: time.Hour})
	h.cursor = taskEvent(0).GlobalPosition()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	project := uuid.New()
	var end ends
	ch, err := subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "u"}), end.on)
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		h.publishTask(taskEvent(i), project, &model.Task{Version: i}, true)
	}
	require.EqualValues(t, 1, h.Dropped())
	_, open := <-ch
	require.False(t, open)
	require.Equal(t, []End{{Reason: EndSlow, LastPosition: taskEvent(0).GlobalPosition()}}, end.list())
	require.Eventually(t, func() bool { return h.Pending() == 0 }, 10*time.Second, time.Millisecond)
}

// TestHubStartsAtTheCursor: a subscription registered while a batch is delivered (the cursor
// past its events) gets none of them: it sends exactly the events after its start, so its
// LastPosition never passes over a change it did not send.
func TestHubStartsAtTheCursor(t *testing.T) {
	t.Parallel()
	h := testHub(HubOptions{})
	h.cursor = taskEvent(5).GlobalPosition()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	project := uuid.New()
	var end ends
	ch, err := subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "u"}), end.on)
	require.NoError(t, err)
	for i := 4; i <= 6; i++ {
		h.publishTask(taskEvent(i), project, &model.Task{Version: i}, true)
	}
	require.Equal(t, 6, (<-ch).Version)
	h.stop()
	_, open := <-ch
	require.False(t, open)
	require.Equal(t, []End{{Reason: EndStopped, LastPosition: taskEvent(6).GlobalPosition()}}, end.list())
}

// TestHubStopDrains: when the hub stops, each subscription delivers what it has queued, then
// ends (EndStopped) with the position of its last message.
func TestHubStopDrains(t *testing.T) {
	t.Parallel()
	h := testHub(HubOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	project := uuid.New()
	var end ends
	ch, err := subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "u"}), end.on)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		h.publishTask(taskEvent(i), project, &model.Task{Version: i}, true)
	}
	h.stop()
	var got []int
	for task := range ch {
		got = append(got, task.Version)
	}
	require.Equal(t, []int{1, 2, 3}, got)
	require.Equal(t, []End{{Reason: EndStopped, LastPosition: taskEvent(3).GlobalPosition()}}, end.list())
	_, err = subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "u"}), nil)
	require.ErrorIs(t, err, ErrUnavailable)
}

// TestHubLoadFailure: a load is retried with backoff; one that keeps failing for LoadRetry gives
// up, and the subscriptions that wanted it end (EndFailed) after what they had queued, with the
// position of their last message, rather than miss the change.
func TestHubLoadFailure(t *testing.T) {
	t.Parallel()
	h := testHub(HubOptions{LoadRetry: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tries := 0
	require.NoError(t, h.retryLoad(ctx, "flaky", func(context.Context) error {
		if tries++; tries < 3 {
			return errors.New("connection reset")
		}
		return nil
	}))
	require.Equal(t, 3, tries)
	tries = 0
	require.Error(t, h.retryLoad(ctx, "broken", func(context.Context) error { tries++; return errors.New("broken") }))
	require.Greater(t, tries, 1, "retried before giving up")

	project, other := uuid.New(), uuid.New()
	var failedEnd, otherEnd ends
	failed, err := subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: project, User: "u"}), failedEnd.on)
	require.NoError(t, err)
	_, err = subscribe[*model.Task](ctx, h, newHubSub(subTask, Target{Project: other, User: "u"}), otherEnd.on)
	require.NoError(t, err)
	h.publishTask(taskEvent(1), project, &model.Task{Version: 1}, true)
	h.failProjects(map[uuid.UUID]bool{project: true}, subTask, subBoard)
	require.Equal(t, 1, (<-failed).Version, "what was queued before the failure is delivered")
	_, open := <-failed
	require.False(t, open)
	require.Equal(t, []End{{Reason: EndFailed, LastPosition: taskEvent(1).GlobalPosition()}}, failedEnd.list())
	require.EqualValues(t, 1, h.Failed())
	require.Equal(t, 1, h.Subscriptions(), "other projects' subscriptions go on")
	require.Empty(t, otherEnd.list())
}

// TestHubMetrics: the hub's metrics, among them the current wait for the projections.
func TestHubMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, err := NewHub(&eventstore.Store{}, nil, projections.NewQueries(nil), HubOptions{Metrics: reg})
	require.NoError(t, err)
	gauge := func(name string) float64 {
		families, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range families {
			if f.GetName() == name {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	require.Zero(t, gauge("taskforge_live_projection_wait_seconds"))
	h.waitingFrom.Store(time.Now().Add(-time.Minute).UnixNano())
	require.GreaterOrEqual(t, gauge("taskforge_live_projection_wait_seconds"), 60.0)
	require.Zero(t, gauge("taskforge_live_pending_messages"))
}

// TestHearsLive: the hub loads an inbox only for the users the notification rule may reach live:
// the users an event names, every subscriber but the actor when the rule names a role (the
// inbox knows who holds it), and nobody for events that notify nobody.
func TestHearsLive(t *testing.T) {
	t.Parallel()
	task := uuid.New()
	comment := domain.TaskCommentAdded{TaskID: task, CommentID: uuid.New(), Mentions: []domain.UserID{"mia"}, By: "max"}
	for _, tc := range []struct {
		name string
		e    domain.Event
		want map[string]bool
	}{
		{"assigned", domain.TaskAssigned{TaskID: task, Assignee: "mia", By: "max"}, map[string]bool{"mia": true}},
		{"created unassigned", domain.TaskCreated{TaskID: task, By: "max"}, map[string]bool{}},
		{"comment", comment, map[string]bool{"mia": true, "olga": true}},
		{"status", domain.TaskStatusChanged{TaskID: task, To: "done", By: "max"}, map[string]bool{}},
	} {
		got := map[string]bool{}
		for _, u := range []string{"mia", "max", "olga"} {
			if hearsLive(tc.e, u) {
				got[u] = true
			}
		}
		require.Equal(t, tc.want, got, tc.name)
	}
}
