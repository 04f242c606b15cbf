package graph_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/domain"
)

// TestTenantIsolation calls every mutation and query of the schema as a member of another
// workspace, with workspace A's ids. Mutations must answer FORBIDDEN or NOT_FOUND and append
// nothing to A; queries must answer NOT_FOUND and return no data. The lists of fields come from
// introspection, so a new field without a case here fails the test.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice, mallory := token(t, "alice-"+t.Name(), time.Hour), token(t, "mallory-"+t.Name(), time.Hour)

	// Workspace A, owned by alice, with one of everything.
	var ws, p result
	a.ok(alice, `mutation { createWorkspace(input: {name: "A"}) { id } }`, nil, &ws)
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "A project", key: "AP"}) { id } }`, map[string]any{"ws": ws.ID}, &p)
	var task, other result
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "secret"}) { id } }`, map[string]any{"p": p.ID}, &task)
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "secret 2"}) { id } }`, map[string]any{"p": p.ID}, &other)
	var comment struct {
		CommentID string `json:"commentId"`
	}
	a.ok(alice, `mutation($t: ID!) { addComment(input: {taskId: $t, body: "hi"}) { commentId } }`, map[string]any{"t": task.ID}, &comment)
	var hook struct {
		WebhookID string `json:"webhookId"`
	}
	a.ok(alice, `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://example.com/hook", secret: "0123456789abcdef"}) { webhookId } }`,
		map[string]any{"ws": ws.ID}, &hook)
	var inv struct {
		InvitationID string `json:"invitationId"`
	}
	a.ok(alice, `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "someone@example.com", role: MEMBER}) { invitationId } }`,
		map[string]any{"ws": ws.ID}, &inv)
	// Mallory is a real user with a workspace of her own.
	var mws result
	a.ok(mallory, `mutation { createWorkspace(input: {name: "M"}) { id consistencyToken } }`, nil, &mws)

	vars := map[string]any{"ws": ws.ID, "p": p.ID, "t": task.ID, "o": other.ID, "c": comment.CommentID,
		"h": hook.WebhookID, "i": inv.InvitationID, "alice": "alice-" + t.Name()}

	var schema struct {
		Type struct {
			Fields []struct{ Name string } `json:"fields"`
		} `json:"__type"`
	}
	r := a.do(alice, `{ __type(name: "Mutation") { fields { name } } }`, nil)
	require.Empty(t, r.Errors)
	require.NoError(t, json.Unmarshal(mustJSON(t, r.Data), &schema))
	require.NotEmpty(t, schema.Type.Fields)

	ctx := context.Background()
	streams := []string{domain.WorkspaceStream(mustUUID(t, ws.ID)), domain.ProjectStream(mustUUID(t, p.ID)),
		domain.TaskStream(mustUUID(t, task.ID)), domain.TaskStream(mustUUID(t, other.ID))}
	versions := func() []int64 {
		var out []int64
		for _, s := range streams {
			v, err := a.es.StreamVersion(ctx, s)
			require.NoError(t, err)
			out = append(out, v)
		}
		return out
	}
	before := versions()
	for _, f := range schema.Type.Fields {
		if selfMutations[f.Name] {
			continue
		}
		q, ok := crossMutations[f.Name]
		require.True(t, ok, "mutation %s has no tenant isolation case", f.Name)
		r := a.do(mallory, q, vars)
		c := code(t, r)
		require.Contains(t, []string{"FORBIDDEN", "NOT_FOUND"}, c, "%s answered %s: %v", f.Name, c, r.Errors)
		require.NotContains(t, r.Errors[0].Message, "secret", f.Name)
	}

	// Payload objects (task, project, workspace on a mutation's result): each, selected by a
	// mutation of mallory's on A, is refused with no data. The list comes from introspection: a
	// new object field of a result type without a case here fails the test.
	payloads := map[string]string{
		"MutationResult.task":        `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "done"}) { id task { title } } }`,
		"MutationResult.project":     `mutation($p: ID!) { renameProject(input: {projectId: $p, name: "pwned"}) { id project { name } } }`,
		"MutationResult.workspace":   `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "pwned"}) { id workspace { name } } }`,
		"TaskResult.task":            `mutation($p: ID!) { createTask(input: {projectId: $p, title: "spam"}) { id task { title } } }`,
		"CommentResult.task":         `mutation($t: ID!) { addComment(input: {taskId: $t, body: "spam"}) { id task { title comments { nodes { body } } } } }`,
		"InvitationResult.workspace": `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "m@evil.test", role: ADMIN}) { id workspace { name } } }`,
		"WebhookResult.workspace": `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://evil.test",
			secret: "0123456789abcdef"}) { id workspace { name } } }`,
	}
	var results struct {
		Type struct {
			Fields []struct {
				Type struct { // nullable: a failing mutation does not null its siblings
					Name   string
					Fields []struct {
						Name string
						Type struct {
							Name   string
							OfType struct{ Name string }
						}
					}
				}
			}
		} `json:"__type"`
	}
	r = a.do(alice, `{ __type(name: "Mutation") { fields { type { name fields { name type { name ofType { name } } } } } } }`, nil)
	require.Empty(t, r.Errors)
	require.NoError(t, json.Unmarshal(mustJSON(t, r.Data), &results))
	objects := map[string]bool{"Task": true, "Project": true, "Workspace": true}
	covered := map[string]bool{}
	for _, f := range results.Type.Fields {
		payload := f.Type
		for _, pf := range payload.Fields {
			name := pf.Type.Name + pf.Type.OfType.Name
			key := payload.Name + "." + pf.Name
			if !objects[name] || covered[key] {
				continue
			}
			covered[key] = true
			q, ok := payloads[key]
			require.True(t, ok, "payload field %s has no tenant isolation case", key)
			r := a.do(mallory, q, vars)
			c := code(t, r)
			require.Contains(t, []string{"FORBIDDEN", "NOT_FOUND"}, c, "%s answered %s: %v", key, c, r.Errors)
			requireNoData(t, r, key)
		}
	}
	require.Len(t, covered, len(payloads))
	require.Equal(t, before, versions(), "nothing was appended to workspace A")

	// Queries: every field that takes another tenant's id answers NOT_FOUND. Each waits for the
	// read models first (the token of alice's last write), so an answer is never "not built yet".
	queries := map[string]string{
		"history":      `query($s: String!) { history(streamId: $s) { edges { node { payload } } } }`,
		"taskAt":       `query($t: ID!) { taskAt(id: $t) { title } }`,
		"verifyStream": `query($s: String!) { verifyStream(streamId: $s) { ok } }`,
		"workspace":    `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name members { nodes { email } } } }`,
		"project":      `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { name board { tasks { title } } } }`,
		"task":         `query($t: ID!, $tok: String) { task(id: $t, consistentWith: $tok) { title comments { nodes { body } } } }`,
		"taskByKey":    `query($ws: ID!, $tok: String) { taskByKey(workspaceId: $ws, key: "AP-1", consistentWith: $tok) { title } }`,
		"tasks":        `query($ws: ID!, $tok: String) { tasks(workspaceId: $ws, consistentWith: $tok) { edges { node { title } } } }`,
		"activity":     `query($ws: ID!, $tok: String) { activity(workspaceId: $ws, consistentWith: $tok) { edges { node { line } } } }`,
		"notifications": `query($ws: ID!, $tok: String) { notifications(workspaceId: $ws, consistentWith: $tok) {
			edges { node { line } } } }`,
		"webhookDeliveries": `query($ws: ID!, $tok: String) { webhookDeliveries(workspaceId: $ws, consistentWith: $tok) {
			edges { node { url } } } }`,
		"deadLetters": `query($ws: ID!, $tok: String) { deadLetters(workspaceId: $ws, consistentWith: $tok) { edges { node { target } } } }`,
		"webhooks":    `query($ws: ID!) { webhooks(workspaceId: $ws) { id url secretMask } }`,
		"changes": `query($ws: ID!, $tok: String) { changes(workspaceId: $ws, consistentWith: $tok) {
			lastPosition changes { id task { title } comment { body } member { email } } } }`,
		"invitations": `query($ws: ID!, $tok: String) { invitations(workspaceId: $ws, consistentWith: $tok) { id email } }`,
	}
	// Fields without a tenant id: me (the caller), workspaces (the caller's own: checked below not
	// to list A), projections (operational status, no tenant data: checked below to need the admin
	// role somewhere), node and nodes (null for another tenant's id: checked below).
	// myInvitations and notificationPreferences: the caller's own (checked below not to show A's
	// invitation to another address).
	selfQueries := map[string]bool{"me": true, "workspaces": true, "projections": true, "clusterNodes": true, "node": true, "nodes": true,
		"myInvitations": true, "notificationPreferences": true}
	tok := mws.ConsistencyToken // the last write: the read models include all of A and M
	var mine struct{ Nodes []struct{ ID string } }
	a.ok(mallory, `query($tok: String) { workspaces(consistentWith: $tok) { nodes { id } } }`, map[string]any{"tok": tok}, &mine)
	require.Equal(t, []struct{ ID string }{{mws.ID}}, mine.Nodes, "mallory sees her workspace only")
	var invited []struct{ ID string }
	a.ok(mallory, `query($tok: String) { myInvitations(consistentWith: $tok) { id } }`, map[string]any{"tok": tok}, &invited)
	require.Empty(t, invited, "A's invitation is someone else's")

	// node and nodes: alice finds each of A's objects by id; for mallory each is null, exactly
	// like an id that exists nowhere (no error, no data), and her own workspace is found.
	ids := map[string]string{"Workspace": ws.ID, "Project": p.ID, "Task": task.ID, "Comment": comment.CommentID}
	nodeQ := `query($id: ID!, $tok: String) { node(id: $id, consistentWith: $tok) { __typename id
		... on Task { title comments { nodes { body } } } ... on Workspace { members { nodes { email } } } ... on Comment { body } } }`
	for typ, id := range ids {
		var found struct {
			Typename string `json:"__typename"`
			ID       string
		}
		a.ok(alice, nodeQ, map[string]any{"id": id, "tok": tok}, &found)
		require.Equal(t, struct {
			Typename string `json:"__typename"`
			ID       string
		}{typ, id}, found)
		for _, probe := range []string{id, uuid.NewString()} {
			r := a.do(mallory, nodeQ, map[string]any{"id": probe, "tok": tok})
			require.Empty(t, r.Errors, typ)
			require.JSONEq(t, `null`, string(r.Data["node"]), typ)
		}
	}
	nodesQ := `query($ids: [ID!]!, $tok: String) { nodes(ids: $ids, consistentWith: $tok) { __typename id } }`
	all := []string{ws.ID, p.ID, task.ID, comment.CommentID, uuid.NewString(), mws.ID}
	r = a.do(mallory, nodesQ, map[string]any{"ids": all, "tok": tok})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `[null, null, null, null, null, {"__typename": "Workspace", "id": "`+mws.ID+`"}]`, string(r.Data["nodes"]))
	r = a.do(alice, nodesQ, map[string]any{"ids": all, "tok": tok})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `[{"__typename": "Workspace", "id": "`+ws.ID+`"}, {"__typename": "Project", "id": "`+p.ID+`"},
		{"__typename": "Task", "id": "`+task.ID+`"}, {"__typename": "Comment", "id": "`+comment.CommentID+`"}, null, null]`,
		string(r.Data["nodes"]))
	nobody := token(t, "nobody-"+t.Name(), time.Hour)
	r = a.do(nobody, `{ projections { name } }`, nil)
	require.Equal(t, "FORBIDDEN", code(t, r), "%v", r.Errors)
	require.Nil(t, r.Data["projections"])
	r = a.do(alice, `{ clusterNodes { host pid } }`, nil) // alice owns a workspace: not an operator
	require.Equal(t, "FORBIDDEN", code(t, r), "%v", r.Errors)
	require.Nil(t, r.Data["clusterNodes"])
	var qschema struct {
		Type struct {
			Fields []struct{ Name string } `json:"fields"`
		} `json:"__type"`
	}
	r = a.do(alice, `{ __type(name: "Query") { fields { name } } }`, nil)
	require.Empty(t, r.Errors)
	require.NoError(t, json.Unmarshal(mustJSON(t, r.Data), &qschema))
	for _, f := range qschema.Type.Fields {
		if selfQueries[f.Name] {
			continue
		}
		q, ok := queries[f.Name]
		require.True(t, ok, "query %s has no tenant isolation case", f.Name)
		r := a.do(mallory, q, map[string]any{"t": task.ID, "s": "task-" + task.ID, "ws": ws.ID, "p": p.ID, "tok": tok})
		require.Equal(t, "NOT_FOUND", code(t, r), "%s: %v", f.Name, r.Errors)
		require.Nil(t, r.Data[f.Name], f.Name)
	}

	// Subscriptions, over a websocket of mallory's: each is refused NOT_FOUND or FORBIDDEN, is
	// not registered, and receives nothing of what then happens in A.
	subscriptions := map[string]string{
		"taskChanged":       `subscription($p: ID!) { taskChanged(projectId: $p) { id title } }`,
		"boardChanged":      `subscription($p: ID!) { boardChanged(projectId: $p) { taskId task { title } } }`,
		"notificationAdded": `subscription($ws: ID!) { notificationAdded(workspaceId: $ws) { line } }`,
		"workspaceChanged":  `subscription($ws: ID!) { workspaceChanged(workspaceId: $ws, since: "0.0") { id task { title } } }`,
	}
	var sschema struct {
		Type struct {
			Fields []struct{ Name string } `json:"fields"`
		} `json:"__type"`
	}
	r = a.do(alice, `{ __type(name: "Subscription") { fields { name } } }`, nil)
	require.Empty(t, r.Errors)
	require.NoError(t, json.Unmarshal(mustJSON(t, r.Data), &sschema))
	require.NotEmpty(t, sschema.Type.Fields)
	ws2 := a.srv.MustDialWS(mallory)
	var refused []*apptest.Sub
	for _, f := range sschema.Type.Fields {
		q, ok := subscriptions[f.Name]
		require.True(t, ok, "subscription %s has no tenant isolation case", f.Name)
		s := ws2.Subscribe(q, map[string]any{"ws": ws.ID, "p": p.ID})
		c := s.Refusal()
		require.Contains(t, []string{"FORBIDDEN", "NOT_FOUND"}, c, f.Name)
		refused = append(refused, s)
	}
	require.Equal(t, 0, a.hub.Subscriptions(), "no refused subscription is registered")
	// Alice's own subscription sees the next change; mallory's got nothing.
	watch := a.srv.MustDialWS(alice).Subscribe(subscriptions["taskChanged"], map[string]any{"p": p.ID})
	waitSubscriptions(t, a.hub, 1)
	a.ok(alice, `mutation($t: ID!, $alice: ID!) { assignTask(input: {taskId: $t, assigneeId: $alice}) { id } }`, vars, &result{})
	var seen struct{ ID string }
	watch.Data(&seen)
	require.Equal(t, task.ID, seen.ID)
	for _, s := range refused {
		s.Quiet(10 * time.Millisecond)
	}

	// A payload never serves a workspace its caller has left, even when the request read it
	// before: eve joins A (her payload shows A, her role read through the request's loaders),
	// then leaves it in the same document (her payload's workspace is null).
	eveID := "eve-" + t.Name()
	eve := token(t, eveID, time.Hour)
	a.ok(alice, `mutation($ws: ID!, $email: String!) { inviteMember(input: {workspaceId: $ws, email: $email, role: MEMBER}) { invitationId } }`,
		map[string]any{"ws": ws.ID, "email": eveID + "@example.com"}, &inv)
	r = a.do(eve, `mutation($ws: ID!, $i: ID!, $eve: ID!) {
		join: acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { workspace { name myRole } }
		leave: removeMember(input: {workspaceId: $ws, userId: $eve}) { id workspace { name myRole } } }`,
		map[string]any{"ws": ws.ID, "i": inv.InvitationID, "eve": eveID})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"workspace": {"name": "A", "myRole": "MEMBER"}}`, string(r.Data["join"]))
	require.JSONEq(t, `{"id": "`+ws.ID+`", "workspace": null}`, string(r.Data["leave"]))
}

func mustJSON(t *testing.T, data map[string]json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(data)
	require.NoError(t, err)
	return b
}
