package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/eventstore"
)

// ErrNotFound is returned by single-row queries when nothing matches in the tenant.
var ErrNotFound = errors.New("projections: not found")

// MaxPage bounds every page.
const MaxPage = 200

// Queries reads the active versions of the read tables (through the views). Every query is
// scoped to the tenant: one workspace, or, for the batch queries (…ByKeys, …OfWorkspaces), each
// key or row to its own workspace; each runs a bounded number of statements, however many keys
// and workspaces, each served by an index named next to it.
type Queries struct {
	pool *pgxpool.Pool
}

// NewQueries returns the read side over pool.
func NewQueries(pool *pgxpool.Pool) *Queries { return &Queries{pool: pool} }

func pageSize(n int) int {
	if n <= 0 || n > MaxPage {
		return MaxPage
	}
	return n
}

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

// Key names a row of a workspace (a project, a task) for the batch queries: a key only ever
// matches a row of its own workspace, so one statement serves keys of any number of workspaces
// with the tenant safety of one statement per workspace.
type Key struct {
	WorkspaceID uuid.UUID
	ID          uuid.UUID
}

// MemberKey names a member of a workspace.
type MemberKey struct {
	WorkspaceID uuid.UUID
	UserID      string
}

// splitKeys returns keys' workspaces and ids as two parallel arrays, for unnest($1, $2).
func splitKeys(keys []Key) (workspaces, ids []uuid.UUID) {
	workspaces, ids = make([]uuid.UUID, len(keys)), make([]uuid.UUID, len(keys))
	for i, k := range keys {
		workspaces[i], ids[i] = k.WorkspaceID, k.ID
	}
	return workspaces, ids
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
const projectSQL = `SELECT p.id, p.workspace_id, p.key, p.name, p.archived, p.workflow, p.updated_at, p.version,
	coalesce((SELECT jsonb_object_agg(c.status, c.tasks) FROM rm_project_status_counts c WHERE c.project_id = p.id AND c.tasks > 0), '{}'),
	coalesce((SELECT sum(c.tasks) FROM rm_project_status_counts c WHERE c.project_id = p.id AND NOT (c.status = ANY (p.closed_statuses))), 0),
	(SELECT count(*) FROM rm_project_tasks t WHERE t.project_id = p.id AND t.open AND NOT t.archived
		AND t.due_date IS NOT NULL AND t.due_date < now())
	FROM rm_projects p`

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

// ProjectsByWorkspace returns a workspace's projects by name.
func (q *Queries) ProjectsByWorkspace(ctx context.Context, workspaceID uuid.UUID) ([]Project, error) {
	// served by rm_projects_vN_workspace_idx
	return list(ctx, q.pool, scanProject, projectSQL+` WHERE p.workspace_id = $1 ORDER BY p.name, p.id LIMIT $2`, workspaceID, MaxPage)
}

// ProjectsOfWorkspaces returns the projects of workspaces, each workspace's together (in the
// order of workspaces) and by name, up to MaxPage each: one statement for any number of workspaces.
func (q *Queries) ProjectsOfWorkspaces(ctx context.Context, workspaceIDs []uuid.UUID) ([]Project, error) {
	if len(workspaceIDs) == 1 {
		// The common case, in the plainer statement: the LATERAL one's custom plans cost ~1 ms of
		// planning each (measured: workspace 5×10 read 20% slower).
		return q.ProjectsByWorkspace(ctx, workspaceIDs[0])
	}
	// served by rm_projects_vN_workspace_idx, once per workspace (LATERAL): a range scan in name
	// order that stops at its limit, as ProjectsByWorkspace's
	return list(ctx, q.pool, scanProject, `SELECT p.* FROM unnest($1::uuid[]) WITH ORDINALITY AS w(id, n)
		CROSS JOIN LATERAL (`+projectSQL+` WHERE p.workspace_id = w.id ORDER BY p.name, p.id LIMIT $2) p
		ORDER BY w.n, p.name, p.id`, workspaceIDs, MaxPage)
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

// Task is a task as the board and list show it.
type Task struct {
	ID           uuid.UUID  `json:"id"`
	WorkspaceID  uuid.UUID  `json:"workspace_id"`
	ProjectID    uuid.UUID  `json:"project_id"`
	Number       int64      `json:"number"`
	Key          string     `json:"key"`
	Title        string     `json:"title"`
	Description  string     `json:"description"`
	Status       string     `json:"status"`
	Priority     string     `json:"priority"`
	AssigneeID   *string    `json:"assignee_id,omitempty"`
	AssigneeName *string    `json:"assignee_name,omitempty"`
	DueDate      *time.Time `json:"due_date,omitempty"`
	Labels       []string   `json:"labels"`
	Rank         string     `json:"rank"`
	CommentCount int        `json:"comment_count"`
	Archived     bool       `json:"archived"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	Version      int64      `json:"version"`
	// MatchRank is how well the task matches a search (TaskFilter.Search), 0 outside searches.
	MatchRank float32 `json:"match_rank,omitempty"`
}

const taskCols = `id, workspace_id, project_id, number, key, title, description, status, priority, assignee_id, assignee_name,
	due_date, labels, rank, comment_count, archived, created_at, updated_at, version`

func scanTask(row pgx.Row) (Task, error) {
	var t Task
	err := row.Scan(taskFields(&t)...)
	return t, err
}

// scanRankedTask scans taskCols and then match_rank (a search's).
func scanRankedTask(row pgx.Row) (Task, error) {
	var t Task
	err := row.Scan(append(taskFields(&t), &t.MatchRank)...)
	return t, err
}

func taskFields(t *Task) []any {
	return []any{&t.ID, &t.WorkspaceID, &t.ProjectID, &t.Number, &t.Key, &t.Title, &t.Description, &t.Status, &t.Priority,
		&t.AssigneeID, &t.AssigneeName, &t.DueDate, &t.Labels, &t.Rank, &t.CommentCount, &t.Archived, &t.CreatedAt, &t.UpdatedAt, &t.Version}
}

// TaskByKey returns the workspace's task whose key is key (domain.TaskKey's spelling, "TF-12").
func (q *Queries) TaskByKey(ctx context.Context, workspaceID uuid.UUID, key string) (Task, error) {
	// served by rm_tasks_vN_key_idx
	t, err := scanTask(q.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM rm_tasks WHERE workspace_id = $1 AND key = $2`, workspaceID, key))
	return t, notFound(err, "task")
}

