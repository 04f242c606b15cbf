package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// served by rm_tasks_vN_board_idx; planned with its arguments (customPlan)
	return list(ctx, q.pool, scanTask, `SELECT `+taskCols+` FROM rm_tasks
		WHERE project_id = $2 AND NOT archived AND workspace_id = $1 ORDER BY rank, id LIMIT $3`,
		customPlan, workspaceID, projectID, pageSize(limit))
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
	OrderUpdated    = "updated"     // newest update first, within the workspace (default)
	OrderUpdatedAsc = "updated_asc" // oldest update first
	OrderNumber     = "number"      // TF-1, TF-2, ... within a project (ProjectID required)
	OrderRelevance  = "relevance"   // best match of TaskFilter.Search first (Search required)
)

// TaskFilter selects and orders a task list page.
type TaskFilter struct {
	ProjectID  uuid.UUID // required for OrderNumber
	Status     string
	AssigneeID string
	Label      string     // a label, letter case ignored
	DueBefore  *time.Time // due strictly before (tasks without a due date never match)
	// Where is the filter grammar's condition tree, which must hold besides the fields above.
	Where TaskExpr
	// Search is a prefix search over key, title and description: every word of it begins a
	// word of the task ("auth lo" finds "login authentication"), English stems or as written.
	// Only matching tasks are listed.
	Search          string
	IncludeArchived bool
	Order           string
	After           string // cursor: only tasks after it in the list's order
	Before          string // cursor: only tasks before it
	// Last asks for the last Limit tasks of the list (after After, before Before) instead of the
	// first: paging backwards. The page is still in the list's order.
	Last  bool
	Limit int
}

// TaskPage is one page of a task list.
type TaskPage struct {
	Tasks []Task `json:"tasks"`
	// Next is the cursor of the next page when the list continues after the page's last task
	// (known when reading forward, always empty when reading Last).
	Next string `json:"next,omitempty"`
	// Previous is the cursor of the page before when the list continues before the page's first
	// task (known when reading Last, always empty otherwise).
	Previous string `json:"previous,omitempty"`
	order    string
}

// Cursor is t's cursor in the page's list (CursorOf in its order).
func (p TaskPage) Cursor(t Task) string { return CursorOf(CursorOrder(p.order), t).String() }

// CursorOrder is the cursor format (CursorOf, ParseTaskCursor) of a list order: updated_asc's
// cursors are updated's (a place in the same keyset, read the other way).
func CursorOrder(order string) string {
	if order == OrderUpdatedAsc {
		return OrderUpdated
	}
	return order
}

// taskListOrder is a list order: its sort keys, their direction, and a cursor's values for them.
type taskListOrder struct {
	keys string
	desc bool
	vals func(c TaskCursor, a *sqlArgs) string
}

var taskListOrders = map[string]taskListOrder{
	// served by rm_tasks_vN_updated_idx (read backwards for updated_asc), within a project by
	// rm_tasks_vN_project_updated_idx, or by the index of a selective filter (ws_assignee, due,
	// status, labels, search, title, number, board), its rows sorted
	OrderUpdated: {keys: "updated_at, id", desc: true, vals: func(c TaskCursor, a *sqlArgs) string {
		return a.add(c.UpdatedAt) + ", " + a.add(c.ID)
	}},
	OrderUpdatedAsc: {keys: "updated_at, id", vals: func(c TaskCursor, a *sqlArgs) string {
		return a.add(c.UpdatedAt) + ", " + a.add(c.ID)
	}},
	// served by rm_tasks_vN_number_idx
	OrderNumber: {keys: "number", vals: func(c TaskCursor, a *sqlArgs) string { return a.add(c.Number) }},
	// served by rm_tasks_vN_search_idx: the matches are ranked and the page is the top of them
	// after the cursor
	OrderRelevance: {keys: "match_rank, updated_at, id", desc: true, vals: func(c TaskCursor, a *sqlArgs) string {
		return a.add(c.Rank) + "::real, " + a.add(c.UpdatedAt) + ", " + a.add(c.ID)
	}},
}

// taskListStatement is ListTasks' one statement.
type taskListStatement struct {
	sql    string
	args   []any
	ranked bool // selects match_rank after taskCols
	limit  int
	order  string
}

