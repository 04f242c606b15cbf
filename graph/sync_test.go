package graph_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/eventstore"
)

var parsePosition = eventstore.ParsePosition

// The fragments a sync client keeps, the same on both sides of the comparisons below.
const syncFragments = `
fragment W on Workspace { id name plan version myRole memberCount updatedAt }
fragment M on Member { userId displayName email role joinedAt }
fragment P on Project { id key name archived version updatedAt }
fragment T on Task { id key number title description status priority assigneeId labels dueDate rank commentCount archived createdAt updatedAt version }
fragment C on Comment { id taskId authorId authorName body mentions createdAt editedAt }
fragment N on Notification { id kind taskId commentId actorId line at read }`

const changesQuery = `query($ws: ID!, $since: String, $first: Int, $tok: String) {
	changes(workspaceId: $ws, since: $since, first: $first, consistentWith: $tok) {
		lastPosition hasMore mustRefetch mustRefetchReason
		changes { position entity id removed clientMutationId
			workspace { ...W } member { ...M } project { ...P } task { ...T } comment { ...C } notification { ...N } } } }` + syncFragments

type syncChange struct {
	Position, Entity, ID string
	Removed              bool
	ClientMutationID     *string
	Workspace, Member    json.RawMessage
	Project, Task        json.RawMessage
	Comment              json.RawMessage
	Notification         json.RawMessage
}

type syncPage struct {
	LastPosition      string
	HasMore           bool
	MustRefetch       bool
	MustRefetchReason *string
	Changes           []syncChange
}

// syncClient is a client's local copy, built only from changes.
type syncClient struct {
	a        *api
	tok, ws  string
	since    string
	entities map[string]map[string]json.RawMessage // entity kind → id → state
	seen     []syncChange                          // every record received, in order
}

func newSyncClient(a *api, tok, ws string) *syncClient {
	return &syncClient{a: a, tok: tok, ws: ws, entities: map[string]map[string]json.RawMessage{}}
}

func (c syncChange) state() json.RawMessage {
	for _, s := range []json.RawMessage{c.Workspace, c.Member, c.Project, c.Task, c.Comment, c.Notification} {
		if len(s) > 0 && string(s) != "null" {
			return s
		}
	}
	return nil
}

// page fetches one page after since.
func (s *syncClient) page(t *testing.T, first int, consistentWith string) syncPage {
	t.Helper()
	vars := map[string]any{"ws": s.ws, "first": first}
	if s.since != "" {
		vars["since"] = s.since
	}
	if consistentWith != "" {
		vars["tok"] = consistentWith
	}
	var p syncPage
	s.a.ok(s.tok, changesQuery, vars, &p)
	return p
}

// pull pages until the end, applying every record; it returns the records of this pull.
func (s *syncClient) pull(t *testing.T, first int, consistentWith string) (records []syncChange, last syncPage) {
	t.Helper()
	for range 10000 {
		p := s.page(t, first, consistentWith)
		require.False(t, p.MustRefetch, "unexpected mustRefetch %v", p.MustRefetchReason)
		require.LessOrEqual(t, len(p.Changes), max(first, 1)+5, "a page holds at most first records but for one position's group")
		for _, c := range p.Changes {
			kind := s.entities[c.Entity]
			if kind == nil {
				kind = map[string]json.RawMessage{}
				s.entities[c.Entity] = kind
			}
			if c.Removed {
				delete(kind, c.ID)
			} else {
				require.NotNil(t, c.state(), "record %+v has no state", c)
				kind[c.ID] = c.state()
			}
		}
		records = append(records, p.Changes...)
		s.seen = append(s.seen, p.Changes...)
		require.NotEmpty(t, p.LastPosition)
		s.since = p.LastPosition
		if !p.HasMore {
			return records, p
		}
	}
	t.Fatal("changes never ended")
	return nil, syncPage{}
}

