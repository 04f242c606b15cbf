package projections

import (
	"context"
	"crypto/md5"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskforge/taskforge/domain"
)

// notificationsFolder is applyNotifications in memory (see bulk.go). Ids and lines are computed as
// notifySQL computes them: md5(event || '/' || recipient || '/' || kind)::uuid, format().
type notificationsFolder struct {
	tasks  *bulkTable[uuid.UUID, notificationTask]
	people *bulkPeople // rm_notification_people
	rows   *bulkCopy
	seen   map[notificationKey]struct{} // ids in rows (ON CONFLICT (id) DO NOTHING within a batch)
}

type notificationTask struct {
	workspaceID uuid.UUID
	key, title  string
	assigneeID  *string
	createdBy   string
}

type notificationKey struct {
	event      uuid.UUID
	user, kind string
}

func newNotificationsFolder(v int) bulkFolder {
	return &notificationsFolder{
		tasks: newBulkTable(v, "rm_notification_tasks", []string{"task_id", "workspace_id", "key", "title", "assignee_id", "created_by"}, 1,
			func(id uuid.UUID, t *notificationTask) []any {
				return []any{pgUUID(id), pgUUID(t.workspaceID), t.key, t.title, optString(t.assigneeID), t.createdBy}
			}),
		people: newBulkPeople(v, "rm_notification_people"),
		rows: newBulkCopy(v, "rm_notifications", "id", "user_id", "workspace_id", "kind", "task_id", "comment_id", "actor_id", "line",
			"transaction_id", "position", "at"),
		seen: map[notificationKey]struct{}{},
	}
}

func (f *notificationsFolder) flush(ctx context.Context, tx pgx.Tx) error {
	return flushAll(ctx, tx, f.tasks, f.people, f.rows)
}

func (f *notificationsFolder) committed() {
	committedAll(f.tasks, f.people, f.rows)
	clear(f.seen)
}

// notify is notifySQL: one notification per recipient except the actor, if the task is known.
func (f *notificationsFolder) notify(e *Event, recipients []string, kind string, task uuid.UUID, comment pgtype.UUID, by domain.UserID, format string) error {
	t := f.tasks.get(task)
	if t == nil {
		return nil
	}
	actor := string(by)
	name := actor
	if n := f.people.get(wsUser{t.workspaceID, actor}); n != nil {
		name = *n
	}
	line, err := pgFormat(format, name, t.key+" “"+t.title+"”")
	if err != nil {
		return err
	}
	for _, u := range recipients {
		if u == actor {
			continue
		}
		k := notificationKey{e.ID, u, kind}
		if _, dup := f.seen[k]; dup {
			continue
		}
		f.seen[k] = struct{}{}
		id := uuid.UUID(md5.Sum([]byte(e.ID.String() + "/" + u + "/" + kind)))
		f.rows.add(pgUUID(id), u, pgUUID(t.workspaceID), kind, pgUUID(task), comment, actor, line,
			int64(e.TransactionID), e.Position, e.RecordedAt)
	}
	return nil
}

func (f *notificationsFolder) apply(e *Event) error {
	switch ev := e.Payload.(type) {
	case domain.WorkspaceMemberJoined:
		f.people.joined(wsUser{ev.WorkspaceID, string(ev.UserID)}, displayName(ev.DisplayName, ev.UserID))
	case domain.UserRegistered:
		f.renamed(ev.UserID, displayName(ev.DisplayName, ev.UserID))
	case domain.UserProfileUpdated:
		f.renamed(ev.UserID, displayName(ev.DisplayName, ev.UserID))

	case domain.TaskCreated:
		var assignee *string
		if ev.Assignee != "" {
			a := string(ev.Assignee)
			assignee = &a
		}
		if err := f.tasks.insert(ev.TaskID, notificationTask{workspaceID: ev.WorkspaceID, key: ev.Key, title: ev.Title,
			assigneeID: assignee, createdBy: string(ev.By)}); err != nil {
			return err
		}
		if ev.Assignee != "" {
			return f.notify(e, []string{string(ev.Assignee)}, NotifyAssigned, ev.TaskID, pgtype.UUID{}, ev.By, `%1$s assigned you %2$s`)
		}
	case domain.TaskTitleChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.title = ev.Title
		}
	case domain.TaskAssigned:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			a := string(ev.Assignee)
			t.assigneeID = &a
		}
		return f.notify(e, []string{string(ev.Assignee)}, NotifyAssigned, ev.TaskID, pgtype.UUID{}, ev.By, `%1$s assigned you %2$s`)
	case domain.TaskUnassigned:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.assigneeID = nil
		}
	case domain.TaskCommentAdded:
		mentions := userIDs(ev.Mentions)
		if err := f.notify(e, mentions, NotifyMentioned, ev.TaskID, pgUUID(ev.CommentID), ev.By, `%1$s mentioned you on %2$s`); err != nil {
			return err
		}
		// The task's assignee and creator, unless mentioned already.
		if t := f.tasks.get(ev.TaskID); t != nil {
			var others []string
			if t.assigneeID != nil {
				others = append(others, *t.assigneeID)
			}
			if !slices.Contains(others, t.createdBy) {
				others = append(others, t.createdBy)
			}
			others = slices.DeleteFunc(others, func(u string) bool { return slices.Contains(mentions, u) })
			return f.notify(e, others, NotifyCommented, ev.TaskID, pgUUID(ev.CommentID), ev.By, `%1$s commented on %2$s`)
		}
	case domain.TaskCommentEdited:
		return f.notify(e, userIDs(ev.NewMentions), NotifyMentioned, ev.TaskID, pgUUID(ev.CommentID), ev.By, `%1$s mentioned you on %2$s`)
	}
	return nil
}

func (f *notificationsFolder) renamed(user domain.UserID, name string) {
	f.people.renamed(string(user), name)
}
