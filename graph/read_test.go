package graph_test

import (
	"context"
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

// team is a workspace owned by alice with bob as a member, and a project.
type team struct {
	alice, bob       string // tokens
	aliceID, bobID   string
	ws, project, tok string // tok: consistency token of the last write
}

func newTeam(t *testing.T, a *api, key string) team {
	t.Helper()
	tm := team{aliceID: "alice-" + t.Name(), bobID: "bob-" + t.Name()}
	tm.alice, tm.bob = token(t, tm.aliceID, time.Hour), token(t, tm.bobID, time.Hour)
	var ws, p result
	a.ok(tm.alice, `mutation { createWorkspace(input: {name: "Team"}) { id } }`, nil, &ws)
	var inv struct{ InvitationID string }
	a.ok(tm.alice, `mutation($ws: ID!, $email: String!) { inviteMember(input: {workspaceId: $ws, email: $email, role: MEMBER}) { invitationId } }`,
		map[string]any{"ws": ws.ID, "email": tm.bobID + "@example.com"}, &inv)
	a.ok(tm.bob, `mutation($ws: ID!, $i: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { id } }`,
		map[string]any{"ws": ws.ID, "i": inv.InvitationID}, &result{})
	a.ok(tm.alice, `mutation($ws: ID!, $key: String!) { createProject(input: {workspaceId: $ws, name: "Project", key: $key}) { id consistencyToken } }`,
		map[string]any{"ws": ws.ID, "key": key}, &p)
	tm.ws, tm.project, tm.tok = ws.ID, p.ID, p.ConsistencyToken
	return tm
}

func TestReadSide(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "TF")
	due := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var t1, t2, t3 result
	a.ok(tm.alice, `mutation($p: ID!, $bob: ID!, $due: DueDate) { createTask(input: {projectId: $p, title: "Fix the login page", priority: HIGH,
		labels: ["bug"], assigneeId: $bob, dueDate: $due}) { id } }`, map[string]any{"p": tm.project, "bob": tm.bobID, "due": due}, &t1)
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Write the docs"}) { id } }`, map[string]any{"p": tm.project}, &t2)
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Release"}) { id } }`, map[string]any{"p": tm.project}, &t3)
	a.ok(tm.alice, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { id } }`, map[string]any{"t": t2.ID}, &result{})
	var c struct{ ConsistencyToken string }
	a.ok(tm.alice, `mutation($t: ID!, $body: String!) { addComment(input: {taskId: $t, body: $body}) { consistencyToken } }`,
		map[string]any{"t": t1.ID, "body": "@" + tm.bobID + " can you look?"}, &c)
	tok := c.ConsistencyToken

	var ws struct {
		Name, Plan, MyRole string
		MemberCount        int
		Members            struct {
			Nodes      []struct{ UserID, Email, Role string }
			TotalCount int
		}
		Projects struct {
			Nodes []struct {
				Key                     string
				OpenCount, OverdueCount int
				TaskCounts              []struct {
					Status string
					Count  int
				}
			}
		}
	}
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name plan myRole memberCount
		members { nodes { userId email role } totalCount } projects { nodes { key openCount overdueCount taskCounts { status count } } } } }`,
		map[string]any{"ws": tm.ws, "tok": tok}, &ws)
	require.Equal(t, "Team", ws.Name)
	require.Equal(t, "FREE", ws.Plan)
	require.Equal(t, "MEMBER", ws.MyRole)
	require.Len(t, ws.Members.Nodes, 2)
	require.Equal(t, 2, ws.Members.TotalCount)
	require.Len(t, ws.Projects.Nodes, 1)
	require.Equal(t, 3, ws.Projects.Nodes[0].OpenCount)
	require.Equal(t, 1, ws.Projects.Nodes[0].OverdueCount)
	require.Contains(t, ws.Projects.Nodes[0].TaskCounts, struct {
		Status string
		Count  int
	}{"todo", 2})

	var p struct {
		Board []struct {
			Status, Category string
			Tasks            []struct {
				Key      string
				Assignee *struct{ UserID, DisplayName string }
			}
		}
	}
	a.ok(tm.bob, `query($p: ID!) { project(id: $p) { board { status category tasks { key assignee { userId displayName } } } } }`,
		map[string]any{"p": tm.project}, &p)
	require.Equal(t, "todo", p.Board[0].Status)
	require.Equal(t, "TODO", p.Board[0].Category)
	require.Len(t, p.Board[0].Tasks, 2)
	require.Equal(t, "in_progress", p.Board[1].Status)
	require.Equal(t, "TF-2", p.Board[1].Tasks[0].Key)
	var assigned int
	for _, col := range p.Board {
		for _, task := range col.Tasks {
			if task.Assignee != nil {
				assigned++
				require.Equal(t, tm.bobID, task.Assignee.UserID)
			}
		}
	}
	require.Equal(t, 1, assigned)

	var task struct {
		Key, Title, Priority string
		Labels               []string
		CommentCount         int
		Comments             struct {
			Nodes []struct{ Body, AuthorID string }
		}
		Project struct{ Key string }
	}
	a.ok(tm.bob, `query($t: ID!) { task(id: $t) { key title priority labels commentCount comments { nodes { body authorId } } project { key } } }`,
		map[string]any{"t": t1.ID}, &task)
	require.Equal(t, "TF-1", task.Key)
	require.Equal(t, "HIGH", task.Priority)
	require.Equal(t, []string{"bug"}, task.Labels)
	require.Equal(t, 1, task.CommentCount)
	require.Equal(t, tm.aliceID, task.Comments.Nodes[0].AuthorID)
	require.Equal(t, "TF", task.Project.Key)

	var byKey struct{ ID string }
	a.ok(tm.bob, `query($ws: ID!) { taskByKey(workspaceId: $ws, key: "TF-3") { id } }`, map[string]any{"ws": tm.ws}, &byKey)
	require.Equal(t, t3.ID, byKey.ID)
	a.ok(tm.bob, `query($ws: ID!) { taskByKey(workspaceId: $ws, key: " tf-03 ") { id } }`, map[string]any{"ws": tm.ws}, &byKey)
	require.Equal(t, t3.ID, byKey.ID, "a key is read as the API always read it: any case, leading zeros")
	require.Equal(t, "NOT_FOUND", code(t, a.do(tm.bob, `query($ws: ID!) { taskByKey(workspaceId: $ws, key: "TF-99") { id } }`, map[string]any{"ws": tm.ws})))
	require.Equal(t, "INVALID_INPUT", code(t, a.do(tm.bob, `query($ws: ID!) { taskByKey(workspaceId: $ws, key: "nope") { id } }`, map[string]any{"ws": tm.ws})))

	// The task list: filters, and pages that walk the whole list.
	type page struct {
		Edges []struct {
			Cursor string
			Node   struct{ Key string }
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	keys := func(vars map[string]any, filter string) []string {
		var pg page
		a.ok(tm.bob, `query($ws: ID!, $f: TaskFilter, $o: TaskOrder, $after: String, $n: Int) { tasks(workspaceId: $ws, filter: $f, orderBy: $o, first: $n, after: $after) {
			edges { cursor node { key } } pageInfo { hasNextPage endCursor } } }`, vars, &pg)
		var out []string
		for _, e := range pg.Edges {
			out = append(out, e.Node.Key)
		}
		return out
	}
	base := map[string]any{"ws": tm.ws}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"ws": tm.ws}
		m[k] = v
		return m
	}
	require.ElementsMatch(t, []string{"TF-1", "TF-2", "TF-3"}, keys(base, ""))
	require.Equal(t, []string{"TF-1"}, keys(with("f", map[string]any{"assigneeId": tm.bobID}), ""))
	require.Equal(t, []string{"TF-1"}, keys(with("f", map[string]any{"label": "bug"}), ""))
	require.Equal(t, []string{"TF-2"}, keys(with("f", map[string]any{"status": map[string]any{"eq": "in_progress"}}), ""))
	require.Equal(t, []string{"TF-1"}, keys(with("f", map[string]any{"dueBefore": time.Now().Format(time.RFC3339)}), ""))
	require.Equal(t, []string{"TF-1"}, keys(with("f", map[string]any{"search": "login"}), ""))
	var walked []string
	vars := map[string]any{"ws": tm.ws, "o": "NUMBER", "f": map[string]any{"projectId": tm.project}, "n": 2}
	for range 3 {
		var pg page
		a.ok(tm.bob, `query($ws: ID!, $f: TaskFilter, $o: TaskOrder, $after: String, $n: Int) { tasks(workspaceId: $ws, filter: $f, orderBy: $o, first: $n, after: $after) {
			edges { cursor node { key } } pageInfo { hasNextPage endCursor } } }`, vars, &pg)
		for _, e := range pg.Edges {
			walked = append(walked, e.Node.Key)
		}
		if !pg.PageInfo.HasNextPage {
			break
		}
		vars["after"] = *pg.PageInfo.EndCursor
	}
	require.Equal(t, []string{"TF-1", "TF-2", "TF-3"}, walked)
	require.Equal(t, "INVALID_INPUT", code(t, a.do(tm.bob, `query($ws: ID!) { tasks(workspaceId: $ws, first: 1000) { edges { cursor } } }`, base)))
	require.Equal(t, "INVALID_INPUT", code(t, a.do(tm.bob, `query($ws: ID!) { tasks(workspaceId: $ws, after: "garbage") { edges { cursor } } }`, base)))
	require.Equal(t, "INVALID_INPUT", code(t, a.do(tm.bob, `query($ws: ID!) { tasks(workspaceId: $ws, orderBy: NUMBER) { edges { cursor } } }`, base)))

	// Activity and bob's notifications (assigned, then mentioned).
	var act struct {
		Edges []struct {
			Node struct{ Line, EventType string }
		}
	}
	a.ok(tm.bob, `query($ws: ID!) { activity(workspaceId: $ws, first: 3) { edges { node { line eventType } } } }`, base, &act)
	require.Len(t, act.Edges, 3)
	require.Equal(t, "task.comment_added", act.Edges[0].Node.EventType)
	var inbox struct {
		Edges []struct {
			Node struct {
				Kind string
				Read bool
				Task struct{ Key string }
			}
		}
	}
	a.ok(tm.bob, `query($ws: ID!) { notifications(workspaceId: $ws, unreadOnly: true) { edges { node { kind read task { key } } } } }`, base, &inbox)
	require.Len(t, inbox.Edges, 2)
	require.Equal(t, "mentioned", inbox.Edges[0].Node.Kind)
	require.Equal(t, "TF-1", inbox.Edges[1].Node.Task.Key)

	var list struct{ Nodes []struct{ ID, MyRole string } }
	a.ok(tm.bob, `{ workspaces { nodes { id myRole } } }`, nil, &list)
	require.Equal(t, []struct{ ID, MyRole string }{{tm.ws, "MEMBER"}}, list.Nodes)
}

