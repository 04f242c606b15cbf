package graph_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistoryTaskAtAndVerify(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice, mallory := token(t, "alice-"+t.Name(), time.Hour), token(t, "mallory-"+t.Name(), time.Hour)
	var ws, p result
	a.ok(alice, `mutation { createWorkspace(input: {name: "Audit"}) { id } }`, nil, &ws)
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "AU"}) { id } }`, map[string]any{"ws": ws.ID}, &p)
	var task result
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "first title"}) { id version } }`, map[string]any{"p": p.ID}, &task)
	a.ok(alice, `mutation($t: ID!) { editTask(input: {taskId: $t, title: "second title"}) { id version } }`, map[string]any{"t": task.ID}, &result{})
	a.ok(alice, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { id version } }`, map[string]any{"t": task.ID}, &result{})
	stream := "task-" + task.ID

	type edge struct {
		Cursor string
		Node   struct {
			Type, StreamID, Position, Hash, PrevHash, Payload, Actor string
			Version                                                  int
			CorrelationID, CausationID                               *string
		}
	}
	var hist struct {
		Edges    []edge
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	q := `query($s: String!, $after: String) { history(streamId: $s, first: 2, after: $after) {
		edges { cursor node { type streamId version position hash prevHash payload actor correlationId causationId } }
		pageInfo { hasNextPage endCursor } } }`
	a.ok(alice, q, map[string]any{"s": stream}, &hist)
	require.Len(t, hist.Edges, 2)
	require.True(t, hist.PageInfo.HasNextPage)
	require.Equal(t, "task.created", hist.Edges[0].Node.Type)
	require.Equal(t, hist.Edges[0].Node.Hash, hist.Edges[1].Node.PrevHash, "the chain is visible to auditors")
	require.Equal(t, "alice-"+t.Name(), hist.Edges[0].Node.Actor)
	require.NotNil(t, hist.Edges[0].Node.CausationID)
	require.True(t, json.Valid([]byte(hist.Edges[1].Node.Payload)))
	a.ok(alice, q, map[string]any{"s": stream, "after": *hist.PageInfo.EndCursor}, &hist)
	require.Len(t, hist.Edges, 1)
	require.False(t, hist.PageInfo.HasNextPage)
	require.Equal(t, 3, hist.Edges[0].Node.Version)

	var at struct {
		Title, Status string
		Version       int
	}
	a.ok(alice, `query($id: ID!) { taskAt(id: $id, version: 1) { title status version } }`, map[string]any{"id": task.ID}, &at)
	require.Equal(t, "first title", at.Title)
	require.Equal(t, "todo", at.Status)
	a.ok(alice, `query($id: ID!) { taskAt(id: $id) { title status version } }`, map[string]any{"id": task.ID}, &at)
	require.Equal(t, "second title", at.Title)
	require.Equal(t, "in_progress", at.Status)
	require.Equal(t, 3, at.Version)
	a.ok(alice, `query($id: ID!, $at: Time!) { taskAt(id: $id, at: $at) { version } }`,
		map[string]any{"id": task.ID, "at": time.Now().Add(time.Hour).Format(time.RFC3339)}, &at)
	require.Equal(t, 3, at.Version)

	var v struct {
		Ok     bool
		Events int
	}
	a.ok(alice, `query($s: String!) { verifyStream(streamId: $s) { ok events } }`, map[string]any{"s": stream}, &v)
	require.True(t, v.Ok)
	require.Equal(t, 3, v.Events)

	// Another tenant learns nothing, not even that the stream exists.
	for _, q := range []string{
		`query($s: String!) { history(streamId: $s) { edges { cursor } } }`,
		`query($s: String!) { verifyStream(streamId: $s) { ok } }`,
	} {
		require.Equal(t, "NOT_FOUND", code(t, a.do(mallory, q, map[string]any{"s": stream})))
		require.Equal(t, "NOT_FOUND", code(t, a.do(mallory, q, map[string]any{"s": "task-00000000-0000-0000-0000-000000000001"})))
	}
	require.Equal(t, "NOT_FOUND", code(t, a.do(mallory, `query($id: ID!) { taskAt(id: $id) { title } }`, map[string]any{"id": task.ID})))
	require.Equal(t, "INVALID_INPUT", code(t, a.do(alice, `query($s: String!) { history(streamId: $s, first: 1000) { edges { cursor } } }`,
		map[string]any{"s": stream})))
}
