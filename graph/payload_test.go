package graph_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/observability"
)

type payloadTask struct {
	ID           string
	Key          string
	Title        string
	Status       string
	Priority     string
	Labels       []string
	AssigneeID   *string
	Assignee     *struct{ DisplayName string }
	Archived     bool
	CommentCount int
	Comments     struct{ Nodes []struct{ ID, Body string } }
	Project      *struct {
		Key       string
		OpenCount int
	}
	UpdatedAt time.Time
	Version   int64
}

// TestMutationPayloads: a mutation's payload serves the object it changed as the read models show
// it after the write, in the same round trip and without a consistency token.
func TestMutationPayloads(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "PL")

	// createTask: the new task at once, with what the read models derive from it (the project's
	// open count).
	var created struct {
		result
		Key  string
		Task payloadTask
	}
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Ship it"}) { id version key
		task { id key title status version project { key openCount } } } }`, map[string]any{"p": tm.project}, &created)
	require.Equal(t, "PL-1", created.Key)
	require.Equal(t, created.ID, created.Task.ID)
	require.Equal(t, "PL-1", created.Task.Key)
	require.Equal(t, "Ship it", created.Task.Title)
	require.Equal(t, "todo", created.Task.Status)
	require.Equal(t, created.Version, created.Task.Version)
	require.Equal(t, "PL", created.Task.Project.Key)
	require.Equal(t, 1, created.Task.Project.OpenCount)

	type taskPayload struct {
		Version   int64
		Task      *payloadTask
		Project   *struct{ Name string }
		Workspace *struct{ Name string }
	}
	vars := map[string]any{"t": created.ID, "bob": tm.bobID}

	// changeTaskStatus: the new status and version; the other objects of the payload are null.
	var moved taskPayload
	a.ok(tm.alice, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { version
		task { key status updatedAt version } project { name } workspace { name } } }`, vars, &moved)
	require.Equal(t, created.Version+1, moved.Version)
	require.Equal(t, "in_progress", moved.Task.Status)
	require.Equal(t, moved.Version, moved.Task.Version)
	require.False(t, moved.Task.UpdatedAt.IsZero())
	require.Nil(t, moved.Project)
	require.Nil(t, moved.Workspace)

	var edited taskPayload
	a.ok(tm.alice, `mutation($t: ID!) { editTask(input: {taskId: $t, title: "Ship it now", priority: HIGH, labels: ["api"]}) { version
		task { title priority labels version } } }`, vars, &edited)
	require.Equal(t, "Ship it now", edited.Task.Title)
	require.Equal(t, "HIGH", edited.Task.Priority)
	require.Equal(t, []string{"api"}, edited.Task.Labels)
	require.Equal(t, edited.Version, edited.Task.Version)

	var assigned taskPayload
	a.ok(tm.alice, `mutation($t: ID!, $bob: ID!) { assignTask(input: {taskId: $t, assigneeId: $bob}) { version
		task { assigneeId assignee { displayName } version } } }`, vars, &assigned)
	require.Equal(t, tm.bobID, *assigned.Task.AssigneeID)
	require.Equal(t, tm.bobID, assigned.Task.Assignee.DisplayName)
	require.Equal(t, assigned.Version, assigned.Task.Version)

	var archived taskPayload
	a.ok(tm.alice, `mutation($t: ID!) { archiveTask(input: {taskId: $t}) { version task { archived version } } }`, vars, &archived)
	require.True(t, archived.Task.Archived)
	require.Equal(t, archived.Version, archived.Task.Version)
	var restored taskPayload
	a.ok(tm.alice, `mutation($t: ID!) { restoreTask(input: {taskId: $t}) { task { archived } } }`, vars, &restored)
	require.False(t, restored.Task.Archived)

	// addComment: the task with its comments, the new one included.
	var commented struct {
		CommentID string
		Task      payloadTask
	}
	a.ok(tm.alice, `mutation($t: ID!) { addComment(input: {taskId: $t, body: "first"}) { commentId
		task { commentCount comments { nodes { id body } } } } }`, vars, &commented)
	require.Equal(t, 1, commented.Task.CommentCount)
	require.Len(t, commented.Task.Comments.Nodes, 1)
	require.Equal(t, commented.CommentID, commented.Task.Comments.Nodes[0].ID)
	require.Equal(t, "first", commented.Task.Comments.Nodes[0].Body)

	// Two mutations in one document: the second payload is read after its own write, not from
	// what the request's loaders cached for the first.
	r := a.do(tm.alice, `mutation($t: ID!) {
		one: addComment(input: {taskId: $t, body: "second"}) { task { commentCount comments { nodes { body } } } }
		two: addComment(input: {taskId: $t, body: "third"}) { task { commentCount comments { nodes { body } } } } }`, vars)
	require.Empty(t, r.Errors)
	var two struct{ Task payloadTask }
	require.NoError(t, json.Unmarshal(r.Data["two"], &two))
	require.Equal(t, 3, two.Task.CommentCount)
	require.Len(t, two.Task.Comments.Nodes, 3)
	require.Equal(t, "third", two.Task.Comments.Nodes[2].Body)

	// The same for boards, which the request's loaders also keep: the second creation's board
	// holds both new tasks.
	r = a.do(tm.alice, `mutation($p: ID!) {
		one: createTask(input: {projectId: $p, title: "Board one"}) { task { project { board { tasks { title } } } } }
		two: createTask(input: {projectId: $p, title: "Board two"}) { task { project { board { tasks { title } } } } } }`,
		map[string]any{"p": tm.project})
	require.Empty(t, r.Errors)
	var board struct {
		Task struct {
			Project struct {
				Board []struct{ Tasks []struct{ Title string } }
			}
		}
	}
	require.NoError(t, json.Unmarshal(r.Data["two"], &board))
	var titles []string
	for _, c := range board.Task.Project.Board {
		for _, t := range c.Tasks {
			titles = append(titles, t.Title)
		}
	}
	require.Contains(t, titles, "Board one")
	require.Contains(t, titles, "Board two")

	// Projects and workspaces.
	var renamedP taskPayload
	a.ok(tm.alice, `mutation($p: ID!) { renameProject(input: {projectId: $p, name: "Payloads"}) { version
		project { name } task { id } workspace { name } } }`, map[string]any{"p": tm.project}, &renamedP)
	require.Equal(t, "Payloads", renamedP.Project.Name)
	require.Nil(t, renamedP.Task)
	require.Nil(t, renamedP.Workspace)

	var renamedW struct {
		Version   int64
		Workspace struct {
			Name, MyRole string
			Version      int64
		}
	}
	a.ok(tm.alice, `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "Renamed"}) { version
		workspace { name myRole version } } }`, map[string]any{"ws": tm.ws}, &renamedW)
	require.Equal(t, "Renamed", renamedW.Workspace.Name)
	require.Equal(t, "OWNER", renamedW.Workspace.MyRole)
	require.Equal(t, renamedW.Version, renamedW.Workspace.Version)

	var invited struct{ Workspace struct{ Name string } }
	a.ok(tm.alice, `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "carol@example.com", role: MEMBER}) {
		workspace { name } } }`, map[string]any{"ws": tm.ws}, &invited)
	require.Equal(t, "Renamed", invited.Workspace.Name)
	var hooked struct{ Workspace struct{ Name string } }
	a.ok(tm.alice, `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://example.com/hook",
		secret: "0123456789abcdef"}) { workspace { name } } }`, map[string]any{"ws": tm.ws}, &hooked)
	require.Equal(t, "Renamed", hooked.Workspace.Name)

	// Created: the new workspace (the caller its owner), the new project.
	var newWS struct {
		ID        string
		Workspace struct {
			ID, Name, MyRole string
			MemberCount      int
		}
	}
	a.ok(tm.bob, `mutation { createWorkspace(input: {name: "Bob's"}) { id workspace { id name myRole memberCount } } }`, nil, &newWS)
	require.Equal(t, newWS.ID, newWS.Workspace.ID)
	require.Equal(t, "Bob's", newWS.Workspace.Name)
	require.Equal(t, "OWNER", newWS.Workspace.MyRole)
	require.Equal(t, 1, newWS.Workspace.MemberCount)
	var newP struct{ Project struct{ Key, Name string } }
	a.ok(tm.bob, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Mine", key: "BB"}) { project { key name } } }`,
		map[string]any{"ws": newWS.ID}, &newP)
	require.Equal(t, "BB", newP.Project.Key)
	require.Equal(t, "Mine", newP.Project.Name)

	// A user's profile has no object on the read side: all null.
	var profile taskPayload
	a.ok(tm.alice, `mutation { registerUser { version
		task { id } project { name } workspace { name } } }`, nil, &profile)
	require.Nil(t, profile.Task)
	require.Nil(t, profile.Project)
	require.Nil(t, profile.Workspace)
}