// Task returns one task.
func (q *Queries) Task(ctx context.Context, workspaceID, taskID uuid.UUID) (Task, error) {
	// served by rm_tasks_vN_pkey
	t, err := scanTask(q.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM rm_tasks WHERE id = $2 AND workspace_id = $1`, workspaceID, taskID))
	return t, notFound(err, "task")
}

// TaskInWorkspaces returns the task with id if its workspace is one of workspaceIDs (the caller's:
// finding a task by id alone), else ErrNotFound.
func (q *Queries) TaskInWorkspaces(ctx context.Context, workspaceIDs []uuid.UUID, id uuid.UUID) (Task, error) {
	// served by rm_tasks_vN_pkey, the workspace rechecked
	t, err := scanTask(q.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM rm_tasks WHERE id = $2 AND workspace_id = ANY ($1)`, workspaceIDs, id))
	return t, notFound(err, "task")
}

// TasksByKeys is the batch loader of tasks: one statement for any number of tasks of any number
// of workspaces.
func (q *Queries) TasksByKeys(ctx context.Context, keys []Key) ([]Task, error) {
	wss, ids := splitKeys(keys)
	// served by rm_tasks_vN_pkey, once per key, the workspace rechecked
	return list(ctx, q.pool, scanTask, `SELECT t.* FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(ws, id)
		CROSS JOIN LATERAL (SELECT `+taskCols+` FROM rm_tasks WHERE id = k.id AND workspace_id = k.ws) t`, wss, ids)
}

// Board returns a project's unarchived tasks in board order (rank), up to limit.
func (q *Queries) Board(ctx context.Context, workspaceID, projectID uuid.UUID, limit int) ([]Task, error) {
	// served by rm_tasks_vN_board_idx
	return list(ctx, q.pool, scanTask, `SELECT `+taskCols+` FROM rm_tasks
		WHERE project_id = $2 AND NOT archived AND workspace_id = $1 ORDER BY rank, id LIMIT $3`,
		workspaceID, projectID, pageSize(limit))
}

