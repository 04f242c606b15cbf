package projections

import (
	"strings"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// activityProjection: the activity feed of each workspace, one human-readable line per event
// ("Olga moved TF-12 “Ship it” from todo to in_progress"), newest first. Lines are rendered when
// the event is applied, with the names known at that point of the log (rm_activity_people,
// rm_activity_subjects), so a rebuild renders the same lines.
func activityProjection() *Projection {
	return &Projection{
		Name:   Activity,
		Tables: []string{"rm_activity", "rm_activity_people", "rm_activity_subjects"},
		Schema: `
CREATE TABLE rm_activity{v} (
    workspace_id   uuid NOT NULL,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    actor_id       text NOT NULL,
    actor_name     text NOT NULL,
    subject_id     uuid,
    line           text NOT NULL,
    at             timestamptz NOT NULL,
    -- serves ActivityPage: a workspace's feed, newest first (backward scan), keyset by position
    PRIMARY KEY (workspace_id, transaction_id, position)
);
CREATE TABLE rm_activity_people{v} (
    workspace_id uuid NOT NULL,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
-- serves profile updates (by user)
CREATE INDEX rm_activity_people{v}_user_idx ON rm_activity_people{v} (user_id);
-- tasks ("TF-12 “Ship it”") and projects ("Taskforge (TF)") as lines name them
CREATE TABLE rm_activity_subjects{v} (
    id    uuid PRIMARY KEY,
    key   text NOT NULL,
    label text NOT NULL
);`,
		Apply: applyActivity,
		bulk:  newActivityFolder,
	}
}

// activitySQL renders and inserts one line. format's arguments: %1$s the actor, %2$s the subject,
// %3$s another member (assignee, new member), %4$s and %5$s event-specific text.
const activitySQL = `INSERT INTO rm_activity{v} (workspace_id, transaction_id, position, event_id, event_type, actor_id,
		actor_name, subject_id, line, at)
	SELECT $1, $2, $3, $4, $5, $6, coalesce(a.display_name, $6), $7,
		format($8, coalesce(a.display_name, $6), coalesce(s.label, '?'), coalesce(o.display_name, $9, ''), $10::text, $11::text), $12
	FROM (SELECT 1) AS one
	LEFT JOIN rm_activity_people{v} a ON a.workspace_id = $1 AND a.user_id = $6
	LEFT JOIN rm_activity_subjects{v} s ON s.id = $7
	LEFT JOIN rm_activity_people{v} o ON o.workspace_id = $1 AND o.user_id = $9
	ON CONFLICT DO NOTHING`

type line struct {
	format  string
	subject uuid.UUID
	other   domain.UserID
	arg1    string
	arg2    string
}

// activityChange is what one event does to the activity tables, in this order: a person renamed
// everywhere or joined (rm_activity_people), a subject added (rm_activity_subjects), the line
// (only when it has a workspace), then a subject renamed (only with the line). applyActivity turns
// it into statements, activityFolder (rebuilds) into rows.
type activityChange struct {
	renamed                bool
	renamedUser, renamedTo string // a person's new display name in every workspace
	joined                 *wsUser
	joinedName             string
	subject                *activitySubject
	ws                     uuid.UUID
	line                   *line
	// after the line
	projectRenamed, taskRenamed uuid.UUID
	newName                     string
}

type activitySubject struct {
	id         uuid.UUID
	key, label string
}

func activityOf(e *Event) activityChange {
	var (
		c activityChange
		l *line
	)
	ws := e.Metadata.WorkspaceID
	switch ev := e.Payload.(type) {
	case domain.UserRegistered:
		c.renamed, c.renamedUser, c.renamedTo = true, string(ev.UserID), displayName(ev.DisplayName, ev.UserID)
	case domain.UserProfileUpdated:
		c.renamed, c.renamedUser, c.renamedTo = true, string(ev.UserID), displayName(ev.DisplayName, ev.UserID)

	case domain.WorkspaceCreated:
		ws = ev.WorkspaceID
		l = &line{format: `%1$s created the workspace %4$s`, arg1: ev.Name}
	case domain.WorkspaceRenamed:
		l = &line{format: `%1$s renamed the workspace to %4$s`, arg1: ev.Name}
	case domain.WorkspaceMemberInvited:
		l = &line{format: `%1$s invited %4$s as %5$s`, arg1: ev.Email, arg2: string(ev.Role)}
	case domain.WorkspaceInvitationRevoked:
		l = &line{format: `%1$s revoked an invitation`}
	case domain.WorkspaceMemberJoined:
		ws = ev.WorkspaceID
		c.joined, c.joinedName = &wsUser{ev.WorkspaceID, string(ev.UserID)}, displayName(ev.DisplayName, ev.UserID)
		l = &line{format: `%3$s joined as %5$s`, other: ev.UserID, arg2: string(ev.Role)}
	case domain.WorkspaceMemberRoleChanged:
		l = &line{format: `%1$s changed the role of %3$s from %4$s to %5$s`, other: ev.UserID, arg1: string(ev.From), arg2: string(ev.To)}
	case domain.WorkspaceMemberRemoved:
		if ev.Reason == domain.MemberRemovedReasonLeft {
			l = &line{format: `%3$s left the workspace`, other: ev.UserID}
		} else {
			l = &line{format: `%1$s removed %3$s from the workspace`, other: ev.UserID}
		}
	case domain.WebhookRegistered:
		l = &line{format: `%1$s registered a webhook`}
	case domain.WebhookUpdated:
		l = &line{format: `%1$s updated a webhook`}
	case domain.WebhookRemoved:
		l = &line{format: `%1$s removed a webhook`}
	case domain.WebhookSecretRotated:
		l = &line{format: `%1$s rotated a webhook's signing secret`}

	case domain.ProjectCreated:
		ws = ev.WorkspaceID
		c.subject = &activitySubject{ev.ProjectID, ev.Key, ev.Name + " (" + ev.Key + ")"}
		l = &line{format: `%1$s created project %2$s`, subject: ev.ProjectID}
	case domain.ProjectRenamed:
		l = &line{format: `%1$s renamed project %2$s to %4$s`, subject: ev.ProjectID, arg1: ev.Name}
	case domain.ProjectArchived:
		l = &line{format: `%1$s archived project %2$s`, subject: ev.ProjectID}
	case domain.ProjectUnarchived:
		l = &line{format: `%1$s unarchived project %2$s`, subject: ev.ProjectID}
	case domain.ProjectWorkflowDefined:
		l = &line{format: `%1$s changed the workflow of %2$s`, subject: ev.ProjectID}

	case domain.TaskCreated:
		ws = ev.WorkspaceID
		c.subject = &activitySubject{ev.TaskID, ev.Key, ev.Key + " “" + ev.Title + "”"}
		l = &line{format: `%1$s created %2$s`, subject: ev.TaskID}
	case domain.TaskTitleChanged:
		l = &line{format: `%1$s renamed %2$s to “%4$s”`, subject: ev.TaskID, arg1: ev.Title}
	case domain.TaskDescriptionChanged:
		l = &line{format: `%1$s edited the description of %2$s`, subject: ev.TaskID}
	case domain.TaskPriorityChanged:
		l = &line{format: `%1$s set the priority of %2$s to %4$s`, subject: ev.TaskID, arg1: string(ev.Priority)}
	case domain.TaskDueDateChanged:
		if ev.DueDate == nil {
			l = &line{format: `%1$s cleared the due date of %2$s`, subject: ev.TaskID}
		} else {
			l = &line{format: `%1$s set the due date of %2$s to %4$s`, subject: ev.TaskID, arg1: ev.DueDate.UTC().Format("2006-01-02")}
		}
	case domain.TaskLabelsChanged:
		l = &line{format: `%1$s set the labels of %2$s to %4$s`, subject: ev.TaskID, arg1: strings.Join(ev.Labels, ", ")}
	case domain.TaskStatusChanged:
		l = &line{format: `%1$s moved %2$s from %4$s to %5$s`, subject: ev.TaskID, arg1: ev.From, arg2: ev.To}
	case domain.TaskAssigned:
		l = &line{format: `%1$s assigned %2$s to %3$s`, subject: ev.TaskID, other: ev.Assignee}
	case domain.TaskUnassigned:
		if ev.Reason == domain.UnassignReasonMemberRemoved {
			l = &line{format: `%3$s was unassigned from %2$s (no longer a member)`, subject: ev.TaskID, other: ev.Assignee}
		} else {
			l = &line{format: `%1$s unassigned %3$s from %2$s`, subject: ev.TaskID, other: ev.Assignee}
		}
	case domain.TaskCommentAdded:
		l = &line{format: `%1$s commented on %2$s`, subject: ev.TaskID}
	case domain.TaskCommentEdited:
		l = &line{format: `%1$s edited a comment on %2$s`, subject: ev.TaskID}
	case domain.TaskCommentDeleted:
		l = &line{format: `%1$s deleted a comment on %2$s`, subject: ev.TaskID}
	case domain.TaskArchived:
		l = &line{format: `%1$s archived %2$s`, subject: ev.TaskID}
	case domain.TaskRestored:
		l = &line{format: `%1$s restored %2$s`, subject: ev.TaskID}
	}
	if l == nil || ws == uuid.Nil {
		return c
	}
	c.ws, c.line = ws, l
	// Renames take effect after the line that announces them.
	switch ev := e.Payload.(type) {
	case domain.ProjectRenamed:
		c.projectRenamed, c.newName = ev.ProjectID, ev.Name
	case domain.TaskTitleChanged:
		c.taskRenamed, c.newName = ev.TaskID, ev.Title
	}
	return c
}

// lineActor is the actor a line names.
func lineActor(e *Event) string {
	if e.Metadata.Actor == "" {
		return "taskforge"
	}
	return e.Metadata.Actor
}

func applyActivity(w *Writer, e *Event) error {
	c := activityOf(e)
	if c.renamed {
		w.Exec(`UPDATE rm_activity_people{v} SET display_name = $2 WHERE user_id = $1`, c.renamedUser, c.renamedTo)
	}
	if c.joined != nil {
		w.Exec(`INSERT INTO rm_activity_people{v} (workspace_id, user_id, display_name) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET display_name = $3`, c.joined.ws, c.joined.user, c.joinedName)
	}
	if c.subject != nil {
		w.Exec(`INSERT INTO rm_activity_subjects{v} (id, key, label) VALUES ($1, $2, $3)`, c.subject.id, c.subject.key, c.subject.label)
	}
	if c.line == nil {
		return nil
	}
	l := c.line
	var subject any
	if l.subject != uuid.Nil {
		subject = l.subject
	}
	w.Exec(activitySQL, c.ws, int64(e.TransactionID), e.Position, e.ID, e.Type, lineActor(e), subject, l.format,
		nullable(l.other), l.arg1, l.arg2, e.RecordedAt)
	switch {
	case c.projectRenamed != uuid.Nil:
		w.Exec(`UPDATE rm_activity_subjects{v} SET label = $2 || ' (' || key || ')' WHERE id = $1`, c.projectRenamed, c.newName)
	case c.taskRenamed != uuid.Nil:
		w.Exec(`UPDATE rm_activity_subjects{v} SET label = key || ' “' || $2 || '”' WHERE id = $1`, c.taskRenamed, c.newName)
	}
	return nil
}
