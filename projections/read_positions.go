package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// ReadState is what a user's reads look like at one moment, as one string: the active version of
// every projection (a rebuild swaps tables), the user's memberships with their roles (what they
// may see), the applied position of every projection for each of those workspaces and for the
// nil workspace (read_positions: advanced in the transaction of each applied event, runner.go),
// and with clock the latest due date that has passed among their projects' open tasks (the
// overdue counts move with the clock, not with events: each passing due date is a new latest).
//
// Two equal states mean equal answers to any read of the user's from the read tables of their
// workspaces (the graph's response cache keys by it), on any API node: everything it covers is in
// PostgreSQL and moves in the same transactions as the rows it stands for.
//
// names are the projections whose tables the read uses (their versions and positions are in the
// state; the others' changes do not move it). workspaces, when not nil, are the only workspaces
// the read touches: the memberships, positions and clock are then theirs alone, so that a board
// read by a member of hundreds of workspaces costs one membership and its positions, and is not
// moved by changes in the others. nil: every membership of the user (a list of their workspaces).
func (q *Queries) ReadState(ctx context.Context, userID string, clock bool, names []string, workspaces []uuid.UUID) (string, error) {
	// served by projection_versions_pkey, rm_members_vN_user_idx, read_positions_pkey, and with
	// clock rm_projects_vN_workspace_idx then rm_project_tasks_vN_overdue_idx (one backward probe
	// per project)
	const sql = `WITH m AS (SELECT workspace_id, role FROM rm_members WHERE user_id = $1
			AND ($4::uuid[] IS NULL OR workspace_id = ANY ($4::uuid[])))
	SELECT (SELECT string_agg(name || '=' || active_version, ',' ORDER BY name) FROM projection_versions WHERE name = ANY ($3)),
		coalesce((SELECT string_agg(workspace_id::text || '=' || role, ',' ORDER BY workspace_id) FROM m), ''),
		coalesce((SELECT string_agg(r.workspace_id::text || '.' || r.projection || '=' || r.position, ','
				ORDER BY r.workspace_id, r.projection)
			FROM read_positions r
			WHERE r.projection = ANY ($3) AND r.workspace_id IN (SELECT workspace_id FROM m UNION ALL SELECT '00000000-0000-0000-0000-000000000000'::uuid)), ''),
		CASE WHEN $2 THEN coalesce((SELECT max(x.due)::text FROM m JOIN rm_projects p ON p.workspace_id = m.workspace_id,
			LATERAL (SELECT max(t.due_date) AS due FROM rm_project_tasks t WHERE t.project_id = p.id AND t.open
				AND NOT t.archived AND t.due_date IS NOT NULL AND t.due_date < now()) x), 'none') ELSE '' END`
	var versions, members, positions, clockState string
	if err := q.pool.QueryRow(ctx, sql, userID, clock, names, workspaces).Scan(&versions, &members, &positions, &clockState); err != nil {
		return "", fmt.Errorf("read state: %w", err)
	}
	return strings.Join([]string{versions, members, positions, clockState}, "|"), nil
}
