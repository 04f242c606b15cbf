package graph_test

import (
	"context"
	"slices"
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

// filterTeam is a team's workspace with six tasks of varied fields, and a second workspace
// (alice's) with a task of its own.
type filterTeam struct {
	team
	keys           map[string]string // task id → key
	otherWorkspace string
	otherProject   string
	otherTask      string
}

func newFilterTeam(t *testing.T, a *api) filterTeam {
	t.Helper()
	ctx := context.Background()
	tm := newTeam(t, a, "FT")
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	project := mustUUID(t, tm.project)
	now := time.Now().UTC()
	soon, later, overdue := now.Add(3*24*time.Hour), now.Add(30*24*time.Hour), now.Add(-2*24*time.Hour)
	ft := filterTeam{team: tm, keys: map[string]string{}}
	for _, c := range []commands.CreateTask{
		{Title: "Fix the login page", Priority: domain.PriorityHigh, Labels: []string{"Bug"}, Assignee: domain.UserID(tm.bobID), DueDate: &soon}, // FT-1
		{Title: "Authentication flow", Priority: domain.PriorityUrgent, Labels: []string{"backend", "ui"}, DueDate: &overdue},                    // FT-2
		{Title: "Release notes", Priority: domain.PriorityLow, DueDate: &later},                                                                  // FT-3
		{Title: "Billing export", Labels: []string{"BUG", "export"}, Assignee: domain.UserID(tm.aliceID)},                                        // FT-4
		{Title: "Logout button", Priority: domain.PriorityMedium, Labels: []string{"ui"}},                                                        // FT-5
		{Title: "Archived idea", Labels: []string{"bug"}},                                                                                        // FT-6, archived
	} {
		c.Actor, c.ProjectID = alice, project
		res, err := a.h.CreateTask.Handle(ctx, c)
		require.NoError(t, err)
		ft.keys[res.ID.String()] = res.Key
		if res.Key == "FT-6" {
			_, err = a.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: alice, TaskID: res.ID})
			require.NoError(t, err)
		}
	}
	other, err := a.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: alice, Name: "Elsewhere"})
	require.NoError(t, err)
	op, err := a.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: alice, WorkspaceID: other.ID, Name: "Else", Key: "EL"})
	require.NoError(t, err)
	ot, err := a.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: alice, ProjectID: op.ID, Title: "Fix the login page",
		Labels: []string{"bug"}, Priority: domain.PriorityHigh})
	require.NoError(t, err)
	ft.otherWorkspace, ft.otherProject, ft.otherTask = other.ID.String(), op.ID.String(), ot.ID.String()
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": graph.ConsistencyToken(ot.Result)}, &struct{}{})
	return ft
}

