package live

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/model"
)

// TestHubDropsSlowSubscriptions: the hub never waits for a client. A subscription whose queue is
// full is dropped (its queue closed after what it holds, its slow notice called), and the others
// keep receiving.
func TestHubDropsSlowSubscriptions(t *testing.T) {
	t.Parallel()
	h := &Hub{opts: HubOptions{Buffer: 2}, log: slog.New(slog.DiscardHandler), ready: make(chan struct{}),
		stopped: make(chan struct{}), byProject: map[uuid.UUID]map[*hubSub]struct{}{}, byInbox: map[inboxKey]map[*hubSub]struct{}{}}
	close(h.ready)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	project := uuid.New()
	slowNoticed := false
	slow, err := subscribe[*model.Task](ctx, h, &hubSub{kind: subTask, project: project, user: "slow"}, func(why EndReason) { slowNoticed = why == EndSlow })
	require.NoError(t, err)
	boardCtx, stopBoard := context.WithCancel(ctx)
	board, err := subscribe[*model.BoardChange](boardCtx, h, &hubSub{kind: subBoard, project: project, user: "reader"}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, h.Subscriptions())

	ev := eventstore.RecordedEvent{Type: domain.EventTaskStatusChanged, TransactionID: 7}
	for i := range 3 {
		ev.Position = int64(i + 1)
		h.publishTask(ev, project, &model.Task{Version: i + 1}, true)
		if i < 2 {
			require.Equal(t, i+1, (<-board).Task.Version, "a reading subscriber keeps up")
		}
	}
	require.True(t, slowNoticed)
	require.EqualValues(t, 1, h.Dropped())
	require.Equal(t, 1, h.Subscriptions())
	var got []int
	for t := range slow { // what was queued, then closed
		got = append(got, t.Version)
	}
	require.Equal(t, []int{1, 2}, got)
	require.Equal(t, 3, (<-board).Task.Version)

	// A subscription whose context ends is removed and its queue closed.
	stopBoard()
	_, open := <-board
	require.False(t, open)
	require.Equal(t, 0, h.Subscriptions())
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
