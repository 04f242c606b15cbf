package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/projections"
)

// waitSubscriptions waits until hub holds n subscriptions: the server has registered them, so
// every change committed from now on reaches them.
func waitSubscriptions(t *testing.T, hub *live.Hub, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return hub.Subscriptions() == n }, 30*time.Second, 2*time.Millisecond,
		"hub holds %d subscriptions, want %d", hub.Subscriptions(), n)
}

type liveTask struct {
	ID, Key, Status, Rank, Title string
	Version                      int64
	CommentCount                 int
	Archived                     bool
	Assignee                     *struct{ UserID string }
	Project                      struct{ Key string }
}

type liveBoard struct {
	Kind, TaskID, Status, Rank, ConsistencyToken string
	Archived                                     bool
	Task                                         struct {
		Key     string
		Version int64
	}
}

const (
	taskChangedQ = `subscription($p: ID!) { taskChanged(projectId: $p) { id key title status rank version commentCount archived
		assignee { userId } project { key } } }`
	boardChangedQ      = `subscription($p: ID!) { boardChanged(projectId: $p) { kind taskId status rank archived consistencyToken task { key version } } }`
	notificationAddedQ = `subscription($ws: ID!) { notificationAdded(workspaceId: $ws) { kind taskId commentId actorId line read task { key } } }`
)

