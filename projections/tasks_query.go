package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

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
