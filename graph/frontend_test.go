package graph_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One failing mutation field does not null its siblings: every Mutation field is nullable, so the
// error stays at its own path and the successful field's payload reaches the client.
func TestFailingMutationKeepsSiblings(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	r := a.do(alice, `mutation {
		bad: renameWorkspace(input: {workspaceId: "6f1c2a3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b", name: "x"}) { id }
		good: createWorkspace(input: {name: "Acme"}) { id }
	}`, nil)
	require.Len(t, r.Errors, 1)
	require.Equal(t, "NOT_FOUND", r.Errors[0].Extensions["code"])
	require.Equal(t, []any{"bad"}, r.Errors[0].Path)
	require.JSONEq(t, `null`, string(r.Data["bad"]))
	var ws result
	require.NoError(t, json.Unmarshal(r.Data["good"], &ws))
	require.NotEmpty(t, ws.ID)
}

// registerUser is a login-time upsert: a client calls it at every sign-in, with other mutations
// in the same document, and gets the user back; nothing is recorded when nothing changed.
func TestRegisterUserAgain(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	const doc = `mutation { registerUser { id version } createWorkspace(input: {name: "Acme"}) { id } }`
	var first, again result
	for _, out := range []*result{&first, &again} {
		r := a.do(alice, doc, nil)
		require.Empty(t, r.Errors)
		require.NoError(t, json.Unmarshal(r.Data["registerUser"], out))
		require.NotEqual(t, "null", string(r.Data["createWorkspace"]))
	}
	require.Equal(t, first, again)
	require.Equal(t, int64(1), again.Version, "no second event for an unchanged profile")
}

// requireNoData: the response carries no data: none at all, or null for every field (a nullable
// mutation that failed).
func requireNoData(t *testing.T, r response, msg string) {
	t.Helper()
	for name, v := range r.Data {
		require.JSONEq(t, `null`, string(v), "%s: %s", msg, name)
	}
}

