package projections_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

func TestReadModels(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(3)
	ctx := f.ctx
	t1, t2 := w.tasks[0], w.tasks[1]
	_, err := f.h.AssignTask.Handle(ctx, commands.AssignTask{Actor: member, TaskID: t1, Assignee: other.UserID})
	require.NoError(t, err)
	_, err = f.h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: member, TaskID: t1, Status: "in_progress"})
	require.NoError(t, err)
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	title := "Migrate the billing database"
	_, err = f.h.EditTask.Handle(ctx, commands.EditTask{Actor: member, TaskID: t2, Title: &title, DueDate: &past})
	require.NoError(t, err)
	_, err = f.h.AddComment.Handle(ctx, commands.AddComment{Actor: owner, TaskID: t1, Body: "Please look @max and @mia"})
	require.NoError(t, err)
	res, err := f.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: member, TaskID: w.tasks[2]})
	require.NoError(t, err)
	f.applied(res.Position)

	ws, err := f.q.Workspace(ctx, w.ws)
	require.NoError(t, err)
	require.Equal(t, "Acme", ws.Name)
	require.Equal(t, 3, ws.MemberCount)
	members, err := f.q.MemberPages(ctx, []uuid.UUID{w.ws}, projections.Window{})
	require.NoError(t, err)
	require.Len(t, members[w.ws].Items, 3)

	task, err := f.q.Task(ctx, w.ws, t1)
	require.NoError(t, err)
	require.Equal(t, "TF-1", task.Key)
	require.Equal(t, "in_progress", task.Status)
	require.Equal(t, "Max", *task.AssigneeName)
	require.Equal(t, 1, task.CommentCount)
	byKey, err := f.q.TaskByKey(ctx, w.ws, "TF-1")
	require.NoError(t, err)
	require.Equal(t, t1, byKey.ID)
	_, err = f.q.TaskByKey(ctx, w.ws, "TF-99")
	require.ErrorIs(t, err, projections.ErrNotFound)

	board, err := f.q.Board(ctx, w.ws, w.project, 0)
	require.NoError(t, err)
	require.Len(t, board, 2, "archived tasks leave the board")
	require.Equal(t, []uuid.UUID{t1, t2}, []uuid.UUID{board[0].ID, board[1].ID})

	pages, err := f.q.ProjectPages(ctx, []uuid.UUID{w.ws}, projections.Window{})
	require.NoError(t, err)
	projects := pages[w.ws].Items
	require.Len(t, projects, 1)
	require.Equal(t, map[string]int{"todo": 1, "in_progress": 1}, projects[0].TaskCounts)
	require.Equal(t, 1, projects[0].OverdueTasks)
	require.Equal(t, 2, projects[0].OpenTasks)

	found, err := search(f, w.ws, "billing databases")
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, t2, found[0].ID)
	found, err = search(f, w.ws, "TF-1")
	require.NoError(t, err)
	require.NotEmpty(t, found)
	require.Equal(t, t1, found[0].ID)

	comments, err := f.q.CommentPages(ctx, keys(w.ws, t1), projections.Window{Limit: 10})
	require.NoError(t, err)
	require.Len(t, comments[projections.Key{WorkspaceID: w.ws, ID: t1}].Items, 1)
	require.Equal(t, "Olga", comments[projections.Key{WorkspaceID: w.ws, ID: t1}].Items[0].AuthorName)

	feed, err := f.q.ActivityFeed(ctx, w.ws, projections.Window{Limit: 3})
	require.NoError(t, err)
	require.Len(t, feed.Items, 3)
	require.Equal(t, `Mia archived TF-3 “Task number 3”`, feed.Items[0].Line)
	require.True(t, feed.HasNext)
	require.False(t, feed.HasPrevious)
	older, err := f.q.ActivityFeed(ctx, w.ws, projections.Window{Limit: 100, Cursor: feed.Items[2].Cursor()})
	require.NoError(t, err)
	require.Contains(t, lines(older.Items), `Mia moved TF-1 “Task number 1” from todo to in_progress`)
	require.Contains(t, lines(older.Items), `Mia renamed TF-2 “Task number 2” to “Migrate the billing database”`)
	require.False(t, older.HasNext)
	require.True(t, older.HasPrevious)
	// Backward from the older page's first item: the newest three again.
	newer, err := f.q.ActivityFeed(ctx, w.ws, projections.Window{Limit: 100, Backward: true, Cursor: older.Items[0].Cursor()})
	require.NoError(t, err)
	require.Equal(t, lines(feed.Items), lines(newer.Items))
	require.False(t, newer.HasPrevious)
	require.True(t, newer.HasNext)
	_, err = f.q.ActivityFeed(ctx, w.ws, projections.Window{Cursor: comments[projections.Key{WorkspaceID: w.ws, ID: t1}].Items[0].Cursor()})
	require.ErrorIs(t, err, projections.ErrBadCursor, "another list's cursor")

	inbox, err := f.q.Notifications(ctx, w.ws, "max", nil, 10)
	require.NoError(t, err)
	require.Len(t, inbox.Items, 2) // assigned, then mentioned
	require.Equal(t, projections.NotifyMentioned, inbox.Items[0].Kind)
	require.Equal(t, `Mia assigned you TF-1 “Task number 1”`, inbox.Items[1].Line)
	require.Equal(t, 2, inbox.Unread)
	require.NoError(t, f.q.MarkNotificationsRead(ctx, "max", inbox.Items[1].Position))
	inbox, err = f.q.Notifications(ctx, w.ws, "max", nil, 10)
	require.NoError(t, err)
	require.Equal(t, 1, inbox.Unread)
	mia, err := f.q.Notifications(ctx, w.ws, "mia", nil, 10)
	require.NoError(t, err)
	require.Len(t, mia.Items, 1, "mentioned; the creator is mentioned already")

	// Pagination: every task exactly once, whatever the page size.
	for _, order := range []string{projections.OrderUpdated, projections.OrderNumber} {
		var seen []uuid.UUID
		page := projections.TaskPage{}
		for {
			page, err = f.q.ListTasks(ctx, w.ws, projections.TaskFilter{ProjectID: w.project, IncludeArchived: true, Order: order, After: page.Next, Limit: 1})
			require.NoError(t, err)
			for _, tk := range page.Tasks {
				seen = append(seen, tk.ID)
			}
			if page.Next == "" {
				break
			}
		}
		require.ElementsMatch(t, w.tasks, seen, order)
	}
	filtered, err := f.q.ListTasks(ctx, w.ws, projections.TaskFilter{AssigneeID: "max"})
	require.NoError(t, err)
	require.Len(t, filtered.Tasks, 1)

	// Tenant scoping: another workspace's ids return nothing.
	stranger := uuid.New()
	_, err = f.q.Task(ctx, stranger, t1)
	require.ErrorIs(t, err, projections.ErrNotFound)
	_, err = f.q.TaskByKey(ctx, stranger, "TF-1")
	require.ErrorIs(t, err, projections.ErrNotFound)
	byIDs, err := f.q.TasksByKeys(ctx, keys(stranger, w.tasks...))
	require.NoError(t, err)
	require.Empty(t, byIDs)
	board, err = f.q.Board(ctx, stranger, w.project, 0)
	require.NoError(t, err)
	require.Empty(t, board)
	ps, err := f.q.ProjectsByKeys(ctx, keys(stranger, w.project))
	require.NoError(t, err)
	require.Empty(t, ps)
	found, err = search(f, stranger, "billing")
	require.NoError(t, err)
	require.Empty(t, found)
	feed, err = f.q.ActivityFeed(ctx, stranger, projections.Window{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, feed.Items)
	inbox, err = f.q.Notifications(ctx, stranger, "max", nil, 10)
	require.NoError(t, err)
	require.Empty(t, inbox.Items)
	comments, err = f.q.CommentPages(ctx, keys(stranger, t1), projections.Window{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, comments[projections.Key{WorkspaceID: stranger, ID: t1}].Items)
}

// search lists the first page of a search's matches, best first.
func search(f *fixture, ws uuid.UUID, text string) ([]projections.Task, error) {
	page, err := f.q.ListTasks(f.ctx, ws, projections.TaskFilter{Search: text, Order: projections.OrderRelevance, Limit: 10})
	return page.Tasks, err
}

func lines(items []projections.ActivityItem) []string {
	var out []string
	for _, a := range items {
		out = append(out, a.Line)
	}
	return out
}

// TestListTasksDueBefore: the due-date filter is part of the query, so keyset pages are full and
// walk every matching task exactly once, with non-matching tasks (no due date, due later,
// archived) interleaved among them.
func TestListTasksDueBefore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(0)
	ctx := f.ctx
	cutoff := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	early, late := cutoff.Add(-48*time.Hour), cutoff.Add(48*time.Hour)
	var want []uuid.UUID
	for i := range 30 {
		cmd := commands.CreateTask{Actor: member, ProjectID: w.project, Title: "task"}
		switch i % 3 {
		case 0:
			cmd.DueDate = &early
		case 1:
			cmd.DueDate = &late
		} // 2: no due date
		res, err := f.h.CreateTask.Handle(ctx, cmd)
		require.NoError(t, err)
		if i%3 == 0 {
			want = append(want, res.ID)
		}
	}
	// An archived task due early: not listed unless asked for.
	archived := want[3]
	res, err := f.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: member, TaskID: archived})
	require.NoError(t, err)
	f.applied(res.Position)

	walk := func(filter projections.TaskFilter) (seen []uuid.UUID, sizes []int) {
		t.Helper()
		for page := (projections.TaskPage{}); ; {
			filter.After = page.Next
			page, err = f.q.ListTasks(ctx, w.ws, filter)
			require.NoError(t, err)
			sizes = append(sizes, len(page.Tasks))
			for _, tk := range page.Tasks {
				require.NotNil(t, tk.DueDate)
				require.True(t, tk.DueDate.Before(cutoff))
				seen = append(seen, tk.ID)
			}
			if page.Next == "" {
				return seen, sizes
			}
		}
	}
	unarchived := make([]uuid.UUID, 0, len(want))
	for _, id := range want {
		if id != archived {
			unarchived = append(unarchived, id)
		}
	}
	for _, order := range []string{projections.OrderUpdated, projections.OrderNumber} {
		seen, sizes := walk(projections.TaskFilter{ProjectID: w.project, Order: order, DueBefore: &cutoff, Limit: 4})
		require.ElementsMatch(t, unarchived, seen, order)
		require.Equal(t, []int{4, 4, 1}, sizes, "%s: full pages", order)
		seen, _ = walk(projections.TaskFilter{ProjectID: w.project, Order: order, DueBefore: &cutoff, IncludeArchived: true, Limit: 4})
		require.ElementsMatch(t, want, seen, order)
	}
	// Workspace-wide (no project), the default order.
	seen, sizes := walk(projections.TaskFilter{DueBefore: &cutoff, Limit: 3})
	require.ElementsMatch(t, unarchived, seen)
	require.Equal(t, []int{3, 3, 3}, sizes)
	none := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	page, err := f.q.ListTasks(ctx, w.ws, projections.TaskFilter{DueBefore: &none})
	require.NoError(t, err)
	require.Empty(t, page.Tasks)
}