// TestLiveEndToEnd drives a team's work over HTTP while websocket subscribers watch: every change
// arrives with the read model's state after it, the mentioned user's notification arrives, and
// the audit history and taskAt agree with what happened.
func TestLiveEndToEnd(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "TF")
	// Subscribing checks membership on the read models: let them include bob's.
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})

	alice, bob := a.srv.MustDialWS(tm.alice), a.srv.MustDialWS(tm.bob)
	p := map[string]any{"p": tm.project}
	tasks := alice.Subscribe(taskChangedQ, p)
	board := alice.Subscribe(boardChangedQ, p)
	bobTasks := bob.Subscribe(taskChangedQ, p)
	inbox := bob.Subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, a.hub, 4)

	var created struct {
		result
		Key string
	}
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Ship live updates"}) { id version key } }`, p, &created)
	var lt liveTask
	tasks.Data(&lt)
	require.Equal(t, "TF-1", lt.Key)
	require.Equal(t, created.ID, lt.ID)
	require.Equal(t, "todo", lt.Status)
	require.Equal(t, created.Version, lt.Version)
	require.Equal(t, "TF", lt.Project.Key)
	var bc liveBoard
	board.Data(&bc)
	require.Equal(t, "CREATED", bc.Kind)
	require.Equal(t, created.ID, bc.TaskID)
	require.Equal(t, "todo", bc.Status)
	require.NotEmpty(t, bc.Rank)
	var seen liveTask
	bobTasks.Data(&seen)
	require.Equal(t, lt, seen, "every subscriber of the project gets the same state")

	// Through the workflow: each move is a task change and a board move, with the new column.
	v := created.Version
	for _, status := range []string{"in_progress", "in_review", "done"} {
		var moved result
		a.ok(tm.alice, `mutation($t: ID!, $s: String!, $v: Int) { changeTaskStatus(input: {taskId: $t, status: $s, expectedVersion: $v}) { version } }`,
			map[string]any{"t": created.ID, "s": status, "v": v}, &moved)
		v = moved.Version
		tasks.Data(&lt)
		require.Equal(t, status, lt.Status)
		require.Equal(t, v, lt.Version)
		board.Data(&bc)
		require.Equal(t, "MOVED", bc.Kind)
		require.Equal(t, status, bc.Status)
		require.Equal(t, v, bc.Task.Version)
		bobTasks.Data(&seen)
		require.Equal(t, status, seen.Status)
	}
	// The board change's token serves read-your-writes.
	var proj struct {
		Board []struct {
			Status string
			Tasks  []struct{ Key string }
		}
	}
	a.ok(tm.bob, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { board { status tasks { key } } } }`,
		map[string]any{"p": tm.project, "tok": bc.ConsistencyToken}, &proj)
	for _, col := range proj.Board {
		if col.Status == "done" {
			require.Equal(t, []struct{ Key string }{{"TF-1"}}, col.Tasks)
		}
	}

	// Assigned to bob: a task change (not a board change); bob is notified.
	var assigned result
	a.ok(tm.alice, `mutation($t: ID!, $bob: ID!) { assignTask(input: {taskId: $t, assigneeId: $bob}) { version } }`,
		map[string]any{"t": created.ID, "bob": tm.bobID}, &assigned)
	tasks.Data(&lt)
	require.Equal(t, tm.bobID, lt.Assignee.UserID)
	bobTasks.Data(&seen)
	var n struct {
		Kind, TaskID, ActorID, Line string
		CommentID                   *string
		Read                        bool
		Task                        struct{ Key string }
	}
	inbox.Data(&n)
	require.Equal(t, "assigned", n.Kind)
	require.Equal(t, created.ID, n.TaskID)
	require.Equal(t, tm.aliceID, n.ActorID)
	require.Equal(t, "TF-1", n.Task.Key)
	require.False(t, n.Read)

	// A comment that mentions bob: a task change (comment count) and bob's mention.
	var comment struct{ CommentID, ConsistencyToken string }
	a.ok(tm.alice, `mutation($t: ID!, $body: String!) { addComment(input: {taskId: $t, body: $body}) { commentId consistencyToken } }`,
		map[string]any{"t": created.ID, "body": "@" + tm.bobID + " shipped, please check"}, &comment)
	tasks.Data(&lt)
	require.Equal(t, 1, lt.CommentCount)
	bobTasks.Data(&seen)
	inbox.Data(&n)
	require.Equal(t, "mentioned", n.Kind)
	require.NotNil(t, n.CommentID)
	require.Equal(t, comment.CommentID, *n.CommentID)
	require.Contains(t, n.Line, "mentioned you on TF-1")

	// Archived: the board loses it.
	a.ok(tm.alice, `mutation($t: ID!) { archiveTask(input: {taskId: $t}) { version } }`, map[string]any{"t": created.ID}, &result{})
	tasks.Data(&lt)
	require.True(t, lt.Archived)
	board.Data(&bc)
	require.Equal(t, "ARCHIVED", bc.Kind)
	require.True(t, bc.Archived)
	final := lt
	bobTasks.Data(&seen)
	// Nothing else was queued: the assignment and the comment were no board changes, alice is
	// notified of nothing (her own actions).
	board.Quiet(100 * time.Millisecond)
	inbox.Quiet(10 * time.Millisecond)

	// History and taskAt agree with what the subscribers saw.
	var hist struct {
		Edges []struct {
			Node struct {
				Type    string
				Version int64
				Actor   string
			}
		}
	}
	a.ok(tm.alice, `query($s: String!) { history(streamId: $s) { edges { node { type version actor } } } }`,
		map[string]any{"s": "task-" + created.ID}, &hist)
	var types []string
	for i, e := range hist.Edges {
		types = append(types, e.Node.Type)
		require.EqualValues(t, i+1, e.Node.Version)
		require.Equal(t, tm.aliceID, e.Node.Actor)
	}
	require.Equal(t, []string{"task.created", "task.status_changed", "task.status_changed", "task.status_changed",
		"task.assigned", "task.comment_added", "task.archived"}, types)
	require.Equal(t, final.Version, hist.Edges[len(hist.Edges)-1].Node.Version)
	var at struct {
		Status, AssigneeID string
		Version            int64
		Archived           bool
	}
	a.ok(tm.alice, `query($id: ID!) { taskAt(id: $id, version: 3) { status version archived } }`, map[string]any{"id": created.ID}, &at)
	require.Equal(t, "in_review", at.Status)
	a.ok(tm.alice, `query($id: ID!) { taskAt(id: $id) { status assigneeId version archived } }`, map[string]any{"id": created.ID}, &at)
	require.Equal(t, "done", at.Status)
	require.Equal(t, tm.bobID, at.AssigneeID)
	require.Equal(t, final.Version, at.Version)
	require.True(t, at.Archived)

	// Stopping a subscription frees it on the server.
	tasks.Stop()
	require.Equal(t, "complete", tasks.Next(apptest.MessageWait).Type)
	waitSubscriptions(t, a.hub, 3)
}

// TestLiveAcrossProcesses mutates through one server and subscribes through another: two hubs,
// two HTTP servers, one database. Delivery goes through the event store, not process memory.
func TestLiveAcrossProcesses(t *testing.T) {
	t.Parallel()
	a := setup(t)
	b := a.peer()
	tm := newTeam(t, a, "XP")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})

	onB := b.srv.MustDialWS(tm.bob)
	tasks := onB.Subscribe(taskChangedQ, map[string]any{"p": tm.project})
	inbox := onB.Subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, b.hub, 2)
	require.Equal(t, 0, a.hub.Subscriptions())

	var created result
	a.ok(tm.alice, `mutation($p: ID!, $bob: ID!) { createTask(input: {projectId: $p, title: "Across", assigneeId: $bob}) { id version } }`,
		map[string]any{"p": tm.project, "bob": tm.bobID}, &created)
	var lt liveTask
	tasks.Data(&lt)
	require.Equal(t, created.ID, lt.ID)
	require.Equal(t, "XP-1", lt.Key)
	require.Equal(t, tm.bobID, lt.Assignee.UserID)
	var n struct{ Kind, TaskID string }
	inbox.Data(&n)
	require.Equal(t, "assigned", n.Kind)
	require.Equal(t, created.ID, n.TaskID)

	// And the other way round: a mutation on B reaches a subscriber on A.
	onA := a.srv.MustDialWS(tm.alice)
	board := onA.Subscribe(boardChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 1)
	b.ok(tm.bob, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { version } }`,
		map[string]any{"t": created.ID}, &result{})
	var bc liveBoard
	board.Data(&bc)
	require.Equal(t, "MOVED", bc.Kind)
	require.Equal(t, "in_progress", bc.Status)
	tasks.Data(&lt)
	require.Equal(t, "in_progress", lt.Status)
}