// Every INVALID_INPUT error of a mutation names its field as an argument path of the schema
// (input.dueDate, input.statuses[0].id, through), whatever layer refused it: the presenter's one
// rule (apiField) turns the domain's names into the API's.
func TestErrorFieldsAreArguments(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	var ws, p, task result
	a.ok(alice, `mutation { registerUser { id } }`, nil, &result{})
	a.ok(alice, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil, &ws)
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "TF"}) { id } }`, map[string]any{"ws": ws.ID}, &p)
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "T"}) { id } }`, map[string]any{"p": p.ID}, &task)
	vars := map[string]any{"ws": ws.ID, "p": p.ID, "t": task.ID}
	long := strings.Repeat("k", 1000)
	cases := map[string]string{
		"input.title":             `mutation($p: ID!) { createTask(input: {projectId: $p, title: ""}) { id } }`,
		"input.dueDate":           `mutation($p: ID!) { createTask(input: {projectId: $p, title: "T", dueDate: "soon"}) { id } }`,
		"input.assigneeId":        `mutation($p: ID!) { createTask(input: {projectId: $p, title: "T", assigneeId: "nobody"}) { id } }`,
		"input.projectId":         `mutation { createTask(input: {projectId: "../p", title: "T"}) { id } }`,
		"input.clientMutationId":  `mutation($p: ID!) { createTask(input: {projectId: $p, title: "T", clientMutationId: "has space"}) { id } }`,
		"input.idempotencyKey":    `mutation($p: ID!) { createTask(input: {projectId: $p, title: "T", idempotencyKey: "` + long + `"}) { id } }`,
		"input.expectedVersion":   `mutation($t: ID!) { editTask(input: {taskId: $t, title: "U", expectedVersion: -1}) { id } }`,
		"input.taskId":            `mutation { editTask(input: {taskId: "x", title: "U"}) { id } }`,
		"input.body":              `mutation($t: ID!) { addComment(input: {taskId: $t, body: ""}) { id } }`,
		"input.commentId":         `mutation($t: ID!) { editComment(input: {taskId: $t, commentId: "x", body: "b"}) { id } }`,
		"input.key":               `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "x"}) { id } }`,
		"input.name":              `mutation { createWorkspace(input: {name: ""}) { id } }`,
		"input.workspaceId":       `mutation { renameWorkspace(input: {workspaceId: "../etc", name: "x"}) { id } }`,
		"input.email":             `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "nope", role: MEMBER}) { id } }`,
		"input.invitationId":      `mutation($ws: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: "x"}) { id } }`,
		"input.displayName":       `mutation { updateProfile(input: {displayName: "", email: "a@b.c"}) { id } }`,
		"input.statuses":          `mutation($p: ID!) { defineWorkflow(input: {projectId: $p, statuses: [], transitions: [], initial: "todo"}) { id } }`,
		"input.statuses[0].id":    `mutation($p: ID!) { defineWorkflow(input: {projectId: $p, statuses: [{id: "Bad!", name: "B", category: TODO}], transitions: [], initial: "todo"}) { id } }`,
		"input.initial":           `mutation($p: ID!) { defineWorkflow(input: {projectId: $p, statuses: [{id: "todo", name: "To do", category: TODO}], transitions: [], initial: "zzz"}) { id } }`,
		"input.transitions[0].to": `mutation($p: ID!) { defineWorkflow(input: {projectId: $p, statuses: [{id: "todo", name: "To do", category: TODO}], transitions: [{from: "todo", to: "zzz"}], initial: "todo"}) { id } }`,
		"input.url":               `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "ftp://x", secret: "0123456789abcdef"}) { id } }`,
		"through":                 `mutation { markNotificationsRead(through: "x") }`,
	}

	var schema struct {
		Mutation struct {
			Fields []struct {
				Name string
				Args []introspectedInput
			}
		}
		Schema struct {
			Types []struct {
				Name        string
				InputFields []introspectedInput
			}
		} `json:"__schema"`
	}
	const typeRef = `type { name ofType { name ofType { name ofType { name } } } }`
	r := a.do(alice, `{ Mutation: __type(name: "Mutation") { fields { name args { name `+typeRef+` } } }
		__schema { types { name inputFields { name `+typeRef+` } } } }`, nil)
	require.Empty(t, r.Errors)
	require.NoError(t, json.Unmarshal(mustJSON(t, r.Data), &schema))
	inputs := map[string][]introspectedInput{}
	for _, ty := range schema.Schema.Types {
		inputs[ty.Name] = ty.InputFields
	}
	args := map[string][]introspectedInput{}
	for _, f := range schema.Mutation.Fields {
		args[f.Name] = f.Args
	}
	// isArgumentPath: path names an argument of mutation, then input fields, list indexes allowed.
	isArgumentPath := func(mutation, path string) bool {
		fields := args[mutation]
		for _, seg := range strings.Split(path, ".") {
			name, _, _ := strings.Cut(seg, "[")
			found := false
			for _, f := range fields {
				if f.Name == name {
					fields, found = inputs[f.Type.named()], true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}

	for want, q := range cases {
		r := a.do(alice, q, vars)
		if !assert.Len(t, r.Errors, 1, "%s: %v", want, r.Errors) {
			continue
		}
		e := r.Errors[0]
		if !assert.Equal(t, "INVALID_INPUT", e.Extensions["code"], "%s: %v", want, e) {
			continue
		}
		field, _ := e.Extensions["field"].(string)
		assert.Equal(t, want, field, "%s: %v", q, e)
		mutation, _ := e.Path[0].(string)
		assert.True(t, isArgumentPath(mutation, field), "%s is not an argument path of %s", field, mutation)
	}
}

// introspectedInput is an argument or input field as __Type describes it.
type introspectedInput struct {
	Name string
	Type introspectedTypeRef
}

type introspectedTypeRef struct {
	Name   string
	OfType *introspectedTypeRef
}

// named unwraps NON_NULL and LIST down to the named type.
func (r introspectedTypeRef) named() string {
	if r.Name != "" || r.OfType == nil {
		return r.Name
	}
	return r.OfType.named()
}

// Connections follow Relay: a full PageInfo, nodes beside edges, first: 0 an empty page.
func TestRelayConnections(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	var ws, p result
	a.ok(alice, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil, &ws)
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "TF"}) { id } }`, map[string]any{"ws": ws.ID}, &p)
	var last result
	for _, title := range []string{"one", "two", "three"} {
		a.ok(alice, `mutation($p: ID!, $t: String!) { createTask(input: {projectId: $p, title: $t}) { id consistencyToken } }`,
			map[string]any{"p": p.ID, "t": title}, &last)
	}
	type page struct {
		Edges []struct {
			Cursor string
			Node   struct{ ID string }
		}
		Nodes    []struct{ ID string }
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
	}
	const q = `query($ws: ID!, $n: Int, $after: String, $c: String) { tasks(workspaceId: $ws, first: $n, after: $after, consistentWith: $c) {
		edges { cursor node { id } } nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`
	read := func(n int, after *string) page {
		var out page
		a.ok(alice, q, map[string]any{"ws": ws.ID, "n": n, "after": after, "c": last.ConsistencyToken}, &out)
		require.Len(t, out.Nodes, len(out.Edges))
		for i := range out.Edges {
			require.Equal(t, out.Edges[i].Node.ID, out.Nodes[i].ID, "nodes are the edges' nodes")
		}
		return out
	}

	first := read(2, nil)
	require.Len(t, first.Edges, 2)
	require.True(t, first.PageInfo.HasNextPage)
	require.False(t, first.PageInfo.HasPreviousPage)
	require.Equal(t, first.Edges[0].Cursor, *first.PageInfo.StartCursor)
	require.Equal(t, first.Edges[1].Cursor, *first.PageInfo.EndCursor)

	rest := read(2, first.PageInfo.EndCursor)
	require.Len(t, rest.Edges, 1)
	require.False(t, rest.PageInfo.HasNextPage)
	require.True(t, rest.PageInfo.HasPreviousPage)
	require.Equal(t, rest.Edges[0].Cursor, *rest.PageInfo.StartCursor)

	empty := read(0, nil)
	require.Empty(t, empty.Edges)
	require.Empty(t, empty.Nodes)
	require.True(t, empty.PageInfo.HasNextPage, "first: 0 still says whether the list has any")
	require.Nil(t, empty.PageInfo.StartCursor)
	require.Nil(t, empty.PageInfo.EndCursor)
	require.False(t, read(0, rest.PageInfo.EndCursor).PageInfo.HasNextPage)

	// Every connection takes first: 0.
	for _, q := range []string{
		`query($ws: ID!) { activity(workspaceId: $ws, first: 0) { nodes { eventId } pageInfo { hasNextPage } } }`,
		`query($ws: ID!) { notifications(workspaceId: $ws, first: 0) { nodes { id } pageInfo { hasNextPage } } }`,
		`query($ws: ID!) { webhookDeliveries(workspaceId: $ws, first: 0) { edges { cursor } pageInfo { hasNextPage } } }`,
		`query($ws: ID!) { deadLetters(workspaceId: $ws, first: 0) { edges { cursor } pageInfo { hasNextPage } } }`,
		`query($s: String!) { history(streamId: $s, first: 0) { nodes { version } pageInfo { hasNextPage startCursor } } }`,
	} {
		r := a.do(alice, q, map[string]any{"ws": ws.ID, "s": "workspace-" + ws.ID})
		require.Empty(t, r.Errors, q)
	}
}