// TestSearchPagesFull: a search and the other filters are all part of the query, so pages of
// matches are full, best match first, and walk every match exactly once, though better-ranked
// matches that the other filters refuse (and tasks that do not match at all) outnumber the page.
func TestSearchPagesFull(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(0)
	ctx := f.ctx
	create := func(title, description string, labels ...string) uuid.UUID {
		t.Helper()
		res, err := f.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: w.project, Title: title,
			Description: description, Labels: labels})
		require.NoError(t, err)
		return res.ID
	}
	var best, labelled, all []uuid.UUID
	for i := range 40 {
		switch i % 4 {
		case 0, 1: // no match
			create(fmt.Sprintf("Refactor the widget %d", i), "")
		case 2: // the best matches, but without the label
			id := create(fmt.Sprintf("Billing export %d", i), "billing billing billing")
			best, all = append(best, id), append(all, id)
		case 3: // weaker matches, labelled
			id := create(fmt.Sprintf("Billing %d", i), "", "urgent")
			labelled, all = append(labelled, id), append(all, id)
		}
	}
	res, err := f.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: member, TaskID: labelled[0]})
	require.NoError(t, err)
	f.applied(res.Position)

	walk := func(filter projections.TaskFilter) (seen []uuid.UUID, sizes []int) {
		t.Helper()
		filter.Search, filter.Order, filter.Limit = "billing", projections.OrderRelevance, 3
		rank := float32(math.Inf(1))
		for page := (projections.TaskPage{}); ; {
			filter.After = page.Next
			page, err = f.q.ListTasks(ctx, w.ws, filter)
			require.NoError(t, err)
			sizes = append(sizes, len(page.Tasks))
			for _, tk := range page.Tasks {
				require.LessOrEqual(t, tk.MatchRank, rank, "best match first")
				rank = tk.MatchRank
				seen = append(seen, tk.ID)
			}
			if page.Next == "" {
				return seen, sizes
			}
		}
	}
	seen, sizes := walk(projections.TaskFilter{Label: "urgent"})
	require.ElementsMatch(t, labelled[1:], seen, "every match once, archived left out")
	require.Equal(t, []int{3, 3, 3}, sizes, "full pages")
	seen, sizes = walk(projections.TaskFilter{Label: "urgent", IncludeArchived: true})
	require.ElementsMatch(t, labelled, seen)
	require.Equal(t, []int{3, 3, 3, 1}, sizes)
	seen, _ = walk(projections.TaskFilter{IncludeArchived: true})
	require.ElementsMatch(t, all, seen)
	require.ElementsMatch(t, best, seen[:len(best)], "the better matches first")

	// A cursor is for its order only.
	_, err = f.q.ListTasks(ctx, w.ws, projections.TaskFilter{Search: "billing", Order: projections.OrderRelevance,
		After: projections.CursorOf(projections.OrderUpdated, projections.Task{ID: all[0]}).String()})
	require.ErrorIs(t, err, projections.ErrBadCursor)
}