// readState is what the read queries serve the caller, in the sync client's shape.
func readState(t *testing.T, a *api, tok, ws, consistentWith string) map[string]map[string]json.RawMessage {
	t.Helper()
	r := a.do(tok, `query($ws: ID!, $tok: String) {
		workspace(id: $ws, consistentWith: $tok) { ...W members(first: 200) { nodes { ...M } } projects(first: 200) { nodes { ...P } } }
		tasks(workspaceId: $ws, filter: {includeArchived: true}, first: 200) { nodes { ...T comments(first: 200) { nodes { ...C } } } }
		notifications(workspaceId: $ws, first: 200) { nodes { ...N } } }`+syncFragments, map[string]any{"ws": ws, "tok": consistentWith})
	require.Empty(t, r.Errors)
	state := map[string]map[string]json.RawMessage{"WORKSPACE": {}, "MEMBER": {}, "PROJECT": {}, "TASK": {}, "COMMENT": {}, "NOTIFICATION": {}}
	var wsObj map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.Data["workspace"], &wsObj))
	state["WORKSPACE"][ws] = without(t, wsObj, "members", "projects")
	var members, projects struct{ Nodes []json.RawMessage }
	require.NoError(t, json.Unmarshal(wsObj["members"], &members))
	require.NoError(t, json.Unmarshal(wsObj["projects"], &projects))
	for _, m := range members.Nodes {
		state["MEMBER"][field(t, m, "userId")] = m
	}
	for _, p := range projects.Nodes {
		state["PROJECT"][field(t, p, "id")] = p
	}
	var tasks, notes struct{ Nodes []map[string]json.RawMessage }
	require.NoError(t, json.Unmarshal(r.Data["tasks"], &tasks))
	for _, n := range tasks.Nodes {
		var comments struct{ Nodes []json.RawMessage }
		require.NoError(t, json.Unmarshal(n["comments"], &comments))
		for _, c := range comments.Nodes {
			state["COMMENT"][field(t, c, "id")] = c
		}
		state["TASK"][field(t, n["id"], "")] = without(t, n, "comments")
	}
	require.NoError(t, json.Unmarshal(r.Data["notifications"], &notes))
	for _, n := range notes.Nodes {
		state["NOTIFICATION"][field(t, n["id"], "")] = without(t, n)
	}
	return state
}