// BoardsByKeys returns the boards of projects of any number of workspaces in one statement: each
// project's unarchived tasks in board order (rank), up to limit per project, a project's tasks
// together (by project id). A key matches its own workspace's project only (another workspace's
// project has no tasks); a key named twice is read once.
func (q *Queries) BoardsByKeys(ctx context.Context, keys []Key, limit int) ([]Task, error) {
	wss, ids := splitKeys(keys)
	// served by rm_tasks_vN_board_idx, once per key (LATERAL): each board a range scan in rank
	// order that stops at its limit, as Board's
	return list(ctx, q.pool, scanTask, `SELECT t.* FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(ws, id)
		CROSS JOIN LATERAL (SELECT `+taskCols+` FROM rm_tasks
			WHERE project_id = k.id AND NOT archived AND workspace_id = k.ws ORDER BY rank, id LIMIT $3) t
		ORDER BY t.project_id, t.rank, t.id`,
		wss, ids, pageSize(limit))
}

// Task list orders.
const (
	OrderUpdated   = "updated"   // newest update first, within the workspace (default)
	OrderNumber    = "number"    // TF-1, TF-2, ... within a project (ProjectID required)
	OrderRelevance = "relevance" // best match of TaskFilter.Search first (Search required)
)

// TaskFilter selects and orders a task list page.
type TaskFilter struct {
	ProjectID  uuid.UUID // required for OrderNumber
	Status     string
	AssigneeID string
	Label      string
	DueBefore  *time.Time // due strictly before (tasks without a due date never match)
	// Search is a full-text search over key, title and description (words, English stemming):
	// only matching tasks are listed.
	Search          string
	IncludeArchived bool
	Order           string
	After           string // cursor of the previous page's last task
	Limit           int
}

// TaskPage is one page of a task list.
type TaskPage struct {
	Tasks []Task `json:"tasks"`
	// Next is the cursor of the next page, empty on the last one.
	Next string `json:"next,omitempty"`
}

