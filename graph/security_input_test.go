package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/projections"
)

// head is the number of events stored in the test's database: a request that must change nothing
// leaves it where it was. (Not the store's Head: that lags behind commits while any transaction
// of the cluster is open.)
func (a *api) head() int64 {
	a.t.Helper()
	var n int64
	require.NoError(a.t, a.es.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n))
	return n
}

// requireInvalid checks an INVALID_INPUT answer naming field.
func requireInvalid(t *testing.T, r response, field string) {
	t.Helper()
	require.Equal(t, "INVALID_INPUT", code(t, r), "%+v", r.Errors)
	require.Equal(t, field, r.Errors[0].Extensions["field"], "%+v", r.Errors)
}

func TestRequestIDIsBounded(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "rid-"+t.Name(), time.Hour)
	create := func(requestID string) (string, string) {
		body, _ := json.Marshal(map[string]any{"query": `mutation { createWorkspace(input: {name: "Acme"}) { id } }`})
		req, err := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Request-Id", requestID)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var r struct {
			Data struct{ CreateWorkspace struct{ ID string } }
		}
		b, _ := io.ReadAll(resp.Body)
		require.NoError(t, json.Unmarshal(b, &r), string(b))
		evs, err := a.es.ReadStream(context.Background(), domain.WorkspaceStream(mustUUID(t, r.Data.CreateWorkspace.ID)), 1, 1)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		return resp.Header.Get("X-Request-Id"), evs[0].Metadata.RequestID
	}
	echoed, stored := create("req-42")
	require.Equal(t, "req-42", echoed)
	require.Equal(t, "req-42", stored)
	for _, bad := range []string{strings.Repeat("r", 200<<10), strings.Repeat("r", commands.MaxRequestIDLen+1),
		"caf\u00e9", "a b", "ab\u200bcd"} {
		echoed, stored := create(bad)
		require.NotEqual(t, bad, stored)
		require.True(t, commands.ValidRequestID(stored), stored)
		require.Equal(t, stored, echoed, "the generated id is the one echoed")
	}
}

func TestInvisibleAndOversizedTextRefused(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "text-"+t.Name(), time.Hour)
	var ws, user result
	a.ok(tok, `mutation { registerUser { id } }`, nil, &user)
	a.ok(tok, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil, &ws)
	var p result
	a.ok(tok, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Core", key: "CO"}) { id } }`,
		map[string]any{"ws": ws.ID}, &p)
	before := a.head()
	huge := strings.Repeat("x", 40<<10)
	cases := []struct {
		query, field string
		vars         map[string]any
	}{
		{`mutation($s: String!) { createWorkspace(input: {name: $s}) { id } }`, "input.name", map[string]any{"s": "\u200b\u2060\ufeff"}},
		{`mutation($ws: ID!, $s: String!) { renameWorkspace(input: {workspaceId: $ws, name: $s}) { id } }`, "input.name", map[string]any{"s": "\u202e\u2066"}},
		{`mutation($p: ID!, $s: String!) { createTask(input: {projectId: $p, title: $s}) { id } }`, "input.title", map[string]any{"s": " \u200b "}},
		{`mutation($p: ID!, $s: String!) { createTask(input: {projectId: $p, title: $s}) { id } }`, "input.title", map[string]any{"s": huge}},
		{`mutation($p: ID!, $s: String!) { createTask(input: {projectId: $p, title: "ok", labels: [$s]}) { id } }`, "input.labels[0]", map[string]any{"s": "\u200d"}},
		{`mutation($p: ID!, $s: String!) { renameProject(input: {projectId: $p, name: $s}) { id } }`, "input.name", map[string]any{"s": huge}},
		{`mutation($s: String!) { updateProfile(input: {displayName: $s, email: "x@example.com"}) { id } }`, "input.displayName", map[string]any{"s": "\u3164"}},
	}
	for _, c := range cases {
		vars := map[string]any{"ws": ws.ID, "p": p.ID}
		for k, v := range c.vars {
			vars[k] = v
		}
		r := a.do(tok, c.query, vars)
		requireInvalid(t, r, c.field)
		for _, e := range r.Errors {
			require.NotContains(t, e.Message, huge[:100], "the input is not echoed")
		}
	}
	require.Equal(t, before, a.head(), "no refused input appended anything")
}