// field is a string field of a JSON object (name ""; raw is the string itself).
func field(t *testing.T, raw json.RawMessage, name string) string {
	t.Helper()
	if name == "" {
		var s string
		require.NoError(t, json.Unmarshal(raw, &s))
		return s
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	s, _ := m[name].(string)
	require.NotEmpty(t, s, "%s in %s", name, raw)
	return s
}

func without(t *testing.T, m map[string]json.RawMessage, names ...string) json.RawMessage {
	t.Helper()
	c := map[string]json.RawMessage{}
	for k, v := range m {
		c[k] = v
	}
	for _, n := range names {
		delete(c, n)
	}
	raw, err := json.Marshal(c)
	require.NoError(t, err)
	return raw
}

// requireSameState compares a sync client's copy with the read queries', field by field.
func requireSameState(t *testing.T, want, got map[string]map[string]json.RawMessage) {
	t.Helper()
	for kind, objs := range want {
		require.Len(t, got[kind], len(objs), "%s: the sync copy holds %d, the queries %d", kind, len(got[kind]), len(objs))
		for id, w := range objs {
			g, ok := got[kind][id]
			require.True(t, ok, "%s %s missing from the sync copy", kind, id)
			require.JSONEq(t, string(w), string(g), "%s %s", kind, id)
		}
	}
	for kind := range got {
		_, ok := want[kind]
		require.True(t, ok, "unexpected kind %s", kind)
	}
}

type syncWorld struct {
	tm               team
	tasks            []string
	comment, deleted string
	lastToken        string
}

// busyTeam is a team with some history: tasks created, edited, moved, assigned, archived;
// comments added, edited, deleted; the project and the workspace renamed.
func busyTeam(t *testing.T, a *api) syncWorld {
	t.Helper()
	w := syncWorld{tm: newTeam(t, a, "SY")}
	tm := w.tm
	for i := range 5 {
		var r result
		a.ok(tm.alice, `mutation($p: ID!, $l: [String!]) { createTask(input: {projectId: $p, title: "Task", labels: $l, clientMutationId: "create"}) { id } }`,
			map[string]any{"p": tm.project, "l": []string{"bug", "ui"}[:i%3]}, &r)
		w.tasks = append(w.tasks, r.ID)
	}
	do := func(tok, q string, vars map[string]any) {
		var r struct{ ConsistencyToken string }
		a.ok(tok, q, vars, &r)
		w.lastToken = r.ConsistencyToken
	}
	do(tm.alice, `mutation($t: ID!) { editTask(input: {taskId: $t, title: "Renamed", description: "Now with text"}) { consistencyToken } }`, map[string]any{"t": w.tasks[0]})
	do(tm.bob, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { consistencyToken } }`, map[string]any{"t": w.tasks[1]})
	do(tm.alice, `mutation($t: ID!, $b: ID!) { assignTask(input: {taskId: $t, assigneeId: $b}) { consistencyToken } }`, map[string]any{"t": w.tasks[2], "b": tm.bobID})
	do(tm.alice, `mutation($t: ID!) { archiveTask(input: {taskId: $t}) { consistencyToken } }`, map[string]any{"t": w.tasks[3]})
	var c1, c2 struct{ CommentID string }
	a.ok(tm.alice, `mutation($t: ID!, $body: String!) { addComment(input: {taskId: $t, body: $body}) { commentId } }`,
		map[string]any{"t": w.tasks[0], "body": "@" + tm.bobID + " look"}, &c1)
	a.ok(tm.alice, `mutation($t: ID!) { addComment(input: {taskId: $t, body: "to delete"}) { commentId } }`, map[string]any{"t": w.tasks[0]}, &c2)
	w.comment, w.deleted = c1.CommentID, c2.CommentID
	do(tm.alice, `mutation($t: ID!, $c: ID!) { editComment(input: {taskId: $t, commentId: $c, body: "edited"}) { consistencyToken } }`, map[string]any{"t": w.tasks[0], "c": c1.CommentID})
	do(tm.alice, `mutation($t: ID!, $c: ID!) { deleteComment(input: {taskId: $t, commentId: $c}) { consistencyToken } }`, map[string]any{"t": w.tasks[0], "c": c2.CommentID})
	do(tm.alice, `mutation($p: ID!) { renameProject(input: {projectId: $p, name: "Renamed project"}) { consistencyToken } }`, map[string]any{"p": tm.project})
	do(tm.alice, `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "Renamed team"}) { consistencyToken } }`, map[string]any{"ws": tm.ws})
	return w
}

// Paging changes from the beginning to the end rebuilds exactly the state the read queries
// serve, field by field, whatever the page size; deleted comments never appear.
func TestChangesRebuildState(t *testing.T) {
	t.Parallel()
	a := setup(t)
	w := busyTeam(t, a)
	for _, first := range []int{1, 3, 200} {
		for _, who := range []string{w.tm.alice, w.tm.bob} {
			c := newSyncClient(a, who, w.tm.ws)
			records, _ := c.pull(t, first, w.lastToken)
			requireSameState(t, readState(t, a, who, w.tm.ws, w.lastToken), c.entities)
			// Each entity once, in log order: a pull from the beginning is folded.
			seen := map[string]bool{}
			var positions []string
			for _, r := range records {
				k := r.Entity + "/" + r.ID
				require.False(t, seen[k], "%s twice in one pull", k)
				seen[k] = true
				positions = append(positions, r.Position)
				if r.ID == w.deleted {
					require.True(t, r.Removed, "a deleted comment comes as its removal, without state")
					require.Nil(t, r.state())
				}
			}
			require.True(t, sort.SliceIsSorted(records, func(i, j int) bool { return lessPosition(t, records[i].Position, records[j].Position) }),
				"records in log order: %v", positions)
		}
	}
	// The notification of the mention reached bob's copy, not alice's.
	bob := newSyncClient(a, w.tm.bob, w.tm.ws)
	bob.pull(t, 50, w.lastToken)
	require.NotEmpty(t, bob.entities["NOTIFICATION"])
	alice := newSyncClient(a, w.tm.alice, w.tm.ws)
	alice.pull(t, 50, w.lastToken)
	require.Empty(t, alice.entities["NOTIFICATION"])
}

// lessPosition orders two positions ("tx/pos" consistency tokens) as the log does.
func lessPosition(t *testing.T, a, b string) bool {
	t.Helper()
	pa, err := parsePosition(a)
	require.NoError(t, err)
	pb, err := parsePosition(b)
	require.NoError(t, err)
	return pa.Less(pb)
}

// A client that was away resumes with since and receives exactly what it missed: each changed
// entity once, in its latest state, in the order of its last change, with the clientMutationId
// of the mutation that made it; then nothing more. Changes by several users, a comment added and
// deleted while it was away (a removal it learns), and its own access changing.
func TestChangesResume(t *testing.T) {
	t.Parallel()
	a := setup(t)
	w := busyTeam(t, a)
	tm := w.tm
	bob := newSyncClient(a, tm.bob, tm.ws)
	bob.pull(t, 100, w.lastToken)

	// Away: alice and bob (from another device) change things.
	var r1, r2, r3 struct {
		ClientMutationID *string
		ConsistencyToken string
		CommentID        string
	}
	a.ok(tm.alice, `mutation($t: ID!) { editTask(input: {taskId: $t, title: "Again", clientMutationId: "alice-1"}) { clientMutationId consistencyToken } }`,
		map[string]any{"t": w.tasks[4]}, &r1)
	require.Equal(t, "alice-1", *r1.ClientMutationID, "the payload echoes the clientMutationId")
	a.ok(tm.bob, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_review", clientMutationId: "bob-1"}) { clientMutationId consistencyToken } }`,
		map[string]any{"t": w.tasks[1]}, &r2)
	a.ok(tm.alice, `mutation($t: ID!) { addComment(input: {taskId: $t, body: "brief", clientMutationId: "alice-2"}) { commentId } }`,
		map[string]any{"t": w.tasks[2]}, &r3)
	var del struct{ ConsistencyToken string }
	a.ok(tm.alice, `mutation($t: ID!, $c: ID!) { deleteComment(input: {taskId: $t, commentId: $c, clientMutationId: "alice-3"}) { consistencyToken } }`,
		map[string]any{"t": w.tasks[2], "c": r3.CommentID}, &del)

	records, last := bob.pull(t, 2, del.ConsistencyToken)
	type rec struct{ entity, id, cmid string }
	var notification string
	for _, r := range records {
		if r.Entity == "NOTIFICATION" {
			notification = r.ID
		}
	}
	var got []rec
	for _, r := range records {
		got = append(got, rec{r.Entity, r.ID, deref(r.ClientMutationID)})
	}
	require.Equal(t, []rec{
		{"TASK", w.tasks[4], "alice-1"},
		{"TASK", w.tasks[1], "bob-1"},
		// bob is the assignee of the commented task: his inbox (notifications carry no one's
		// clientMutationId: the mutation was alice's)
		{"NOTIFICATION", notification, ""},
		// the comment's add and delete fold into its removal, the task's into its last change
		{"COMMENT", r3.CommentID, "alice-3"},
		{"TASK", w.tasks[2], "alice-3"},
	}, got)
	requireSameState(t, readState(t, a, tm.bob, tm.ws, del.ConsistencyToken), bob.entities)
	require.False(t, last.HasMore)

	// Nothing new: an empty page at the same position.
	again := bob.page(t, 10, "")
	require.Empty(t, again.Changes)
	require.Equal(t, bob.since, again.LastPosition)

	// bob's role changes while away: he learns it from the workspace's and his member record.
	var role struct{ ConsistencyToken string }
	a.ok(tm.alice, `mutation($ws: ID!, $u: ID!) { changeMemberRole(input: {workspaceId: $ws, userId: $u, role: ADMIN}) { consistencyToken } }`,
		map[string]any{"ws": tm.ws, "u": tm.bobID}, &role)
	records, _ = bob.pull(t, 10, role.ConsistencyToken)
	require.Len(t, records, 2, "%+v", records)
	require.Equal(t, "ADMIN", field(t, bob.entities["WORKSPACE"][tm.ws], "myRole"))
	require.Equal(t, "ADMIN", field(t, bob.entities["MEMBER"][tm.bobID], "role"))
	requireSameState(t, readState(t, a, tm.bob, tm.ws, role.ConsistencyToken), bob.entities)

	// bob is removed: he learns that he must drop the workspace, and nothing else.
	var rm struct{ ConsistencyToken string }
	a.ok(tm.alice, `mutation($ws: ID!, $u: ID!) { removeMember(input: {workspaceId: $ws, userId: $u}) { consistencyToken } }`,
		map[string]any{"ws": tm.ws, "u": tm.bobID}, &rm)
	a.ok(tm.alice, `mutation($t: ID!) { editTask(input: {taskId: $t, title: "Secret"}) { id } }`, map[string]any{"t": w.tasks[0]}, &result{})
	p := bob.page(t, 10, rm.ConsistencyToken)
	require.True(t, p.MustRefetch)
	require.Equal(t, "ACCESS_REVOKED", deref(p.MustRefetchReason))
	require.Empty(t, p.Changes)

	// Someone who never was a member learns nothing, not even that the workspace exists.
	stranger := newSyncClient(a, token(t, "eve-"+t.Name(), time.Hour), tm.ws)
	r := a.do(stranger.tok, changesQuery, map[string]any{"ws": tm.ws})
	require.Equal(t, "NOT_FOUND", code(t, r))
}

