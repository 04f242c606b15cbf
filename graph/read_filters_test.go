package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
)

// connPage is one page of a connection: the edges' node ids and the page info.
type connPage struct {
	Edges []struct {
		Cursor string
		Node   struct{ ID string }
	}
	PageInfo struct {
		HasNextPage bool
		EndCursor   *string
	}
}

// walkPages follows a connection from its first page with first/after, returning every node id
// in order and the size of each page.
func walkPages(a *api, tok, query string, vars map[string]any) (ids []string, sizes []int) {
	a.t.Helper()
	for range 50 {
		var pg connPage
		a.ok(tok, query, vars, &pg)
		sizes = append(sizes, len(pg.Edges))
		for _, e := range pg.Edges {
			ids = append(ids, e.Node.ID)
		}
		if !pg.PageInfo.HasNextPage {
			return ids, sizes
		}
		require.NotNil(a.t, pg.PageInfo.EndCursor)
		vars["after"] = *pg.PageInfo.EndCursor
	}
	a.t.Fatal("the connection never ended")
	return nil, nil
}

// TestTasksDueBeforePages: tasks(filter: {dueBefore}) pages are full and walk every matching task
// exactly once, with non-matching tasks (due later, no due date, archived) interleaved among the
// matching ones in both orders.
func TestTasksDueBeforePages(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "DB")
	ctx := context.Background()
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	project := mustUUID(t, tm.project)
	cutoff := time.Now().UTC().Truncate(time.Second)
	early, late := cutoff.Add(-72*time.Hour), cutoff.Add(72*time.Hour)
	var matching []string
	var last commands.Result
	for i := range 21 {
		cmd := commands.CreateTask{Actor: alice, ProjectID: project, Title: "task"}
		switch i % 3 {
		case 0:
			cmd.DueDate = &early
		case 1:
			cmd.DueDate = &late
		} // 2: no due date
		res, err := a.h.CreateTask.Handle(ctx, cmd)
		require.NoError(t, err)
		if i%3 == 0 {
			matching = append(matching, res.ID.String())
		}
	}
	// One matching task archived: listed only with includeArchived.
	res, err := a.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: alice, TaskID: mustUUID(t, matching[0])})
	require.NoError(t, err)
	last = res
	tok := graph.ConsistencyToken(last)
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tok}, &struct{}{})

	const q = `query($ws: ID!, $f: TaskFilter, $o: TaskOrder, $after: String) {
		tasks(workspaceId: $ws, filter: $f, orderBy: $o, first: 3, after: $after) {
			edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`
	for _, order := range []string{"UPDATED_DESC", "NUMBER"} {
		ids, sizes := walkPages(a, tm.bob, q, map[string]any{"ws": tm.ws, "o": order,
			"f": map[string]any{"projectId": tm.project, "dueBefore": cutoff.Format(time.RFC3339)}})
		require.ElementsMatch(t, matching[1:], ids, order)
		require.Equal(t, []int{3, 3}, sizes, "%s: full pages, and no empty last one", order)
		ids, sizes = walkPages(a, tm.bob, q, map[string]any{"ws": tm.ws, "o": order,
			"f": map[string]any{"projectId": tm.project, "dueBefore": cutoff.Format(time.RFC3339), "includeArchived": true}})
		require.ElementsMatch(t, matching, ids, order)
		require.Equal(t, []int{3, 3, 1}, sizes, order)
	}
	// A search pages too, its cursors in relevance order, with the due-date filter before each
	// page's limit.
	ids, sizes := walkPages(a, tm.bob, q, map[string]any{"ws": tm.ws,
		"f": map[string]any{"search": "task", "dueBefore": cutoff.Format(time.RFC3339)}})
	require.ElementsMatch(t, matching[1:], ids)
	require.Equal(t, []int{3, 3}, sizes)
	var pg connPage
	a.ok(tm.bob, q, map[string]any{"ws": tm.ws, "f": map[string]any{"search": "task"}}, &pg)
	r := a.do(tm.bob, q, map[string]any{"ws": tm.ws, "f": map[string]any{"projectId": tm.project}, "after": pg.Edges[0].Cursor})
	require.Equal(t, "INVALID_INPUT", code(t, r), "a search's cursor is not a list's")
}

// TestNotificationsUnreadOnlyPages: notifications(unreadOnly: true) pages are full, list every
// unread notification exactly once and end where the unread ones end, whatever the read ones
// behind them.
func TestNotificationsUnreadOnlyPages(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "UN")
	ctx := context.Background()
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	project := mustUUID(t, tm.project)
	var last commands.Result
	for range 10 { // each assigned to bob: one notification of his each
		_, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: alice, ProjectID: project, Title: "for bob",
			Assignee: domain.UserID(tm.bobID)})
		require.NoError(t, err)
	}
	// Alice's inbox, and other workspaces', are not bob's.
	other, err := a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: alice, Name: "Other"})
	require.NoError(t, err)
	last = other
	tok := graph.ConsistencyToken(last)

	const q = `query($ws: ID!, $unread: Boolean, $after: String, $tok: String) {
		notifications(workspaceId: $ws, unreadOnly: $unread, first: 4, after: $after, consistentWith: $tok) {
			edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`
	all, sizes := walkPages(a, tm.bob, q, map[string]any{"ws": tm.ws, "tok": tok})
	require.Len(t, all, 10)
	require.Equal(t, []int{4, 4, 2}, sizes)
	unread, sizes := walkPages(a, tm.bob, q, map[string]any{"ws": tm.ws, "unread": true})
	require.Equal(t, all, unread, "nothing read yet")
	require.Equal(t, []int{4, 4, 2}, sizes)

	// Bob reads through his 4th oldest notification: the 6 newest stay unread.
	var inbox connPage
	a.ok(tm.bob, `query($ws: ID!) { notifications(workspaceId: $ws, first: 50) { edges { cursor node { id } } } }`,
		map[string]any{"ws": tm.ws}, &inbox)
	require.Equal(t, all[6], inbox.Edges[6].Node.ID)
	var marked bool
	a.ok(tm.bob, `mutation($c: String!) { markNotificationsRead(through: $c) }`, map[string]any{"c": inbox.Edges[6].Cursor}, &marked)
	require.True(t, marked)
	// The mark never moves back, and a cursor that is not one is refused.
	a.ok(tm.bob, `mutation($c: String!) { markNotificationsRead(through: $c) }`, map[string]any{"c": inbox.Edges[9].Cursor}, &marked)
	r := a.do(tm.bob, `mutation { markNotificationsRead(through: "nope") }`, nil)
	require.Len(t, r.Errors, 1)
	require.Equal(t, "INVALID_INPUT", r.Errors[0].Extensions["code"])

	unread, sizes = walkPages(a, tm.bob, q, map[string]any{"ws": tm.ws, "unread": true})
	require.Equal(t, all[:6], unread)
	require.Equal(t, []int{4, 2}, sizes, "full pages, and the last one says so")
	var reads struct {
		Edges []struct{ Node struct{ Read bool } }
	}
	a.ok(tm.bob, `query($ws: ID!) { notifications(workspaceId: $ws, first: 50) { edges { node { read } } } }`,
		map[string]any{"ws": tm.ws}, &reads)
	require.Len(t, reads.Edges, 10, "the whole inbox still lists the read ones")
	for i, e := range reads.Edges {
		require.Equal(t, i >= 6, e.Node.Read, i)
	}
}
