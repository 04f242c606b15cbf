package graph_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/sideeffects"
)

type invitation struct {
	ID, WorkspaceID, WorkspaceName, Email, Role, InvitedBy, InviterName string
	CreatedAt, ExpiresAt                                                time.Time
}

// TestInvitationsForFrontends: the invitee lists their pending invitations by their verified
// address, admins list a workspace's, and both empty once it is accepted.
func TestInvitationsForFrontends(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "IN")
	carolID := "carol-" + t.Name()
	carol := token(t, carolID, time.Hour)
	var inv struct{ InvitationID, ConsistencyToken string }
	a.ok(tm.alice, `mutation($ws: ID!, $email: String!) { inviteMember(input: {workspaceId: $ws, email: $email, role: ADMIN}) {
		invitationId consistencyToken } }`, map[string]any{"ws": tm.ws, "email": strings.ToUpper(carolID) + "@example.com"}, &inv)

	mine := `query($tok: String, $n: Int) { myInvitations(first: $n, consistentWith: $tok) {
		id workspaceId workspaceName email role invitedBy inviterName createdAt expiresAt } }`
	var got []invitation
	a.ok(carol, mine, map[string]any{"tok": inv.ConsistencyToken}, &got)
	require.Len(t, got, 1)
	g := got[0]
	require.Equal(t, inv.InvitationID, g.ID)
	require.Equal(t, tm.ws, g.WorkspaceID)
	require.Equal(t, "Team", g.WorkspaceName)
	require.Equal(t, "ADMIN", g.Role)
	require.Equal(t, tm.aliceID, g.InvitedBy)
	require.Equal(t, tm.aliceID, g.InviterName) // the test tokens' names are the user ids
	require.Equal(t, domain.InvitationTTL, g.ExpiresAt.Sub(g.CreatedAt))
	var none []invitation
	a.ok(tm.bob, mine, nil, &none)
	require.Empty(t, none, "bob's address has no invitation")

	// The address must be verified, as for acceptInvitation.
	unverified, err := auth.MintHS256(secret, auth.Principal{UserID: carolID, Email: carolID + "@example.com", Name: "C"},
		time.Hour, time.Now(), "", "")
	require.NoError(t, err)
	r := a.do(unverified, mine, nil)
	require.Equal(t, "FORBIDDEN", code(t, r), "%v", r.Errors)
	for _, n := range []int{0, 101} {
		requireInvalid(t, a.do(carol, mine, map[string]any{"n": n}), "first")
	}

	list := `query($ws: ID!, $tok: String) { invitations(workspaceId: $ws, consistentWith: $tok) { id email role } }`
	var pending []invitation
	a.ok(tm.alice, list, map[string]any{"ws": tm.ws}, &pending)
	require.Len(t, pending, 1)
	require.Equal(t, inv.InvitationID, pending[0].ID)
	r = a.do(tm.bob, list, map[string]any{"ws": tm.ws})
	require.Equal(t, "FORBIDDEN", code(t, r), "members do not list invitations: %v", r.Errors)

	var joined result
	a.ok(carol, `mutation($ws: ID!, $i: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { id consistencyToken } }`,
		map[string]any{"ws": tm.ws, "i": inv.InvitationID}, &joined)
	a.ok(carol, mine, map[string]any{"tok": joined.ConsistencyToken}, &got)
	require.Empty(t, got)
	a.ok(tm.alice, list, map[string]any{"ws": tm.ws, "tok": joined.ConsistencyToken}, &pending)
	require.Empty(t, pending)
}