// since from another log (past its end) is UNKNOWN_POSITION; a malformed one INVALID_INPUT.
func TestChangesUnknownPosition(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "UP")
	r := a.do(tm.alice, changesQuery, map[string]any{"ws": tm.ws, "since": "999999999.1", "tok": tm.tok})
	require.Empty(t, r.Errors)
	var p struct{ Changes syncPage }
	raw, _ := json.Marshal(r.Data)
	require.NoError(t, json.Unmarshal(raw, &p))
	require.True(t, p.Changes.MustRefetch)
	require.Equal(t, "UNKNOWN_POSITION", deref(p.Changes.MustRefetchReason))
	r = a.do(tm.alice, changesQuery, map[string]any{"ws": tm.ws, "since": "yesterday"})
	require.Equal(t, "INVALID_INPUT", code(t, r))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// GET /sync/{workspaceId} serves the same records over plain HTTP: closed pages cacheable for
// good, the last one revalidated by ETag (304), errors with their HTTP status.
func TestSyncOverHTTP(t *testing.T) {
	t.Parallel()
	a := setup(t)
	w := busyTeam(t, a)
	get := func(tok, path string, headers ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, body
	}
	// Wait for the read models through the GraphQL endpoint, then page over HTTP.
	newSyncClient(a, w.tm.bob, w.tm.ws).page(t, 1, w.lastToken)
	viaHTTP := map[string]map[string]json.RawMessage{}
	since := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1000)
		res, body := get(w.tm.bob, "/sync/"+w.tm.ws+"?first=3&since="+since)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		var p syncPage
		require.NoError(t, json.Unmarshal(body, &p))
		etag := res.Header.Get("ETag")
		require.NotEmpty(t, etag)
		if p.HasMore {
			require.Equal(t, "private, max-age=31536000, immutable", res.Header.Get("Cache-Control"))
		} else {
			require.Equal(t, "private, no-cache", res.Header.Get("Cache-Control"))
		}
		again, _ := get(w.tm.bob, "/sync/"+w.tm.ws+"?first=3&since="+since, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, again.StatusCode)
		for _, c := range p.Changes {
			if viaHTTP[c.Entity] == nil {
				viaHTTP[c.Entity] = map[string]json.RawMessage{}
			}
			if c.Removed {
				delete(viaHTTP[c.Entity], c.ID)
			} else {
				viaHTTP[c.Entity][c.ID] = c.state()
			}
		}
		since = p.LastPosition
		if !p.HasMore {
			break
		}
	}
	// The same entities as a GraphQL sync client's copy.
	gql := newSyncClient(a, w.tm.bob, w.tm.ws)
	gql.pull(t, 200, w.lastToken)
	for kind, objs := range gql.entities {
		require.Len(t, viaHTTP[kind], len(objs), kind)
		for id := range objs {
			require.Contains(t, viaHTTP[kind], id)
		}
	}

	res, _ := get("", "/sync/"+w.tm.ws)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, _ = get(token(t, "eve-"+t.Name(), time.Hour), "/sync/"+w.tm.ws)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	res, _ = get(w.tm.bob, "/sync/"+w.tm.ws+"?since=yesterday")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	res, _ = get(w.tm.bob, "/sync/"+w.tm.ws+"?first=many")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	res, _ = get(w.tm.bob, "/sync/not-an-id")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
}