func TestAdminQueries(t *testing.T) {
	t.Parallel()
	a := setup(t, func(r *graph.Resolver) { r.Operators = []string{"operator-" + t.Name()} })
	tm := newTeam(t, a, "AD")
	q := map[string]string{
		"webhookDeliveries": `query($ws: ID!, $tok: String) { webhookDeliveries(workspaceId: $ws, consistentWith: $tok) { edges { node { url } } pageInfo { hasNextPage } } }`,
		"deadLetters":       `query($ws: ID!, $tok: String) { deadLetters(workspaceId: $ws, consistentWith: $tok) { edges { node { target } } pageInfo { hasNextPage } } }`,
	}
	vars := map[string]any{"ws": tm.ws, "tok": tm.tok}
	for name, query := range q {
		r := a.do(tm.alice, query, vars)
		require.Empty(t, r.Errors, name)
		require.NotNil(t, r.Data[name], name)
		r = a.do(tm.bob, query, vars)
		require.Equal(t, "FORBIDDEN", code(t, r), name) // a member, not an admin
		require.Nil(t, r.Data[name], name)
	}
	var sts []struct {
		Name, State, Position string
		LagEvents             int
	}
	a.ok(token(t, "operator-"+t.Name(), time.Hour), `{ projections { name state position lagEvents } }`, nil, &sts)
	require.NotEmpty(t, sts)
	// Cross-tenant: an owner of a workspace is not an operator (see security_ops_test.go).
	require.Equal(t, "FORBIDDEN", code(t, a.do(tm.alice, `{ projections { name } }`, nil)))
	require.Equal(t, "FORBIDDEN", code(t, a.do(tm.bob, `{ projections { name } }`, nil)))
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "RW")
	for i := range 5 {
		var task struct {
			ID, Key, ConsistencyToken string
		}
		a.ok(tm.alice, `mutation($p: ID!, $title: String!) { createTask(input: {projectId: $p, title: $title}) { id key consistencyToken } }`,
			map[string]any{"p": tm.project, "title": fmt.Sprintf("task %d", i)}, &task)
		// At once, as an argument: the query sees the write.
		var got struct{ Key, Title string }
		a.ok(tm.bob, `query($t: ID!, $tok: String) { task(id: $t, consistentWith: $tok) { key title } }`,
			map[string]any{"t": task.ID, "tok": task.ConsistencyToken}, &got)
		require.Equal(t, task.Key, got.Key)

		var edited struct{ ConsistencyToken string }
		a.ok(tm.alice, `mutation($t: ID!, $title: String!) { editTask(input: {taskId: $t, title: $title}) { consistencyToken } }`,
			map[string]any{"t": task.ID, "title": fmt.Sprintf("edited %d", i)}, &edited)
		// As a header.
		body := fmt.Sprintf(`{"query":"query($t: ID!) { task(id: $t) { title } }","variables":{"t":%q}}`, task.ID)
		r := a.raw(tm.bob, []byte(body), graph.ConsistencyHeader, edited.ConsistencyToken)
		require.Empty(t, r.Errors)
		require.JSONEq(t, fmt.Sprintf(`{"title":"edited %d"}`, i), string(r.Data["task"]))
	}

	// A token the read models will not reach in time: STALE, no data.
	stale := setup(t, func(r *graph.Resolver) { r.ConsistencyWait = 100 * time.Millisecond })
	st := newTeam(t, stale, "ST")
	r := stale.do(st.alice, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
		map[string]any{"ws": st.ws, "tok": "999999999999.1"})
	require.Equal(t, "STALE", code(t, r))
	require.Nil(t, r.Data["workspace"])
	require.Equal(t, "INVALID_INPUT", code(t, a.do(tm.alice, `query($ws: ID!) { workspace(id: $ws, consistentWith: "x") { name } }`,
		map[string]any{"ws": tm.ws})))
}