// TestLiveAuthAndLimits: connections need a valid token (in connection_init or the upgrade
// request's header), subscriptions need membership, and a connection holds a bounded number.
func TestLiveAuthAndLimits(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "AL")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})

	// Forged and expired tokens: the connection is closed without an ack.
	_, err := a.srv.DialWS(forged(t), apptest.WSOptions{})
	require.Error(t, err)
	_, err = a.srv.DialWS(token(t, tm.aliceID, -time.Minute), apptest.WSOptions{})
	require.Error(t, err)
	_, err = a.srv.DialWS(forged(t), apptest.WSOptions{Header: true}) // refused at the upgrade: 401
	require.Error(t, err)

	// The header works as well as the payload.
	c, err := a.srv.DialWS(tm.bob, apptest.WSOptions{Header: true})
	require.NoError(t, err)
	s := c.Subscribe(taskChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 1)
	s.Stop()
	waitSubscriptions(t, a.hub, 0)

	// Anonymous: UNAUTHENTICATED. Bad ids: INVALID_INPUT.
	anon, err := a.srv.DialWS("", apptest.WSOptions{})
	require.NoError(t, err)
	require.Equal(t, "UNAUTHENTICATED", anon.Subscribe(taskChangedQ, map[string]any{"p": tm.project}).Refusal())
	require.Equal(t, "INVALID_INPUT", c.Subscribe(taskChangedQ, map[string]any{"p": "nope"}).Refusal())

	// At most MaxSubscriptions (4 in these tests) per connection; a stopped one frees its slot.
	var subs []*apptest.Sub
	for range 4 {
		subs = append(subs, c.Subscribe(boardChangedQ, map[string]any{"p": tm.project}))
	}
	waitSubscriptions(t, a.hub, 4)
	require.Equal(t, "SUBSCRIPTION_LIMIT_EXCEEDED", c.Subscribe(boardChangedQ, map[string]any{"p": tm.project}).Refusal())
	subs[0].Stop()
	waitSubscriptions(t, a.hub, 3)
	c.Subscribe(boardChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 4)

	// Another connection has its own budget; removing bob from the workspace ends his
	// subscriptions there.
	other := a.srv.MustDialWS(tm.bob)
	inbox := other.Subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, a.hub, 5)
	a.ok(tm.alice, `mutation($ws: ID!, $bob: ID!) { removeMember(input: {workspaceId: $ws, userId: $bob}) { id } }`,
		map[string]any{"ws": tm.ws, "bob": tm.bobID}, &result{})
	require.Equal(t, "FORBIDDEN", inbox.Refusal())
	waitSubscriptions(t, a.hub, 0)
}