const workspaceChangedQ = `subscription($ws: ID!, $since: String) { workspaceChanged(workspaceId: $ws, since: $since) {
	position entity id removed clientMutationId
	workspace { ...W } member { ...M } project { ...P } task { ...T } comment { ...C } notification { ...N } } }` + syncFragments

// workspaceChanged with since replays what the client missed, then goes on live: positions
// strictly increase across the switch (no duplicate), and the records leave the client with the
// state the queries serve (no gap). A removed member's subscription ends with FORBIDDEN and the
// last position delivered.
func TestWorkspaceChangedResumes(t *testing.T) {
	t.Parallel()
	a := setup(t)
	w := busyTeam(t, a)
	tm := w.tm
	// bob synced half of the history, then went away.
	bob := newSyncClient(a, tm.bob, tm.ws)
	p := bob.page(t, 8, w.lastToken)
	require.True(t, p.HasMore)
	for _, c := range p.Changes {
		bob.apply(t, c)
	}
	bob.since = p.LastPosition

	ws := a.srv.MustDialWS(tm.bob)
	sub := ws.Subscribe(workspaceChangedQ, map[string]any{"ws": tm.ws, "since": bob.since})
	// Live changes while the replay may still run.
	var last struct{ ConsistencyToken string }
	for i := range 5 {
		a.ok(tm.alice, `mutation($t: ID!, $n: String!, $c: String!) { editTask(input: {taskId: $t, title: $n, clientMutationId: $c}) { consistencyToken } }`,
			map[string]any{"t": w.tasks[i%2], "n": fmt.Sprintf("Live %d", i), "c": fmt.Sprintf("live-%d", i)}, &last)
	}
	prev := bob.since
	got := map[string]bool{}
	for {
		var c syncChange
		sub.Data(&c)
		// In log order (records of one event share its position), each at most once.
		require.False(t, lessPosition(t, c.Position, prev), "positions never go back: %s after %s", c.Position, prev)
		require.True(t, c.Position != bob.since, "nothing at or before since")
		k := c.Position + "/" + c.Entity + "/" + c.ID
		require.False(t, got[k], "%s twice", k)
		got[k] = true
		prev = c.Position
		bob.apply(t, c)
		if deref(c.ClientMutationID) == "live-4" {
			break
		}
	}
	requireSameState(t, readState(t, a, tm.bob, tm.ws, last.ConsistencyToken), bob.entities)
	sub.Quiet(200 * time.Millisecond)

	// Removed: the subscription ends with FORBIDDEN, carrying the last position delivered.
	a.ok(tm.alice, `mutation($ws: ID!, $u: ID!) { removeMember(input: {workspaceId: $ws, userId: $u}) { id } }`,
		map[string]any{"ws": tm.ws, "u": tm.bobID}, &result{})
	m := sub.Next(apptest.MessageWait)
	require.Contains(t, []string{"next", "error"}, m.Type)
	var r response
	if m.Type == "next" {
		require.NoError(t, json.Unmarshal(m.Payload, &r))
	} else {
		require.NoError(t, json.Unmarshal(m.Payload, &r.Errors))
	}
	require.NotEmpty(t, r.Errors, "%s", m.Payload)
	require.Equal(t, "FORBIDDEN", r.Errors[0].Extensions["code"])
	require.Equal(t, prev, r.Errors[0].Extensions["lastPosition"])
}

