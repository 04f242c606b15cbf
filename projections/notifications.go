package projections

import (
	"github.com/taskforge/taskforge/domain"
)

// Notification kinds.
const (
	NotifyAssigned  = "assigned"
	NotifyMentioned = "mentioned"
	NotifyCommented = "commented" // a comment on a task you are assigned to or created
)

// notificationsProjection: each user's inbox. A notification's id is derived from the event id,
// the recipient and the kind, so a rebuild yields the same ids. The read flag is not part of the
// projection: it comes from notification_reads (a per-user mark, kept across rebuilds).
func notificationsProjection() *Projection {
	return &Projection{
		Name:   Notifications,
		Tables: []string{"rm_notifications", "rm_notification_tasks", "rm_notification_people"},
		Schema: `
CREATE TABLE rm_notifications{v} (
    id             uuid PRIMARY KEY,
    user_id        text NOT NULL,
    workspace_id   uuid NOT NULL,
    kind           text NOT NULL,
    task_id        uuid NOT NULL,
    comment_id     uuid,
    actor_id       text NOT NULL,
    line           text NOT NULL,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    at             timestamptz NOT NULL
);
CREATE TABLE rm_notification_tasks{v} (
    task_id      uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    key          text NOT NULL,
    title        text NOT NULL,
    assignee_id  text,
    created_by   text NOT NULL
);
CREATE TABLE rm_notification_people{v} (
    workspace_id uuid NOT NULL,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
-- serves profile updates (by user)
CREATE INDEX rm_notification_people{v}_user_idx ON rm_notification_people{v} (user_id);`,
		QueryIndexes: `
-- serves NotificationsPage: a user's inbox in one workspace, newest first, keyset by position
CREATE INDEX IF NOT EXISTS rm_notifications{v}_inbox_idx ON rm_notifications{v} (user_id, workspace_id, transaction_id DESC, position DESC);
-- serves MarkNotificationsRead's check that the user was notified at the position
CREATE INDEX IF NOT EXISTS rm_notifications{v}_read_idx ON rm_notifications{v} (user_id, transaction_id, position);`,
		Apply: applyNotifications,
		bulk:  newNotificationsFolder,
	}
}

// notifySQL inserts one notification per recipient in $1 (minus the actor). %1$s is the actor's
// name, %2$s the task ("TF-12 “Ship it”").
const notifySQL = `INSERT INTO rm_notifications{v} (id, user_id, workspace_id, kind, task_id, comment_id, actor_id, line,
		transaction_id, position, at)
	SELECT md5($2::text || '/' || r.u || '/' || $3)::uuid, r.u, t.workspace_id, $3, t.task_id, $4, $5,
		format($6, coalesce(a.display_name, $5), t.key || ' “' || t.title || '”'), $7, $8, $9
	FROM unnest($1::text[]) AS r(u)
	JOIN rm_notification_tasks{v} t ON t.task_id = $10
	LEFT JOIN rm_notification_people{v} a ON a.workspace_id = t.workspace_id AND a.user_id = $5
	WHERE r.u <> $5
	ON CONFLICT (id) DO NOTHING`

func applyNotifications(w *Writer, e *Event) error {
	notify := func(recipients []string, kind string, task, comment any, by domain.UserID, format string) {
		w.Exec(notifySQL, recipients, e.ID, kind, comment, string(by), format, int64(e.TransactionID), e.Position, e.RecordedAt, task)
	}
	switch ev := e.Payload.(type) {
	case domain.WorkspaceMemberJoined:
		w.Exec(`INSERT INTO rm_notification_people{v} (workspace_id, user_id, display_name) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET display_name = $3`,
			ev.WorkspaceID, string(ev.UserID), displayName(ev.DisplayName, ev.UserID))
	case domain.UserRegistered:
		w.Exec(`UPDATE rm_notification_people{v} SET display_name = $2 WHERE user_id = $1`, string(ev.UserID), displayName(ev.DisplayName, ev.UserID))
	case domain.UserProfileUpdated:
		w.Exec(`UPDATE rm_notification_people{v} SET display_name = $2 WHERE user_id = $1`, string(ev.UserID), displayName(ev.DisplayName, ev.UserID))

	case domain.TaskCreated:
		w.Exec(`INSERT INTO rm_notification_tasks{v} (task_id, workspace_id, key, title, assignee_id, created_by)
			VALUES ($1, $2, $3, $4, $5, $6)`, ev.TaskID, ev.WorkspaceID, ev.Key, ev.Title, nullable(ev.Assignee), string(ev.By))
		if ev.Assignee != "" {
			notify([]string{string(ev.Assignee)}, NotifyAssigned, ev.TaskID, nil, ev.By, `%1$s assigned you %2$s`)
		}
	case domain.TaskTitleChanged:
		w.Exec(`UPDATE rm_notification_tasks{v} SET title = $2 WHERE task_id = $1`, ev.TaskID, ev.Title)
	case domain.TaskAssigned:
		w.Exec(`UPDATE rm_notification_tasks{v} SET assignee_id = $2 WHERE task_id = $1`, ev.TaskID, string(ev.Assignee))
		notify([]string{string(ev.Assignee)}, NotifyAssigned, ev.TaskID, nil, ev.By, `%1$s assigned you %2$s`)
	case domain.TaskUnassigned:
		w.Exec(`UPDATE rm_notification_tasks{v} SET assignee_id = NULL WHERE task_id = $1`, ev.TaskID)
	case domain.TaskCommentAdded:
		mentions := userIDs(ev.Mentions)
		notify(mentions, NotifyMentioned, ev.TaskID, ev.CommentID, ev.By, `%1$s mentioned you on %2$s`)
		// The task's assignee and creator, unless mentioned already.
		w.Exec(`INSERT INTO rm_notifications{v} (id, user_id, workspace_id, kind, task_id, comment_id, actor_id, line,
				transaction_id, position, at)
			SELECT md5($2::text || '/' || r.u || '/' || $3)::uuid, r.u, t.workspace_id, $3, t.task_id, $4, $5,
				format('%1$s commented on %2$s', coalesce(a.display_name, $5), t.key || ' “' || t.title || '”'), $6, $7, $8
			FROM rm_notification_tasks{v} t
			CROSS JOIN LATERAL (SELECT DISTINCT u FROM unnest(ARRAY[t.assignee_id, t.created_by]) AS x(u) WHERE u IS NOT NULL) r
			LEFT JOIN rm_notification_people{v} a ON a.workspace_id = t.workspace_id AND a.user_id = $5
			WHERE t.task_id = $9 AND r.u <> $5 AND NOT (r.u = ANY ($1::text[]))
			ON CONFLICT (id) DO NOTHING`,
			mentions, e.ID, NotifyCommented, ev.CommentID, string(ev.By), int64(e.TransactionID), e.Position, e.RecordedAt, ev.TaskID)
	case domain.TaskCommentEdited:
		notify(userIDs(ev.NewMentions), NotifyMentioned, ev.TaskID, ev.CommentID, ev.By, `%1$s mentioned you on %2$s`)
	}
	return nil
}