// TestUnreadNotifications: the unread filter is part of the query (above the user's read mark),
// so pages are full and every unread notification comes exactly once, none of the read ones.
func TestUnreadNotifications(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(12)
	ctx := f.ctx
	var last commands.Result
	for _, id := range w.tasks {
		res, err := f.h.AssignTask.Handle(ctx, commands.AssignTask{Actor: member, TaskID: id, Assignee: other.UserID})
		require.NoError(t, err)
		last = res
	}
	f.applied(last.Position)
	all, err := f.q.Notifications(ctx, w.ws, "max", nil, 100)
	require.NoError(t, err)
	require.Len(t, all.Items, 12)
	require.Equal(t, 12, all.Unread)

	walk := func(limit int) (seen []uuid.UUID, sizes []int) {
		t.Helper()
		var before *eventstore.GlobalPosition
		for {
			page, err := f.q.UnreadNotifications(ctx, w.ws, "max", before, limit)
			require.NoError(t, err)
			sizes = append(sizes, len(page.Items))
			require.Equal(t, len(page.Items), page.Unread)
			for _, n := range page.Items {
				require.False(t, n.Read)
				seen = append(seen, n.ID)
			}
			if page.Before == nil {
				return seen, sizes
			}
			before = page.Before
		}
	}
	ids := func(ns []projections.Notification) []uuid.UUID {
		out := make([]uuid.UUID, len(ns))
		for i, n := range ns {
			out[i] = n.ID
		}
		return out
	}
	// No read mark yet: everything is unread.
	seen, sizes := walk(5)
	require.Equal(t, ids(all.Items), seen)
	require.Equal(t, []int{5, 5, 2}, sizes)

	// Read through the 5th oldest: the 7 newest are unread, in full pages.
	require.NoError(t, f.q.MarkNotificationsRead(ctx, "max", all.Items[7].Position))
	seen, sizes = walk(3)
	require.Equal(t, ids(all.Items[:7]), seen)
	require.Equal(t, []int{3, 3, 1}, sizes)
	seen, sizes = walk(7)
	require.Equal(t, ids(all.Items[:7]), seen)
	require.Equal(t, []int{7}, sizes)
	page, err := f.q.Notifications(ctx, w.ws, "max", nil, 100)
	require.NoError(t, err)
	require.Len(t, page.Items, 12, "the whole inbox still lists the read ones")
	require.Equal(t, 7, page.Unread)

	// All read: nothing; another user or workspace: nothing.
	require.NoError(t, f.q.MarkNotificationsRead(ctx, "max", all.Items[0].Position))
	page, err = f.q.UnreadNotifications(ctx, w.ws, "max", nil, 10)
	require.NoError(t, err)
	require.Empty(t, page.Items)
	require.Nil(t, page.Before)
	page, err = f.q.UnreadNotifications(ctx, uuid.New(), "max", nil, 10)
	require.NoError(t, err)
	require.Empty(t, page.Items)
}

