package projections

import (
	"strings"

	"github.com/taskforge/taskforge/domain"
)

// workspacesProjection: workspaces, their members (role, display name) and their invitations not
// yet accepted or revoked (expired ones included: expiry is a time, so the queries filter it).
//
// Revision 2: rm_invitations; 3: rm_workspace_changes.
func workspacesProjection() *Projection {
	return &Projection{
		Name: Workspaces,
		// 2: rm_invitations; 3: rm_workspace_changes (sync records)
		Revision: 3,
		Tables:   []string{"rm_workspaces", "rm_members", "rm_invitations", "rm_workspace_changes"},
		Schema: `
CREATE TABLE rm_workspaces{v} (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    plan         text NOT NULL,
    created_by   text NOT NULL,
    member_count int NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL
);
CREATE TABLE rm_members{v} (
    workspace_id uuid NOT NULL,
    user_id      text NOT NULL,
    email        text NOT NULL,
    display_name text NOT NULL,
    role         text NOT NULL,
    joined_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
-- serves profile updates (by user, across workspaces) and WorkspacesOfUser
CREATE INDEX rm_members{v}_user_idx ON rm_members{v} (user_id);
CREATE TABLE rm_invitations{v} (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    email        text NOT NULL,
    role         text NOT NULL,
    invited_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
-- serves WorkspaceInvitations (pending: expires_at above now) and Apply's re-invitation delete
CREATE INDEX rm_invitations{v}_workspace_idx ON rm_invitations{v} (workspace_id, expires_at);
-- serves InvitationsForEmail: an invitee's pending invitations across workspaces
CREATE INDEX rm_invitations{v}_email_idx ON rm_invitations{v} (lower(email), expires_at);` + changesDDL("rm_workspace_changes"),
		QueryIndexes: `
-- serves MemberPages: a workspace's members by display name, paged either way, index only
-- (migration 00012 drops the definition without INCLUDE)
CREATE INDEX IF NOT EXISTS rm_members{v}_name_idx ON rm_members{v} (workspace_id, display_name, user_id)
    INCLUDE (email, role, joined_at);
-- serves a member by key (MembersByKeys, MembershipsByIDs, NodeRefs, an invitation's inviter),
-- index only: with the pkey's heap fetch dearer, the planner took name_idx, index only, whose
-- user_id is no prefix: every member of the workspace read (2,000 in a large one) for one
CREATE INDEX IF NOT EXISTS rm_members{v}_key_idx ON rm_members{v} (workspace_id, user_id)
    INCLUDE (email, display_name, role, joined_at);` +
			changesIndex("rm_workspace_changes"),
		Apply: applyWorkspaces,
	}
}

func applyWorkspaces(w *Writer, e *Event) error {
	v := e.StreamVersion
	switch ev := e.Payload.(type) {
	case domain.WorkspaceCreated:
		w.Exec(`INSERT INTO rm_workspaces{v} (id, name, plan, created_by, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $5, $6)`, ev.WorkspaceID, ev.Name, string(ev.Plan), string(ev.By), ev.At, v)
	case domain.WorkspaceRenamed:
		w.Exec(`UPDATE rm_workspaces{v} SET name = $2, updated_at = $3, version = $4 WHERE id = $1`, ev.WorkspaceID, ev.Name, ev.At, v)
	case domain.WorkspaceMemberJoined:
		if ev.InvitationID != nil {
			w.Exec(`DELETE FROM rm_invitations{v} WHERE id = $1`, *ev.InvitationID)
		}
		w.Exec(`INSERT INTO rm_members{v} (workspace_id, user_id, email, display_name, role, joined_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET email = $3, display_name = $4, role = $5, joined_at = $6`,
			ev.WorkspaceID, string(ev.UserID), ev.Email, displayName(ev.DisplayName, ev.UserID), string(ev.Role), ev.At)
		w.Exec(`UPDATE rm_workspaces{v} SET member_count = (SELECT count(*) FROM rm_members{v} WHERE workspace_id = $1),
			updated_at = $2, version = $3 WHERE id = $1`, ev.WorkspaceID, ev.At, v)
	case domain.WorkspaceMemberRoleChanged:
		w.Exec(`UPDATE rm_members{v} SET role = $3 WHERE workspace_id = $1 AND user_id = $2`, ev.WorkspaceID, string(ev.UserID), string(ev.To))
		w.Exec(`UPDATE rm_workspaces{v} SET updated_at = $2, version = $3 WHERE id = $1`, ev.WorkspaceID, ev.At, v)
	case domain.WorkspaceMemberRemoved:
		w.Exec(`DELETE FROM rm_members{v} WHERE workspace_id = $1 AND user_id = $2`, ev.WorkspaceID, string(ev.UserID))
		w.Exec(`UPDATE rm_workspaces{v} SET member_count = (SELECT count(*) FROM rm_members{v} WHERE workspace_id = $1),
			updated_at = $2, version = $3 WHERE id = $1`, ev.WorkspaceID, ev.At, v)
	case domain.WorkspaceMemberInvited:
		// The domain invites an address again only once its earlier invitation expired: that row
		// goes, so that an address has at most one row per workspace.
		w.Exec(`DELETE FROM rm_invitations{v} WHERE workspace_id = $1 AND lower(email) = lower($2)`, ev.WorkspaceID, ev.Email)
		w.Exec(`INSERT INTO rm_invitations{v} (id, workspace_id, email, role, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ev.InvitationID, ev.WorkspaceID, ev.Email, string(ev.Role), string(ev.By),
			ev.At, domain.InvitationExpiresAt(ev.At))
		w.Exec(`UPDATE rm_workspaces{v} SET version = $2 WHERE id = $1`, ev.WorkspaceID, v)
	case domain.WorkspaceInvitationRevoked:
		w.Exec(`DELETE FROM rm_invitations{v} WHERE id = $1`, ev.InvitationID)
		w.Exec(`UPDATE rm_workspaces{v} SET version = $2 WHERE id = $1`, ev.WorkspaceID, v)
	case domain.WorkspaceProjectKeyReserved,
		domain.WebhookRegistered, domain.WebhookUpdated, domain.WebhookRemoved, domain.WebhookSecretRotated:
		// Only the stream version moves.
		w.Exec(`UPDATE rm_workspaces{v} SET version = $2 WHERE id = $1::uuid`, strings.TrimPrefix(e.StreamID, domain.StreamTypeWorkspace+"-"), v)
	case domain.UserRegistered:
		w.Exec(`UPDATE rm_members{v} SET email = $2, display_name = $3 WHERE user_id = $1`, string(ev.UserID), ev.Email, displayName(ev.DisplayName, ev.UserID))
	case domain.UserProfileUpdated:
		w.Exec(`UPDATE rm_members{v} SET email = $2, display_name = $3 WHERE user_id = $1`, string(ev.UserID), ev.Email, displayName(ev.DisplayName, ev.UserID))
	}
	// after the entity statements: the tables are locked in the order Ensure indexes them
	recordWorkspaceChange(w, e)
	return nil
}

// displayName falls back to the user id: read models never show an empty name.
func displayName(name string, id domain.UserID) string {
	if name == "" {
		return string(id)
	}
	return name
}

// nullable returns nil for an empty user id (a NULL column).
func nullable(id domain.UserID) any {
	if id == "" {
		return nil
	}
	return string(id)
}
