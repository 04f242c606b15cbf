package projections

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/internal/cursor"
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

// workspaceOfMember joins a membership (m) to its workspace (w) by one probe of
// rm_workspaces_vN_pkey. The LIMIT keeps the planner from flattening it into a join, which for a
// user of a few hundred workspaces it made a hash join over a Seq Scan of every workspace: a cost
// that grows with the number of workspaces (TestPlansAtScale). id is the key: at most one row.
const workspaceOfMember = `CROSS JOIN LATERAL (SELECT ` + workspaceCols + ` FROM rm_workspaces WHERE id = m.workspace_id LIMIT 1) w`

// WorkspacesOfUser returns the workspaces user is a member of, by name.
func (q *Queries) WorkspacesOfUser(ctx context.Context, user string) ([]Workspace, error) {
	// served by rm_members_vN_user_idx, then rm_workspaces_vN_pkey per membership
	return list(ctx, q.pool, scanWorkspace, `SELECT w.id, w.name, w.plan, w.member_count, w.created_at, w.updated_at, w.version
		FROM rm_members m `+workspaceOfMember+` WHERE m.user_id = $1 ORDER BY w.name, w.id LIMIT $2`,
		user, MaxPage)
}

// Membership is a workspace of a user's with their membership of it.
type Membership struct {
	Workspace Workspace
	Member    Member
}

const membershipCols = `w.id, w.name, w.plan, w.member_count, w.created_at, w.updated_at, w.version,
	m.workspace_id, m.user_id, m.email, m.display_name, m.role, m.joined_at`

func scanMembership(row pgx.Row) (Membership, error) {
	var ms Membership
	w, m := &ms.Workspace, &ms.Member
	err := row.Scan(&w.ID, &w.Name, &w.Plan, &w.MemberCount, &w.CreatedAt, &w.UpdatedAt, &w.Version,
		&m.WorkspaceID, &m.UserID, &m.Email, &m.DisplayName, &m.Role, &m.JoinedAt)
	return ms, err
}

// Cursor is the workspace's place among its member's workspaces (opaque, internal/cursor).
func (ms Membership) Cursor() string {
	return cursor.New(cursor.Workspace).String(ms.Workspace.Name).UUID(ms.Workspace.ID).Encode()
}

// workspaceKeys: a user's workspaces are by name.
var workspaceKeys = keyset{kind: cursor.Workspace, cols: []string{"w.name", "w.id"}, out: []string{"name", "id"},
	read: func(r *cursor.Reader) []any { return []any{r.String(), uuid.UUID(r.UUID())} }}

// Memberships returns a page of the workspaces user is a member of, by name, each with their
// membership (role): one statement, however many workspaces.
func (q *Queries) Memberships(ctx context.Context, user string, w Window) (Page[Membership], error) {
	a := args{user}
	// served by rm_members_vN_user_idx (the user's memberships), then rm_workspaces_vN_pkey per
	// membership; the page is sorted from the user's memberships (by name: a column of another table)
	body, err := workspaceKeys.union(membershipCols, `FROM rm_members m `+workspaceOfMember+` WHERE m.user_id = $1`, &a, w)
	if err != nil {
		return Page[Membership]{}, err
	}
	rows, err := list(ctx, q.pool, scanProbed(scanMembership), `SELECT * FROM (`+body+`) page ORDER BY page.probe, `+workspaceKeys.listOrder("page"), a...)
	if err != nil {
		return Page[Membership]{}, err
	}
	return cut(rows, w), nil
}

// MembershipsByIDs returns the workspaces among ids that user is a member of, each with their
// membership: one statement, served by rm_workspaces_vN_pkey and rm_members_vN_key_idx per id
// (or rm_members_vN_user_idx for many ids).
func (q *Queries) MembershipsByIDs(ctx context.Context, user string, ids []uuid.UUID) ([]Membership, error) {
	return list(ctx, q.pool, scanMembership, `SELECT `+membershipCols+`
		FROM rm_members m JOIN rm_workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 AND w.id = ANY ($2)`, user, ids)
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

// Cursor is the member's place among their workspace's members (opaque, internal/cursor).
func (m Member) Cursor() string {
	return cursor.New(cursor.Member).String(m.DisplayName).String(m.UserID).Encode()
}

// memberKeys: a workspace's members are by display name.
var memberKeys = keyset{kind: cursor.Member, cols: []string{"m.display_name", "m.user_id"}, out: []string{"display_name", "user_id"},
	read: func(r *cursor.Reader) []any { return []any{r.String(), r.String()} }}

// MemberPages returns a page of the members (by display name) of each workspace, the same
// window for each: one statement for any number of workspaces.
func (q *Queries) MemberPages(ctx context.Context, workspaceIDs []uuid.UUID, w Window) (map[uuid.UUID]Page[Member], error) {
	a := args{workspaceIDs}
	// served by rm_members_vN_name_idx (workspace_id, display_name, user_id), once per workspace
	// (LATERAL), a range on either side of the cursor, index only (it includes the other columns:
	// planned for an average workspace, a scan that reads the heap lost to a bitmap of the pkey
	// and a sort, all 2,000 members of a large workspace for a page of 50)
	body, err := memberKeys.union(`m.workspace_id, m.user_id, m.email, m.display_name, m.role, m.joined_at`,
		`FROM rm_members m WHERE m.workspace_id = k.id`, &a, w)
	if err != nil {
		return nil, err
	}
	rows, err := list(ctx, q.pool, scanProbed(scanMember), `SELECT q.* FROM (SELECT DISTINCT * FROM unnest($1::uuid[])) AS k(id)
		CROSS JOIN LATERAL (`+body+`) q ORDER BY q.workspace_id, q.probe, `+memberKeys.listOrder("q"), a...)
	if err != nil {
		return nil, err
	}
	return cutEach(rows, func(m Member) uuid.UUID { return m.WorkspaceID }, workspaceIDs, w), nil
}

// MembersByKeys is the batch loader of members: one statement for any number of members of any
// number of workspaces.
func (q *Queries) MembersByKeys(ctx context.Context, keys []MemberKey) ([]Member, error) {
	wss, users := make([]uuid.UUID, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		wss[i], users[i] = k.WorkspaceID, k.UserID
	}
	// served by rm_members_vN_key_idx, once per key
	return list(ctx, q.pool, scanMember, `SELECT m.workspace_id, m.user_id, m.email, m.display_name, m.role, m.joined_at
		FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::text[])) AS k(ws, id)
		JOIN rm_members m ON m.workspace_id = k.ws AND m.user_id = k.id`, wss, users)
}
