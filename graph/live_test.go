package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/graph"
)

// A graphql-transport-ws client for the tests, over github.com/coder/websocket (the library
// gqlgen's websocket transport uses).

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	cancel context.CancelFunc
	mu     sync.Mutex
	subs   map[string]chan wsMessage
	n      int
	closed chan struct{} // the reader stopped: the connection is gone
}

// dial opens a websocket to the API and authenticates with tok in connection_init (or, when
// header is set, with the upgrade request's Authorization header and an empty init payload).
func (a *api) dial(tok string, header bool) (*wsClient, error) {
	ctx, cancel := context.WithCancel(context.Background())
	h := http.Header{}
	payload := map[string]any{}
	if header {
		h.Set("Authorization", "Bearer "+tok)
	} else if tok != "" {
		payload["authorization"] = "Bearer " + tok
	}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http"), &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: h,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	c := &wsClient{t: a.t, conn: conn, cancel: cancel, subs: map[string]chan wsMessage{}, closed: make(chan struct{})}
	a.t.Cleanup(c.close)
	init, _ := json.Marshal(payload)
	if err := c.send(wsMessage{Type: "connection_init", Payload: init}); err != nil {
		return nil, err
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	var ack wsMessage
	if err := c.read(rctx, &ack); err != nil {
		return nil, err
	}
	if ack.Type != "connection_ack" {
		return nil, fmt.Errorf("expected connection_ack, got %s", ack.Type)
	}
	go c.readLoop(ctx)
	return c, nil
}

func (a *api) mustDial(tok string) *wsClient {
	a.t.Helper()
	c, err := a.dial(tok, false)
	require.NoError(a.t, err)
	return c
}

func (c *wsClient) close() {
	c.cancel()
	_ = c.conn.CloseNow()
}

func (c *wsClient) send(m wsMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *wsClient) read(ctx context.Context, m *wsMessage) error {
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, m)
}

