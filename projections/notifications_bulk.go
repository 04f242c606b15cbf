package projections

import (
	"crypto/md5"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskforge/taskforge/domain"
)

// notificationsFolder is applyNotifications in memory (see bulk.go). Ids and lines are computed as
// notifySQL computes them: md5(event || '/' || recipient || '/' || kind)::uuid, format().
type notificationsFolder struct {
	tasks  *bulkTable[uuid.UUID, notificationTask]
	people *bulkPeople // rm_notification_people
	rows   *bulkCopy
	// seen are the event's notices written so far: notifySQL's ON CONFLICT (id) DO NOTHING, where
	// the id is derived from the event, so only notices of the same event can collide.
	seen []notificationKey
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
	}
}

// insertOnly: rm_notifications is only ever appended to with COPY (rebuild_keys.go).
func (f *notificationsFolder) insertOnly() []string { return []string{"rm_notifications"} }

func (f *notificationsFolder) take() bulkJob {
	return takeAll(f.tasks, f.people, f.rows)
}

// notify is notifySQL: the event's plan resolved with the task's assignee and creator, and a row
// for each notice with the inbox channel, if the task is known.
func (f *notificationsFolder) notify(e *Event) error {
	plan := domain.PlanNotifications(e.Payload)
	if len(plan.Notices) == 0 {
		return nil
	}
	t := f.tasks.get(plan.TaskID)
	if t == nil {
		return nil
	}
	f.seen = f.seen[:0]
	c := domain.NotifyContext{Creator: domain.UserID(t.createdBy)}
	if t.assigneeID != nil {
		c.Assignee = domain.UserID(*t.assigneeID)
	}
	actor := string(plan.Actor)
	name := actor
	if n := f.people.get(wsUser{t.workspaceID, actor}); n != nil {
		name = *n
	}
	comment := pgtype.UUID{}
	if plan.Comment != uuid.Nil {
		comment = pgUUID(plan.Comment)
	}
	for _, n := range plan.Resolve(c) {
		if !n.Channels.Has(domain.ChannelInbox) {
			continue
		}
		u := string(n.User)
		k := notificationKey{e.ID, u, n.Kind}
		if slices.Contains(f.seen, k) {
			continue
		}
		f.seen = append(f.seen, k)
		line, err := pgFormat(notificationLines[n.Kind], name, t.key+" “"+t.title+"”")
		if err != nil {
			return err
		}
		id := uuid.UUID(md5.Sum([]byte(e.ID.String() + "/" + u + "/" + n.Kind)))
		f.rows.add(pgUUID(id), u, pgUUID(t.workspaceID), n.Kind, pgUUID(plan.TaskID), comment, actor, line,
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
	case domain.TaskTitleChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.title = ev.Title
		}
	case domain.TaskAssigned:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			a := string(ev.Assignee)
			t.assigneeID = &a
		}
	case domain.TaskUnassigned:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.assigneeID = nil
		}
	}
	return f.notify(e) // after the task's state, as applyNotifications
}

func (f *notificationsFolder) renamed(user domain.UserID, name string) {
	f.people.renamed(string(user), name)
}
