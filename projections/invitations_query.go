package projections

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Invitation is a pending invitation to a workspace, with what an invitee needs to decide.
type Invitation struct {
	ID            uuid.UUID `json:"id"`
	WorkspaceID   uuid.UUID `json:"workspace_id"`
	WorkspaceName string    `json:"workspace_name"`
	Email         string    `json:"email"`
	Role          string    `json:"role"`
	InvitedBy     string    `json:"invited_by"`
	InviterName   string    `json:"inviter_name"` // the inviter's name in the workspace; their id once they left
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// MaxInvitations bounds InvitationsForEmail: anyone can create a workspace and invite any
// address, so an address's pending invitations are not bounded by anything the invitee controls.
const MaxInvitations = 100

// MaxWorkspaceInvitations bounds WorkspaceInvitations: pending invitations count toward the
// member limit, so no plan has more (domain.PlanPro's 1000).
const MaxWorkspaceInvitations = 1000

const invitationSelect = `SELECT i.id, i.workspace_id, w.name, i.email, i.role, i.invited_by,
		coalesce(m.display_name, i.invited_by), i.created_at, i.expires_at
	FROM rm_invitations i
	JOIN rm_workspaces w ON w.id = i.workspace_id
	LEFT JOIN rm_members m ON m.workspace_id = i.workspace_id AND m.user_id = i.invited_by`

func scanInvitation(row pgx.Row) (Invitation, error) {
	var i Invitation
	err := row.Scan(&i.ID, &i.WorkspaceID, &i.WorkspaceName, &i.Email, &i.Role, &i.InvitedBy, &i.InviterName, &i.CreatedAt, &i.ExpiresAt)
	return i, err
}

// InvitationsForEmail returns the invitations to email (compared case-insensitively, as the
// domain matches them) pending at now, newest first, at most limit (≤ MaxInvitations). The caller
// must have proven that the address is theirs (a verified email claim).
func (q *Queries) InvitationsForEmail(ctx context.Context, email string, now time.Time, limit int) ([]Invitation, error) {
	limit = min(max(limit, 1), MaxInvitations)
	// served by rm_invitations_vN_email_idx (a range above now), then rm_workspaces_vN_pkey and
	// rm_members_vN_key_idx per row
	return list(ctx, q.pool, scanInvitation, invitationSelect+`
		WHERE lower(i.email) = lower($1) AND i.expires_at > $2
		ORDER BY i.created_at DESC, i.id LIMIT $3`, email, now, limit)
}

// WorkspaceInvitations returns a workspace's invitations pending at now, by email.
func (q *Queries) WorkspaceInvitations(ctx context.Context, workspaceID uuid.UUID, now time.Time) ([]Invitation, error) {
	// served by rm_invitations_vN_workspace_idx (a range above now), then rm_workspaces_vN_pkey
	// and rm_members_vN_key_idx per row; planned with its arguments (customPlan)
	return list(ctx, q.pool, scanInvitation, invitationSelect+`
		WHERE i.workspace_id = $1 AND i.expires_at > $2
		ORDER BY lower(i.email), i.id LIMIT $3`, customPlan, workspaceID, now, MaxWorkspaceInvitations)
}
