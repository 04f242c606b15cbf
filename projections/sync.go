package projections

import (
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskforge/taskforge/domain"
)

// Sync records (issue 11, "never miss a change").
//
// Each projection whose entities a client syncs keeps a change table beside its read tables:
// one row per entity, holding the global position of the entity's latest change, the
// clientMutationId of the mutation that made it, and whether that change removed it. It is
// written by the same statements' transaction as the entity's row, so a row's state is its
// state at that position. "What changed after since" is then an index range scan
// (workspace_id, tx, pos) > since that folds by construction: an entity changed ten times
// appears once, at its last change, in its latest state (Replicache's per-row version, Linear's
// sync actions folded). Removals stay as tombstones (removed = true) so that a client resuming
// from any position learns them.
//
//	rm_task_changes       tasks projection       task, comment
//	rm_project_changes    projects projection    project
//	rm_workspace_changes  workspaces projection  workspace, member (key: user id), access (key: user id)
//
// "access" is the caller's own membership (joined, role changed, removed): a client whose access
// changed after since must refetch (Queries.Changes). Notifications are insert-only rows of
// their projection and carry their own position: they need no change table.

// Entity kinds of sync records.
const (
	SyncWorkspace    = "workspace"
	SyncMember       = "member"
	SyncAccess       = "access"
	SyncProject      = "project"
	SyncTask         = "task"
	SyncComment      = "comment"
	SyncNotification = "notification"
)

// changesDDL is the DDL of a change table named base; its query index is changesIndex.
func changesDDL(base string) string {
	return `
CREATE TABLE ` + base + `{v} (
    workspace_id uuid NOT NULL,
    kind         text NOT NULL,
    key          text NOT NULL,
    tx           bigint NOT NULL,
    pos          bigint NOT NULL,
    client_mutation_id text,
    removed      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (workspace_id, kind, key)
);`
}

// changesIndex serves Queries.Changes: a workspace's changes after a position, in log order.
func changesIndex(base string) string {
	return `
-- serves Changes: a workspace's changes after a position, in log order
CREATE INDEX IF NOT EXISTS ` + base + `{v}_since_idx ON ` + base + `{v} (workspace_id, tx, pos);`
}

// recordChange records that e changed (or removed) entity kind/key of workspace ws.
func recordChange(w *Writer, base string, ws uuid.UUID, kind, key string, e *Event, removed bool) {
	w.Exec(`INSERT INTO `+base+`{v} (workspace_id, kind, key, tx, pos, client_mutation_id, removed)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (workspace_id, kind, key) DO UPDATE SET tx = $4, pos = $5, client_mutation_id = $6, removed = $7`,
		ws, kind, key, int64(e.TransactionID), e.Position, optText(e.Metadata.ClientMutationID), removed)
}

func optText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// changeKey and changeRow are a change table's rows in a bulk folder.
type changeKey struct {
	ws        uuid.UUID
	kind, key string
}

type changeRow struct {
	tx, pos int64
	cmid    string
	removed bool
}

func newBulkChanges(v int, base string) *bulkTable[changeKey, changeRow] {
	return newBulkTable(v, base, []string{"workspace_id", "kind", "key", "tx", "pos", "client_mutation_id", "removed"}, 3,
		func(k changeKey, r *changeRow) []any {
			return []any{pgtype.UUID{Bytes: k.ws, Valid: true}, k.kind, k.key, r.tx, r.pos, optText(r.cmid), r.removed}
		})
}

// foldChange is recordChange in a bulk folder.
func foldChange(t *bulkTable[changeKey, changeRow], ws uuid.UUID, kind, key string, e *Event, removed bool) {
	t.put(changeKey{ws, kind, key}, changeRow{tx: int64(e.TransactionID), pos: e.Position, cmid: e.Metadata.ClientMutationID, removed: removed})
}

// taskChange names the task (and comment) a task event changes, for the tasks projection's
// change table; ok is false for any other event.
func taskChange(e *Event) (task, comment uuid.UUID, commentRemoved, ok bool) {
	switch ev := e.Payload.(type) {
	case domain.TaskCreated:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskTitleChanged:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskDescriptionChanged:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskPriorityChanged:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskDueDateChanged:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskLabelsChanged:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskStatusChanged:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskAssigned:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskUnassigned:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskReordered:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskArchived:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskRestored:
		return ev.TaskID, uuid.Nil, false, true
	case domain.TaskCommentAdded:
		return ev.TaskID, ev.CommentID, false, true
	case domain.TaskCommentEdited:
		return ev.TaskID, ev.CommentID, false, true
	case domain.TaskCommentDeleted:
		return ev.TaskID, ev.CommentID, true, true
	}
	return uuid.Nil, uuid.Nil, false, false
}