// TestInWorkspaces: finding a project or task by id alone among a set of workspaces returns it
// only when its workspace is one of them.
func TestInWorkspaces(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(1)
	ctx := f.ctx
	f.caughtUp()
	mine := []uuid.UUID{uuid.New(), w.ws, uuid.New()}
	p, err := f.q.ProjectInWorkspaces(ctx, mine, w.project)
	require.NoError(t, err)
	require.Equal(t, "TF", p.Key)
	tk, err := f.q.TaskInWorkspaces(ctx, mine, w.tasks[0])
	require.NoError(t, err)
	require.Equal(t, "TF-1", tk.Key)
	for _, wss := range [][]uuid.UUID{{uuid.New()}, {}, nil} {
		_, err = f.q.ProjectInWorkspaces(ctx, wss, w.project)
		require.ErrorIs(t, err, projections.ErrNotFound)
		_, err = f.q.TaskInWorkspaces(ctx, wss, w.tasks[0])
		require.ErrorIs(t, err, projections.ErrNotFound)
	}
	_, err = f.q.TaskInWorkspaces(ctx, mine, w.project) // a project's id is no task's
	require.ErrorIs(t, err, projections.ErrNotFound)
}

// TestBoards: the boards of several projects in one statement are each project's Board (rank
// order, archived tasks left out, the per-project limit), grouped by project; another workspace's
// projects, and a project named twice, add nothing.
func TestBoards(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(3)
	ctx := f.ctx
	second, err := f.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: owner, WorkspaceID: w.ws, Name: "Second", Key: "SE"})
	require.NoError(t, err)
	for range 4 {
		_, err = f.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: owner, ProjectID: second.ID, Title: "second"})
		require.NoError(t, err)
	}
	_, err = f.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: member, TaskID: w.tasks[1]})
	require.NoError(t, err)
	f.caughtUp()

	for _, limit := range []int{0, 2} {
		want := map[uuid.UUID][]uuid.UUID{}
		for _, p := range []uuid.UUID{w.project, second.ID} {
			board, err := f.q.Board(ctx, w.ws, p, limit)
			require.NoError(t, err)
			for _, tk := range board {
				want[p] = append(want[p], tk.ID)
			}
		}
		all, err := f.q.BoardsByKeys(ctx, keys(w.ws, second.ID, w.project, second.ID, uuid.New()), limit)
		require.NoError(t, err)
		got := map[uuid.UUID][]uuid.UUID{}
		var order []uuid.UUID
		for _, tk := range all {
			if len(order) == 0 || order[len(order)-1] != tk.ProjectID {
				require.NotContains(t, order, tk.ProjectID, "a project's tasks are together")
				order = append(order, tk.ProjectID)
			}
			got[tk.ProjectID] = append(got[tk.ProjectID], tk.ID)
		}
		require.Equal(t, want, got, "limit %d", limit)
	}
	require.Len(t, func() []projections.Task {
		b, err := f.q.BoardsByKeys(ctx, keys(w.ws, second.ID), 0)
		require.NoError(t, err)
		return b
	}(), 4)

	stranger, err := f.q.BoardsByKeys(ctx, keys(uuid.New(), w.project, second.ID), 0)
	require.NoError(t, err)
	require.Empty(t, stranger)
	none, err := f.q.BoardsByKeys(ctx, nil, 0)
	require.NoError(t, err)
	require.Empty(t, none)
}