// readLoop answers pings and routes messages to their subscription.
func (c *wsClient) readLoop(ctx context.Context) {
	defer close(c.closed)
	for {
		var m wsMessage
		if err := c.read(ctx, &m); err != nil {
			return
		}
		switch m.Type {
		case "ping":
			_ = c.send(wsMessage{Type: "pong"})
		case "next", "error", "complete":
			c.mu.Lock()
			ch := c.subs[m.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

type wsSub struct {
	c  *wsClient
	id string
	ch chan wsMessage
}

func (c *wsClient) subscribe(query string, vars map[string]any) *wsSub {
	c.t.Helper()
	c.mu.Lock()
	c.n++
	id := strconv.Itoa(c.n)
	ch := make(chan wsMessage, 1024)
	c.subs[id] = ch
	c.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(c.t, c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload}))
	return &wsSub{c: c, id: id, ch: ch}
}

func (s *wsSub) stop() {
	require.NoError(s.c.t, s.c.send(wsMessage{ID: s.id, Type: "complete"}))
}

// next returns the subscription's next message, failing the test after timeout.
func (s *wsSub) next(timeout time.Duration) wsMessage {
	s.c.t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(timeout):
		s.c.t.Fatalf("subscription %s: no message within %s", s.id, timeout)
		return wsMessage{}
	}
}

// data waits for a "next" message without errors and decodes its one field into out.
func (s *wsSub) data(out any) {
	s.c.t.Helper()
	m := s.next(10 * time.Second)
	require.Equal(s.c.t, "next", m.Type, "%s", m.Payload)
	var r response
	require.NoError(s.c.t, json.Unmarshal(m.Payload, &r))
	require.Empty(s.c.t, r.Errors)
	for _, v := range r.Data {
		require.NoError(s.c.t, json.Unmarshal(v, out))
	}
}

// quiet checks that no message arrives for d.
func (s *wsSub) quiet(d time.Duration) {
	s.c.t.Helper()
	select {
	case m := <-s.ch:
		s.c.t.Fatalf("subscription %s: unexpected %s %s", s.id, m.Type, m.Payload)
	case <-time.After(d):
	}
}

// refusal waits for the subscription's refusal (an "error" message, or a "next" carrying errors
// and no data, then "complete") and returns its code.
func (s *wsSub) refusal() string {
	s.c.t.Helper()
	m := s.next(10 * time.Second)
	switch m.Type {
	case "error":
		var errs []gqlError
		require.NoError(s.c.t, json.Unmarshal(m.Payload, &errs))
		require.NotEmpty(s.c.t, errs)
		c, _ := errs[0].Extensions["code"].(string)
		return c
	case "next":
		var r response
		require.NoError(s.c.t, json.Unmarshal(m.Payload, &r))
		for _, v := range r.Data {
			require.Equal(s.c.t, "null", string(v), "a refused subscription carries no data")
		}
		require.Equal(s.c.t, "complete", s.next(5*time.Second).Type, "a refused subscription ends")
		return code(s.c.t, r)
	}
	s.c.t.Fatalf("subscription %s: expected a refusal, got %s", s.id, m.Type)
	return ""
}

// waitSubscriptions waits until hub holds n subscriptions: the server has registered them, so
// every change committed from now on reaches them.
func waitSubscriptions(t *testing.T, hub *graph.Hub, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return hub.Subscriptions() == n }, 10*time.Second, 2*time.Millisecond,
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

	alice, bob := a.mustDial(tm.alice), a.mustDial(tm.bob)
	p := map[string]any{"p": tm.project}
	tasks := alice.subscribe(taskChangedQ, p)
	board := alice.subscribe(boardChangedQ, p)
	bobTasks := bob.subscribe(taskChangedQ, p)
	inbox := bob.subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, a.hub, 4)

	var created struct {
		result
		Key string
	}
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Ship live updates"}) { id version key } }`, p, &created)
	var lt liveTask
	tasks.data(&lt)
	require.Equal(t, "TF-1", lt.Key)
	require.Equal(t, created.ID, lt.ID)
	require.Equal(t, "todo", lt.Status)
	require.Equal(t, created.Version, lt.Version)
	require.Equal(t, "TF", lt.Project.Key)
	var bc liveBoard
	board.data(&bc)
	require.Equal(t, "CREATED", bc.Kind)
	require.Equal(t, created.ID, bc.TaskID)
	require.Equal(t, "todo", bc.Status)
	require.NotEmpty(t, bc.Rank)
	var seen liveTask
	bobTasks.data(&seen)
	require.Equal(t, lt, seen, "every subscriber of the project gets the same state")

	// Through the workflow: each move is a task change and a board move, with the new column.
	v := created.Version
	for _, status := range []string{"in_progress", "in_review", "done"} {
		var moved result
		a.ok(tm.alice, `mutation($t: ID!, $s: String!, $v: Int) { changeTaskStatus(input: {taskId: $t, status: $s, expectedVersion: $v}) { version } }`,
			map[string]any{"t": created.ID, "s": status, "v": v}, &moved)
		v = moved.Version
		tasks.data(&lt)
		require.Equal(t, status, lt.Status)
		require.Equal(t, v, lt.Version)
		board.data(&bc)
		require.Equal(t, "MOVED", bc.Kind)
		require.Equal(t, status, bc.Status)
		require.Equal(t, v, bc.Task.Version)
		bobTasks.data(&seen)
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
	tasks.data(&lt)
	require.Equal(t, tm.bobID, lt.Assignee.UserID)
	bobTasks.data(&seen)
	var n struct {
		Kind, TaskID, ActorID, Line string
		CommentID                   *string
		Read                        bool
		Task                        struct{ Key string }
	}
	inbox.data(&n)
	require.Equal(t, "assigned", n.Kind)
	require.Equal(t, created.ID, n.TaskID)
	require.Equal(t, tm.aliceID, n.ActorID)
	require.Equal(t, "TF-1", n.Task.Key)
	require.False(t, n.Read)

	// A comment that mentions bob: a task change (comment count) and bob's mention.
	var comment struct{ CommentID, ConsistencyToken string }
	a.ok(tm.alice, `mutation($t: ID!, $body: String!) { addComment(input: {taskId: $t, body: $body}) { commentId consistencyToken } }`,
		map[string]any{"t": created.ID, "body": "@" + tm.bobID + " shipped, please check"}, &comment)
	tasks.data(&lt)
	require.Equal(t, 1, lt.CommentCount)
	bobTasks.data(&seen)
	inbox.data(&n)
	require.Equal(t, "mentioned", n.Kind)
	require.NotNil(t, n.CommentID)
	require.Equal(t, comment.CommentID, *n.CommentID)
	require.Contains(t, n.Line, "mentioned you on TF-1")

	// Archived: the board loses it.
	a.ok(tm.alice, `mutation($t: ID!) { archiveTask(input: {taskId: $t}) { version } }`, map[string]any{"t": created.ID}, &result{})
	tasks.data(&lt)
	require.True(t, lt.Archived)
	board.data(&bc)
	require.Equal(t, "ARCHIVED", bc.Kind)
	require.True(t, bc.Archived)
	final := lt
	bobTasks.data(&seen)
	// Nothing else was queued: the assignment and the comment were no board changes, alice is
	// notified of nothing (her own actions).
	board.quiet(100 * time.Millisecond)
	inbox.quiet(10 * time.Millisecond)

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
	tasks.stop()
	require.Equal(t, "complete", tasks.next(5*time.Second).Type)
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

	onB := b.mustDial(tm.bob)
	tasks := onB.subscribe(taskChangedQ, map[string]any{"p": tm.project})
	inbox := onB.subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, b.hub, 2)
	require.Equal(t, 0, a.hub.Subscriptions())

	var created result
	a.ok(tm.alice, `mutation($p: ID!, $bob: ID!) { createTask(input: {projectId: $p, title: "Across", assigneeId: $bob}) { id version } }`,
		map[string]any{"p": tm.project, "bob": tm.bobID}, &created)
	var lt liveTask
	tasks.data(&lt)
	require.Equal(t, created.ID, lt.ID)
	require.Equal(t, "XP-1", lt.Key)
	require.Equal(t, tm.bobID, lt.Assignee.UserID)
	var n struct{ Kind, TaskID string }
	inbox.data(&n)
	require.Equal(t, "assigned", n.Kind)
	require.Equal(t, created.ID, n.TaskID)

	// And the other way round: a mutation on B reaches a subscriber on A.
	onA := a.mustDial(tm.alice)
	board := onA.subscribe(boardChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 1)
	b.ok(tm.bob, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { version } }`,
		map[string]any{"t": created.ID}, &result{})
	var bc liveBoard
	board.data(&bc)
	require.Equal(t, "MOVED", bc.Kind)
	require.Equal(t, "in_progress", bc.Status)
	tasks.data(&lt)
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
	_, err := a.dial(forged(t), false)
	require.Error(t, err)
	_, err = a.dial(token(t, tm.aliceID, -time.Minute), false)
	require.Error(t, err)
	_, err = a.dial(forged(t), true) // refused at the upgrade: 401
	require.Error(t, err)

	// The header works as well as the payload.
	c, err := a.dial(tm.bob, true)
	require.NoError(t, err)
	s := c.subscribe(taskChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 1)
	s.stop()
	waitSubscriptions(t, a.hub, 0)

	// Anonymous: UNAUTHENTICATED. Bad ids: INVALID_INPUT.
	anon, err := a.dial("", false)
	require.NoError(t, err)
	require.Equal(t, "UNAUTHENTICATED", anon.subscribe(taskChangedQ, map[string]any{"p": tm.project}).refusal())
	require.Equal(t, "INVALID_INPUT", c.subscribe(taskChangedQ, map[string]any{"p": "nope"}).refusal())

	// At most MaxSubscriptions (4 in these tests) per connection; a stopped one frees its slot.
	var subs []*wsSub
	for range 4 {
		subs = append(subs, c.subscribe(boardChangedQ, map[string]any{"p": tm.project}))
	}
	waitSubscriptions(t, a.hub, 4)
	require.Equal(t, "SUBSCRIPTION_LIMIT_EXCEEDED", c.subscribe(boardChangedQ, map[string]any{"p": tm.project}).refusal())
	subs[0].stop()
	waitSubscriptions(t, a.hub, 3)
	c.subscribe(boardChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 4)

	// Another connection has its own budget; removing bob from the workspace ends his
	// subscriptions there.
	other := a.mustDial(tm.bob)
	inbox := other.subscribe(notificationAddedQ, map[string]any{"ws": tm.ws})
	waitSubscriptions(t, a.hub, 5)
	a.ok(tm.alice, `mutation($ws: ID!, $bob: ID!) { removeMember(input: {workspaceId: $ws, userId: $bob}) { id } }`,
		map[string]any{"ws": tm.ws, "bob": tm.bobID}, &result{})
	require.Equal(t, "complete", inbox.next(10*time.Second).Type)
	waitSubscriptions(t, a.hub, 0)
}

// TestLiveSlowConsumerIsDropped: a client that stops reading does not hold the hub back. Once its
// socket and its subscription's queue are full, the subscription is dropped; when the client
// reads again it gets what was queued, then a SLOW_CONSUMER error.
func TestLiveSlowConsumerIsDropped(t *testing.T) {
	t.Parallel()
	a := setupHub(t, graph.HubOptions{Buffer: 2})
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
	write := func(m wsMessage) {
		b, _ := json.Marshal(m)
		require.NoError(t, conn.Write(ctx, websocket.MessageText, b))
	}
	init, _ := json.Marshal(map[string]any{"authorization": "Bearer " + tm.alice})
	write(wsMessage{Type: "connection_init", Payload: init})
	_, b, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(b), "connection_ack")
	var q strings.Builder
	q.WriteString(`subscription($p: ID!) { taskChanged(projectId: $p) { id`)
	for i := range 32 {
		fmt.Fprintf(&q, " d%d: description", i)
	}
	q.WriteString(" } }")
	sub, _ := json.Marshal(map[string]any{"query": q.String(), "variables": map[string]any{"p": tm.project}})
	write(wsMessage{ID: "slow", Type: "subscribe", Payload: sub})
	waitSubscriptions(t, hub, 1)

	description := strings.Repeat("x", 30<<10)
	created := 0
	for hub.Dropped() == 0 {
		require.Less(t, created, 200, "the subscription was never dropped")
		a.ok(tm.alice, `mutation($p: ID!, $d: String!) { createTask(input: {projectId: $p, title: "big", description: $d}) { id } }`,
			map[string]any{"p": tm.project, "d": description}, &result{})
		created++
		if created > 8 { // let the hub catch up with what was created so far
			time.Sleep(5 * time.Millisecond)
		}
	}
	require.Equal(t, 0, hub.Subscriptions())

	// Reading again: the messages queued before the drop, then the error.
	var last wsMessage
	received := 0
	for {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, b, err := conn.Read(rctx)
		rcancel()
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &last))
		if last.Type != "next" {
			break
		}
		received++
	}
	t.Logf("dropped after %d tasks created; %d messages received before the error", created, received)
	require.Equal(t, "error", last.Type, "%s", last.Payload)
	require.Contains(t, string(last.Payload), "SLOW_CONSUMER")
	require.Less(t, received, created, "the dropped subscription did not receive every change")
}