// TestNotificationReadStateOverAPI: unread counts per workspace in one statement however many
// workspaces are listed, one notification marked read, all of a workspace's, and only one's own.
func TestNotificationReadStateOverAPI(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "NR")
	// bob in two more workspaces of alice's, each with an assignment of his.
	tok := tm.tok
	for _, key := range []string{"NA", "NB"} {
		other := newTeamWith(t, a, tm, key)
		var task result
		a.ok(tm.alice, `mutation($p: ID!, $bob: ID!) { createTask(input: {projectId: $p, title: "x", assigneeId: $bob}) { id consistencyToken } }`,
			map[string]any{"p": other.project, "bob": tm.bobID}, &task)
		tok = task.ConsistencyToken
	}
	for range 2 {
		var task result
		a.ok(tm.alice, `mutation($p: ID!, $bob: ID!) { createTask(input: {projectId: $p, title: "for bob", assigneeId: $bob}) { id consistencyToken } }`,
			map[string]any{"p": tm.project, "bob": tm.bobID}, &task)
		tok = task.ConsistencyToken
	}
	type ws struct {
		ID                      string
		UnreadNotificationCount int
	}
	counts := func() map[string]int {
		t.Helper()
		var wss struct{ Nodes []ws }
		a.ok(tm.bob, `query($tok: String) { workspaces(consistentWith: $tok) { nodes { id unreadNotificationCount } } }`, map[string]any{"tok": tok}, &wss)
		out := map[string]int{}
		for _, w := range wss.Nodes {
			out[w.ID] = w.UnreadNotificationCount
		}
		return out
	}
	c := counts()
	require.Len(t, c, 3)
	require.Equal(t, 2, c[tm.ws])
	for id, n := range c {
		if id != tm.ws {
			require.Equal(t, 1, n)
		}
	}
	statements := func(q string) int {
		t.Helper()
		r := a.do(tm.bob, q, nil)
		require.Empty(t, r.Errors)
		n, err := strconv.Atoi(r.Statements)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, statements(`{ workspaces { nodes { id } } }`)+1, statements(`{ workspaces { nodes { id unreadNotificationCount } } }`),
		"the counts of every workspace listed: one statement")

	var inbox struct{ Nodes []struct{ ID string } }
	a.ok(tm.bob, `query($ws: ID!) { notifications(workspaceId: $ws) { nodes { id } } }`, map[string]any{"ws": tm.ws}, &inbox)
	require.Len(t, inbox.Nodes, 2)
	mark := `mutation($id: ID!) { markNotificationRead(id: $id) }`
	// Not alice's: NOT_FOUND, like an id that does not exist; nothing marked.
	theirs, gone := a.do(tm.alice, mark, map[string]any{"id": inbox.Nodes[0].ID}), a.do(tm.alice, mark, map[string]any{"id": "00000000-0000-4000-8000-000000000001"})
	require.Equal(t, "NOT_FOUND", code(t, theirs))
	require.Equal(t, gone.Errors, theirs.Errors)
	requireInvalid(t, a.do(tm.bob, mark, map[string]any{"id": "nope"}), "id")
	require.Equal(t, 2, counts()[tm.ws])
	var marked bool
	a.ok(tm.bob, mark, map[string]any{"id": inbox.Nodes[0].ID}, &marked)
	require.True(t, marked)
	require.Equal(t, 1, counts()[tm.ws])
	var read struct{ Nodes []struct{ Read bool } }
	a.ok(tm.bob, `query($ws: ID!) { notifications(workspaceId: $ws) { nodes { read } } }`, map[string]any{"ws": tm.ws}, &read)
	require.Equal(t, []bool{true, false}, []bool{read.Nodes[0].Read, read.Nodes[1].Read})

	// All of one workspace, in the same document as the count: the count is fresh.
	var both struct {
		MarkAllNotificationsRead bool
		Workspace                struct{ UnreadNotificationCount int }
	}
	r := a.do(tm.bob, `mutation($ws: ID!) { markAllNotificationsRead(workspaceId: $ws) }`, map[string]any{"ws": tm.ws})
	require.Empty(t, r.Errors)
	a.ok(tm.bob, `query($ws: ID!) { workspace(id: $ws) { unreadNotificationCount } }`, map[string]any{"ws": tm.ws}, &both.Workspace)
	require.Zero(t, both.Workspace.UnreadNotificationCount)
	c = counts()
	for id, n := range c {
		if id != tm.ws {
			require.Equal(t, 1, n, "other workspaces keep their unread notifications")
		}
	}
}

// newTeamWith is another workspace of tm's alice with tm's bob as a member, and a project.
func newTeamWith(t *testing.T, a *api, tm team, key string) team {
	t.Helper()
	var ws, p result
	a.ok(tm.alice, `mutation { createWorkspace(input: {name: "Other"}) { id } }`, nil, &ws)
	var inv struct{ InvitationID string }
	a.ok(tm.alice, `mutation($ws: ID!, $email: String!) { inviteMember(input: {workspaceId: $ws, email: $email, role: MEMBER}) { invitationId } }`,
		map[string]any{"ws": ws.ID, "email": tm.bobID + "@example.com"}, &inv)
	a.ok(tm.bob, `mutation($ws: ID!, $i: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { id } }`,
		map[string]any{"ws": ws.ID, "i": inv.InvitationID}, &result{})
	a.ok(tm.alice, `mutation($ws: ID!, $key: String!) { createProject(input: {workspaceId: $ws, name: "Project", key: $key}) { id consistencyToken } }`,
		map[string]any{"ws": ws.ID, "key": key}, &p)
	out := tm
	out.ws, out.project, out.tok = ws.ID, p.ID, p.ConsistencyToken
	return out
}

type preference struct {
	Kind  string
	Email bool
}