// keys names ids of workspace ws.
func names(ms []projections.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.DisplayName
	}
	return out
}

func keys(ws uuid.UUID, ids ...uuid.UUID) []projections.Key {
	out := make([]projections.Key, len(ids))
	for i, id := range ids {
		out[i] = projections.Key{WorkspaceID: ws, ID: id}
	}
	return out
}

// TestBatchQueriesAcrossWorkspaces: the batch queries by (workspace, id) pairs serve keys of
// several workspaces in one call, each key matching only a row of its own workspace: a key
// naming another workspace's row (a row that exists) finds nothing, as with a statement per
// workspace. The queries by a list of workspaces keep each workspace's rows together, in the
// order given.
func TestBatchQueriesAcrossWorkspaces(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	a, b := f.world(2), f.world(2)
	ctx := f.ctx
	for _, task := range []uuid.UUID{a.tasks[0], b.tasks[1]} {
		_, err := f.h.AddComment.Handle(ctx, commands.AddComment{Actor: member, TaskID: task, Body: "hi " + task.String()})
		require.NoError(t, err)
	}
	f.caughtUp()

	// Tasks: both workspaces' keys in one call; crossed keys (a's workspace, b's task) find nothing.
	mixed := append(keys(a.ws, a.tasks...), keys(b.ws, b.tasks...)...)
	crossed := append(keys(a.ws, b.tasks...), keys(b.ws, a.tasks...)...)
	tasks, err := f.q.TasksByKeys(ctx, append(mixed, crossed...))
	require.NoError(t, err)
	var got []projections.Key
	for _, tk := range tasks {
		got = append(got, projections.Key{WorkspaceID: tk.WorkspaceID, ID: tk.ID})
	}
	require.ElementsMatch(t, mixed, got)
	none, err := f.q.TasksByKeys(ctx, crossed)
	require.NoError(t, err)
	require.Empty(t, none)

	projects, err := f.q.ProjectsByKeys(ctx, append(keys(a.ws, a.project, b.project), keys(b.ws, b.project, b.project)...))
	require.NoError(t, err)
	require.Len(t, projects, 2, "a's project, b's once; b's project under a's workspace: nothing")
	for _, p := range projects {
		require.Contains(t, []projections.Key{{WorkspaceID: a.ws, ID: a.project}, {WorkspaceID: b.ws, ID: b.project}},
			projections.Key{WorkspaceID: p.WorkspaceID, ID: p.ID})
	}

	boards, err := f.q.BoardsByKeys(ctx, append(keys(a.ws, a.project, b.project), keys(b.ws, b.project)...), 0)
	require.NoError(t, err)
	require.Len(t, boards, 4)
	for _, tk := range boards {
		require.Contains(t, []uuid.UUID{a.project, b.project}, tk.ProjectID)
		require.Equal(t, map[uuid.UUID]uuid.UUID{a.project: a.ws, b.project: b.ws}[tk.ProjectID], tk.WorkspaceID)
	}

	pages, err := f.q.CommentPages(ctx, append(mixed, crossed...), projections.Window{})
	require.NoError(t, err)
	var comments []projections.Comment
	for _, p := range pages {
		comments = append(comments, p.Items...)
	}
	require.Len(t, comments, 2)
	for _, c := range comments {
		require.Contains(t, []projections.Key{{WorkspaceID: a.ws, ID: a.tasks[0]}, {WorkspaceID: b.ws, ID: b.tasks[1]}},
			projections.Key{WorkspaceID: c.WorkspaceID, ID: c.TaskID})
		require.Equal(t, "hi "+c.TaskID.String(), c.Body)
	}
	pages, err = f.q.CommentPages(ctx, crossed, projections.Window{})
	require.NoError(t, err)
	for _, p := range pages {
		require.Empty(t, p.Items)
	}

	stranger := uuid.New()
	members, err := f.q.MembersByKeys(ctx, []projections.MemberKey{{WorkspaceID: a.ws, UserID: "mia"},
		{WorkspaceID: b.ws, UserID: "max"}, {WorkspaceID: b.ws, UserID: "max"}, {WorkspaceID: stranger, UserID: "olga"},
		{WorkspaceID: a.ws, UserID: "nobody"}})
	require.NoError(t, err)
	require.Len(t, members, 2)
	require.ElementsMatch(t, []projections.MemberKey{{WorkspaceID: a.ws, UserID: "mia"}, {WorkspaceID: b.ws, UserID: "max"}},
		[]projections.MemberKey{{WorkspaceID: members[0].WorkspaceID, UserID: members[0].UserID},
			{WorkspaceID: members[1].WorkspaceID, UserID: members[1].UserID}})

	// By a list of workspaces: each one's page; unknown ones have an empty page.
	all, err := f.q.MemberPages(ctx, []uuid.UUID{b.ws, stranger, a.ws}, projections.Window{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Empty(t, all[stranger].Items)
	for _, ws := range []uuid.UUID{a.ws, b.ws} {
		ms := all[ws].Items
		require.Len(t, ms, 3)
		require.Equal(t, []string{"Max", "Mia", "Olga"}, []string{ms[0].DisplayName, ms[1].DisplayName, ms[2].DisplayName})
		for _, m := range ms {
			require.Equal(t, ws, m.WorkspaceID)
		}
	}
	// Pages of 2, both ways.
	first, err := f.q.MemberPages(ctx, []uuid.UUID{b.ws, a.ws}, projections.Window{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"Max", "Mia"}, names(first[a.ws].Items))
	require.True(t, first[a.ws].HasNext)
	rest, err := f.q.MemberPages(ctx, []uuid.UUID{b.ws, a.ws}, projections.Window{Limit: 2, Cursor: first[a.ws].Items[1].Cursor()})
	require.NoError(t, err)
	require.Equal(t, []string{"Olga"}, names(rest[b.ws].Items))
	require.Equal(t, projections.Page[projections.Member]{Items: rest[a.ws].Items, HasPrevious: true}, rest[a.ws])
	last, err := f.q.MemberPages(ctx, []uuid.UUID{a.ws}, projections.Window{Limit: 2, Backward: true})
	require.NoError(t, err)
	require.Equal(t, []string{"Mia", "Olga"}, names(last[a.ws].Items))
	require.Equal(t, projections.Page[projections.Member]{Items: last[a.ws].Items, HasPrevious: true}, last[a.ws])
	before, err := f.q.MemberPages(ctx, []uuid.UUID{a.ws}, projections.Window{Limit: 2, Backward: true, Cursor: last[a.ws].Items[0].Cursor()})
	require.NoError(t, err)
	require.Equal(t, projections.Page[projections.Member]{Items: first[a.ws].Items[:1], HasNext: true}, before[a.ws])

	ps, err := f.q.ProjectPages(ctx, []uuid.UUID{b.ws, stranger, a.ws}, projections.Window{})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{b.project}, []uuid.UUID{ps[b.ws].Items[0].ID})
	require.Equal(t, a.project, ps[a.ws].Items[0].ID)
	require.Equal(t, 2, ps[b.ws].Items[0].OpenTasks)
	require.Empty(t, ps[stranger].Items)

	page, err := f.q.Memberships(ctx, "mia", projections.Window{})
	require.NoError(t, err)
	ms := page.Items
	require.Len(t, ms, 2)
	for _, m := range ms {
		require.Contains(t, []uuid.UUID{a.ws, b.ws}, m.Workspace.ID)
		require.Equal(t, m.Workspace.ID, m.Member.WorkspaceID)
		require.Equal(t, "mia", m.Member.UserID)
		require.Equal(t, "member", m.Member.Role)
	}
	page, err = f.q.Memberships(ctx, "olga", projections.Window{})
	require.NoError(t, err)
	require.Equal(t, "owner", page.Items[0].Member.Role)
	byID, err := f.q.MembershipsByIDs(ctx, "mia", []uuid.UUID{a.ws, stranger})
	require.NoError(t, err)
	require.Len(t, byID, 1)
	require.Equal(t, a.ws, byID[0].Workspace.ID)
}