// apply applies one record to the client's copy.
func (s *syncClient) apply(t *testing.T, c syncChange) {
	t.Helper()
	kind := s.entities[c.Entity]
	if kind == nil {
		kind = map[string]json.RawMessage{}
		s.entities[c.Entity] = kind
	}
	if c.Removed {
		delete(kind, c.ID)
		return
	}
	require.NotNil(t, c.state(), "record %+v has no state", c)
	kind[c.ID] = c.state()
}

// A page of changes runs the same number of statements whatever it holds: the bound, the
// records, then one load per kind of entity (nested fields through the request's loaders).
func TestChangesStatements(t *testing.T) {
	t.Parallel()
	a := setup(t)
	w := busyTeam(t, a)
	var last struct{ ConsistencyToken string }
	for i := range 60 {
		var task result
		a.ok(w.tm.alice, `mutation($p: ID!, $n: String!) { createTask(input: {projectId: $p, title: $n}) { id } }`,
			map[string]any{"p": w.tm.project, "n": fmt.Sprintf("bulk %d", i)}, &task)
		a.ok(w.tm.alice, `mutation($t: ID!) { addComment(input: {taskId: $t, body: "hi"}) { consistencyToken } }`,
			map[string]any{"t": task.ID}, &last)
	}
	count := func(first int) (int, int) {
		t.Helper()
		r := a.do(w.tm.bob, `query($ws: ID!, $first: Int, $tok: String) { changes(workspaceId: $ws, first: $first, consistentWith: $tok) {
			changes { id task { key project { key } } comment { body } member { email } project { name } workspace { name }
				notification { line task { key } } } } }`, map[string]any{"ws": w.tm.ws, "first": first, "tok": last.ConsistencyToken})
		require.Empty(t, r.Errors)
		var p struct{ Changes []json.RawMessage }
		require.NoError(t, json.Unmarshal(r.Data["changes"], &p))
		n, err := strconv.Atoi(r.Statements)
		require.NoError(t, err)
		return n, len(p.Changes)
	}
	count(1) // waits for the read models: the polls of the wait are statements too
	small, records := count(20)
	require.InDelta(t, 20, records, 3, "a page ends before the records of one event when they do not all fit")
	big, records := count(120)
	require.InDelta(t, 120, records, 3)
	t.Logf("SQL statements: changes of 20 records %d, of 120 records %d", small, big)
	// The same statements for 20 records and 120; a nested loader's batch may split in two when
	// the machine is slow to gather its keys (2 ms window): one more at most.
	require.LessOrEqual(t, big, small+1, "statements grow with the page")
	require.LessOrEqual(t, big, 13)
}

