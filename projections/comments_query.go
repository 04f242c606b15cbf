package projections

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/internal/cursor"
)

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

const commentCols = `c.id, c.workspace_id, c.task_id, c.author_id, c.author_name, c.body, c.mentions, c.created_at, c.edited_at`

func scanComment(row pgx.Row) (Comment, error) {
	var c Comment
	err := row.Scan(&c.ID, &c.WorkspaceID, &c.TaskID, &c.AuthorID, &c.AuthorName, &c.Body, &c.Mentions, &c.CreatedAt, &c.EditedAt)
	return c, err
}

// Cursor is the comment's place among its task's comments (opaque, internal/cursor).
func (c Comment) Cursor() string {
	return cursor.New(cursor.Comment).Time(c.CreatedAt).UUID(c.ID).Encode()
}

// commentKeys: a task's comments are oldest first.
var commentKeys = keyset{kind: cursor.Comment, cols: []string{"c.created_at", "c.id"}, out: []string{"created_at", "id"},
	read: func(r *cursor.Reader) []any { return []any{r.Time(), uuid.UUID(r.UUID())} }}

// CommentPages returns a page of the comments (oldest first) of each task named by keys, the same
// window for each: one statement for any number of tasks of any number of workspaces, however
// many comments they have. A key matches its own workspace's task only (another's has none).
func (q *Queries) CommentPages(ctx context.Context, keys []Key, w Window) (map[Key]Page[Comment], error) {
	wss, ids := splitKeys(keys)
	a := args{wss, ids}
	// served by rm_comments_vN_task_idx (task_id, created_at, id), once per key (LATERAL), a
	// range on either side of the cursor; the workspace rechecked
	body, err := commentKeys.union(commentCols, `FROM rm_comments c WHERE c.task_id = k.id AND c.workspace_id = k.ws`, &a, w)
	if err != nil {
		return nil, err
	}
	rows, err := list(ctx, q.pool, scanProbed(scanComment), `SELECT q.* FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(ws, id)
		CROSS JOIN LATERAL (`+body+`) q ORDER BY q.workspace_id, q.task_id, q.probe, `+commentKeys.listOrder("q"), a...)
	if err != nil {
		return nil, err
	}
	return cutEach(rows, func(c Comment) Key { return Key{WorkspaceID: c.WorkspaceID, ID: c.TaskID} }, keys, w), nil
}