func TestMalformedTimeIsInvalidInput(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "time-"+t.Name(), time.Hour)
	var ws, p result
	a.ok(tok, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil, &ws)
	a.ok(tok, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Core", key: "CO"}) { id } }`,
		map[string]any{"ws": ws.ID}, &p)
	before := a.head()
	create := `mutation($p: ID!, $d: DueDate) { createTask(input: {projectId: $p, title: "t", dueDate: $d}) { id } }`
	for _, bad := range []any{"2026-13-45", "2026-12-24T25:00:00Z", "tomorrow", "", 12, true} {
		r := a.do(tok, create, map[string]any{"p": p.ID, "d": bad})
		if r.Status == http.StatusUnprocessableEntity {
			continue // a non-string: gqlgen's variable validation refuses it first
		}
		requireInvalid(t, r, "input.dueDate")
	}
	// Inline too, and a date-only value where an instant is required.
	r := a.do(tok, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "t", dueDate: "2026-02-30"}) { id } }`,
		map[string]any{"p": p.ID})
	requireInvalid(t, r, "input.dueDate")
	require.Equal(t, before, a.head(), "no malformed time appended anything")
	r = a.do(tok, `query($t: ID!) { taskAt(id: $t, at: "2026-12-24") { id } }`, map[string]any{"t": p.ID})
	requireInvalid(t, r, "at")

	// A plain date is a due date (midnight UTC); a full instant still works.
	var task struct {
		ID      string
		DueDate string
	}
	a.ok(tok, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "t", dueDate: "2026-12-24"}) { id } }`,
		map[string]any{"p": p.ID}, &task)
	evs, err := a.es.ReadStream(context.Background(), domain.TaskStream(mustUUID(t, task.ID)), 1, 1)
	require.NoError(t, err)
	require.Contains(t, string(evs[0].Data), `"2026-12-24T00:00:00Z"`)
	a.ok(tok, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "t", dueDate: "2026-12-24T09:30:00+01:00"}) { id } }`,
		map[string]any{"p": p.ID}, &task)
}

func TestOversizedChunkedBodyIs413(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "chunked-"+t.Name(), time.Hour)
	post := func(body string) (int, string) {
		// An io.Reader of unknown length: the client sends it chunked, without Content-Length.
		req, err := http.NewRequest(http.MethodPost, a.url, io.MultiReader(strings.NewReader(body)))
		require.NoError(t, err)
		require.Zero(t, req.ContentLength) // with a body: unknown, sent chunked
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, _ := post(`{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	status, body := post(`{"query":"{ me { id } }"}`)
	require.Equal(t, http.StatusOK, status, body)

	// A body that is not JSON is refused without being quoted back.
	status, body = post(`{"query": "secret-token-abc" oops`)
	require.Equal(t, http.StatusBadRequest, status)
	require.NotContains(t, body, "secret-token-abc")
	r := a.raw(tok, []byte(`{"query": "secret-token-abc" oops`))
	require.Equal(t, "BAD_REQUEST", code(t, r))
	require.NotContains(t, r.Errors[0].Message, "secret-token-abc")
}

