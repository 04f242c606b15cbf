package projections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/internal/cursor"
)

// Project is a project with its task counts.
type Project struct {
	ID           uuid.UUID       `json:"id"`
	WorkspaceID  uuid.UUID       `json:"workspace_id"`
	Key          string          `json:"key"`
	Name         string          `json:"name"`
	Archived     bool            `json:"archived"`
	Workflow     json.RawMessage `json:"workflow"`
	TaskCounts   map[string]int  `json:"task_counts"` // by status, unarchived tasks
	OpenTasks    int             `json:"open_tasks"`
	OverdueTasks int             `json:"overdue_tasks"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Version      int64           `json:"version"`
}

// projectSQL reads projects with their counts in one statement: the counts by
// rm_project_status_counts_vN_pkey (project_id prefix), overdue by rm_project_tasks_vN_overdue_idx.
const projectSQL = `SELECT ` + projectCols + ` FROM rm_projects p`

const projectCols = `p.id, p.workspace_id, p.key, p.name, p.archived, p.workflow, p.updated_at, p.version,
	coalesce((SELECT jsonb_object_agg(c.status, c.tasks) FROM rm_project_status_counts c WHERE c.project_id = p.id AND c.tasks > 0), '{}'),
	coalesce((SELECT sum(c.tasks) FROM rm_project_status_counts c WHERE c.project_id = p.id AND NOT (c.status = ANY (p.closed_statuses))), 0),
	(SELECT count(*) FROM rm_project_tasks t WHERE t.project_id = p.id AND t.open AND NOT t.archived
		AND t.due_date IS NOT NULL AND t.due_date < now())`

func scanProject(row pgx.Row) (Project, error) {
	var p Project
	var counts []byte
	var wf []byte
	err := row.Scan(&p.ID, &p.WorkspaceID, &p.Key, &p.Name, &p.Archived, &wf, &p.UpdatedAt, &p.Version, &counts, &p.OpenTasks, &p.OverdueTasks)
	if err != nil {
		return p, err
	}
	p.Workflow = wf
	err = json.Unmarshal(counts, &p.TaskCounts)
	return p, err
}

// Cursor is the project's place among its workspace's projects (opaque, internal/cursor).
func (p Project) Cursor() string {
	return cursor.New(cursor.Project).String(p.Name).UUID(p.ID).Encode()
}

// projectKeys: a workspace's projects are by name.
var projectKeys = keyset{kind: cursor.Project, cols: []string{"p.name", "p.id"}, out: []string{"name", "id"},
	read: func(r *cursor.Reader) []any { return []any{r.String(), uuid.UUID(r.UUID())} }}

// ProjectPages returns a page of the projects (by name) of each workspace, the same window for
// each: one statement for any number of workspaces.
func (q *Queries) ProjectPages(ctx context.Context, workspaceIDs []uuid.UUID, w Window) (map[uuid.UUID]Page[Project], error) {
	a := args{workspaceIDs}
	// served by rm_projects_vN_workspace_idx (workspace_id, name, id), once per workspace
	// (LATERAL), a range on either side of the cursor
	body, err := projectKeys.union(projectCols, `FROM rm_projects p WHERE p.workspace_id = k.id`, &a, w)
	if err != nil {
		return nil, err
	}
	rows, err := list(ctx, q.pool, scanProbed(scanProject), `SELECT q.* FROM (SELECT DISTINCT * FROM unnest($1::uuid[])) AS k(id)
		CROSS JOIN LATERAL (`+body+`) q ORDER BY q.workspace_id, q.probe, `+projectKeys.listOrder("q"), a...)
	if err != nil {
		return nil, err
	}
	return cutEach(rows, func(p Project) uuid.UUID { return p.WorkspaceID }, workspaceIDs, w), nil
}

// ProjectsByKeys is the batch loader of projects: one statement for any number of projects of
// any number of workspaces.
func (q *Queries) ProjectsByKeys(ctx context.Context, keys []Key) ([]Project, error) {
	wss, ids := splitKeys(keys)
	// served by rm_projects_vN_pkey, once per key, the workspace rechecked
	return list(ctx, q.pool, scanProject, projectSQL+`
		JOIN (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(ws, id) ON p.id = k.id AND p.workspace_id = k.ws`,
		wss, ids)
}

// ProjectInWorkspaces returns the project with id if its workspace is one of workspaceIDs (the
// caller's: finding a project by id alone), else ErrNotFound.
func (q *Queries) ProjectInWorkspaces(ctx context.Context, workspaceIDs []uuid.UUID, id uuid.UUID) (Project, error) {
	// served by rm_projects_vN_pkey, the workspace rechecked
	p, err := scanProject(q.pool.QueryRow(ctx, projectSQL+` WHERE p.id = $2 AND p.workspace_id = ANY ($1)`, workspaceIDs, id))
	return p, notFound(err, "project")
}