// TestLiveSlowConsumerIsDropped: a client that stops reading does not hold the hub back, and a
// burst does not decide who is slow: its subscription is dropped once a message has waited
// SlowAfter for it. When the client reads again it gets what the server had taken for it, then a
// SLOW_CONSUMER error whose lastPosition is the position of the last of those messages; resuming
// from there misses nothing (the log after it holds exactly the changes the client did not get).
func TestLiveSlowConsumerIsDropped(t *testing.T) {
	t.Parallel()
	a := setupHub(t, live.HubOptions{SlowAfter: 500 * time.Millisecond})
	hub := a.hub
	tm := newTeam(t, a, "SC")
	a.ok(tm.alice, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})

	// A raw client that subscribes, then stops reading. Each message is about 1 MB (one large
	// description, selected 32 times), so the socket's buffers fill after a few.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http"), &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	write := func(m apptest.Message) {
		b, _ := json.Marshal(m)
		require.NoError(t, conn.Write(ctx, websocket.MessageText, b))
	}
	init, _ := json.Marshal(map[string]any{"authorization": "Bearer " + tm.alice})
	write(apptest.Message{Type: "connection_init", Payload: init})
	_, b, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(b), "connection_ack")
	var q strings.Builder
	q.WriteString(`subscription($p: ID!) { boardChanged(projectId: $p) { taskId consistencyToken task {`)
	for i := range 32 {
		fmt.Fprintf(&q, " d%d: description", i)
	}
	q.WriteString(" } } }")
	sub, _ := json.Marshal(map[string]any{"query": q.String(), "variables": map[string]any{"p": tm.project}})
	write(apptest.Message{ID: "slow", Type: "subscribe", Payload: sub})
	waitSubscriptions(t, hub, 1)

	// 64 messages (64 MB) are more than loopback's socket buffers hold at their largest
	// (tcp_rmem's 32 MB and tcp_wmem's 4 MB here): then wait, however long a loaded machine's hub
	// takes to offer them (a CI run created 200 tasks in 18 s without a drop).
	description := strings.Repeat("x", 30<<10)
	var created []string
	deadline := time.Now().Add(90 * time.Second)
	for hub.Dropped() == 0 {
		require.True(t, time.Now().Before(deadline), "the subscription was never dropped (%d tasks created)", len(created))
		if len(created) == 64 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var task result
		a.ok(tm.alice, `mutation($p: ID!, $d: String!) { createTask(input: {projectId: $p, title: "big", description: $d}) { id } }`,
			map[string]any{"p": tm.project, "d": description}, &task)
		created = append(created, task.ID)
		if len(created) > 8 { // let the hub catch up with what was created so far
			time.Sleep(5 * time.Millisecond)
		}
	}
	require.Equal(t, 0, hub.Subscriptions())

	// Reading again: the messages taken before the drop, then the error.
	var last apptest.Message
	var received []string
	lastToken := ""
	for {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, b, err := conn.Read(rctx)
		rcancel()
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &last))
		if last.Type != "next" {
			break
		}
		var r struct {
			Data struct {
				BoardChanged struct{ TaskID, ConsistencyToken string }
			}
		}
		require.NoError(t, json.Unmarshal(last.Payload, &r))
		received = append(received, r.Data.BoardChanged.TaskID)
		lastToken = r.Data.BoardChanged.ConsistencyToken
	}
	t.Logf("dropped after %d tasks created; %d messages received before the error", len(created), len(received))
	require.Equal(t, "error", last.Type, "%s", last.Payload)
	var errs []gqlError
	require.NoError(t, json.Unmarshal(last.Payload, &errs))
	require.Len(t, errs, 1)
	require.Equal(t, "SLOW_CONSUMER", errs[0].Extensions["code"])
	require.Less(t, len(received), len(created), "the dropped subscription did not receive every change")
	require.NotEmpty(t, received, "the client had taken some messages")
	require.Equal(t, lastToken, errs[0].Extensions["lastPosition"], "lastPosition is the last message delivered")

	// Resuming from lastPosition misses nothing: the tasks created after it in the log are
	// exactly those the client did not receive, and it received them in creation order.
	from, err := eventstore.ParsePosition(lastToken)
	require.NoError(t, err)
	missed := createdAfter(t, a, from, len(created)-len(received))
	require.Equal(t, created, append(received, missed...))
}

