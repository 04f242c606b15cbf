package projections

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Node kinds: the read models whose rows have a uuid id (unique across every kind: the API's
// global ids, Relay's Node).
const (
	NodeWorkspace    = "Workspace"
	NodeProject      = "Project"
	NodeTask         = "Task"
	NodeComment      = "Comment"
	NodeNotification = "Notification"
)

// NodeRef names a row found by id alone: its kind and its workspace.
type NodeRef struct {
	Kind        string
	ID          uuid.UUID
	WorkspaceID uuid.UUID
}

// NodeRefs finds which of ids name a row that user may read: a workspace they are a member of,
// a project, task or comment of one, or a notification of their own in one. One statement, each
// branch served by its table's pkey (id = ANY), the membership by rm_members_vN_key_idx; ids of
// other tenants are not found, exactly like ids that exist nowhere.
func (q *Queries) NodeRefs(ctx context.Context, user string, ids []uuid.UUID) ([]NodeRef, error) {
	return list(ctx, q.pool, func(row pgx.Row) (NodeRef, error) {
		var r NodeRef
		err := row.Scan(&r.Kind, &r.ID, &r.WorkspaceID)
		return r, err
	}, `SELECT k.kind, k.id, k.workspace_id FROM (
			SELECT '`+NodeWorkspace+`' AS kind, w.id, w.id AS workspace_id FROM rm_workspaces w WHERE w.id = ANY ($2)
			UNION ALL SELECT '`+NodeProject+`', p.id, p.workspace_id FROM rm_projects p WHERE p.id = ANY ($2)
			UNION ALL SELECT '`+NodeTask+`', t.id, t.workspace_id FROM rm_tasks t WHERE t.id = ANY ($2)
			UNION ALL SELECT '`+NodeComment+`', c.id, c.workspace_id FROM rm_comments c WHERE c.id = ANY ($2)
			UNION ALL SELECT '`+NodeNotification+`', n.id, n.workspace_id FROM rm_notifications n WHERE n.id = ANY ($2) AND n.user_id = $1
		) k JOIN rm_members m ON m.workspace_id = k.workspace_id AND m.user_id = $1`, user, ids)
}

// CommentsByKeys returns comments by id, each only in its own workspace: one statement for any
// number of comments of any number of workspaces.
func (q *Queries) CommentsByKeys(ctx context.Context, keys []Key) ([]Comment, error) {
	wss, ids := splitKeys(keys)
	// served by rm_comments_vN_pkey, once per key, the workspace rechecked
	return list(ctx, q.pool, scanComment, `SELECT `+commentCols+` FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(ws, id)
		JOIN rm_comments c ON c.id = k.id AND c.workspace_id = k.ws`, wss, ids)
}