const filterQuery = `query($ws: ID!, $f: TaskFilter, $o: TaskOrder, $first: Int, $after: String, $last: Int, $before: String) {
	tasks(workspaceId: $ws, filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
		edges { cursor node { id key } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

type filterPage struct {
	Edges []struct {
		Cursor string
		Node   struct{ ID, Key string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
}

func (p filterPage) keys() []string {
	out := []string{}
	for _, e := range p.Edges {
		out = append(out, e.Node.Key)
	}
	return out
}

// TestTaskFilterGrammar: each field's comparators, and/or, relative dates, case-insensitive labels,
// prefix search and the orders, through the API.
func TestTaskFilterGrammar(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ft := newFilterTeam(t, a)
	keys := func(filter map[string]any, order ...string) []string {
		t.Helper()
		vars := map[string]any{"ws": ft.ws, "f": filter}
		if len(order) > 0 {
			vars["o"] = order[0]
		}
		var pg filterPage
		a.ok(ft.bob, filterQuery, vars, &pg)
		return pg.keys()
	}
	for name, c := range map[string]struct {
		filter map[string]any
		want   []string
	}{
		"status in":            {map[string]any{"status": map[string]any{"in": []string{"todo"}}}, []string{"FT-1", "FT-2", "FT-3", "FT-4", "FT-5"}},
		"status nin":           {map[string]any{"status": map[string]any{"nin": []string{"todo"}}}, []string{}},
		"unassigned":           {map[string]any{"assignee": map[string]any{"null": true}}, []string{"FT-2", "FT-3", "FT-5"}},
		"assignee neq (nulls)": {map[string]any{"assignee": map[string]any{"neq": ft.bobID}}, []string{"FT-2", "FT-3", "FT-4", "FT-5"}},
		"labels some, any case": {map[string]any{"labels": map[string]any{"some": map[string]any{"eq": "bug"}}},
			[]string{"FT-1", "FT-4"}},
		"labels some in":  {map[string]any{"labels": map[string]any{"some": map[string]any{"in": []string{"UI", "Export"}}}}, []string{"FT-2", "FT-4", "FT-5"}},
		"labels every in": {map[string]any{"labels": map[string]any{"every": map[string]any{"in": []string{"UI", "Backend"}}}}, []string{"FT-2", "FT-3", "FT-5"}},
		"labels none, and empty": {map[string]any{"labels": map[string]any{"none": map[string]any{"eq": "BUG"}, "empty": false}},
			[]string{"FT-2", "FT-5"}},
		"due within 7 days":           {map[string]any{"dueDate": map[string]any{"lt": "P7D"}}, []string{"FT-1", "FT-2"}},
		"due from now to 7 days":      {map[string]any{"dueDate": map[string]any{"gte": "PT0S", "lt": "P1W"}}, []string{"FT-1"}},
		"overdue (absolute date)":     {map[string]any{"dueDate": map[string]any{"lt": time.Now().UTC().Format(time.DateOnly)}}, []string{"FT-2"}},
		"no due date":                 {map[string]any{"dueDate": map[string]any{"null": true}}, []string{"FT-4", "FT-5"}},
		"updated in the last 2 weeks": {map[string]any{"updatedAt": map[string]any{"gt": "-P2W"}}, []string{"FT-1", "FT-2", "FT-3", "FT-4", "FT-5"}},
		"created over a day ago":      {map[string]any{"createdAt": map[string]any{"lt": "-P1D"}}, []string{}},
		"priority at least high":      {map[string]any{"priority": map[string]any{"gte": "HIGH"}}, []string{"FT-1", "FT-2"}},
		"priority in":                 {map[string]any{"priority": map[string]any{"in": []string{"NONE", "LOW"}}}, []string{"FT-3", "FT-4"}},
		"number":                      {map[string]any{"number": map[string]any{"gt": 1, "lte": 3}}, []string{"FT-2", "FT-3"}},
		"title startsWith":            {map[string]any{"title": map[string]any{"startsWith": "Lo"}}, []string{"FT-5"}},
		"title containsIgnoreCase":    {map[string]any{"title": map[string]any{"containsIgnoreCase": "EXPORT"}}, []string{"FT-4"}},
		"archived":                    {map[string]any{"archived": map[string]any{"eq": true}}, []string{"FT-6"}},
		"or":                          {map[string]any{"or": []any{map[string]any{"priority": map[string]any{"eq": "URGENT"}}, map[string]any{"title": map[string]any{"startsWith": "Rel"}}}}, []string{"FT-2", "FT-3"}},
		"and of or": {map[string]any{"and": []any{
			map[string]any{"or": []any{map[string]any{"assignee": map[string]any{"null": true}}, map[string]any{"labels": map[string]any{"some": map[string]any{"eq": "bug"}}}}},
			map[string]any{"dueDate": map[string]any{"null": false}}}}, []string{"FT-1", "FT-2", "FT-3"}},
		"prefix search":              {map[string]any{"search": "fix lo"}, []string{"FT-1"}},
		"prefix search of two words": {map[string]any{"search": "lo"}, []string{"FT-1", "FT-5"}},
		"search and a filter":        {map[string]any{"search": "lo", "labels": map[string]any{"some": map[string]any{"eq": "UI"}}}, []string{"FT-5"}},
		"a key":                      {map[string]any{"search": "FT-2"}, []string{"FT-2"}},
		"deprecated shorthands": {map[string]any{"projectId": ft.project, "label": "BUG", "assigneeId": ft.bobID, "dueBefore": time.Now().Add(7 * 24 * time.Hour).Format(time.RFC3339)},
			[]string{"FT-1"}},
	} {
		require.ElementsMatch(t, c.want, keys(c.filter), name)
	}
	desc, asc := keys(nil, "UPDATED_DESC"), keys(nil, "UPDATED_ASC")
	require.Len(t, desc, 5)
	slices.Reverse(asc)
	require.Equal(t, desc, asc, "UPDATED_ASC is UPDATED_DESC reversed")
	require.Equal(t, []string{"FT-1", "FT-2", "FT-3", "FT-4", "FT-5"}, keys(map[string]any{"project": map[string]any{"eq": ft.project}}, "NUMBER"))
}

// TestTaskFilterPagesBothWays: a filtered list walked forward with first/after and backward
// with last/before gives the same tasks in the same order, full pages, and Relay's page info.
func TestTaskFilterPagesBothWays(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ft := newFilterTeam(t, a)
	for _, c := range []struct {
		filter map[string]any
		order  string
		want   int
		size   int
	}{
		{map[string]any{"includeArchived": true}, "UPDATED_DESC", 6, 2},
		{map[string]any{"labels": map[string]any{"some": map[string]any{"in": []string{"bug", "ui"}}}}, "UPDATED_ASC", 4, 2},
		{map[string]any{"project": map[string]any{"eq": ft.project}, "priority": map[string]any{"neq": "NONE"}}, "NUMBER", 4, 2},
		{map[string]any{"search": "l"}, "RELEVANCE", 2, 1}, // login, logout
	} {
		vars := map[string]any{"ws": ft.ws, "f": c.filter, "o": c.order, "first": c.size}
		var forward []string
		for i := 0; ; i++ {
			var pg filterPage
			a.ok(ft.bob, filterQuery, vars, &pg)
			forward = append(forward, pg.keys()...)
			require.Equal(t, i > 0, pg.PageInfo.HasPreviousPage, "after a cursor")
			if len(pg.Edges) > 0 {
				require.Equal(t, pg.Edges[0].Cursor, *pg.PageInfo.StartCursor)
				require.Equal(t, pg.Edges[len(pg.Edges)-1].Cursor, *pg.PageInfo.EndCursor)
			}
			if !pg.PageInfo.HasNextPage {
				break
			}
			require.Len(t, pg.Edges, c.size)
			vars["after"] = *pg.PageInfo.EndCursor
		}
		require.Len(t, forward, c.want, "%v", c.filter)
		vars = map[string]any{"ws": ft.ws, "f": c.filter, "o": c.order, "last": c.size}
		var backward []string
		for i := 0; ; i++ {
			var pg filterPage
			a.ok(ft.bob, filterQuery, vars, &pg)
			backward = append(pg.keys(), backward...)
			require.Equal(t, i > 0, pg.PageInfo.HasNextPage, "before a cursor")
			if !pg.PageInfo.HasPreviousPage {
				break
			}
			require.Len(t, pg.Edges, c.size)
			vars["before"] = *pg.PageInfo.StartCursor
		}
		require.Equal(t, forward, backward, "%v %s", c.filter, c.order)
		// last: 0 is an empty page that still says whether there is one before.
		var pg filterPage
		a.ok(ft.bob, filterQuery, map[string]any{"ws": ft.ws, "f": c.filter, "o": c.order, "last": 0}, &pg)
		require.Empty(t, pg.Edges)
		require.True(t, pg.PageInfo.HasPreviousPage)
	}
}

// TestTaskFilterTenant: a filter never reaches past the workspace asked for: another
// workspace's project, task ids or labels select nothing, whatever the and/or around them.
func TestTaskFilterTenant(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ft := newFilterTeam(t, a)
	for name, f := range map[string]map[string]any{
		"project":     {"project": map[string]any{"eq": ft.otherProject}},
		"projectId":   {"projectId": ft.otherProject},
		"project in":  {"project": map[string]any{"in": []string{ft.otherProject}}, "includeArchived": true},
		"task id":     {"id": map[string]any{"in": []string{ft.otherTask}}},
		"or with ids": {"or": []any{map[string]any{"id": map[string]any{"eq": ft.otherTask}}, map[string]any{"project": map[string]any{"eq": ft.otherProject}}}},
		"search":      {"search": "fix login", "project": map[string]any{"eq": ft.otherProject}},
	} {
		for _, tok := range []string{ft.alice, ft.bob} { // alice is a member of both workspaces
			var pg filterPage
			a.ok(tok, filterQuery, map[string]any{"ws": ft.ws, "f": f}, &pg)
			require.Empty(t, pg.Edges, name)
		}
	}
	// The same search in its own workspace finds only its own task.
	var pg filterPage
	a.ok(ft.alice, filterQuery, map[string]any{"ws": ft.ws, "f": map[string]any{"search": "fix login"}}, &pg)
	require.Equal(t, []string{"FT-1"}, pg.keys())
	// Bob is no member of the other workspace: no filter lists its tasks to him.
	r := a.do(ft.bob, filterQuery, map[string]any{"ws": ft.otherWorkspace, "f": map[string]any{"project": map[string]any{"eq": ft.otherProject}}})
	require.NotEmpty(t, r.Errors)
	require.NotContains(t, string(mustJSON(t, r.Data)), "EL-1")
}

// TestTaskFilterErrors: each bound of the grammar, each malformed value and each misuse is
// INVALID_INPUT naming the argument's path, and runs no read.
func TestTaskFilterErrors(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tm := newTeam(t, a, "FE")
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	nested := map[string]any{"status": map[string]any{"eq": "todo"}}
	for range 5 {
		nested = map[string]any{"and": []any{nested}}
	}
	many := []any{}
	for range 51 {
		many = append(many, map[string]any{})
	}
	long := strings.Repeat("x", 256)
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	for field, c := range map[string]struct {
		filter map[string]any
		args   map[string]any
	}{
		"filter.and[0].and[0].and[0].and[0].and": {filter: nested},
		"filter.or[50]":                          {filter: map[string]any{"or": many}},
		"filter.id.in":                           {filter: map[string]any{"id": map[string]any{"in": ids}}},
		"filter.title.startsWith":                {filter: map[string]any{"title": map[string]any{"startsWith": long}}},
		"filter.labels.some.eq":                  {filter: map[string]any{"labels": map[string]any{"some": map[string]any{"eq": long}}}},
		"filter.search":                          {filter: map[string]any{"search": long}},
		"filter.or[1].search":                    {filter: map[string]any{"or": []any{map[string]any{}, map[string]any{"search": "x"}}}},
		"filter.and[0].includeArchived":          {filter: map[string]any{"and": []any{map[string]any{"includeArchived": true}}}},
		"filter.project.eq":                      {filter: map[string]any{"project": map[string]any{"eq": "not-an-id"}}},
		"filter.projectId":                       {filter: map[string]any{"projectId": "../p"}},
		"filter.or[0].label":                     {filter: map[string]any{"or": []any{map[string]any{"label": long}}}},
		"filter.id.nin[1]":                       {filter: map[string]any{"id": map[string]any{"nin": []string{uuid.NewString(), "x"}}}},
		"filter.dueDate.lt":                      {filter: map[string]any{"dueDate": map[string]any{"lt": "P7X"}}},
		"filter.or[1].dueDate.lt":                {filter: map[string]any{"or": []any{map[string]any{}, map[string]any{"dueDate": map[string]any{"lt": "soon"}}}}},
		"filter.updatedAt.gt":                    {filter: map[string]any{"updatedAt": map[string]any{"gt": "-P99999Y"}}},
		"filter.createdAt.gte":                   {filter: map[string]any{"createdAt": map[string]any{"gte": "P1.5M"}}},
		"filter.dueDate.eq":                      {filter: map[string]any{"dueDate": map[string]any{"eq": "P"}}},
		"orderBy":                                {filter: map[string]any{"status": map[string]any{"eq": "todo"}}, args: map[string]any{"o": "NUMBER"}},
		"last":                                   {args: map[string]any{"last": 201}},
		"before":                                 {args: map[string]any{"last": 2, "before": "garbage"}},
	} {
		vars := map[string]any{"ws": tm.ws, "f": c.filter}
		for k, v := range c.args {
			vars[k] = v
		}
		r := a.do(tm.bob, filterQuery, vars)
		require.Equal(t, "INVALID_INPUT", code(t, r), field)
		require.Equal(t, field, r.Errors[0].Extensions["field"], "%s: %s", field, r.Errors[0].Message)
	}
	r := a.do(tm.bob, filterQuery, map[string]any{"ws": tm.ws, "o": "RELEVANCE"})
	require.Equal(t, "INVALID_INPUT", code(t, r))
	require.Equal(t, "orderBy", r.Errors[0].Extensions["field"])
}

// TestTaskFilterStatementBudget: the filter grammar costs the list no statement: a page with
// the most involved filter runs as many statements as the unfiltered page, and as few.
func TestTaskFilterStatementBudget(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ft := newFilterTeam(t, a)
	const q = `query($ws: ID!, $f: TaskFilter, $last: Int) { tasks(workspaceId: $ws, filter: $f, last: $last) {
		edges { node { key assignee { displayName } project { key } } } pageInfo { hasPreviousPage } } }`
	count := func(f map[string]any, last any) int {
		t.Helper()
		r := a.do(ft.alice, q, map[string]any{"ws": ft.ws, "f": f, "last": last})
		require.Empty(t, r.Errors)
		n, err := strconv.Atoi(r.Statements)
		require.NoError(t, err)
		return n
	}
	plain := count(nil, nil)
	involved := map[string]any{"search": "l", "or": []any{
		map[string]any{"labels": map[string]any{"some": map[string]any{"in": []string{"bug", "ui"}}, "every": map[string]any{"neq": "x"}}},
		map[string]any{"and": []any{map[string]any{"dueDate": map[string]any{"lt": "P7D", "null": false}}, map[string]any{"assignee": map[string]any{"null": true}}}},
		map[string]any{"title": map[string]any{"startsWith": "Re", "containsIgnoreCase": "NOTE"}, "priority": map[string]any{"gte": "LOW"}},
	}}
	require.Equal(t, plain, count(involved, nil))
	require.Equal(t, plain, count(involved, 2))
	require.LessOrEqual(t, plain, 6)
}

// TestTaskPageCost: a backward page costs its own size (last), which takes precedence over first
// and its default.
func TestTaskPageCost(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxComplexity = 20 })
	tok := token(t, "cost-"+t.Name(), time.Hour)
	cost := func(page string) float64 {
		t.Helper()
		r := a.do(tok, `query($w: ID!) { `+page+` }`, map[string]any{"w": "00000000-0000-0000-0000-000000000000"})
		require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", code(t, r))
		return r.Errors[0].Extensions["cost"].(float64)
	}
	// 1 + n × (edges 1 + node 1)
	require.Equal(t, 1+2*150.0, cost(`tasks(workspaceId: $w, last: 150) { edges { node { id } } }`))
	require.Equal(t, 1+2*50.0, cost(`tasks(workspaceId: $w, last: 3) { edges { node { id } } }`), "first's default bounds it too")
	require.Equal(t, 1+2*200.0, cost(`tasks(workspaceId: $w, first: 10, last: 200) { edges { node { id } } }`))
}