// createdAfter lists the ids of the tasks created after from, in log order, once the log shows
// want of them (a reader sees an event once no older transaction in the cluster is running).
func createdAfter(t *testing.T, a *api, from eventstore.GlobalPosition, want int) []string {
	t.Helper()
	var ids []string
	deadline := time.Now().Add(30 * time.Second)
	for len(ids) < want {
		evs, err := a.es.ReadAll(context.Background(), from, 500)
		require.NoError(t, err)
		if len(evs) == 0 {
			require.True(t, time.Now().Before(deadline), "the log shows %d tasks created, want %d", len(ids), want)
			time.Sleep(10 * time.Millisecond) // polling the log's horizon
			continue
		}
		for _, ev := range evs {
			if ev.Type == domain.EventTaskCreated {
				var ref struct {
					TaskID string `json:"task_id"`
				}
				require.NoError(t, json.Unmarshal(ev.Data, &ref))
				ids = append(ids, ref.TaskID)
			}
			from = ev.GlobalPosition()
		}
	}
	return ids
}

// workers runs the projections (the read side's workers) for a test whose API runs without
// them (app.RoleAPI), until the returned stop is called (or the test ends).
func workers(t *testing.T, a *api) (stop func()) {
	t.Helper()
	r, err := projections.NewRunner(a.es, projections.RunnerOptions{PollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		require.NoError(t, <-done)
	})
	t.Cleanup(stop)
	return stop
}

// warnLog records the messages of warnings and errors.
type warnLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *warnLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *warnLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *warnLog) WithGroup(string) slog.Handler                 { return l }
func (l *warnLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

// count is how many messages start with prefix.
func (l *warnLog) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// liveHubOptions are short thresholds, so that a test outlasts every one of them (SlowAfter
// stays long enough for a prompt reader on a loaded machine).
var liveHubOptions = live.HubOptions{WaitWarn: 100 * time.Millisecond, LoadRetry: 200 * time.Millisecond,
	SlowAfter: time.Second, PollInterval: 50 * time.Millisecond}

// received collects n "next" messages of s, each decoded into a fresh T.
func received[T any](t *testing.T, s *apptest.Sub, n int) []T {
	t.Helper()
	out := make([]T, n)
	for i := range out {
		s.Data(&out[i])
	}
	return out
}

// TestLiveSurvivesStoppedProjections: with the projection workers stopped for several times the
// hub's longest threshold, acknowledged mutations are delivered late, never dropped: once the
// workers run again, every open subscription (taskChanged, boardChanged, notificationAdded)
// receives every change, in order.
func TestLiveSurvivesStoppedProjections(t *testing.T) {
	t.Parallel()
	warnings := &warnLog{}
	o := overrides(liveHubOptions, nil)
	o.Logger = slog.New(warnings)
	a := start(t, apptest.Options{Role: app.RoleAPI, Overrides: o})
	stop := workers(t, a)
	tm := newTeam(t, a, "PW")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	alice, bob := a.srv.MustDialWS(tm.alice), a.srv.MustDialWS(tm.bob)
	p := map[string]any{"p": tm.project}
	tasks, board := alice.Subscribe(taskChangedQ, p), alice.Subscribe(boardChangedQ, p)
	bobTasks, inbox := bob.Subscribe(taskChangedQ, p), bob.Subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, a.hub, 4)

	stop()
	const n = 20
	var ids, assigned []string
	for i := range n {
		vars := map[string]any{"p": tm.project, "title": fmt.Sprintf("while stopped %d", i), "a": nil}
		if i%2 == 0 {
			vars["a"] = tm.bobID
		}
		var created result
		a.ok(tm.alice, `mutation($p: ID!, $title: String!, $a: ID) { createTask(input: {projectId: $p, title: $title, assigneeId: $a}) { id } }`,
			vars, &created)
		ids = append(ids, created.ID)
		if i%2 == 0 {
			assigned = append(assigned, created.ID)
		}
	}
	// The hub waits, for longer than any of its thresholds, and delivers nothing meanwhile.
	longest := max(liveHubOptions.WaitWarn, liveHubOptions.LoadRetry, liveHubOptions.SlowAfter)
	require.Eventually(t, func() bool { return a.hub.ProjectionWait() > 3*longest }, 30*time.Second, 10*time.Millisecond)
	for _, s := range []*apptest.Sub{tasks, board, bobTasks, inbox} {
		s.Quiet(10 * time.Millisecond)
	}
	// The operator hears of it, at most once per WaitWarn.
	const waiting = "live hub: waiting for the projections"
	warned := warnings.count(waiting)
	require.Positive(t, warned)
	require.LessOrEqual(t, warned, int(a.hub.ProjectionWait()/liveHubOptions.WaitWarn), "rate-limited")
	workers(t, a)

	taskIDs := func(ts []liveTask) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	require.Equal(t, ids, taskIDs(received[liveTask](t, tasks, n)))
	require.Equal(t, ids, taskIDs(received[liveTask](t, bobTasks, n)))
	var boardIDs []string
	for _, c := range received[liveBoard](t, board, n) {
		require.Equal(t, "CREATED", c.Kind)
		boardIDs = append(boardIDs, c.TaskID)
	}
	require.Equal(t, ids, boardIDs)
	var noted []string
	for _, note := range received[struct{ Kind, TaskID string }](t, inbox, len(assigned)) {
		require.Equal(t, "assigned", note.Kind)
		noted = append(noted, note.TaskID)
	}
	require.Equal(t, assigned, noted)
	require.Zero(t, a.hub.Dropped())
	require.Zero(t, a.hub.Failed())
	require.Equal(t, 4, a.hub.Subscriptions())
	require.Zero(t, a.hub.ProjectionWait())
}

