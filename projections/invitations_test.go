package projections_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
)

// TestPendingInvitations: the invitee's and the workspace's lists show pending invitations only,
// expiry decided by the time asked about; an address invited again after expiry has one row.
func TestPendingInvitations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	ctx := f.ctx
	w := f.world(0)
	nina := domain.Actor{UserID: "nina", Email: "nina@example.com", EmailVerified: true, DisplayName: "Nina"}
	first, err := f.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: w.ws, Email: "Nina@Example.com", Role: domain.RoleAdmin})
	require.NoError(t, err)
	_, err = f.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: w.ws, Email: "zed@x.io", Role: domain.RoleViewer})
	require.NoError(t, err)
	gone, err := f.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: w.ws, Email: "gone@x.io", Role: domain.RoleMember})
	require.NoError(t, err)
	res, err := f.h.RevokeInvitation.Handle(ctx, commands.RevokeInvitation{Actor: owner, WorkspaceID: w.ws, InvitationID: gone.InvitationID})
	require.NoError(t, err)
	f.applied(res.Position)

	now := time.Now()
	mine, err := f.q.InvitationsForEmail(ctx, "NINA@example.com", now, 10)
	require.NoError(t, err)
	require.Len(t, mine, 1)
	inv := mine[0]
	require.Equal(t, first.InvitationID, inv.ID)
	require.Equal(t, "Acme", inv.WorkspaceName)
	require.Equal(t, "Olga", inv.InviterName)
	require.Equal(t, "admin", inv.Role)
	require.Equal(t, domain.InvitationExpiresAt(inv.CreatedAt), inv.ExpiresAt.UTC())
	all, err := f.q.WorkspaceInvitations(ctx, w.ws, now)
	require.NoError(t, err)
	require.Equal(t, []string{"Nina@Example.com", "zed@x.io"}, []string{all[0].Email, all[1].Email})

	later := now.Add(domain.InvitationTTL + time.Minute)
	expired, err := f.q.WorkspaceInvitations(ctx, w.ws, later)
	require.NoError(t, err)
	require.Empty(t, expired, "expired invitations are not pending")
	mine, err = f.q.InvitationsForEmail(ctx, "nina@example.com", later, 10)
	require.NoError(t, err)
	require.Empty(t, mine)

	// A week later: the address is invited again, and accepts.
	rt, err := commands.NewRuntime(f.store, domain.NewRegistry(), commands.Options{Now: func() time.Time { return later }})
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(t, err)
	_, err = h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: nina, WorkspaceID: w.ws, InvitationID: first.InvitationID})
	require.Equal(t, domain.CodeInvitationExpired, domain.CodeOf(err))
	again, err := h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: w.ws, Email: "nina@example.com", Role: domain.RoleMember})
	require.NoError(t, err)
	f.applied(again.Position)
	pending, err := f.q.WorkspaceInvitations(ctx, w.ws, later)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, again.InvitationID, pending[0].ID)
	var rows int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM rm_invitations WHERE lower(email) = 'nina@example.com'`).Scan(&rows))
	require.Equal(t, 1, rows, "the expired invitation's row is replaced")

	joined, err := h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: nina, WorkspaceID: w.ws, InvitationID: again.InvitationID})
	require.NoError(t, err)
	f.applied(joined.Position)
	pending, err = f.q.WorkspaceInvitations(ctx, w.ws, later)
	require.NoError(t, err)
	require.Empty(t, pending)
}
