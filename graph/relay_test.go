package graph_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
)

// relayConn is a connection as the tests read it.
type relayConn struct {
	Edges []struct {
		Cursor string
		Node   json.RawMessage
	}
	Nodes    []json.RawMessage
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount *int
}

// connAt reads the connection at path in a response's data.
func connAt(t *testing.T, r response, path ...string) relayConn {
	t.Helper()
	require.Empty(t, r.Errors)
	raw := r.Data[path[0]]
	for _, p := range path[1:] {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &m))
		raw = m[p]
	}
	var c relayConn
	require.NoError(t, json.Unmarshal(raw, &c))
	return c
}

// relayCase is a connection to walk: its query, with ARGS where the page arguments go ($n and
// $c are declared), and where the connection is in the response.
type relayCase struct {
	query string
	path  []string
	want  int // the list's length
}

// TestConnectionsBothWays walks every connection but tasks (read_filters_test.go walks it) forward
// with first/after and backward with last/before, in pages of 2: both ways list the same items,
// and every page's PageInfo is exact (hasPreviousPage and hasNextPage at both ends, start and end
// cursors). Bad arguments are INVALID_INPUT naming the argument; cursors are opaque.
func TestConnectionsBothWays(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxDepth = 12 })
	tm := newTeam(t, a, "RL")
	ctx := context.Background()
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	ws := mustUUID(t, tm.ws)
	// 3 members, 3 workspaces of alice's, 3 projects, a task with 5 comments, 10 notifications of
	// bob's, 7 webhook deliveries (3 of them dead) and 2 dead emails.
	carolID := "carol-" + t.Name()
	carol := domain.Actor{UserID: domain.UserID(carolID), Email: carolID + "@example.com", EmailVerified: true, DisplayName: carolID}
	inv, err := a.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: alice, WorkspaceID: ws, Email: carol.Email, Role: domain.RoleMember})
	require.NoError(t, err)
	_, err = a.h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: carol, WorkspaceID: ws, InvitationID: inv.InvitationID})
	require.NoError(t, err)
	for i := range 2 {
		_, err = a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: alice, Name: fmt.Sprintf("More %d", i)})
		require.NoError(t, err)
		_, err = a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: alice, WorkspaceID: ws, Name: fmt.Sprintf("P%d", i), Key: fmt.Sprintf("RP%d", i)})
		require.NoError(t, err)
	}
	var task commands.TaskResult
	for i := range 5 {
		task, err = a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: alice, ProjectID: mustUUID(t, tm.project), Title: "task " + strconv.Itoa(i),
			Assignee: domain.UserID(tm.bobID)})
		require.NoError(t, err)
	}
	var last commands.Result
	for i := range 5 {
		c, err := a.h.AddComment.Handle(ctx, commands.AddComment{Actor: alice, TaskID: task.ID, Body: "comment " + strconv.Itoa(i)})
		require.NoError(t, err)
		last = c.Result
	}
	pool := a.es.Pool()
	hook := uuid.New()
	_, err = pool.Exec(ctx, `INSERT INTO webhook_endpoints (webhook_id, workspace_id, url, event_types, registered_at, updated_at)
		VALUES ($1, $2, 'https://example.com/hook', '{}', now(), now())`, hook, ws)
	require.NoError(t, err)
	for i := range 7 {
		status := []string{"dead", "delivered"}[i%2]
		_, err = pool.Exec(ctx, `INSERT INTO webhook_deliveries (webhook_id, workspace_id, event_id, event_type, event_position,
				payload, status, dead_at) VALUES ($1, $2, $3, 'task.created', 1, '{}', $4, now())`, hook, ws, uuid.New(), status)
		require.NoError(t, err)
	}
	for range 2 {
		_, err = pool.Exec(ctx, `INSERT INTO email_outbox (workspace_id, event_id, event_type, kind, recipient_user_id,
				recipient_email, subject, body, status, dead_at)
			VALUES ($1, $2, 'task.assigned', 'assigned', 'u', 'u@example.com', 's', 'b', 'dead', now())`, ws, uuid.New())
		require.NoError(t, err)
	}
	tok := graph.ConsistencyToken(last)
	a.ok(tm.alice, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
		map[string]any{"ws": tm.ws, "tok": tok}, &struct{}{})
	var activity int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rm_activity WHERE workspace_id = $1`, ws).Scan(&activity))

	cases := map[string]relayCase{
		"activity": {`query($ws: ID!, $n: Int, $c: String) { activity(workspaceId: $ws, ARGS) {
			edges { cursor node { eventId } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, []string{"activity"}, activity},
		"notifications": {`query($ws: ID!, $n: Int, $c: String) { notifications(workspaceId: $ws, ARGS) {
			edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, []string{"notifications"}, 10}, // assigned 5 times, and 5 comments on a task of his
		"workspaces": {`query($n: Int, $c: String) { workspaces(ARGS) {
			edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, []string{"workspaces"}, 3},
		"members": {`query($ws: ID!, $n: Int, $c: String) { workspace(id: $ws) { members(ARGS) {
			edges { cursor node { userId } } totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`,
			[]string{"workspace", "members"}, 3},
		"projects": {`query($ws: ID!, $n: Int, $c: String) { workspace(id: $ws) { projects(ARGS) {
			edges { cursor node { id key } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`,
			[]string{"workspace", "projects"}, 3},
		"comments": {`query($t: ID!, $n: Int, $c: String) { task(id: $t) { comments(ARGS) {
			edges { cursor node { id body } } totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`,
			[]string{"task", "comments"}, 5},
		"webhookDeliveries": {`query($ws: ID!, $n: Int, $c: String) { webhookDeliveries(workspaceId: $ws, ARGS) {
			edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, []string{"webhookDeliveries"}, 7},
		"deadLetters": {`query($ws: ID!, $n: Int, $c: String) { deadLetters(workspaceId: $ws, ARGS) {
			edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, []string{"deadLetters"}, 6},
	}
	forward := func(q string) string { return strings.Replace(q, "ARGS", "first: $n, after: $c", 1) }
	backward := func(q string) string { return strings.Replace(q, "ARGS", "last: $n, before: $c", 1) }
	who := map[string]string{"notifications": tm.bob}
	cursors := map[string]string{}
	for name, c := range cases {
		caller := tm.alice
		if who[name] != "" {
			caller = who[name]
		}
		vars := func(n int, cur *string) map[string]any {
			return map[string]any{"ws": tm.ws, "t": task.ID.String(), "n": n, "c": cur}
		}
		var fwd []string
		var cur *string
		for page := 0; ; page++ {
			require.Less(t, page, 100, name)
			conn := connAt(t, a.do(caller, forward(c.query), vars(2, cur)), c.path...)
			require.Equal(t, page > 0, conn.PageInfo.HasPreviousPage, "%s forward page %d", name, page)
			require.NotEmpty(t, conn.Edges, name)
			require.Equal(t, conn.Edges[0].Cursor, *conn.PageInfo.StartCursor, name)
			require.Equal(t, conn.Edges[len(conn.Edges)-1].Cursor, *conn.PageInfo.EndCursor, name)
			if c.path[len(c.path)-1] == "members" || c.path[len(c.path)-1] == "comments" {
				require.Equal(t, c.want, *conn.TotalCount, name)
			}
			for _, e := range conn.Edges {
				fwd = append(fwd, string(e.Node))
				raw, err := base64.RawURLEncoding.DecodeString(e.Cursor)
				require.NoError(t, err, "%s: a cursor is base64url", name)
				require.Equal(t, byte(1), raw[0], "%s: a cursor starts with its version", name)
				cursors[name] = e.Cursor
			}
			if !conn.PageInfo.HasNextPage {
				break
			}
			require.Len(t, conn.Edges, 2, "%s: a page before the last is full", name)
			cur = conn.PageInfo.EndCursor
		}
		require.Len(t, fwd, c.want, name)
		var back []string
		cur = nil
		for page := 0; ; page++ {
			require.Less(t, page, 100, name)
			conn := connAt(t, a.do(caller, backward(c.query), vars(2, cur)), c.path...)
			require.Equal(t, page > 0, conn.PageInfo.HasNextPage, "%s backward page %d", name, page)
			require.NotEmpty(t, conn.Edges, name)
			require.Equal(t, conn.Edges[0].Cursor, *conn.PageInfo.StartCursor, name)
			nodes := make([]string, len(conn.Edges))
			for i, e := range conn.Edges {
				nodes[i] = string(e.Node)
			}
			back = append(nodes, back...)
			if !conn.PageInfo.HasPreviousPage {
				break
			}
			require.Len(t, conn.Edges, 2, "%s: a page before the first is full", name)
			cur = conn.PageInfo.StartCursor
		}
		require.Equal(t, fwd, back, "%s: both ways list the same items", name)

		// first: 0 and last: 0: no edges, whether the list has items beyond the cursor.
		empty := connAt(t, a.do(caller, forward(c.query), vars(0, nil)), c.path...)
		require.Empty(t, empty.Edges, name)
		require.True(t, empty.PageInfo.HasNextPage, name)
		require.False(t, empty.PageInfo.HasPreviousPage, name)
		require.Nil(t, empty.PageInfo.StartCursor, name)
		empty = connAt(t, a.do(caller, backward(c.query), vars(0, nil)), c.path...)
		require.Empty(t, empty.Edges, name)
		require.True(t, empty.PageInfo.HasPreviousPage, name)
		require.False(t, empty.PageInfo.HasNextPage, name)
		// From the last item: nothing after it, everything before it.
		end := connAt(t, a.do(caller, forward(c.query), vars(5, ptr(cursors[name]))), c.path...)
		require.Empty(t, end.Edges, name)
		require.False(t, end.PageInfo.HasNextPage, name)
		require.True(t, end.PageInfo.HasPreviousPage, name)

		// Bad arguments: INVALID_INPUT naming the argument, nothing read.
		both := strings.Replace(c.query, "ARGS", "first: $n, last: $n, after: $c", 1)
		requireInvalid(t, a.do(caller, both, vars(2, nil)), "last")
		requireInvalid(t, a.do(caller, forward(c.query), vars(201, nil)), "first")
		requireInvalid(t, a.do(caller, backward(c.query), vars(-1, nil)), "last")
		requireInvalid(t, a.do(caller, forward(c.query), vars(2, ptr("garbage"))), "after")
		requireInvalid(t, a.do(caller, backward(c.query), vars(2, ptr("MTIzNA"))), "before")
		mixed := strings.Replace(c.query, "ARGS", "first: $n, before: $c", 1)
		requireInvalid(t, a.do(caller, mixed, vars(2, ptr(cursors[name]))), "before")
	}
	// Another list's cursor is refused, either way.
	for name, c := range cases {
		caller := tm.alice
		if who[name] != "" {
			caller = who[name]
		}
		for other, cur := range cursors {
			if other == name {
				continue
			}
			vars := map[string]any{"ws": tm.ws, "t": task.ID.String(), "n": 2, "c": cur}
			requireInvalid(t, a.do(caller, forward(c.query), vars), "after")
			requireInvalid(t, a.do(caller, backward(c.query), vars), "before")
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestCommentsBeyondTwoHundred: a task's comments are no longer capped: 205 of them, paged.
func TestCommentsBeyondTwoHundred(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "CM")
	ctx := context.Background()
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	task, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: alice, ProjectID: mustUUID(t, tm.project), Title: "chatty"})
	require.NoError(t, err)
	var last commands.Result
	for i := range 205 {
		c, err := a.h.AddComment.Handle(ctx, commands.AddComment{Actor: alice, TaskID: task.ID, Body: "c" + strconv.Itoa(i)})
		require.NoError(t, err)
		last = c.Result
	}
	q := `query($t: ID!, $c: String, $tok: String) { task(id: $t, consistentWith: $tok) { commentCount
		comments(first: 200, after: $c) { nodes { body } totalCount pageInfo { hasNextPage endCursor } } } }`
	var bodies []string
	var cur *string
	for range 2 {
		var got struct {
			CommentCount int
			Comments     struct {
				Nodes      []struct{ Body string }
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		a.ok(tm.alice, q, map[string]any{"t": task.ID.String(), "c": cur, "tok": graph.ConsistencyToken(last)}, &got)
		require.Equal(t, 205, got.CommentCount)
		require.Equal(t, 205, got.Comments.TotalCount)
		for _, n := range got.Comments.Nodes {
			bodies = append(bodies, n.Body)
		}
		cur = got.Comments.PageInfo.EndCursor
		if !got.Comments.PageInfo.HasNextPage {
			break
		}
	}
	require.Len(t, bodies, 205)
	require.Equal(t, "c0", bodies[0])
	require.Equal(t, "c204", bodies[204])
}

// TestNodesBudget: nodes(ids:) of one object of each kind and of 22 (workspaces, projects, tasks,
// comments, of two workspaces), each with what a client shows of it (a task's assignee, comments
// and project's board, a workspace's members and projects' boards), run as many SQL statements; more than 100 ids are refused, and so is a malformed one (named).
func TestNodesBudget(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxComplexity, o.MaxDepth = math.MaxInt, 12 })
	ctx := context.Background()
	id := "nia-" + t.Name()
	nia := domain.Actor{UserID: domain.UserID(id), Email: id + "@example.com", EmailVerified: true, DisplayName: id}
	var ids []string
	var last commands.Result
	for w := range 2 {
		ws, err := a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: nia, Name: fmt.Sprintf("N%d", w)})
		require.NoError(t, err)
		ids = append(ids, ws.ID.String())
		for p := range 2 {
			pr, err := a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: nia, WorkspaceID: ws.ID, Name: "P", Key: fmt.Sprintf("N%dP%d", w, p)})
			require.NoError(t, err)
			ids = append(ids, pr.ID.String())
			for range 2 {
				tr, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: nia, ProjectID: pr.ID, Title: "t", Assignee: nia.UserID})
				require.NoError(t, err)
				c, err := a.h.AddComment.Handle(ctx, commands.AddComment{Actor: nia, TaskID: tr.ID, Body: "hi"})
				require.NoError(t, err)
				ids = append(ids, tr.ID.String(), c.CommentID.String())
				last = c.Result
			}
		}
	}
	tok := token(t, id, time.Hour)
	a.ok(tok, `query($tok: String) { workspaces(consistentWith: $tok) { nodes { id } } }`, map[string]any{"tok": graph.ConsistencyToken(last)}, &struct{}{})
	q := `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Task { title assignee { displayName } comments { nodes { body } }
		project { key board { tasks { id } } } } ... on Workspace { members { nodes { role } } projects { nodes { key board { tasks { id } } } } }
		... on Project { board { tasks { key } } } ... on Comment { body } } }`
	counts := map[int]int{}
	for _, pick := range [][]string{ids[:4], ids} { // one of each kind (workspace, project, task, comment); all
		n := len(pick)
		r := a.do(tok, q, map[string]any{"ids": pick})
		counts[n] = statements(t, r)
		var got []struct {
			Typename string `json:"__typename"`
			ID       string
		}
		require.NoError(t, json.Unmarshal(r.Data["nodes"], &got))
		require.Len(t, got, n)
		for i, g := range got {
			require.Equal(t, pick[i], g.ID)
		}
	}
	t.Logf("SQL statements: nodes of one object of each kind %d, of %d objects %d", counts[4], len(ids), counts[len(ids)])
	require.Equal(t, counts[4], counts[len(ids)])
	require.LessOrEqual(t, counts[4], 14)
	many := make([]string, 101)
	for i := range many {
		many[i] = uuid.NewString()
	}
	requireInvalid(t, a.do(tok, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": many}), "ids")
	requireInvalid(t, a.do(tok, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{ids[0], "nope"}}), "ids[1]")
	requireInvalid(t, a.do(tok, `{ node(id: "nope") { id } }`, nil), "id")
}
