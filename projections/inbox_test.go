package projections_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
)

// TestInboxReadState: read state is per workspace (a mark) and per notification; counts are
// per workspace; nobody marks another's notification.
func TestInboxReadState(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	ctx := f.ctx
	w := f.world(0)
	// A second workspace where max is a member too.
	ws2, err := f.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: owner, Name: "Beta"})
	require.NoError(t, err)
	inv, err := f.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: ws2.ID, Email: other.Email, Role: domain.RoleMember})
	require.NoError(t, err)
	_, err = f.h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: other, WorkspaceID: ws2.ID, InvitationID: inv.InvitationID})
	require.NoError(t, err)
	p2, err := f.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: owner, WorkspaceID: ws2.ID, Name: "Beta", Key: "BE"})
	require.NoError(t, err)
	for _, p := range []uuid.UUID{w.project, w.project, w.project, p2.ID, p2.ID} {
		_, err := f.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: owner, ProjectID: p, Title: "Do it", Assignee: other.UserID})
		require.NoError(t, err)
	}
	res, err := f.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: owner, ProjectID: w.project, Title: "For mia", Assignee: member.UserID})
	require.NoError(t, err)
	f.applied(res.Position)

	counts := func() map[uuid.UUID]int {
		t.Helper()
		c, err := f.q.UnreadNotificationCounts(ctx, []projections.InboxKey{{WorkspaceID: w.ws, UserID: "max"},
			{WorkspaceID: ws2.ID, UserID: "max"}, {WorkspaceID: uuid.New(), UserID: "max"}})
		require.NoError(t, err)
		out := map[uuid.UUID]int{}
		for k, n := range c {
			require.Equal(t, "max", k.UserID)
			out[k.WorkspaceID] = n
		}
		return out
	}
	require.Equal(t, map[uuid.UUID]int{w.ws: 3, ws2.ID: 2}, nonZero(counts()))

	one, err := f.q.Notifications(ctx, w.ws, "max", nil, 10)
	require.NoError(t, err)
	two, err := f.q.Notifications(ctx, ws2.ID, "max", nil, 10)
	require.NoError(t, err)
	// The mark is per workspace: reading the first workspace's inbox leaves the second's unread.
	require.NoError(t, f.q.MarkNotificationsRead(ctx, "max", one.Items[0].Position))
	require.Equal(t, map[uuid.UUID]int{ws2.ID: 2}, nonZero(counts()))

	// One notification read on its own.
	require.NoError(t, f.q.MarkNotificationRead(ctx, "max", two.Items[1].ID))
	require.NoError(t, f.q.MarkNotificationRead(ctx, "max", two.Items[1].ID), "idempotent")
	require.Equal(t, map[uuid.UUID]int{ws2.ID: 1}, nonZero(counts()))
	page, err := f.q.Notifications(ctx, ws2.ID, "max", nil, 10)
	require.NoError(t, err)
	require.Equal(t, []bool{false, true}, []bool{page.Items[0].Read, page.Items[1].Read})
	unread, err := f.q.UnreadNotifications(ctx, ws2.ID, "max", nil, 10)
	require.NoError(t, err)
	require.Len(t, unread.Items, 1)
	require.Equal(t, two.Items[0].ID, unread.Items[0].ID)

	// Someone else's notification, or none: not found, nothing marked.
	mias, err := f.q.Notifications(ctx, w.ws, "mia", nil, 10)
	require.NoError(t, err)
	require.ErrorIs(t, f.q.MarkNotificationRead(ctx, "max", mias.Items[0].ID), projections.ErrNotFound)
	require.ErrorIs(t, f.q.MarkNotificationRead(ctx, "max", uuid.New()), projections.ErrNotFound)
	mia := projections.InboxKey{WorkspaceID: w.ws, UserID: "mia"}
	miaCount, err := f.q.UnreadNotificationCounts(ctx, []projections.InboxKey{mia})
	require.NoError(t, err)
	require.Equal(t, 1, miaCount[mia])

	// All read in the second workspace: the mark covers the single read, which is dropped.
	require.NoError(t, f.q.MarkAllNotificationsRead(ctx, ws2.ID, "max"))
	require.NoError(t, f.q.MarkAllNotificationsRead(ctx, ws2.ID, "max"), "idempotent")
	require.NoError(t, f.q.MarkAllNotificationsRead(ctx, uuid.New(), "max"), "no notifications: nothing to do")
	require.Empty(t, nonZero(counts()))
	var items int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM notification_read_items`).Scan(&items))
	require.Zero(t, items)
	// A mark never moves back.
	require.NoError(t, f.q.MarkNotificationsRead(ctx, "max", two.Items[1].Position))
	require.Empty(t, nonZero(counts()))
}

func nonZero(m map[uuid.UUID]int) map[uuid.UUID]int {
	out := map[uuid.UUID]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestNotificationPreferences(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := f.ctx // a user table: no projection involved
	prefs, err := f.q.NotificationPreferences(ctx, "max")
	require.NoError(t, err)
	require.Equal(t, []projections.NotificationPreference{{Kind: "assigned", Email: true}, {Kind: "mentioned", Email: true}, {Kind: "commented", Email: true}}, prefs)
	require.NoError(t, f.q.SetNotificationPreferences(ctx, "max", []projections.NotificationPreference{{Kind: "mentioned", Email: false}}))
	require.NoError(t, f.q.SetNotificationPreferences(ctx, "max", []projections.NotificationPreference{{Kind: "mentioned", Email: false}, {Kind: "commented", Email: false}}))
	require.NoError(t, f.q.SetNotificationPreferences(ctx, "max", []projections.NotificationPreference{{Kind: "commented", Email: true}}))
	prefs, err = f.q.NotificationPreferences(ctx, "max")
	require.NoError(t, err)
	require.Equal(t, []projections.NotificationPreference{{Kind: "assigned", Email: true}, {Kind: "mentioned", Email: false}, {Kind: "commented", Email: true}}, prefs)
	other, err := f.q.NotificationPreferences(ctx, "mia")
	require.NoError(t, err)
	require.True(t, other[1].Email)
}