func TestMarkNotificationsReadOnlyThroughOwnNotifications(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "MR")
	var task result
	a.ok(tm.alice, `mutation($p: ID!, $bob: ID!) { createTask(input: {projectId: $p, title: "for bob", assigneeId: $bob}) { id consistencyToken } }`,
		map[string]any{"p": tm.project, "bob": tm.bobID}, &task)
	var inbox connPage
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { notifications(workspaceId: $ws, consistentWith: $tok) { edges { cursor node { id } } } }`,
		map[string]any{"ws": tm.ws, "tok": task.ConsistencyToken}, &inbox)
	require.Len(t, inbox.Edges, 1)
	mark := `mutation($c: String!) { markNotificationsRead(through: $c) }`

	// Far in the future, just after the notification, another user's position: refused.
	var last eventstore.GlobalPosition
	require.NoError(t, a.es.Pool().QueryRow(context.Background(),
		`SELECT transaction_id::text::bigint, position FROM events ORDER BY position DESC LIMIT 1`).Scan(&last.TransactionID, &last.Position))
	// Each as a cursor, and as the readable position it is not (cursors are opaque).
	for _, p := range []eventstore.GlobalPosition{{TransactionID: math.MaxUint64, Position: math.MaxInt64}, {TransactionID: 999999999, Position: 1},
		{TransactionID: last.TransactionID, Position: last.Position + 1}} {
		requireInvalid(t, a.do(tm.bob, mark, map[string]any{"c": projections.Notification{Position: p}.Cursor()}), "through")
		requireInvalid(t, a.do(tm.bob, mark, map[string]any{"c": p.String()}), "through")
	}
	requireInvalid(t, a.do(tm.bob, mark, map[string]any{"c": tm.tok}), "through")
	// Alice was not notified at bob's position.
	requireInvalid(t, a.do(tm.alice, mark, map[string]any{"c": inbox.Edges[0].Cursor}), "through")
	unread := func() int {
		var page connPage
		a.ok(tm.bob, `query($ws: ID!) { notifications(workspaceId: $ws, unreadOnly: true) { edges { cursor } } }`,
			map[string]any{"ws": tm.ws}, &page)
		return len(page.Edges)
	}
	require.Equal(t, 1, unread(), "no refused mark moved the read mark")

	var marked bool
	a.ok(tm.bob, mark, map[string]any{"c": inbox.Edges[0].Cursor}, &marked)
	require.True(t, marked)
	require.Zero(t, unread())
}

func TestIdempotencyKeyReuseIsConflict(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "idem-"+t.Name(), time.Hour)
	create := `mutation($name: String!) { createWorkspace(input: {name: $name, idempotencyKey: "k-1"}) { id } }`
	var first, again result
	a.ok(tok, create, map[string]any{"name": "Acme"}, &first)
	a.ok(tok, create, map[string]any{"name": "Acme"}, &again)
	require.Equal(t, first.ID, again.ID, "the same input repeats the first result")
	before := a.head()
	r := a.do(tok, create, map[string]any{"name": "Other"})
	require.Equal(t, "CONFLICT", code(t, r))
	require.Equal(t, "IDEMPOTENCY_KEY_REUSED", r.Errors[0].Extensions["detail"])
	require.Equal(t, before, a.head())
}

// TestEditedHistoryIsReported: an event edited in the database (as a superuser who disables the
// immutability trigger) makes history say verified: false and taskAt refuse with
// INTEGRITY_VIOLATION, instead of serving the edited title as history.
func TestEditedHistoryIsReported(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "audit-"+t.Name(), time.Hour)
	var ws, p, task result
	a.ok(tok, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil, &ws)
	a.ok(tok, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Core", key: "CO"}) { id } }`,
		map[string]any{"ws": ws.ID}, &p)
	a.ok(tok, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Honest title"}) { id } }`,
		map[string]any{"p": p.ID}, &task)
	stream := domain.TaskStream(mustUUID(t, task.ID))
	history := `query($s: String!) { history(streamId: $s) { verified edges { node { payload } } } }`
	var h struct {
		Verified bool
		Edges    []struct{ Node struct{ Payload string } }
	}
	a.ok(tok, history, map[string]any{"s": stream}, &h)
	require.True(t, h.Verified)
	var state struct{ Title string }
	a.ok(tok, `query($t: ID!) { taskAt(id: $t) { title } }`, map[string]any{"t": task.ID}, &state)
	require.Equal(t, "Honest title", state.Title)

	ctx := context.Background()
	tx, err := a.es.Pool().Begin(ctx)
	require.NoError(t, err)
	for _, sql := range []string{
		`ALTER TABLE events DISABLE TRIGGER USER`,
		`UPDATE events SET data = replace(data::text, 'Honest title', 'Forged title')::json WHERE stream_id = '` + stream + `' AND stream_version = 1`,
		`ALTER TABLE events ENABLE TRIGGER USER`,
	} {
		_, err := tx.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	require.NoError(t, tx.Commit(ctx))

	a.ok(tok, history, map[string]any{"s": stream}, &h)
	require.False(t, h.Verified, "edited history is flagged")
	require.Contains(t, h.Edges[0].Node.Payload, "Forged title", "the edit is what is stored")
	r := a.do(tok, `query($t: ID!) { taskAt(id: $t) { title } }`, map[string]any{"t": task.ID})
	require.Equal(t, "INTEGRITY_VIOLATION", code(t, r))
	require.NotContains(t, r.Errors[0].Message, "Forged")
}