// TestNotificationPreferencesAndUnsubscribe: preferences per kind, bounded input, and the
// emails' one-click unsubscribe link, which only a POST acts on, idempotently.
func TestNotificationPreferencesAndUnsubscribe(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.UnsubscribeKey = key })
	user := "prefs-" + t.Name()
	tok := token(t, user, time.Hour)
	get := `{ notificationPreferences { kind email } }`
	var prefs []preference
	a.ok(tok, get, nil, &prefs)
	require.Equal(t, []preference{{"ASSIGNED", true}, {"MENTIONED", true}, {"COMMENTED", true}}, prefs)
	update := `mutation($p: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: {preferences: $p}) { kind email } }`
	a.ok(tok, update, map[string]any{"p": []map[string]any{{"kind": "MENTIONED", "email": false}}}, &prefs)
	require.Equal(t, []preference{{"ASSIGNED", true}, {"MENTIONED", false}, {"COMMENTED", true}}, prefs)
	requireInvalid(t, a.do(tok, update, map[string]any{"p": []map[string]any{{"kind": "ASSIGNED", "email": false},
		{"kind": "ASSIGNED", "email": true}}}), "input.preferences[1].kind")
	four := []map[string]any{{"kind": "ASSIGNED", "email": false}, {"kind": "MENTIONED", "email": false},
		{"kind": "COMMENTED", "email": false}, {"kind": "ASSIGNED", "email": false}}
	requireInvalid(t, a.do(tok, update, map[string]any{"p": four}), "input.preferences")
	a.ok(tok, get, nil, &prefs)
	require.Equal(t, []preference{{"ASSIGNED", true}, {"MENTIONED", false}, {"COMMENTED", true}}, prefs, "refused input changed nothing")

	link := a.srv.URL + sideeffects.UnsubscribePath + "?token=" + url.QueryEscape(sideeffects.UnsubscribeToken(key, user, "assigned"))
	resp, err := http.Get(link)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `<form method="post"`)
	a.ok(tok, get, nil, &prefs)
	require.True(t, prefs[0].Email, "a GET changes nothing")
	for range 2 { // idempotent
		resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(body), "no longer receive assigned notification emails")
	}
	a.ok(tok, get, nil, &prefs)
	require.Equal(t, []preference{{"ASSIGNED", false}, {"MENTIONED", false}, {"COMMENTED", true}}, prefs)

	all := a.srv.URL + sideeffects.UnsubscribePath + "?token=" + url.QueryEscape(sideeffects.UnsubscribeToken(key, user, sideeffects.UnsubscribeAll))
	resp, err = http.Post(all, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	a.ok(tok, get, nil, &prefs)
	require.Equal(t, []preference{{"ASSIGNED", false}, {"MENTIONED", false}, {"COMMENTED", false}}, prefs)

	for _, bad := range []string{"", "x", sideeffects.UnsubscribeToken([]byte("another key, also thirty-two b!!"), user, "assigned")} {
		resp, err := http.Post(a.srv.URL+sideeffects.UnsubscribePath+"?token="+url.QueryEscape(bad), "text/plain", nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}
	req, _ := http.NewRequest(http.MethodPut, link, nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestExpiredInvitation: an invitation sent more than InvitationTTL ago is not pending, accepting
// it is INVITATION_EXPIRED, and the address can be invited again.
func TestExpiredInvitation(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "EX")
	carolID := "carol-" + t.Name()
	carol := token(t, carolID, time.Hour)
	// Sent eight days ago: commands with a clock of then, over the same store.
	then := time.Now().Add(-domain.InvitationTTL - 24*time.Hour)
	rt, err := commands.NewRuntime(a.es, domain.NewRegistry(), commands.Options{Now: func() time.Time { return then }})
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true}
	old, err := h.InviteMember.Handle(context.Background(), commands.InviteMember{Actor: alice, WorkspaceID: mustUUID(t, tm.ws),
		Email: carolID + "@example.com", Role: domain.RoleMember})
	require.NoError(t, err)
	tok := graph.ConsistencyToken(old.Result)

	var got []invitation
	a.ok(carol, `query($tok: String) { myInvitations(consistentWith: $tok) { id } }`, map[string]any{"tok": tok}, &got)
	require.Empty(t, got)
	a.ok(tm.alice, `query($ws: ID!, $tok: String) { invitations(workspaceId: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tok}, &got)
	require.Empty(t, got)
	accept := `mutation($ws: ID!, $i: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { id } }`
	r := a.do(carol, accept, map[string]any{"ws": tm.ws, "i": old.InvitationID.String()})
	require.Equal(t, "INVITATION_EXPIRED", code(t, r), "%v", r.Errors)

	var again struct{ InvitationID string }
	a.ok(tm.alice, `mutation($ws: ID!, $email: String!) { inviteMember(input: {workspaceId: $ws, email: $email, role: MEMBER}) { invitationId } }`,
		map[string]any{"ws": tm.ws, "email": carolID + "@example.com"}, &again)
	a.ok(carol, accept, map[string]any{"ws": tm.ws, "i": again.InvitationID}, &result{})
}