// ListTasks returns a page of tasks: keyset pagination, so a page costs the same wherever it is.
// Every filter, the search included, is part of the query before its LIMIT, so a page is full
// unless it is the last.
func (q *Queries) ListTasks(ctx context.Context, workspaceID uuid.UUID, f TaskFilter) (TaskPage, error) {
	limit := pageSize(f.Limit)
	args := []any{workspaceID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	from, cols, scan := "rm_tasks", taskCols, scanTask
	where := []string{"workspace_id = $1"}
	if f.Search != "" {
		// rm_tasks_vN_search_idx (GIN) finds the matches; the workspace and the other filters are
		// checked on them, before the LIMIT. match_rank is what OrderRelevance sorts by.
		text := arg(f.Search)
		from = `rm_tasks, websearch_to_tsquery('english', ` + text + `) AS query_en, websearch_to_tsquery('simple', ` + text + `) AS query_simple,
			LATERAL (SELECT ts_rank(search, query_en) + ts_rank(search, query_simple)) AS m(match_rank)`
		cols, scan = taskCols+", match_rank", scanRankedTask
		where = append(where, "(search @@ query_en OR search @@ query_simple)")
	}
	if f.ProjectID != uuid.Nil {
		where = append(where, "project_id = "+arg(f.ProjectID))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.AssigneeID != "" {
		where = append(where, "assignee_id = "+arg(f.AssigneeID))
	}
	if f.Label != "" {
		where = append(where, arg(f.Label)+" = ANY (labels)")
	}
	if f.DueBefore != nil {
		// implies due_date IS NOT NULL: with NOT archived, rm_tasks_vN_due_idx serves it
		where = append(where, "due_date < "+arg(*f.DueBefore))
	}
	if !f.IncludeArchived {
		where = append(where, "NOT archived")
	}
	var order string
	switch f.Order {
	case OrderNumber:
		if f.ProjectID == uuid.Nil {
			return TaskPage{}, errors.New("projections: ordering by number needs a project")
		}
		// served by rm_tasks_vN_number_idx
		order = "number"
		if f.After != "" {
			c, err := ParseTaskCursor(f.Order, f.After)
			if err != nil {
				return TaskPage{}, err
			}
			where = append(where, "number > "+arg(c.Number))
		}
	case OrderUpdated, "":
		// served by rm_tasks_vN_updated_idx (or rm_tasks_vN_ws_assignee_idx with an assignee, or
		// rm_tasks_vN_due_idx with a due date, the page sorted from the tasks due before it)
		order = "updated_at DESC, id DESC"
		if f.After != "" {
			c, err := ParseTaskCursor(f.Order, f.After)
			if err != nil {
				return TaskPage{}, err
			}
			where = append(where, "(updated_at, id) < ("+arg(c.UpdatedAt)+", "+arg(c.ID)+")")
		}
	case OrderRelevance:
		if f.Search == "" {
			return TaskPage{}, errors.New("projections: ordering by relevance needs a search")
		}
		// served by rm_tasks_vN_search_idx as above: the matches are ranked and the page is the
		// top of them after the cursor
		order = "match_rank DESC, updated_at DESC, id DESC"
		if f.After != "" {
			c, err := ParseTaskCursor(f.Order, f.After)
			if err != nil {
				return TaskPage{}, err
			}
			where = append(where, "(match_rank, updated_at, id) < ("+arg(c.Rank)+"::real, "+arg(c.UpdatedAt)+", "+arg(c.ID)+")")
		}
	default:
		return TaskPage{}, fmt.Errorf("projections: unknown order %q", f.Order)
	}
	sql := `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ` + arg(limit+1)
	tasks, err := list(ctx, q.pool, scan, sql, args...)
	if err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{Tasks: tasks}
	if len(tasks) > limit {
		page.Tasks = tasks[:limit]
		page.Next = CursorOf(f.Order, page.Tasks[limit-1]).String()
	}
	return page, nil
}

// Comment is a comment on a task.
type Comment struct {
	ID          uuid.UUID  `json:"id"`
	WorkspaceID uuid.UUID  `json:"workspace_id"`
	TaskID      uuid.UUID  `json:"task_id"`
	AuthorID    string     `json:"author_id"`
	AuthorName  string     `json:"author_name"`
	Body        string     `json:"body"`
	Mentions    []string   `json:"mentions"`
	CreatedAt   time.Time  `json:"created_at"`
	EditedAt    *time.Time `json:"edited_at,omitempty"`
}

const commentCols = `id, workspace_id, task_id, author_id, author_name, body, mentions, created_at, edited_at`

func scanComment(row pgx.Row) (Comment, error) {
	var c Comment
	err := row.Scan(&c.ID, &c.WorkspaceID, &c.TaskID, &c.AuthorID, &c.AuthorName, &c.Body, &c.Mentions, &c.CreatedAt, &c.EditedAt)
	return c, err
}

// Comments returns a task's comments, oldest first, up to limit.
func (q *Queries) Comments(ctx context.Context, workspaceID, taskID uuid.UUID, limit int) ([]Comment, error) {
	// served by rm_comments_vN_task_idx
	return list(ctx, q.pool, scanComment, `SELECT `+commentCols+`
		FROM rm_comments WHERE task_id = $2 AND workspace_id = $1 ORDER BY created_at, id LIMIT $3`,
		workspaceID, taskID, pageSize(limit))
}

// CommentsByTaskKeys is the batch loader of comments: the first perTask comments (oldest first)
// of each task, in one statement for any number of tasks of any number of workspaces.
func (q *Queries) CommentsByTaskKeys(ctx context.Context, keys []Key, perTask int) ([]Comment, error) {
	wss, ids := splitKeys(keys)
	// served by rm_comments_vN_task_idx, once per key (LATERAL)
	return list(ctx, q.pool, scanComment, `SELECT c.* FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(ws, id)
		CROSS JOIN LATERAL (SELECT `+commentCols+` FROM rm_comments
			WHERE task_id = k.id AND workspace_id = k.ws ORDER BY created_at, id LIMIT $3) c
		ORDER BY c.task_id, c.created_at, c.id`,
		wss, ids, pageSize(perTask))
}

// ActivityItem is one line of a workspace's feed.
type ActivityItem struct {
	EventID   uuid.UUID                 `json:"event_id"`
	EventType string                    `json:"event_type"`
	ActorID   string                    `json:"actor_id"`
	ActorName string                    `json:"actor_name"`
	SubjectID *uuid.UUID                `json:"subject_id,omitempty"`
	Line      string                    `json:"line"`
	At        time.Time                 `json:"at"`
	Position  eventstore.GlobalPosition `json:"position"`
}

// ActivityPage is a page of the feed, newest first.
type ActivityPage struct {
	Items []ActivityItem `json:"items"`
	// Before is where the next (older) page starts; nil on the last page.
	Before *eventstore.GlobalPosition `json:"before,omitempty"`
}

// ActivityFeed returns the workspace's feed, newest first, strictly before before (nil: from the
// newest).
func (q *Queries) ActivityFeed(ctx context.Context, workspaceID uuid.UUID, before *eventstore.GlobalPosition, limit int) (ActivityPage, error) {
	limit = pageSize(limit)
	b := eventstore.GlobalPosition{TransactionID: 1 << 62}
	if before != nil {
		b = *before
	}
	// served by rm_activity_vN_pkey (backward scan)
	items, err := list(ctx, q.pool, scanActivity, `SELECT event_id, event_type, actor_id, actor_name, subject_id, line, at, transaction_id, position
		FROM rm_activity WHERE workspace_id = $1 AND (transaction_id, position) < ($2, $3)
		ORDER BY transaction_id DESC, position DESC LIMIT $4`, workspaceID, int64(b.TransactionID), b.Position, limit+1)
	if err != nil {
		return ActivityPage{}, err
	}
	page := ActivityPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		p := page.Items[limit-1].Position
		page.Before = &p
	}
	return page, nil
}

// Notification is one item of a user's inbox.
type Notification struct {
	ID        uuid.UUID                 `json:"id"`
	Kind      string                    `json:"kind"`
	TaskID    uuid.UUID                 `json:"task_id"`
	CommentID *uuid.UUID                `json:"comment_id,omitempty"`
	ActorID   string                    `json:"actor_id"`
	Line      string                    `json:"line"`
	At        time.Time                 `json:"at"`
	Read      bool                      `json:"read"`
	Position  eventstore.GlobalPosition `json:"position"`
}

// NotificationPage is a page of an inbox, newest first.
type NotificationPage struct {
	Items  []Notification             `json:"items"`
	Unread int                        `json:"unread"` // on this page
	Before *eventstore.GlobalPosition `json:"before,omitempty"`
}

// Notifications returns user's inbox in a workspace, newest first, strictly before before.
func (q *Queries) Notifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition, limit int) (NotificationPage, error) {
	return q.notifications(ctx, workspaceID, user, before, limit, false)
}