// TestPayloadStatements: a mutation that does not select its payload's object runs the command's
// statements and nothing else (the object is read only when selected); one that does, more.
func TestPayloadStatements(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "PS")
	ctx := context.Background()
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	var tasks [3]result
	for i := range tasks {
		a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "t"}) { id } }`, map[string]any{"p": tm.project}, &tasks[i])
	}
	statements := func(r response) int {
		t.Helper()
		require.Empty(t, r.Errors)
		n, err := strconv.Atoi(r.Statements)
		require.NoError(t, err)
		return n
	}

	// The command alone, called directly with a statement counter.
	cctx, counted := observability.WithStatementCount(ctx)
	_, err := a.h.ChangeTaskStatus.Handle(cctx, commands.ChangeTaskStatus{Actor: alice, TaskID: mustUUID(t, tasks[0].ID), Status: "in_progress"})
	require.NoError(t, err)
	command := int(counted.Load())
	require.Positive(t, command)

	// The same change of another task over HTTP, without the object: the command's statements.
	plain := statements(a.do(tm.alice, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) {
		id version consistencyToken } }`, map[string]any{"t": tasks[1].ID}))
	require.Equal(t, command, plain, "no read-model SQL without the object selected")

	// With the object: the wait for the read models, the caller's workspaces, the task.
	withTask := statements(a.do(tm.alice, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) {
		id task { status } } }`, map[string]any{"t": tasks[2].ID}))
	t.Logf("SQL statements: changeTaskStatus %d, with task %d", plain, withTask)
	require.GreaterOrEqual(t, withTask, plain+3)
}

// TestPayloadStale: a payload whose read models do not include the write in time answers STALE
// for the object only; the write's result (id, key, token) is still there.
func TestPayloadStale(t *testing.T) {
	t.Parallel()
	// A server without a projection runner: the read models never catch up.
	a := start(t, apptest.Options{Role: app.RoleAPI, Overrides: overrides(live.HubOptions{}, nil,
		func(r *graph.Resolver) { r.ConsistencyWait = 100 * time.Millisecond })})
	alice := token(t, "alice-"+t.Name(), time.Hour)

	var ws, p result
	a.ok(alice, `mutation { createWorkspace(input: {name: "Stale"}) { id } }`, nil, &ws)
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "ST"}) { id } }`, map[string]any{"ws": ws.ID}, &p)
	r := a.do(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "t"}) { id key consistencyToken task { key } } }`,
		map[string]any{"p": p.ID})
	require.Equal(t, "STALE", code(t, r))
	require.Len(t, r.Errors, 1)
	var got struct {
		ID, Key, ConsistencyToken string
		Task                      *struct{ Key string }
	}
	require.NoError(t, json.Unmarshal(r.Data["createTask"], &got))
	require.NotEmpty(t, got.ID)
	require.Equal(t, "ST-1", got.Key)
	require.NotEmpty(t, got.ConsistencyToken)
	require.Nil(t, got.Task)
}
