package projections

import (
	"github.com/taskforge/taskforge/domain"
)

// tasksProjection: the board and list view of tasks (with full-text search) and their comments.
// It keeps its own copy of member display names (rm_task_people) for assignee and author names.
func tasksProjection() *Projection {
	return &Projection{
		Name: Tasks,
		// 2: labels_ci and the filter grammar's indexes; 3: rm_task_changes (sync records)
		Revision: 3,
		Tables:   []string{"rm_tasks", "rm_comments", "rm_task_people", "rm_task_changes"},
		Schema: `
CREATE TABLE rm_tasks{v} (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL,
    project_id     uuid NOT NULL,
    number         bigint NOT NULL,
    key            text NOT NULL,
    title          text NOT NULL,
    description    text NOT NULL,
    status         text NOT NULL,
    priority       text NOT NULL,
    -- none 0 .. urgent 4, for ordering by priority
    priority_order smallint NOT NULL,
    assignee_id    text,
    assignee_name  text,
    due_date       timestamptz,
    labels         text[] NOT NULL,
    -- labels lower-cased (labelsCI), for the case-insensitive label filters' GIN index
    labels_ci      text[] NOT NULL,
    -- ranks compare byte-wise (domain/rank.go)
    rank           text COLLATE "C" NOT NULL,
    comment_count  int NOT NULL DEFAULT 0,
    archived       boolean NOT NULL DEFAULT false,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL,
    -- key and title (weight A), description (B); set by the statements that change them, not a
    -- generated column, which PostgreSQL would recompute on every update of the row
    search         tsvector NOT NULL
);
-- serves assignee display-name updates (profile changes, by user across workspaces)
CREATE INDEX rm_tasks{v}_assignee_idx ON rm_tasks{v} (assignee_id) WHERE assignee_id IS NOT NULL;
CREATE TABLE rm_comments{v} (
    id           uuid PRIMARY KEY,
    task_id      uuid NOT NULL,
    workspace_id uuid NOT NULL,
    author_id    text NOT NULL,
    author_name  text NOT NULL,
    body         text NOT NULL,
    mentions     text[] NOT NULL,
    created_at   timestamptz NOT NULL,
    edited_at    timestamptz
);
CREATE TABLE rm_task_people{v} (
    workspace_id uuid NOT NULL,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
-- serves profile updates (by user)
CREATE INDEX rm_task_people{v}_user_idx ON rm_task_people{v} (user_id);` + changesDDL("rm_task_changes"),
		QueryIndexes: `
-- serves Board and BoardsByKeys: a project's unarchived tasks by rank. It begins with workspace_id,
-- which the queries name too: with project_id alone, a plan made for an average project (the
-- LATERAL of BoardsByKeys) took a BitmapAnd with another index's workspace_id prefix and a sort of
-- the whole project (70k tasks of a large one). It must stay the only index on (workspace_id,
-- project_id), for the same reason. Migration 00012 drops its earlier definition.
CREATE INDEX IF NOT EXISTS rm_tasks{v}_board_idx ON rm_tasks{v} (workspace_id, project_id, rank, id) WHERE NOT archived;
-- serves ListTasks ordered by number within a project
CREATE INDEX IF NOT EXISTS rm_tasks{v}_number_idx ON rm_tasks{v} (project_id, number);
-- serves ListTasks of a project ordered by last update (without it: every task of the project read
-- and sorted, 5,000 for a page of 50 of a large board)
CREATE INDEX IF NOT EXISTS rm_tasks{v}_project_updated_idx ON rm_tasks{v} (project_id, updated_at DESC, id DESC);
-- serves ListTasks ordered by last update within a workspace
CREATE INDEX IF NOT EXISTS rm_tasks{v}_updated_idx ON rm_tasks{v} (workspace_id, updated_at DESC, id DESC);
-- serves ListTasks filtered by assignee within a workspace
CREATE INDEX IF NOT EXISTS rm_tasks{v}_ws_assignee_idx ON rm_tasks{v} (workspace_id, assignee_id, updated_at DESC, id DESC);
-- serves ListTasks filtered by due date (dueBefore) within a workspace, unarchived tasks
CREATE INDEX IF NOT EXISTS rm_tasks{v}_due_idx ON rm_tasks{v} (workspace_id, due_date) WHERE due_date IS NOT NULL AND NOT archived;
-- serve ListTasks' filter grammar (TaskExpr) within a workspace: status; labels (@>, &&, <@ on the
-- lower-cased copy); title prefixes (a byte-wise range); creation dates. Other fields' conditions
-- are checked on the rows of the order's index (updated_idx) or of another condition's index.
CREATE INDEX IF NOT EXISTS rm_tasks{v}_status_idx ON rm_tasks{v} (workspace_id, status, updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS rm_tasks{v}_labels_idx ON rm_tasks{v} USING gin (labels_ci) WITH (fastupdate = off);
CREATE INDEX IF NOT EXISTS rm_tasks{v}_title_idx ON rm_tasks{v} (workspace_id, (title COLLATE "C"));
CREATE INDEX IF NOT EXISTS rm_tasks{v}_created_idx ON rm_tasks{v} (workspace_id, created_at);
-- serves TaskByKey (keys are unique in a workspace: a project key is reserved once, numbers once per project)
CREATE INDEX IF NOT EXISTS rm_tasks{v}_key_idx ON rm_tasks{v} (workspace_id, key);
-- serves ListTasks with a search (TaskFilter.Search): the matches, other filters rechecked on them
-- GIN indexes without a pending list (fastupdate off, here and for labels_idx): every task update
-- writes new entries (updated_at is indexed, so no update is HOT), and with a pending list the
-- commit that finds it over gin_pending_list_limit merges all of it, which held one live commit
-- (and the projection's lag) for a few hundred milliseconds every few thousand updates.
CREATE INDEX IF NOT EXISTS rm_tasks{v}_search_idx ON rm_tasks{v} USING gin (search) WITH (fastupdate = off);
-- serves Comments: a task's comments in order
CREATE INDEX IF NOT EXISTS rm_comments{v}_task_idx ON rm_comments{v} (task_id, created_at, id);` + changesIndex("rm_task_changes"),
		Apply: applyTasks,
		bulk:  newTasksFolder,
	}
}