// UnreadNotifications is Notifications without the notifications user has read (those at or
// below their read mark, see MarkNotificationsRead): full pages of unread ones.
func (q *Queries) UnreadNotifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition, limit int) (NotificationPage, error) {
	return q.notifications(ctx, workspaceID, user, before, limit, true)
}

// notificationsSQL reads a page of an inbox, served by rm_notifications_vN_inbox_idx (a range
// below the cursor; and notification_reads_pkey, one row). %s is empty, or unreadSQL for the
// unread notifications only.
const notificationsSQL = `SELECT n.id, n.kind, n.task_id, n.comment_id, n.actor_id, n.line, n.at,
		coalesce((n.transaction_id, n.position) <= (r.transaction_id, r.position), false), n.transaction_id, n.position
	FROM rm_notifications n LEFT JOIN notification_reads r ON r.user_id = n.user_id
	WHERE n.user_id = $2 AND n.workspace_id = $1 AND (n.transaction_id, n.position) < ($3, $4)%s
	ORDER BY n.transaction_id DESC, n.position DESC LIMIT $5`

// unreadSQL bounds the inbox range from below by the user's read mark (-1 when they have none,
// two InitPlans on notification_reads_pkey): the unread notifications are the newest ones, so the
// index range stops at the mark instead of running through every read one.
const unreadSQL = `
		AND (n.transaction_id, n.position) >
			(coalesce((SELECT m.transaction_id FROM notification_reads m WHERE m.user_id = $2), -1),
			 coalesce((SELECT m.position FROM notification_reads m WHERE m.user_id = $2), -1))`

var (
	inboxSQL       = fmt.Sprintf(notificationsSQL, "")
	unreadInboxSQL = fmt.Sprintf(notificationsSQL, unreadSQL)
)