// TestStatementBudget: the board and the task list run the same number of SQL statements for a
// project of 10 tasks and one of 200 (assignees and projects come from the per-request loaders),
// and a workspace's projects with their boards as many for 1 project as for 5.
func TestStatementBudget(t *testing.T) {
	t.Parallel()
	// What is measured here is SQL statements, over shapes wider than any screen (every comment
	// of every task of every project of every workspace: 1.6 billion objects at the read side's
	// bounds), which the production cost limit (rightly) refuses: no cost limit here.
	// Depth: production's (connections add edges and node levels).
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxComplexity, o.MaxDepth = math.MaxInt, 12 })
	tm := newTeam(t, a, "SM")
	ctx := context.Background()
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	ws := mustUUID(t, tm.ws)
	big, err := a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: alice, WorkspaceID: ws, Name: "Big", Key: "BG"})
	require.NoError(t, err)
	small := mustUUID(t, tm.project)
	people := []domain.UserID{domain.UserID(tm.aliceID), domain.UserID(tm.bobID), ""}
	var last commands.TaskResult
	for i := range 210 {
		p := big.ID
		if i < 10 {
			p = small
		}
		last, err = a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: alice, ProjectID: p, Title: "task " + strconv.Itoa(i),
			Labels: []string{"l"}, Assignee: people[i%3]})
		require.NoError(t, err)
	}
	// Wait for the read models once, in a request of its own.
	a.ok(tm.alice, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
		map[string]any{"ws": tm.ws, "tok": graph.ConsistencyToken(last.Result)}, &struct{}{})

	count := func(query string, vars map[string]any, tasks int) int {
		t.Helper()
		r := a.do(tm.alice, query, vars)
		require.Empty(t, r.Errors)
		require.Contains(t, string(r.Data[firstKey(r.Data)]), fmt.Sprintf(`"%s"`, lastKey(tasks)))
		n, err := strconv.Atoi(r.Statements)
		require.NoError(t, err)
		return n
	}
	boardQ := `query($p: ID!) { project(id: $p) { key openCount board { status tasks { key title assignee { displayName role }
		comments { nodes { body } } } } } }`
	listQ := `query($ws: ID!, $f: TaskFilter) { tasks(workspaceId: $ws, filter: $f, first: 200) {
		edges { node { key assignee { displayName } project { key name } } } pageInfo { hasNextPage } } }`
	boardSmall := count(boardQ, map[string]any{"p": small.String()}, 10)
	boardBig := count(boardQ, map[string]any{"p": big.ID.String()}, 200)
	listSmall := count(listQ, map[string]any{"ws": tm.ws, "f": map[string]any{"projectId": small.String()}}, 10)
	listBig := count(listQ, map[string]any{"ws": tm.ws, "f": map[string]any{"projectId": big.ID.String()}}, 200)
	t.Logf("SQL statements: board 10 tasks %d, 200 tasks %d; list 10 tasks %d, 200 tasks %d", boardSmall, boardBig, listSmall, listBig)
	require.Equal(t, boardSmall, boardBig, "board")
	require.Equal(t, listSmall, listBig, "task list")
	require.LessOrEqual(t, boardBig, 6)
	require.LessOrEqual(t, listBig, 6)

	// A workspace's projects with their boards: as many statements for 1 project as for 5 (the
	// boards of a workspace's projects are one statement, their tasks' children one batch each).
	wsQ := `query($ws: ID!) { workspace(id: $ws) { name projects { edges { node { key openCount board { status tasks { key title priority
		assignee { displayName role } comments { nodes { body } } project { key } } } } } } } }`
	wsStatements := map[int]int{}
	danaID := "dana-" + t.Name() // her own workspaces: alice's and bob's counts below stay
	dana := domain.Actor{UserID: domain.UserID(danaID), Email: danaID + "@example.com", EmailVerified: true, DisplayName: danaID}
	danaTok := token(t, danaID, time.Hour)
	for _, n := range []int{1, 5} {
		w, err := a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: dana, Name: fmt.Sprintf("%d projects", n)})
		require.NoError(t, err)
		var last commands.Result
		for p := range n {
			pr, err := a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: dana, WorkspaceID: w.ID,
				Name: fmt.Sprintf("P%d", p), Key: fmt.Sprintf("W%dP%d", n, p)})
			require.NoError(t, err)
			for i := range 3 {
				var assignee domain.UserID // dana, or nobody
				if i%2 == 0 {
					assignee = dana.UserID
				}
				tr, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: dana, ProjectID: pr.ID, Title: "task " + strconv.Itoa(i),
					Assignee: assignee})
				require.NoError(t, err)
				last = tr.Result
			}
		}
		c, err := a.h.AddComment.Handle(ctx, commands.AddComment{Actor: dana, TaskID: last.ID, Body: "a comment"})
		require.NoError(t, err)
		a.ok(danaTok, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
			map[string]any{"ws": w.ID.String(), "tok": graph.ConsistencyToken(c.Result)}, &struct{}{})
		type project struct {
			Key   string
			Board []struct {
				Tasks []struct {
					Key      string
					Assignee *struct{ DisplayName string }
					Project  struct{ Key string }
				}
			}
		}
		var got struct {
			Projects struct{ Edges []struct{ Node project } }
		}
		r := a.do(danaTok, wsQ, map[string]any{"ws": w.ID.String()})
		require.Empty(t, r.Errors)
		require.Contains(t, string(r.Data["workspace"]), "a comment")
		require.NoError(t, json.Unmarshal(r.Data["workspace"], &got))
		require.Len(t, got.Projects.Edges, n)
		for _, e := range got.Projects.Edges {
			p := e.Node
			var tasks int
			for _, c := range p.Board {
				for _, tk := range c.Tasks {
					tasks++
					require.Equal(t, p.Key, tk.Project.Key)
					require.True(t, strings.HasPrefix(tk.Key, p.Key+"-"), tk.Key)
				}
			}
			require.Equal(t, 3, tasks, p.Key)
		}
		wsStatements[n], err = strconv.Atoi(r.Statements)
		require.NoError(t, err)
	}
	t.Logf("SQL statements: workspace with boards, 1 project %d, 5 projects %d", wsStatements[1], wsStatements[5])
	require.Equal(t, wsStatements[1], wsStatements[5], "workspace boards")
	require.LessOrEqual(t, wsStatements[5], 6)

	workspacesBudget(t, a)
	taskListBudget(t, a)

	// project(id) and task(id) find their object among the caller's workspaces in as many
	// statements for a caller in 1 workspace (alice) as for one in 8 (bob, 7 of them his own);
	// a caller in 8 workspaces, none of them the object's, gets NOT_FOUND, exactly as for an id
	// that does not exist, in as many statements.
	bob := domain.Actor{UserID: domain.UserID(tm.bobID), Email: tm.bobID + "@example.com", EmailVerified: true, DisplayName: tm.bobID}
	carolID := "carol-" + t.Name()
	carol := domain.Actor{UserID: domain.UserID(carolID), Email: carolID + "@example.com", EmailVerified: true, DisplayName: carolID}
	var lastWS commands.Result
	for i := range 8 {
		if i < 7 {
			_, err = a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: bob, Name: fmt.Sprintf("Bob's %d", i)})
			require.NoError(t, err)
		}
		lastWS, err = a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: carol, Name: fmt.Sprintf("Carol's %d", i)})
		require.NoError(t, err)
	}
	carolTok := token(t, carolID, time.Hour)
	wsTok := graph.ConsistencyToken(lastWS)
	for tok, n := range map[string]int{tm.alice: 1, tm.bob: 8, carolTok: 8} {
		var mine struct{ Nodes []struct{ ID string } }
		a.ok(tok, `query($tok: String) { workspaces(consistentWith: $tok) { nodes { id } } }`, map[string]any{"tok": wsTok}, &mine)
		require.Len(t, mine.Nodes, n)
	}
	lookup := func(tok, query, id string) (response, int) {
		t.Helper()
		r := a.do(tok, query, map[string]any{"id": id})
		n, err := strconv.Atoi(r.Statements)
		require.NoError(t, err)
		return r, n
	}
	byID := map[string]struct{ query, id, key string }{
		"project": {`query($id: ID!) { project(id: $id) { key name } }`, small.String(), `"SM"`},
		"task":    {`query($id: ID!) { task(id: $id) { key title } }`, last.ID.String(), `"BG-200"`},
	}
	for field, c := range byID {
		r, one := lookup(tm.alice, c.query, c.id)
		require.Empty(t, r.Errors, field)
		require.Contains(t, string(r.Data[field]), c.key, field)
		r, eight := lookup(tm.bob, c.query, c.id)
		require.Empty(t, r.Errors, field)
		require.Contains(t, string(r.Data[field]), c.key, field)
		t.Logf("SQL statements: %s(id) by a caller in 1 workspace %d, in 8 workspaces %d", field, one, eight)
		require.Equal(t, one, eight, field)
		require.LessOrEqual(t, eight, 2, field)

		denied, deniedN := lookup(carolTok, c.query, c.id)
		missing, missingN := lookup(carolTok, c.query, uuid.NewString())
		require.Equal(t, "NOT_FOUND", code(t, denied), field)
		require.Nil(t, denied.Data[field], field)
		require.Equal(t, missing.Errors[0].Message, denied.Errors[0].Message, field)
		require.Equal(t, missing.Errors[0].Extensions, denied.Errors[0].Extensions, field)
		require.Equal(t, missingN, deniedN, field)
		require.Equal(t, eight, deniedN, field)
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

// lastKey is the key of the last task of the project with n tasks: the response must hold it.
func lastKey(n int) string {
	if n == 10 {
		return "SM-10"
	}
	return "BG-200"
}

// statements returns the X-Sql-Statements of a response that must have no errors.
func statements(t *testing.T, r response) int {
	t.Helper()
	require.Empty(t, r.Errors)
	n, err := strconv.Atoi(r.Statements)
	require.NoError(t, err)
	return n
}

// workspacesBudget: the caller's workspaces with their members, roles, projects, boards, and the
// boards' tasks' assignees and comments run as many statements for a caller in 1 workspace as for
// one in 6, and each workspace shows its own rows only.
func workspacesBudget(t *testing.T, a *api) {
	t.Helper()
	ctx := context.Background()
	actor := func(name string) domain.Actor {
		id := name + "-" + t.Name()
		return domain.Actor{UserID: domain.UserID(id), Email: id + "@example.com", EmailVerified: true, DisplayName: id}
	}
	// fill gives owner n workspaces, each with a member, 2 projects of 3 tasks (assigned to the
	// member or the owner) and a comment on every task; it returns the last write.
	fill := func(owner, mate domain.Actor, n int, prefix string) commands.Result {
		var last commands.Result
		for w := range n {
			ws, err := a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: owner, Name: fmt.Sprintf("%s %d", prefix, w)})
			require.NoError(t, err)
			inv, err := a.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: ws.ID, Email: mate.Email,
				Role: domain.RoleMember})
			require.NoError(t, err)
			_, err = a.h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: mate, WorkspaceID: ws.ID, InvitationID: inv.InvitationID})
			require.NoError(t, err)
			for p := range 2 {
				pr, err := a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: owner, WorkspaceID: ws.ID,
					Name: fmt.Sprintf("P%d", p), Key: fmt.Sprintf("%s%dP%d", prefix, w, p)})
				require.NoError(t, err)
				for i := range 3 {
					assignee := owner.UserID
					if i%2 == 0 {
						assignee = mate.UserID
					}
					tr, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: owner, ProjectID: pr.ID,
						Title: "task " + strconv.Itoa(i), Assignee: assignee})
					require.NoError(t, err)
					c, err := a.h.AddComment.Handle(ctx, commands.AddComment{Actor: mate, TaskID: tr.ID,
						Body: fmt.Sprintf("on %s%dP%d-%d", prefix, w, p, i+1)})
					require.NoError(t, err)
					last = c.Result
				}
			}
		}
		return last
	}
	one, six, mate := actor("erin"), actor("fay"), actor("fay-mate")
	fill(one, actor("erin-mate"), 1, "E")
	last := fill(six, mate, 6, "F")
	// Two shapes: through edges (a workspace under an edge is no list: the connection above
	// primes its members' and projects' pages) and through nodes (a list: the batch resolvers).
	shapes := map[string]string{
		"edges": `query { workspaces { edges { cursor node { id name myRole memberCount members(first: 10) { totalCount edges { node { displayName role } } }
		projects { edges { node { key board { tasks { key assignee { displayName } comments(last: 5) { nodes { body } } } } } } } } } } }`,
		"nodes": `query { workspaces(first: 100) { nodes { id name myRole memberCount members { totalCount nodes { displayName role } }
		projects { nodes { key board { tasks { key assignee { displayName } comments { nodes { body } } } } } } } } }`,
	}
	type member struct{ DisplayName, Role string }
	type project struct {
		Key   string
		Board []struct {
			Tasks []struct {
				Key      string
				Assignee *struct{ DisplayName string }
				Comments struct{ Nodes []struct{ Body string } }
			}
		}
	}
	type workspace struct {
		ID, Name, MyRole string
		MemberCount      int
		Members          struct {
			TotalCount int
			Nodes      []member
			Edges      []struct{ Node member }
		}
		Projects struct {
			Nodes []project
			Edges []struct{ Node project }
		}
	}
	counts := map[string]int{}
	for shape, wsQ := range shapes {
		for n, who := range map[int]domain.Actor{1: one, 6: six} {
			tok := token(t, string(who.UserID), time.Hour)
			// Wait for the read models once, in a request of its own (a wait polls: its statements vary).
			a.ok(tok, `query($tok: String) { workspaces(consistentWith: $tok) { nodes { id } } }`,
				map[string]any{"tok": graph.ConsistencyToken(last)}, &struct{}{})
			r := a.do(tok, wsQ, nil)
			counts[fmt.Sprintf("%s %d", shape, n)] = statements(t, r)
			var page struct {
				Nodes []workspace
				Edges []struct{ Node workspace }
			}
			require.NoError(t, json.Unmarshal(r.Data["workspaces"], &page))
			got := page.Nodes
			for _, e := range page.Edges {
				got = append(got, e.Node)
			}
			require.Len(t, got, n)
			if n == 6 && shape == "edges" {
				inboxBudget(t, a, token(t, string(mate.UserID), time.Hour), got[0].ID, graph.ConsistencyToken(last))
			}
			for _, w := range got {
				require.Equal(t, "OWNER", w.MyRole, w.Name)
				require.Equal(t, 2, w.MemberCount, w.Name)
				require.Equal(t, 2, w.Members.TotalCount, w.Name)
				require.Len(t, append(w.Members.Nodes, make([]member, len(w.Members.Edges))...), 2, w.Name)
				projects := w.Projects.Nodes
				for _, e := range w.Projects.Edges {
					projects = append(projects, e.Node)
				}
				require.Len(t, projects, 2, w.Name)
				// "F 3" holds projects F3P0 and F3P1, whose tasks are F3P0-1 ...
				prefix := strings.ReplaceAll(w.Name, " ", "")
				for _, p := range projects {
					require.True(t, strings.HasPrefix(p.Key, prefix+"P"), "%s in %s", p.Key, w.Name)
					var tasks int
					for _, col := range p.Board {
						for _, tk := range col.Tasks {
							tasks++
							require.True(t, strings.HasPrefix(tk.Key, p.Key+"-"), tk.Key)
							require.NotNil(t, tk.Assignee, tk.Key)
							require.Equal(t, []struct{ Body string }{{"on " + tk.Key}}, tk.Comments.Nodes, tk.Key)
						}
					}
					require.Equal(t, 3, tasks, p.Key)
				}
			}
		}
	}
	t.Logf("SQL statements: workspaces with members, roles, projects, boards, assignees, comments: %v", counts)
	for _, shape := range []string{"edges", "nodes"} {
		require.Equal(t, counts[shape+" 1"], counts[shape+" 6"], "workspaces through "+shape)
		require.LessOrEqual(t, counts[shape+" 6"], 7, shape)
	}

	// @operator (projections) reads no workspace: refused without a statement, however many
	// workspaces the caller owns.
	for _, who := range []domain.Actor{one, six} {
		r := a.do(token(t, string(who.UserID), time.Hour), `{ projections { name } }`, nil)
		require.Equal(t, "FORBIDDEN", code(t, r))
		require.Equal(t, "0", r.Statements)
	}
}