// TestLiveBurstKeepsPromptReaders: a catch-up burst of hundreds of changes in one project (the
// projections stopped, then restarted, as after a database restart) reaches every subscriber
// that reads, whole and in log order: nobody is dropped as slow for the server's burst.
func TestLiveBurstKeepsPromptReaders(t *testing.T) {
	t.Parallel()
	burst := liveHubOptions
	burst.SlowAfter = 5 * time.Second // generous: the test is about the server's burst, not a slow reader
	a := start(t, apptest.Options{Role: app.RoleAPI, Overrides: overrides(burst, nil)})
	stop := workers(t, a)
	tm := newTeam(t, a, "BU")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	head, err := a.es.Head(context.Background())
	require.NoError(t, err)
	alice, bob := a.srv.MustDialWS(tm.alice), a.srv.MustDialWS(tm.bob)
	p := map[string]any{"p": tm.project}
	tasks, board := alice.Subscribe(taskChangedQ, p), alice.Subscribe(boardChangedQ, p)
	inbox := bob.Subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, a.hub, 3)

	stop()
	const n = 300 // far beyond the 64 messages a subscription could once hold
	actor := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	for i := range n { // acknowledged appends, through the handler the mutation calls
		_, err := a.h.CreateTask.Handle(context.Background(), commands.CreateTask{Actor: actor, ProjectID: mustUUID(t, tm.project),
			Title: fmt.Sprintf("burst %d", i), Assignee: domain.UserID(tm.bobID)})
		require.NoError(t, err)
	}
	workers(t, a)

	ids := createdAfter(t, a, head, n) // log order
	require.Len(t, ids, n)
	var got []string
	for _, lt := range received[liveTask](t, tasks, n) {
		got = append(got, lt.ID)
	}
	require.Equal(t, ids, got)
	got = nil
	var last eventstore.GlobalPosition
	for _, c := range received[liveBoard](t, board, n) {
		got = append(got, c.TaskID)
		pos, err := eventstore.ParsePosition(c.ConsistencyToken)
		require.NoError(t, err)
		require.True(t, last.Less(pos), "in log order")
		last = pos
	}
	require.Equal(t, ids, got)
	got = nil
	for _, note := range received[struct{ TaskID string }](t, inbox, n) {
		got = append(got, note.TaskID)
	}
	require.Equal(t, ids, got)
	require.Zero(t, a.hub.Dropped())
	require.Equal(t, 3, a.hub.Subscriptions())
}