// Subscriptions given since first replay what the client missed (latest states, SYNCED on the
// board), then continue live: no message at or before since, none twice, each carrying its
// position and the clientMutationId of the mutation that made it; the tasks received leave the
// client with the tasks the queries serve.
func TestSubscriptionsResumeWithSince(t *testing.T) {
	t.Parallel()
	a := setup(t)
	w := busyTeam(t, a)
	tm := w.tm
	since := w.lastToken
	// Away: alice assigns bob (a notification for him) and edits.
	var away struct{ ConsistencyToken string }
	a.ok(tm.alice, `mutation($t: ID!, $b: ID!) { assignTask(input: {taskId: $t, assigneeId: $b, clientMutationId: "away-1"}) { consistencyToken } }`,
		map[string]any{"t": w.tasks[4], "b": tm.bobID}, &away)
	a.ok(tm.alice, `mutation($t: ID!) { editTask(input: {taskId: $t, title: "While away", clientMutationId: "away-2"}) { consistencyToken } }`,
		map[string]any{"t": w.tasks[0]}, &away)
	// Let the read models apply them, so that the replay has them.
	newSyncClient(a, tm.bob, tm.ws).page(t, 1, away.ConsistencyToken)

	ws := a.srv.MustDialWS(tm.bob)
	p := map[string]any{"p": tm.project, "since": since}
	tasks := ws.Subscribe(`subscription($p: ID!, $since: String) { taskChanged(projectId: $p, since: $since) {
		id title version position clientMutationId } }`, p)
	board := ws.Subscribe(`subscription($p: ID!, $since: String) { boardChanged(projectId: $p, since: $since) {
		kind taskId position clientMutationId task { title } } }`, p)
	inbox := ws.Subscribe(`subscription($ws: ID!, $since: String) { notificationAdded(workspaceId: $ws, since: $since) {
		id kind taskId position } }`, map[string]any{"ws": tm.ws, "since": since})

	// Live, possibly while the replays run.
	var live struct{ ConsistencyToken string }
	a.ok(tm.alice, `mutation($t: ID!, $b: ID!) { assignTask(input: {taskId: $t, assigneeId: $b, clientMutationId: "live-1"}) { consistencyToken } }`,
		map[string]any{"t": w.tasks[0], "b": tm.bobID}, &live)
	a.ok(tm.alice, `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress", clientMutationId: "live-2"}) { consistencyToken } }`,
		map[string]any{"t": w.tasks[4]}, &live)

	type taskMsg struct {
		ID, Title, Position string
		Version             int
		ClientMutationID    *string
	}
	got := map[string]taskMsg{}
	prev, seen := since, map[string]bool{}
	for deref(got[w.tasks[4]].ClientMutationID) != "live-2" {
		var m taskMsg
		tasks.Data(&m)
		require.True(t, lessPosition(t, since, m.Position), "nothing at or before since: %s", m.Position)
		require.False(t, lessPosition(t, m.Position, prev), "in log order")
		require.False(t, seen[m.ID+m.Position], "twice: %+v", m)
		seen[m.ID+m.Position], prev = true, m.Position
		got[m.ID] = m
	}
	require.Equal(t, "While away", got[w.tasks[0]].Title)
	require.Equal(t, "live-1", deref(got[w.tasks[0]].ClientMutationID))
	var final []taskMsg
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { tasks(workspaceId: $ws, first: 50, consistentWith: $tok) { nodes { id title version position clientMutationId } } }`,
		map[string]any{"ws": tm.ws, "tok": live.ConsistencyToken}, &struct{ Nodes *[]taskMsg }{&final})
	for _, f := range final {
		if g, ok := got[f.ID]; ok {
			require.Equal(t, f, g, "the last message of a task is its state")
		}
	}

	kinds := map[string]int{}
	for {
		var m struct {
			Kind, Position   string
			ClientMutationID *string
		}
		board.Data(&m)
		require.True(t, lessPosition(t, since, m.Position))
		kinds[m.Kind]++
		if deref(m.ClientMutationID) == "live-2" {
			// Live, or replayed when the replay read past it: either way once (no message
			// follows for it below).
			require.Contains(t, []string{"MOVED", "SYNCED"}, m.Kind)
			break
		}
	}
	require.Positive(t, kinds["SYNCED"], "the replay: %v", kinds)
	board.Quiet(200 * time.Millisecond)

	var notes []string
	for len(notes) < 2 {
		var n struct{ ID, Position string }
		inbox.Data(&n)
		require.True(t, lessPosition(t, since, n.Position))
		notes = append(notes, n.ID)
	}
	require.NotEqual(t, notes[0], notes[1], "the away notification, then the live one")
	inbox.Quiet(200 * time.Millisecond)
}