// ListTasks returns a page of tasks: keyset pagination, so a page costs the same wherever it is.
// Every filter, the search and the filter grammar included, is part of the query before its
// LIMIT, so a page is full unless it is the last.
func (q *Queries) ListTasks(ctx context.Context, workspaceID uuid.UUID, f TaskFilter) (TaskPage, error) {
	st, err := listTasksStatement(workspaceID, f)
	if err != nil {
		return TaskPage{}, err
	}
	scan := scanTask
	if st.ranked {
		scan = scanRankedTask
	}
	// planned with its arguments (customPlan): the index that serves a filter depends on how
	// many tasks the workspace, the project, the label or the search holds
	tasks, err := list(ctx, q.pool, scan, st.sql, append([]any{customPlan}, st.args...)...)
	if err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{Tasks: tasks, order: st.order}
	more := len(tasks) > st.limit
	if more {
		page.Tasks = tasks[:st.limit]
	}
	if f.Last {
		slices.Reverse(page.Tasks)
		if more {
			page.Previous = page.Cursor(page.Tasks[0])
		}
	} else if more {
		page.Next = page.Cursor(page.Tasks[st.limit-1])
	}
	return page, nil
}

func listTasksStatement(workspaceID uuid.UUID, f TaskFilter) (taskListStatement, error) {
	st := taskListStatement{limit: pageSize(f.Limit), order: f.Order}
	if st.order == "" {
		st.order = OrderUpdated
	}
	order, ok := taskListOrders[st.order]
	if !ok {
		return st, fmt.Errorf("projections: unknown order %q", f.Order)
	}
	a := &sqlArgs{values: []any{workspaceID}}
	from, cols := "rm_tasks", taskCols
	where := []string{"workspace_id = $1"}
	if IsSearch(f.Search) {
		// rm_tasks_vN_search_idx (GIN) finds the matches (the queries are InitPlans, computed once,
		// which the index scan takes as its key); the workspace and the other filters are checked
		// on them, before the LIMIT. match_rank is what OrderRelevance sorts by.
		text := a.add(f.Search)
		en, simple := prefixTSQuery("english", text), prefixTSQuery("simple", text)
		from = `rm_tasks, LATERAL (SELECT coalesce(ts_rank(search, ` + en + `), 0) + coalesce(ts_rank(search, ` + simple + `), 0)) AS m(match_rank)`
		cols, st.ranked = taskCols+", match_rank", true
		where = append(where, "(search @@ "+en+" OR search @@ "+simple+")")
	} else if st.order == OrderRelevance {
		return st, errors.New("projections: ordering by relevance needs a search")
	}
	if f.ProjectID != uuid.Nil {
		where = append(where, "project_id = "+a.add(f.ProjectID))
	} else if st.order == OrderNumber {
		return st, errors.New("projections: ordering by number needs a project")
	}
	if f.Status != "" {
		where = append(where, "status = "+a.add(f.Status))
	}
	if f.AssigneeID != "" {
		where = append(where, "assignee_id = "+a.add(f.AssigneeID))
	}
	if f.Label != "" {
		// served by rm_tasks_vN_labels_idx
		where = append(where, "labels_ci @> ARRAY[lower("+a.add(f.Label)+"::text)]")
	}
	if f.DueBefore != nil {
		// implies due_date IS NOT NULL: with NOT archived, rm_tasks_vN_due_idx serves it
		where = append(where, "due_date < "+a.add(*f.DueBefore))
	}
	cond, err := f.Where.sql(a)
	if err != nil {
		return st, err
	}
	if cond != "" {
		where = append(where, cond)
	}
	if !f.IncludeArchived {
		where = append(where, "NOT archived")
	}
	for _, c := range []struct {
		cursor string
		after  bool
	}{{f.After, true}, {f.Before, false}} {
		if c.cursor == "" {
			continue
		}
		cur, err := ParseTaskCursor(CursorOrder(st.order), c.cursor)
		if err != nil {
			return st, err
		}
		cmp := "<"
		if c.after != order.desc {
			cmp = ">"
		}
		where = append(where, "("+order.keys+") "+cmp+" ("+order.vals(cur, a)+")")
	}
	desc := order.desc != f.Last // reading the last page: the list's order reversed, then the page
	var by []string
	for _, k := range strings.Split(order.keys, ", ") {
		if desc {
			k += " DESC"
		}
		by = append(by, k)
	}
	st.sql = `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + strings.Join(by, ", ") +
		` LIMIT ` + a.add(st.limit+1)
	st.args = a.values
	return st, nil
}