// recordTaskChange is the tasks projection's change record of e.
func recordTaskChange(w *Writer, e *Event) {
	task, comment, removed, ok := taskChange(e)
	if !ok {
		return
	}
	ws := e.Metadata.WorkspaceID
	recordChange(w, "rm_task_changes", ws, SyncTask, task.String(), e, false)
	if comment != uuid.Nil {
		recordChange(w, "rm_task_changes", ws, SyncComment, comment.String(), e, removed)
	}
}

// foldTaskChange is recordTaskChange in the tasks folder.
func foldTaskChange(t *bulkTable[changeKey, changeRow], e *Event) {
	task, comment, removed, ok := taskChange(e)
	if !ok {
		return
	}
	ws := e.Metadata.WorkspaceID
	foldChange(t, ws, SyncTask, task.String(), e, false)
	if comment != uuid.Nil {
		foldChange(t, ws, SyncComment, comment.String(), e, removed)
	}
}

// projectChange names the project a project event changes (its row in rm_projects).
func projectChange(e *Event) (uuid.UUID, bool) {
	switch ev := e.Payload.(type) {
	case domain.ProjectCreated:
		return ev.ProjectID, true
	case domain.ProjectRenamed:
		return ev.ProjectID, true
	case domain.ProjectArchived:
		return ev.ProjectID, true
	case domain.ProjectUnarchived:
		return ev.ProjectID, true
	case domain.ProjectWorkflowDefined:
		return ev.ProjectID, true
	case domain.ProjectTaskNumberReserved:
		// the row's version moves only for reservations on the project's own stream (applyProjects)
		return ev.ProjectID, e.StreamType == domain.StreamTypeProject
	}
	return uuid.Nil, false
}

// recordWorkspaceChange is the workspaces projection's change records of e: the workspace row
// (every event of its stream moves at least its version), its members and their access.
func recordWorkspaceChange(w *Writer, e *Event) {
	const t = "rm_workspace_changes"
	switch ev := e.Payload.(type) {
	case domain.UserRegistered:
		memberRenamed(w, ev.UserID, e)
		return
	case domain.UserProfileUpdated:
		memberRenamed(w, ev.UserID, e)
		return
	case domain.WorkspaceMemberJoined:
		recordChange(w, t, ev.WorkspaceID, SyncMember, string(ev.UserID), e, false)
		recordChange(w, t, ev.WorkspaceID, SyncAccess, string(ev.UserID), e, false)
	case domain.WorkspaceMemberRoleChanged:
		recordChange(w, t, ev.WorkspaceID, SyncMember, string(ev.UserID), e, false)
		recordChange(w, t, ev.WorkspaceID, SyncAccess, string(ev.UserID), e, false)
	case domain.WorkspaceMemberRemoved:
		recordChange(w, t, ev.WorkspaceID, SyncMember, string(ev.UserID), e, true)
		recordChange(w, t, ev.WorkspaceID, SyncAccess, string(ev.UserID), e, true)
	}
	if e.StreamType == domain.StreamTypeWorkspace {
		ws := e.Metadata.WorkspaceID
		if id, err := uuid.Parse(strings.TrimPrefix(e.StreamID, domain.StreamTypeWorkspace+"-")); err == nil {
			ws = id
		}
		recordChange(w, t, ws, SyncWorkspace, ws.String(), e, false)
	}
}

// memberRenamed records a change of user's member row in every workspace they belong to.
func memberRenamed(w *Writer, user domain.UserID, e *Event) {
	w.Exec(`INSERT INTO rm_workspace_changes{v} (workspace_id, kind, key, tx, pos, client_mutation_id, removed)
		SELECT workspace_id, 'member', user_id, $2, $3, $4, false FROM rm_members{v} WHERE user_id = $1
		ON CONFLICT (workspace_id, kind, key) DO UPDATE SET tx = $2, pos = $3, client_mutation_id = $4, removed = false`,
		string(user), int64(e.TransactionID), e.Position, optText(e.Metadata.ClientMutationID))
}