func priorityOrder(p domain.Priority) int16 {
	switch p {
	case domain.PriorityLow:
		return 1
	case domain.PriorityMedium:
		return 2
	case domain.PriorityHigh:
		return 3
	case domain.PriorityUrgent:
		return 4
	}
	return 0
}

func applyTasks(w *Writer, e *Event) error {
	v := e.StreamVersion
	switch ev := e.Payload.(type) {
	case domain.WorkspaceMemberJoined:
		w.Exec(`INSERT INTO rm_task_people{v} (workspace_id, user_id, display_name) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET display_name = $3`,
			ev.WorkspaceID, string(ev.UserID), displayName(ev.DisplayName, ev.UserID))
	case domain.UserRegistered:
		peopleRenamed(w, ev.UserID, displayName(ev.DisplayName, ev.UserID))
	case domain.UserProfileUpdated:
		peopleRenamed(w, ev.UserID, displayName(ev.DisplayName, ev.UserID))

	case domain.TaskCreated:
		labels := ev.Labels
		if labels == nil {
			labels = []string{}
		}
		w.Exec(`INSERT INTO rm_tasks{v} (id, workspace_id, project_id, number, key, title, description, status, priority,
				priority_order, assignee_id, assignee_name, due_date, labels, labels_ci, rank, created_by, created_at, updated_at, version, search)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
				(SELECT display_name FROM rm_task_people{v} WHERE workspace_id = $2 AND user_id = $11), $12, $13, `+labelsCI("$13::text[]")+`,
				$14, $15, $16, $16, $17,
				setweight(to_tsvector('simple', $5), 'A') || setweight(to_tsvector('english', $6), 'A') ||
				setweight(to_tsvector('english', $7), 'B'))`,
			ev.TaskID, ev.WorkspaceID, ev.ProjectID, ev.Number, ev.Key, ev.Title, ev.Description, ev.Status, string(ev.Priority),
			priorityOrder(ev.Priority), nullable(ev.Assignee), ev.DueDate, labels, ev.Rank, string(ev.By), ev.At, v)
	case domain.TaskTitleChanged:
		w.Exec(`UPDATE rm_tasks{v} SET title = $2, updated_at = $3, version = $4,
				search = setweight(to_tsvector('simple', key), 'A') || setweight(to_tsvector('english', $2), 'A') ||
					setweight(to_tsvector('english', description), 'B') WHERE id = $1`, ev.TaskID, ev.Title, ev.At, v)
	case domain.TaskDescriptionChanged:
		w.Exec(`UPDATE rm_tasks{v} SET description = $2, updated_at = $3, version = $4,
				search = setweight(to_tsvector('simple', key), 'A') || setweight(to_tsvector('english', title), 'A') ||
					setweight(to_tsvector('english', $2), 'B') WHERE id = $1`, ev.TaskID, ev.Description, ev.At, v)
	case domain.TaskPriorityChanged:
		w.Exec(`UPDATE rm_tasks{v} SET priority = $2, priority_order = $3, updated_at = $4, version = $5 WHERE id = $1`,
			ev.TaskID, string(ev.Priority), priorityOrder(ev.Priority), ev.At, v)
	case domain.TaskDueDateChanged:
		w.Exec(`UPDATE rm_tasks{v} SET due_date = $2, updated_at = $3, version = $4 WHERE id = $1`, ev.TaskID, ev.DueDate, ev.At, v)
	case domain.TaskLabelsChanged:
		labels := ev.Labels
		if labels == nil {
			labels = []string{}
		}
		w.Exec(`UPDATE rm_tasks{v} SET labels = $2, labels_ci = `+labelsCI("$2::text[]")+`, updated_at = $3, version = $4 WHERE id = $1`,
			ev.TaskID, labels, ev.At, v)
	case domain.TaskStatusChanged:
		w.Exec(`UPDATE rm_tasks{v} SET status = $2, updated_at = $3, version = $4 WHERE id = $1`, ev.TaskID, ev.To, ev.At, v)
	case domain.TaskAssigned:
		w.Exec(`UPDATE rm_tasks{v} t SET assignee_id = $2,
				assignee_name = (SELECT display_name FROM rm_task_people{v} p WHERE p.workspace_id = t.workspace_id AND p.user_id = $2),
				updated_at = $3, version = $4 WHERE id = $1`, ev.TaskID, string(ev.Assignee), ev.At, v)
	case domain.TaskUnassigned:
		w.Exec(`UPDATE rm_tasks{v} SET assignee_id = NULL, assignee_name = NULL, updated_at = $2, version = $3 WHERE id = $1`, ev.TaskID, ev.At, v)
	case domain.TaskReordered:
		w.Exec(`UPDATE rm_tasks{v} SET rank = $2, updated_at = $3, version = $4 WHERE id = $1`, ev.TaskID, ev.Rank, ev.At, v)
	case domain.TaskArchived:
		w.Exec(`UPDATE rm_tasks{v} SET archived = true, updated_at = $2, version = $3 WHERE id = $1`, ev.TaskID, ev.At, v)
	case domain.TaskRestored:
		w.Exec(`UPDATE rm_tasks{v} SET archived = false, updated_at = $2, version = $3 WHERE id = $1`, ev.TaskID, ev.At, v)
	case domain.TaskCommentAdded:
		w.Exec(`INSERT INTO rm_comments{v} (id, task_id, workspace_id, author_id, author_name, body, mentions, created_at)
			SELECT $1, t.id, t.workspace_id, $3, coalesce(p.display_name, $3), $4, $5, $6
			FROM rm_tasks{v} t LEFT JOIN rm_task_people{v} p ON p.workspace_id = t.workspace_id AND p.user_id = $3
			WHERE t.id = $2`, ev.CommentID, ev.TaskID, string(ev.By), ev.Body, userIDs(ev.Mentions), ev.At)
		w.Exec(`UPDATE rm_tasks{v} SET comment_count = comment_count + 1, updated_at = $2, version = $3 WHERE id = $1`, ev.TaskID, ev.At, v)
	case domain.TaskCommentEdited:
		w.Exec(`UPDATE rm_comments{v} SET body = $2, mentions = $3, edited_at = $4 WHERE id = $1`, ev.CommentID, ev.Body, userIDs(ev.Mentions), ev.At)
		w.Exec(`UPDATE rm_tasks{v} SET version = $2 WHERE id = $1`, ev.TaskID, v)
	case domain.TaskCommentDeleted:
		w.Exec(`DELETE FROM rm_comments{v} WHERE id = $1`, ev.CommentID)
		w.Exec(`UPDATE rm_tasks{v} SET comment_count = comment_count - 1, updated_at = $2, version = $3 WHERE id = $1`, ev.TaskID, ev.At, v)
	}
	// after the entity statements: the tables are locked in the order Ensure indexes them
	recordTaskChange(w, e)
	return nil
}

// peopleRenamed applies a user's new display name to every workspace they belong to.
func peopleRenamed(w *Writer, user domain.UserID, name string) {
	w.Exec(`UPDATE rm_task_people{v} SET display_name = $2 WHERE user_id = $1`, string(user), name)
	w.Exec(`UPDATE rm_tasks{v} SET assignee_name = $2 WHERE assignee_id = $1`, string(user), name)
}

func userIDs(ids []domain.UserID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}