// TestLiveHubStopCarriesLastPosition: when the hub stops under a running server, each
// subscription ends with an UNAVAILABLE error whose lastPosition is its last message's position,
// or, when it received none, the position it started at (before every change it did not get).
func TestLiveHubStopCarriesLastPosition(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	var hub *live.Hub
	a := start(t, apptest.Options{DatabaseURL: url, Overrides: overrides(live.HubOptions{}, nil, func(r *graph.Resolver) {
		// A hub of the test's own, which it stops while the server runs.
		pool := pgtest.Open(t, url)
		store, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters()})
		require.NoError(t, err)
		hub, err = live.NewHub(store, nil, projections.NewQueries(pool), live.HubOptions{PollInterval: 20 * time.Millisecond})
		require.NoError(t, err)
		r.Hub = hub
	})})
	tm := newTeam(t, a, "HS")
	a.ok(tm.alice, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	before, err := a.es.Head(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })

	c := a.srv.MustDialWS(tm.alice)
	board := c.Subscribe(boardChangedQ, map[string]any{"p": tm.project})
	inbox := c.Subscribe(notificationAddedQ, map[string]any{"ws": tm.ws}) // alice is told of nothing she does
	waitSubscriptions(t, hub, 2)
	var created result
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "before the stop"}) { id consistencyToken } }`,
		map[string]any{"p": tm.project}, &created)
	var bc liveBoard
	board.Data(&bc)
	require.Equal(t, created.ID, bc.TaskID)

	require.NoError(t, stop())
	ended := func(s *apptest.Sub) string {
		t.Helper()
		m := s.Next(apptest.MessageWait)
		require.Equal(t, "error", m.Type, "%s", m.Payload)
		var errs []gqlError
		require.NoError(t, json.Unmarshal(m.Payload, &errs))
		require.Len(t, errs, 1)
		require.Equal(t, "UNAVAILABLE", errs[0].Extensions["code"])
		pos, _ := errs[0].Extensions["lastPosition"].(string)
		return pos
	}
	require.Equal(t, bc.ConsistencyToken, ended(board))
	start, err := eventstore.ParsePosition(ended(inbox))
	require.NoError(t, err)
	require.False(t, start.Less(before), "it started after what preceded the hub")
	taskPos, err := eventstore.ParsePosition(bc.ConsistencyToken)
	require.NoError(t, err)
	require.True(t, start.Less(taskPos), "resuming from its start includes the change made after it")
	// A new subscription is refused.
	require.Equal(t, "UNAVAILABLE", c.Subscribe(boardChangedQ, map[string]any{"p": tm.project}).Refusal())
}

// TestLiveBoardProjectChanges: boardChanged also fires for the project's own changes that alter
// the board (workflow defined, renamed, archived, unarchived), with no task and the project's
// read-model state after the change; taskChanged does not.
func TestLiveBoardProjectChanges(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "BP")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	c := a.srv.MustDialWS(tm.bob)
	p := map[string]any{"p": tm.project}
	board := c.Subscribe(`subscription($p: ID!) { boardChanged(projectId: $p) { kind taskId status rank archived consistencyToken
		task { key } project { id name archived board { status } } } }`, p)
	tasks := c.Subscribe(taskChangedQ, p)
	waitSubscriptions(t, a.hub, 2)

	type change struct {
		Kind, ConsistencyToken string
		TaskID, Status, Rank   *string
		Archived               *bool
		Task                   *struct{ Key string }
		Project                struct {
			ID, Name string
			Archived bool
			Board    []struct{ Status string }
		}
	}
	columns := func(ch change) []string {
		var out []string
		for _, col := range ch.Project.Board {
			out = append(out, col.Status)
		}
		return out
	}
	// A task's change: the task, and the project as it is.
	var created result
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "On the board"}) { id } }`, p, &created)
	var ch change
	board.Data(&ch)
	require.Equal(t, "CREATED", ch.Kind)
	require.NotNil(t, ch.TaskID)
	require.Equal(t, created.ID, *ch.TaskID)
	require.Equal(t, "BP-1", ch.Task.Key)
	require.Equal(t, "todo", *ch.Status)
	require.False(t, *ch.Archived)
	require.Equal(t, tm.project, ch.Project.ID)
	require.Equal(t, "Project", ch.Project.Name)
	var lt liveTask
	tasks.Data(&lt)
	require.Equal(t, "BP-1", lt.Key)

	projectChange := func(kind string) change {
		t.Helper()
		var ch change
		board.Data(&ch)
		require.Equal(t, kind, ch.Kind)
		require.Nil(t, ch.TaskID)
		require.Nil(t, ch.Task)
		require.Nil(t, ch.Status)
		require.Nil(t, ch.Rank)
		require.Nil(t, ch.Archived)
		require.Equal(t, tm.project, ch.Project.ID)
		require.NotEmpty(t, ch.ConsistencyToken)
		return ch
	}
	a.ok(tm.alice, `mutation($p: ID!) { defineWorkflow(input: {projectId: $p, initial: "todo",
		statuses: [{id: "todo", name: "To do", category: TODO}, {id: "doing", name: "Doing", category: IN_PROGRESS},
			{id: "blocked", name: "Blocked", category: IN_PROGRESS}, {id: "done", name: "Done", category: DONE}],
		transitions: [{from: "todo", to: "doing"}, {from: "doing", to: "blocked"}, {from: "blocked", to: "doing"},
			{from: "doing", to: "done"}]}) { id } }`, p, &result{})
	ch = projectChange("WORKFLOW_CHANGED")
	require.Equal(t, []string{"todo", "doing", "blocked", "done"}, columns(ch), "the board's new columns")

	a.ok(tm.alice, `mutation($p: ID!) { renameProject(input: {projectId: $p, name: "Renamed"}) { id } }`, p, &result{})
	ch = projectChange("PROJECT_RENAMED")
	require.Equal(t, "Renamed", ch.Project.Name)
	require.False(t, ch.Project.Archived)
	// The change's token serves read-your-writes.
	var read struct{ Name string }
	a.ok(tm.bob, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { name } }`,
		map[string]any{"p": tm.project, "tok": ch.ConsistencyToken}, &read)
	require.Equal(t, "Renamed", read.Name)

	a.ok(tm.alice, `mutation($p: ID!) { archiveProject(input: {projectId: $p}) { id } }`, p, &result{})
	ch = projectChange("PROJECT_ARCHIVED")
	require.True(t, ch.Project.Archived)
	a.ok(tm.alice, `mutation($p: ID!) { unarchiveProject(input: {projectId: $p}) { id } }`, p, &result{})
	ch = projectChange("PROJECT_UNARCHIVED")
	require.False(t, ch.Project.Archived)
	require.Equal(t, "Renamed", ch.Project.Name)

	// The project's changes are no task's.
	tasks.Quiet(100 * time.Millisecond)
	board.Quiet(10 * time.Millisecond)
}

// TestLiveLegacyProtocol: the legacy graphql-ws protocol (subscriptions-transport-ws:
// connection_init/connection_ack, start/data/stop) serves subscriptions like graphql-transport-ws,
// authenticated the same way (connection_init's authorization or the upgrade request's header).
func TestLiveLegacyProtocol(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "LG")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	p := map[string]any{"p": tm.project}

	for i, header := range []bool{false, true} {
		c, err := a.srv.DialWS(tm.bob, apptest.WSOptions{Protocol: apptest.LegacyWS, Header: header})
		require.NoError(t, err, "header %v", header)
		s := c.Subscribe(taskChangedQ, p)
		waitSubscriptions(t, a.hub, 1)
		var created result
		a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Legacy"}) { id version } }`, p, &created)
		var lt liveTask
		s.Data(&lt) // a "data" message
		require.Equal(t, created.ID, lt.ID)
		require.Equal(t, fmt.Sprintf("LG-%d", i+1), lt.Key)
		require.Equal(t, created.Version, lt.Version)
		require.Equal(t, "LG", lt.Project.Key)
		s.Stop() // "stop"
		require.Equal(t, "complete", s.Next(apptest.MessageWait).Type)
		waitSubscriptions(t, a.hub, 0)
	}

	// Forged and expired tokens: no ack.
	_, err := a.srv.DialWS(forged(t), apptest.WSOptions{Protocol: apptest.LegacyWS})
	require.Error(t, err)
	_, err = a.srv.DialWS(token(t, tm.bobID, -time.Minute), apptest.WSOptions{Protocol: apptest.LegacyWS})
	require.Error(t, err)
	_, err = a.srv.DialWS(forged(t), apptest.WSOptions{Protocol: apptest.LegacyWS, Header: true})
	require.Error(t, err)
	// Anonymous: UNAUTHENTICATED; a stranger: NOT_FOUND.
	anon, err := a.srv.DialWS("", apptest.WSOptions{Protocol: apptest.LegacyWS})
	require.NoError(t, err)
	require.Equal(t, "UNAUTHENTICATED", anon.Subscribe(taskChangedQ, p).Refusal())
	stranger, err := a.srv.DialWS(token(t, "stranger-"+t.Name(), time.Hour), apptest.WSOptions{Protocol: apptest.LegacyWS})
	require.NoError(t, err)
	require.Equal(t, "NOT_FOUND", stranger.Subscribe(taskChangedQ, p).Refusal())
	require.Equal(t, 0, a.hub.Subscriptions())
}