// TestUpdateProfileEmailMustBeVerified: the email can only become the token's verified address.
func TestUpdateProfileEmailMustBeVerified(t *testing.T) {
	t.Parallel()
	a := setup(t)
	user := "profile-" + t.Name()
	mint := func(email string, verified bool) string {
		tok, err := auth.MintHS256(secret, auth.Principal{UserID: user, Email: email, Name: "P", EmailVerified: verified},
			time.Hour, time.Now(), "", "")
		require.NoError(t, err)
		return tok
	}
	unverified := mint("boss@corp.example", false)
	a.ok(unverified, `mutation { registerUser { id } }`, nil, &result{})
	update := `mutation($e: String!) { updateProfile(input: {displayName: "P", email: $e}) { id } }`
	before := a.head()
	requireInvalid(t, a.do(unverified, update, map[string]any{"e": "ceo@corp.example"}), "input.email")
	requireInvalid(t, a.do(mint("ceo@corp.example", false), update, map[string]any{"e": "ceo@corp.example"}), "input.email")
	a.ok(unverified, update, map[string]any{"e": "boss@corp.example"}, &result{}) // unchanged: fine
	requireInvalid(t, a.do(mint("new@corp.example", true), update, map[string]any{"e": "ceo@corp.example"}), "input.email")
	require.Equal(t, before, a.head())

	a.ok(mint("new@corp.example", true), update, map[string]any{"e": "new@corp.example"}, &result{})
	evs, err := a.es.ReadStreamBackward(context.Background(), domain.UserStream(domain.UserID(user)), -1, 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Contains(t, string(evs[0].Data), `"new@corp.example"`)
}

// TestForeignIDIsNotFound: every mutation given the id of a workspace, project, task or comment
// the caller is not a member of answers exactly as for an id that does not exist (NOT_FOUND, same
// message): no existence oracle. The list of mutations comes from introspection.
func TestForeignIDIsNotFound(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice, mallory := token(t, "alice-"+t.Name(), time.Hour), token(t, "mallory-"+t.Name(), time.Hour)
	var ws, p, task, other result
	a.ok(alice, `mutation { createWorkspace(input: {name: "A"}) { id } }`, nil, &ws)
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "A project", key: "AP"}) { id } }`, map[string]any{"ws": ws.ID}, &p)
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "secret"}) { id } }`, map[string]any{"p": p.ID}, &task)
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "secret 2"}) { id } }`, map[string]any{"p": p.ID}, &other)
	var comment struct{ CommentID string }
	a.ok(alice, `mutation($t: ID!) { addComment(input: {taskId: $t, body: "hi"}) { commentId } }`, map[string]any{"t": task.ID}, &comment)
	var hook struct{ WebhookID string }
	a.ok(alice, `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://example.com/hook", secret: "0123456789abcdef"}) { webhookId } }`,
		map[string]any{"ws": ws.ID}, &hook)
	var inv struct{ InvitationID string }
	a.ok(alice, `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "someone@example.com", role: MEMBER}) { invitationId } }`,
		map[string]any{"ws": ws.ID}, &inv)

	foreign := map[string]any{"ws": ws.ID, "p": p.ID, "t": task.ID, "o": other.ID, "c": comment.CommentID,
		"h": hook.WebhookID, "i": inv.InvitationID, "alice": "alice-" + t.Name()}
	missing := map[string]any{"alice": "alice-" + t.Name()}
	for _, k := range []string{"ws", "p", "t", "o", "c", "h", "i"} {
		missing[k] = uuid.NewString()
	}

	var schema struct {
		Type struct{ Fields []struct{ Name string } } `json:"__type"`
	}
	a.ok(alice, `{ __type(name: "Mutation") { fields { name } } }`, nil, &schema.Type)
	require.NotEmpty(t, schema.Type.Fields)
	before := a.head()
	for _, f := range schema.Type.Fields {
		if selfMutations[f.Name] {
			continue
		}
		q, ok := crossMutations[f.Name]
		require.True(t, ok, "mutation %s has no foreign-id case", f.Name)
		gone, theirs := a.do(mallory, q, missing), a.do(mallory, q, foreign)
		require.Equal(t, "NOT_FOUND", code(t, gone), "%s, nonexistent ids: %v", f.Name, gone.Errors)
		require.Equal(t, gone.Errors, theirs.Errors, "%s: a foreign id answers like a nonexistent one", f.Name)
		requireNoData(t, theirs, f.Name)
	}
	require.Equal(t, before, a.head(), "nothing appended")

	// A foreign id as the second id of a mutation on the caller's own task answers like a
	// nonexistent one too.
	var mws, mp, mt result
	a.ok(mallory, `mutation { createWorkspace(input: {name: "M"}) { id } }`, nil, &mws)
	a.ok(mallory, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "M", key: "MP"}) { id } }`, map[string]any{"ws": mws.ID}, &mp)
	a.ok(mallory, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "mine"}) { id } }`, map[string]any{"p": mp.ID}, &mt)
	before = a.head()
	for name, q := range map[string]string{
		"reorderTask": `mutation($t: ID!, $o: ID!) { reorderTask(input: {taskId: $t, previousTaskId: $o}) { id } }`,
		"assignTask":  `mutation($t: ID!, $o: ID!) { assignTask(input: {taskId: $t, assigneeId: $o}) { id } }`,
	} {
		gone := a.do(mallory, q, map[string]any{"t": mt.ID, "o": uuid.NewString()})
		theirs := a.do(mallory, q, map[string]any{"t": mt.ID, "o": map[string]string{"reorderTask": task.ID, "assignTask": "alice-" + t.Name()}[name]})
		require.NotEmpty(t, gone.Errors, name)
		require.Equal(t, gone.Errors, theirs.Errors, name)
	}
	require.Equal(t, before, a.head(), "nothing appended")
}

func TestValidationErrorsDoNotEchoLargeValues(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "echo-"+t.Name(), time.Hour)
	huge := strings.Repeat("G", 30<<10)
	r := a.do(tok, `mutation($r: Role!) { inviteMember(input: {workspaceId: "00000000-0000-4000-8000-000000000001", email: "x@y.z", role: $r}) { id } }`,
		map[string]any{"r": huge})
	require.NotEmpty(t, r.Errors)
	for _, e := range r.Errors {
		require.Less(t, len(e.Message), 400, "%.100s", e.Message)
	}
}