// inboxBudget: a page of 1 notification and one of 4 (tasks assigned to the caller, over 2
// projects), each with its task's project's board, run as many statements.
func inboxBudget(t *testing.T, a *api, tok, ws, last string) {
	t.Helper()
	a.ok(tok, `query($ws: ID!, $tok: String) { notifications(workspaceId: $ws, consistentWith: $tok) { edges { cursor } } }`,
		map[string]any{"ws": ws, "tok": last}, &struct{}{})
	q := `query($ws: ID!, $n: Int) { notifications(workspaceId: $ws, first: $n) { edges { node { kind task { key
		project { key board { tasks { key } } } } } } } }` // as deep as the test server allows
	counts := map[int]int{}
	for _, n := range []int{1, 4} {
		r := a.do(tok, q, map[string]any{"ws": ws, "n": n})
		counts[n] = statements(t, r)
		var got struct {
			Edges []struct {
				Node struct {
					Kind string
					Task struct {
						Key     string
						Project struct {
							Key   string
							Board []struct {
								Tasks []struct{ Key string }
							}
						}
					}
				}
			}
		}
		require.NoError(t, json.Unmarshal(r.Data["notifications"], &got))
		require.Len(t, got.Edges, n)
		for _, e := range got.Edges {
			require.Equal(t, "assigned", e.Node.Kind)
			p := e.Node.Task.Project
			require.True(t, strings.HasPrefix(e.Node.Task.Key, p.Key+"-"), e.Node.Task.Key)
			var tasks int
			for _, col := range p.Board {
				for _, tk := range col.Tasks {
					tasks++
					require.True(t, strings.HasPrefix(tk.Key, p.Key+"-"), tk.Key)
				}
			}
			require.Equal(t, 3, tasks, p.Key)
		}
	}
	t.Logf("SQL statements: inbox with each task's project's board: 1 notification %d, 4 notifications %d", counts[1], counts[4])
	require.Equal(t, counts[1], counts[4], "inbox boards")
}

