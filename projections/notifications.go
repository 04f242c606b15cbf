package projections

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// Notification kinds: the wire values of domain's rule (domain.PlanNotifications).
const (
	NotifyAssigned  = domain.NotifyAssigned
	NotifyMentioned = domain.NotifyMentioned
	NotifyCommented = domain.NotifyCommented // a comment on a task you are assigned to or created
)

// notificationLines are the inbox line of each kind: %1$s is the actor's name, %2$s the task
// ("TF-12 “Ship it”").
var notificationLines = map[string]string{
	NotifyAssigned:  `%1$s assigned you %2$s`,
	NotifyMentioned: `%1$s mentioned you on %2$s`,
	NotifyCommented: `%1$s commented on %2$s`,
}

// notificationsProjection: each user's inbox. A notification's id is derived from the event id,
// the recipient and the kind, so a rebuild yields the same ids. The read flag is not part of the
// projection: it comes from notification_reads and notification_read_items (a mark per user and
// workspace, and single reads: user tables kept across rebuilds; inbox_query.go).
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

// notifySQL inserts an event's inbox notices: domain.PlanNotifications's plan ($8..$12, one
// element per planned notice, in order), resolved here because Apply does no I/O and the task's
// assignee and creator are in rm_notification_tasks. It resolves as domain.NotifyPlan.Resolve
// does: a role becomes the user holding it, then the first notice of each user is kept, the
// actor's and nobody's are dropped; then only the notices with the inbox channel are inserted.
// The bulk folder calls Resolve itself; TestBulkRebuildEqualsLive keeps the two equal.
var notifySQL = fmt.Sprintf(`INSERT INTO rm_notifications{v} (id, user_id, workspace_id, kind, task_id, comment_id, actor_id, line,
		transaction_id, position, at)
	SELECT md5($1::text || '/' || r.u || '/' || r.kind)::uuid, r.u, t.workspace_id, r.kind, t.task_id, $2, $3,
		format(r.line, coalesce(a.display_name, $3), t.key || ' “' || t.title || '”'), $4, $5, $6
	FROM rm_notification_tasks{v} t
	CROSS JOIN LATERAL (
		SELECT DISTINCT ON (c.u) c.u, c.kind, c.line, c.inbox FROM (
			SELECT CASE p.role WHEN %d THEN t.assignee_id WHEN %d THEN t.created_by ELSE p.user_id END AS u,
				p.kind, p.line, p.inbox, p.ord
			FROM unnest($8::text[], $9::int[], $10::text[], $11::text[], $12::bool[])
				WITH ORDINALITY AS p(user_id, role, kind, line, inbox, ord)
		) c
		WHERE c.u IS NOT NULL AND c.u <> '' AND c.u <> $3
		ORDER BY c.u, c.ord
	) r
	LEFT JOIN rm_notification_people{v} a ON a.workspace_id = t.workspace_id AND a.user_id = $3
	WHERE t.task_id = $7 AND r.inbox
	ON CONFLICT (id) DO NOTHING`, domain.AssigneeRole, domain.CreatorRole)

func applyNotifications(w *Writer, e *Event) error {
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
	case domain.TaskTitleChanged:
		w.Exec(`UPDATE rm_notification_tasks{v} SET title = $2 WHERE task_id = $1`, ev.TaskID, ev.Title)
	case domain.TaskAssigned:
		w.Exec(`UPDATE rm_notification_tasks{v} SET assignee_id = $2 WHERE task_id = $1`, ev.TaskID, string(ev.Assignee))
	case domain.TaskUnassigned:
		w.Exec(`UPDATE rm_notification_tasks{v} SET assignee_id = NULL WHERE task_id = $1`, ev.TaskID)
	}
	// The task's state first (above), so that a task created assigned counts its assignee; a
	// reassignment's notice goes to the assignee the event names.
	plan := domain.PlanNotifications(e.Payload)
	if len(plan.Notices) == 0 {
		return nil
	}
	n := len(plan.Notices)
	users, roles, kinds, lines, inbox := make([]string, n), make([]int32, n), make([]string, n), make([]string, n), make([]bool, n)
	for i, p := range plan.Notices {
		users[i], roles[i], kinds[i], lines[i], inbox[i] = string(p.User), int32(p.Role), p.Kind, notificationLines[p.Kind], p.Channels.Has(domain.ChannelInbox)
	}
	var comment any
	if plan.Comment != uuid.Nil {
		comment = plan.Comment
	}
	w.Exec(notifySQL, e.ID, comment, string(plan.Actor), int64(e.TransactionID), e.Position, e.RecordedAt, plan.TaskID,
		users, roles, kinds, lines, inbox)
	return nil
}