func (q *Queries) notifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition,
	limit int, unreadOnly bool) (NotificationPage, error) {
	limit = pageSize(limit)
	b := eventstore.GlobalPosition{TransactionID: 1 << 62}
	if before != nil {
		b = *before
	}
	sql := inboxSQL
	if unreadOnly {
		sql = unreadInboxSQL
	}
	items, err := list(ctx, q.pool, scanNotification, sql, workspaceID, user, int64(b.TransactionID), b.Position, limit+1)
	if err != nil {
		return NotificationPage{}, err
	}
	page := NotificationPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		p := page.Items[limit-1].Position
		page.Before = &p
	}
	for _, n := range page.Items {
		if !n.Read {
			page.Unread++
		}
	}
	return page, nil
}

// ErrNotNotified is returned by MarkNotificationsRead for a position the user holds no
// notification at.
var ErrNotNotified = errors.New("projections: no notification at this position")

// MarkNotificationsRead marks user's notifications up to through as read. It never moves the
// mark backwards, and only moves it to the position of one of the user's notifications
// (else ErrNotNotified): a mark far in the future would hide every notification still to come.
func (q *Queries) MarkNotificationsRead(ctx context.Context, user string, through eventstore.GlobalPosition) error {
	var notified bool
	// the check is served by rm_notifications_vN_read_idx
	err := q.pool.QueryRow(ctx, `WITH known AS (
			SELECT EXISTS (SELECT 1 FROM rm_notifications WHERE user_id = $1 AND transaction_id = $2 AND position = $3) AS ok),
		mark AS (INSERT INTO notification_reads (user_id, transaction_id, position) SELECT $1, $2, $3 FROM known WHERE ok
			ON CONFLICT (user_id) DO UPDATE SET transaction_id = $2, position = $3, updated_at = now()
			WHERE (notification_reads.transaction_id, notification_reads.position) < ($2, $3))
		SELECT ok FROM known`,
		user, int64(through.TransactionID), through.Position).Scan(&notified)
	if err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	if !notified {
		return ErrNotNotified
	}
	return nil
}

// DefaultWait bounds WaitFor when ctx has no deadline.
const DefaultWait = 5 * time.Second

// WaitFor waits until every named projection (all when none) has applied the log up to pos, for
// read-your-writes. It polls the checkpoints (one indexed query each time, backing off from 2ms to
// 50ms) until ctx is done, or DefaultWait when ctx has no deadline.
func (q *Queries) WaitFor(ctx context.Context, pos eventstore.GlobalPosition, names ...string) error {
	if names == nil {
		names = []string{} // NULL would match nothing
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	delay := 2 * time.Millisecond
	for {
		var behind, installed int
		// served by projection_versions_pkey and projection_checkpoints_pkey
		err := q.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE (c.transaction_id, c.position) < ($1, $2)), count(*)
			FROM projection_versions r JOIN projection_checkpoints c ON c.name = r.name AND c.version = r.active_version
			WHERE cardinality($3::text[]) = 0 OR r.name = ANY ($3)`, int64(pos.TransactionID), pos.Position, names).Scan(&behind, &installed)
		if err != nil {
			return fmt.Errorf("wait for projections: %w", err)
		}
		if behind == 0 && installed > 0 && (len(names) == 0 || installed == len(names)) {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for projections at %s: %w", pos, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

func scanActivity(row pgx.Row) (ActivityItem, error) {
	var a ActivityItem
	var tx int64
	err := row.Scan(&a.EventID, &a.EventType, &a.ActorID, &a.ActorName, &a.SubjectID, &a.Line, &a.At, &tx, &a.Position.Position)
	a.Position.TransactionID = uint64(tx)
	return a, err
}

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	var tx int64
	err := row.Scan(&n.ID, &n.Kind, &n.TaskID, &n.CommentID, &n.ActorID, &n.Line, &n.At, &n.Read, &tx, &n.Position.Position)
	n.Position.TransactionID = uint64(tx)
	return n, err
}

// list runs one query and scans every row with scan.
func list[T any](ctx context.Context, pool *pgxpool.Pool, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read model query: %w", err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read model scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read model query: %w", err)
	}
	return out, nil
}