// taskListBudget: a page of 2 tasks and one of 20, over 5 projects, each task with its project's
// board and the board's tasks' assignees, run as many statements (each task's project is a list
// of its own: their boards are one batch).
func taskListBudget(t *testing.T, a *api) {
	t.Helper()
	ctx := context.Background()
	id := "gus-" + t.Name()
	gus := domain.Actor{UserID: domain.UserID(id), Email: id + "@example.com", EmailVerified: true, DisplayName: id}
	ws, err := a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: gus, Name: "Lists"})
	require.NoError(t, err)
	var last commands.Result
	for p := range 5 {
		pr, err := a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: gus, WorkspaceID: ws.ID,
			Name: fmt.Sprintf("L%d", p), Key: fmt.Sprintf("LS%d", p)})
		require.NoError(t, err)
		for i := range 4 {
			var assignee domain.UserID
			if i%2 == 0 {
				assignee = gus.UserID
			}
			tr, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: gus, ProjectID: pr.ID, Title: "task " + strconv.Itoa(i),
				Assignee: assignee})
			require.NoError(t, err)
			last = tr.Result
		}
	}
	tok := token(t, id, time.Hour)
	a.ok(tok, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
		map[string]any{"ws": ws.ID.String(), "tok": graph.ConsistencyToken(last)}, &struct{}{})
	listQ := `query($ws: ID!, $n: Int) { tasks(workspaceId: $ws, first: $n) { edges { node { key
		project { key board { tasks { key assignee { displayName } } } } } } } }`
	counts := map[int]int{}
	for _, n := range []int{2, 20} {
		r := a.do(tok, listQ, map[string]any{"ws": ws.ID.String(), "n": n})
		counts[n] = statements(t, r)
		var got struct {
			Edges []struct {
				Node struct {
					Key     string
					Project struct {
						Key   string
						Board []struct {
							Tasks []struct {
								Key      string
								Assignee *struct{ DisplayName string }
							}
						}
					}
				}
			}
		}
		require.NoError(t, json.Unmarshal(r.Data["tasks"], &got))
		require.Len(t, got.Edges, n)
		for _, e := range got.Edges {
			p := e.Node.Project
			require.True(t, strings.HasPrefix(e.Node.Key, p.Key+"-"), e.Node.Key)
			var keys []string
			var assigned int
			for _, col := range p.Board {
				for _, tk := range col.Tasks {
					keys = append(keys, tk.Key)
					if tk.Assignee != nil {
						assigned++
						require.Equal(t, id, tk.Assignee.DisplayName)
					}
				}
			}
			require.ElementsMatch(t, []string{p.Key + "-1", p.Key + "-2", p.Key + "-3", p.Key + "-4"}, keys)
			require.Equal(t, 2, assigned, p.Key)
		}
	}
	t.Logf("SQL statements: task list with each task's project's board: 2 tasks %d, 20 tasks %d", counts[2], counts[20])
	require.Equal(t, counts[2], counts[20], "task list boards")
	require.LessOrEqual(t, counts[20], 6)
}
