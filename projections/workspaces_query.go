package projections

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Workspace is a workspace as listed.
type Workspace struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Plan        string    `json:"plan"`
	MemberCount int       `json:"member_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

const workspaceCols = `id, name, plan, member_count, created_at, updated_at, version`

func scanWorkspace(row pgx.Row) (Workspace, error) {
	var w Workspace
	err := row.Scan(&w.ID, &w.Name, &w.Plan, &w.MemberCount, &w.CreatedAt, &w.UpdatedAt, &w.Version)
	return w, err
}

// Workspace returns one workspace.
func (q *Queries) Workspace(ctx context.Context, workspaceID uuid.UUID) (Workspace, error) {
	// served by rm_workspaces_vN_pkey
	w, err := scanWorkspace(q.pool.QueryRow(ctx, `SELECT `+workspaceCols+` FROM rm_workspaces WHERE id = $1`, workspaceID))
	return w, notFound(err, "workspace")
}

// WorkspacesOfUser returns the workspaces user is a member of, by name.
func (q *Queries) WorkspacesOfUser(ctx context.Context, user string) ([]Workspace, error) {
	// served by rm_members_vN_user_idx, then rm_workspaces_vN_pkey
	return list(ctx, q.pool, scanWorkspace, `SELECT w.id, w.name, w.plan, w.member_count, w.created_at, w.updated_at, w.version
		FROM rm_members m JOIN rm_workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.name, w.id LIMIT $2`,
		user, MaxPage)
}

// Membership is a workspace of a user's with their membership of it.
type Membership struct {
	Workspace Workspace
	Member    Member
}

// MembershipsOfUser returns the workspaces user is a member of, by name, each with their
// membership (role): one statement, however many workspaces.
func (q *Queries) MembershipsOfUser(ctx context.Context, user string) ([]Membership, error) {
	// served by rm_members_vN_user_idx, then rm_workspaces_vN_pkey
	return list(ctx, q.pool, func(row pgx.Row) (Membership, error) {
		var ms Membership
		w, m := &ms.Workspace, &ms.Member
		err := row.Scan(&w.ID, &w.Name, &w.Plan, &w.MemberCount, &w.CreatedAt, &w.UpdatedAt, &w.Version,
			&m.WorkspaceID, &m.UserID, &m.Email, &m.DisplayName, &m.Role, &m.JoinedAt)
		return ms, err
	}, `SELECT w.id, w.name, w.plan, w.member_count, w.created_at, w.updated_at, w.version,
			m.workspace_id, m.user_id, m.email, m.display_name, m.role, m.joined_at
		FROM rm_members m JOIN rm_workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.name, w.id LIMIT $2`,
		user, MaxPage)
}

// Member is a workspace member.
type Member struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	UserID      string    `json:"user_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	JoinedAt    time.Time `json:"joined_at"`
}

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	err := row.Scan(&m.WorkspaceID, &m.UserID, &m.Email, &m.DisplayName, &m.Role, &m.JoinedAt)
	return m, err
}

// Members returns a workspace's members by display name.
func (q *Queries) Members(ctx context.Context, workspaceID uuid.UUID) ([]Member, error) {
	// served by rm_members_vN_pkey (workspace_id prefix); sorted in memory (≤ 1000 members a plan)
	return list(ctx, q.pool, scanMember, `SELECT workspace_id, user_id, email, display_name, role, joined_at
		FROM rm_members WHERE workspace_id = $1 ORDER BY display_name, user_id`, workspaceID)
}

// MembersOfWorkspaces returns the members of workspaces, each workspace's together (in the order
// of workspaces) and by display name: one statement for any number of workspaces.
func (q *Queries) MembersOfWorkspaces(ctx context.Context, workspaceIDs []uuid.UUID) ([]Member, error) {
	if len(workspaceIDs) == 1 {
		return q.Members(ctx, workspaceIDs[0]) // the common case, in the plainer statement
	}
	// served by rm_members_vN_pkey (workspace_id prefix), once per workspace; sorted in memory
	// (≤ 1000 members a plan)
	return list(ctx, q.pool, scanMember, `SELECT m.workspace_id, m.user_id, m.email, m.display_name, m.role, m.joined_at
		FROM unnest($1::uuid[]) WITH ORDINALITY AS w(id, n) JOIN rm_members m ON m.workspace_id = w.id
		ORDER BY w.n, m.display_name, m.user_id`, workspaceIDs)
}

// MembersByKeys is the batch loader of members: one statement for any number of members of any
// number of workspaces.
func (q *Queries) MembersByKeys(ctx context.Context, keys []MemberKey) ([]Member, error) {
	wss, users := make([]uuid.UUID, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		wss[i], users[i] = k.WorkspaceID, k.UserID
	}
	// served by rm_members_vN_pkey, once per key
	return list(ctx, q.pool, scanMember, `SELECT m.workspace_id, m.user_id, m.email, m.display_name, m.role, m.joined_at
		FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::text[])) AS k(ws, id)
		JOIN rm_members m ON m.workspace_id = k.ws AND m.user_id = k.id`, wss, users)
}
