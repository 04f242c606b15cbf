package projections_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
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
	require.NoError(t, f.q.WaitFor(ctx, res.Position))

	ws, err := f.q.Workspace(ctx, w.ws)
	require.NoError(t, err)
	require.Equal(t, "Acme", ws.Name)
	require.Equal(t, 3, ws.MemberCount)
	members, err := f.q.Members(ctx, w.ws)
	require.NoError(t, err)
	require.Len(t, members, 3)

	task, err := f.q.Task(ctx, w.ws, t1)
	require.NoError(t, err)
	require.Equal(t, "TF-1", task.Key)
	require.Equal(t, "in_progress", task.Status)
	require.Equal(t, "Max", *task.AssigneeName)
	require.Equal(t, 1, task.CommentCount)

	board, err := f.q.Board(ctx, w.ws, w.project, 0)
	require.NoError(t, err)
	require.Len(t, board, 2, "archived tasks leave the board")
	require.Equal(t, []uuid.UUID{t1, t2}, []uuid.UUID{board[0].ID, board[1].ID})

	projects, err := f.q.ProjectsByWorkspace(ctx, w.ws)
	require.NoError(t, err)
	require.Len(t, projects, 1)
	require.Equal(t, map[string]int{"todo": 1, "in_progress": 1}, projects[0].TaskCounts)
	require.Equal(t, 1, projects[0].OverdueTasks)
	require.Equal(t, 2, projects[0].OpenTasks)

	found, err := f.q.SearchTasks(ctx, w.ws, "billing databases", 10)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, t2, found[0].ID)
	found, err = f.q.SearchTasks(ctx, w.ws, "TF-1", 10)
	require.NoError(t, err)
	require.NotEmpty(t, found)
	require.Equal(t, t1, found[0].ID)

	comments, err := f.q.Comments(ctx, w.ws, t1, 10)
	require.NoError(t, err)
	require.Len(t, comments, 1)
	require.Equal(t, "Olga", comments[0].AuthorName)

	feed, err := f.q.ActivityFeed(ctx, w.ws, nil, 3)
	require.NoError(t, err)
	require.Len(t, feed.Items, 3)
	require.Equal(t, `Mia archived TF-3 “Task number 3”`, feed.Items[0].Line)
	require.NotNil(t, feed.Before)
	older, err := f.q.ActivityFeed(ctx, w.ws, feed.Before, 100)
	require.NoError(t, err)
	require.Contains(t, lines(older.Items), `Mia moved TF-1 “Task number 1” from todo to in_progress`)
	require.Contains(t, lines(older.Items), `Mia renamed TF-2 “Task number 2” to “Migrate the billing database”`)
	require.Nil(t, older.Before)

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
	byIDs, err := f.q.TasksByIDs(ctx, stranger, w.tasks)
	require.NoError(t, err)
	require.Empty(t, byIDs)
	board, err = f.q.Board(ctx, stranger, w.project, 0)
	require.NoError(t, err)
	require.Empty(t, board)
	ps, err := f.q.ProjectsByIDs(ctx, stranger, []uuid.UUID{w.project})
	require.NoError(t, err)
	require.Empty(t, ps)
	found, err = f.q.SearchTasks(ctx, stranger, "billing", 10)
	require.NoError(t, err)
	require.Empty(t, found)
	feed, err = f.q.ActivityFeed(ctx, stranger, nil, 10)
	require.NoError(t, err)
	require.Empty(t, feed.Items)
	inbox, err = f.q.Notifications(ctx, stranger, "max", nil, 10)
	require.NoError(t, err)
	require.Empty(t, inbox.Items)
	comments, err = f.q.Comments(ctx, stranger, t1, 10)
	require.NoError(t, err)
	require.Empty(t, comments)
}

func lines(items []projections.ActivityItem) []string {
	var out []string
	for _, a := range items {
		out = append(out, a.Line)
	}
	return out
}
