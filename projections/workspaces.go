package projections

import (
	"strings"

	"github.com/taskforge/taskforge/domain"
)

// workspacesProjection: workspaces and their members (role, display name).
func workspacesProjection() *Projection {
	return &Projection{
		Name:   Workspaces,
		Tables: []string{"rm_workspaces", "rm_members"},
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
CREATE INDEX rm_members{v}_user_idx ON rm_members{v} (user_id);`,
		QueryIndexes: `
-- serves MemberPages: a workspace's members by display name, paged either way
CREATE INDEX IF NOT EXISTS rm_members{v}_name_idx ON rm_members{v} (workspace_id, display_name, user_id);`,
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
	case domain.WorkspaceMemberInvited, domain.WorkspaceInvitationRevoked, domain.WorkspaceProjectKeyReserved,
		domain.WebhookRegistered, domain.WebhookUpdated, domain.WebhookRemoved, domain.WebhookSecretRotated:
		// Only the stream version moves.
		w.Exec(`UPDATE rm_workspaces{v} SET version = $2 WHERE id = $1::uuid`, strings.TrimPrefix(e.StreamID, domain.StreamTypeWorkspace+"-"), v)
	case domain.UserRegistered:
		w.Exec(`UPDATE rm_members{v} SET email = $2, display_name = $3 WHERE user_id = $1`, string(ev.UserID), ev.Email, displayName(ev.DisplayName, ev.UserID))
	case domain.UserProfileUpdated:
		w.Exec(`UPDATE rm_members{v} SET email = $2, display_name = $3 WHERE user_id = $1`, string(ev.UserID), ev.Email, displayName(ev.DisplayName, ev.UserID))
	}
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
