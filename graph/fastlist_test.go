package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/fastlist"
	"github.com/taskforge/taskforge/graph/live"
)

// TestFastTaskListsMatchGqlgen: for every selection, a list of tasks written by graph/fastlist is
// byte for byte what gqlgen's generated code writes for the same request (fastlist.Off), and
// fastlist writes exactly the lists whose selections it can (a resolver field, an argument or an
// object list leaves them to gqlgen): board tasks, page nodes and page edges. The tasks hold what
// needs escaping, optional fields set and unset, and two assignees of different roles.
func TestFastTaskListsMatchGqlgen(t *testing.T) {
	s := apptest.New(t, apptest.Options{Overrides: overrides(live.HubOptions{}, func(o *graph.Options) {
		o.ReadCacheBytes = 0 // each request built anew, not answered from the response cache
	})})
	ctx := context.Background()
	h := s.Commands()
	user := "fast-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	alice := domain.Actor{UserID: domain.UserID(user), Email: user + "@example.com", EmailVerified: true, DisplayName: `Alice "A" \ Ünï`}
	ws, err := h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: alice, Name: "Fast"})
	require.NoError(t, err)
	p, err := h.CreateProject.Handle(ctx, commands.CreateProject{Actor: alice, WorkspaceID: ws.ID, Name: "Board", Key: "FL"})
	require.NoError(t, err)
	bob := domain.Actor{UserID: domain.UserID(user + "-bob"), Email: user + "-bob@example.com", EmailVerified: true, DisplayName: "Bob"}
	inv, err := h.InviteMember.Handle(ctx, commands.InviteMember{Actor: alice, WorkspaceID: ws.ID, Email: bob.Email, Role: domain.RoleAdmin})
	require.NoError(t, err)
	_, err = h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: bob, WorkspaceID: ws.ID, InvitationID: inv.InvitationID})
	require.NoError(t, err)
	due := time.Date(2026, 12, 24, 17, 30, 0, 0, time.UTC)
	tasks := []commands.CreateTask{
		{Title: "plain"},
		{Title: "quote \" backslash \\ <html> & emoji 🙂", Description: "line one\nline\ttwo \"quoted\" \\",
			Priority: domain.PriorityUrgent, DueDate: &due, Labels: []string{"a", `b"c`}, Assignee: alice.UserID},
		{Title: "assigned", Assignee: alice.UserID, Priority: domain.PriorityLow, Labels: []string{"x"}},
		{Title: "bob's", Assignee: bob.UserID},
	}
	var last commands.Result
	for _, c := range tasks {
		c.Actor, c.ProjectID = alice, p.ID
		r, err := h.CreateTask.Handle(ctx, c)
		require.NoError(t, err)
		last = r.Result
	}
	tok := apptest.Token(t, user, time.Hour)
	vars := map[string]any{"p": p.ID.String(), "w": ws.ID.String(), "tok": graph.ConsistencyToken(last)}
	// Wait until the read side holds every task.
	r := s.Do(tok, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { key } }`, vars)
	require.Empty(t, r.Errors)

	all := `__typename id key number title description status priority assigneeId labels dueDate rank
		commentCount archived createdAt updatedAt version
		assignee { __typename userId displayName email role joinedAt }`
	yes := func(sel string) string { // $yes declared where used
		if strings.Contains(sel, "$yes") {
			return ", $yes: Boolean!"
		}
		return ""
	}
	board := func(sel string) string {
		return `query($p: ID!` + yes(sel) + `) { project(id: $p) { board { status tasks { ` + sel + ` } } } }`
	}
	page := func(sel string) string {
		return `query($w: ID!` + yes(sel) + `) { tasks(workspaceId: $w) { nodes { ` + sel + ` } } }`
	}
	edges := func(sel string) string {
		return `query($w: ID!` + yes(sel) + `) { tasks(workspaceId: $w) { edges { ` + sel + ` } pageInfo { hasNextPage } } }`
	}
	project := `project { __typename id key name archived openCount overdueCount updatedAt version }`
	cases := []struct {
		name, query string
		fast        bool
	}{
		{"every field", board(all), true},
		{"aliases, repeats", board(`t: title title t: title k: key assignee { n: displayName role n: displayName }`), true},
		{"two assignee selections", board(`a1: assignee { displayName } key a2: assignee { role userId }`), true},
		{"fragments", board(`assignee { displayName } ...F ... on Task { key } ... on Node { id }`) +
			` fragment F on Task { title assignee { role } }`, true},
		{"include and skip", board(`title @include(if: $yes) key @skip(if: $yes) number @skip(if: false)`), true},
		{"page nodes", page(all), true},
		{"projects", board(`key ` + project), true},
		{"page edges", edges(`__typename cursor c: cursor node { ` + all + ` ` + project + ` }`), true},
		{"edges with include", edges(`cursor @skip(if: $yes) node { key @include(if: $yes) title }`), true},
		{"a field with arguments", board(`key comments(first: 1) { totalCount }`), false},
		{"a resolver field", board(`key position`), false},
		{"a project's resolver field", board(`key project { key board { status } }`), false},
		{"a project's object list", board(`key project { taskCounts { status count } }`), false},
		{"an edge's node with a resolver field", edges(`cursor node { key position }`), false},
	}
	for _, c := range cases {
		for _, on := range []bool{true, false} {
			vars["yes"] = on
			body, err := json.Marshal(map[string]any{"query": c.query, "variables": vars})
			require.NoError(t, err)
			var written atomic.Int64
			fast := serveRaw(t, s.Handler(), tok, body, func(ctx context.Context) context.Context { return fastlist.Count(ctx, &written) })
			slow := serveRaw(t, s.Handler(), tok, body, fastlist.Off)
			require.NotContains(t, string(slow), `"errors"`, c.name)
			require.Equal(t, string(slow), string(fast), "%s ($yes: %v)", c.name, on)
			if c.fast {
				require.Positive(t, written.Load(), "%s: fastlist wrote no list", c.name)
			} else {
				require.Zero(t, written.Load(), "%s: fastlist wrote a list it must leave to gqlgen", c.name)
			}
		}
	}
}

// serveRaw answers one GraphQL request through the API's handler h in process (no HTTP client,
// no decoding), with its context adjusted by with unless nil, and returns the body as written.
func serveRaw(tb testing.TB, h http.Handler, tok string, body []byte, with func(context.Context) context.Context) []byte {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	if with != nil {
		req = req.WithContext(with(req.Context()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		tb.Fatalf("%d %s", w.Code, w.Body.String())
	}
	return w.Body.Bytes()
}
