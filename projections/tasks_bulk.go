package projections

import (
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// tasksFolder is applyTasks in memory (see bulk.go); each case mirrors a statement there.
type tasksFolder struct {
	tasks    *bulkTable[uuid.UUID, taskRow]
	comments *bulkTable[uuid.UUID, commentRow]
	people   *bulkPeople                       // rm_task_people
	changes  *bulkTable[changeKey, changeRow]  // rm_task_changes
	assigned map[string]map[uuid.UUID]struct{} // rm_tasks_assignee_idx
}

type taskRow struct {
	workspaceID, projectID   uuid.UUID
	number                   int64
	key, title, description  string
	status, priority         string
	priorityOrder            int16
	assigneeID, assigneeName *string
	due                      *time.Time
	labels                   []string
	rank                     string
	commentCount             int32
	archived                 bool
	createdBy                string
	createdAt, updatedAt     time.Time
	version                  int64
}

type commentRow struct {
	taskID, workspaceID        uuid.UUID
	authorID, authorName, body string
	mentions                   []string
	createdAt                  time.Time
	editedAt                   *time.Time
}

// taskSearch is the search column as the live statements compute it from key, title and
// description.
const taskSearch = `setweight(to_tsvector('simple', s.key), 'A') || setweight(to_tsvector('english', s.title), 'A') ||
	setweight(to_tsvector('english', s.description), 'B')`

func newTasksFolder(v int) bulkFolder {
	f := &tasksFolder{
		tasks: newBulkTable(v, "rm_tasks", []string{"id", "workspace_id", "project_id", "number", "key", "title", "description", "status",
			"priority", "priority_order", "assignee_id", "assignee_name", "due_date", "labels", "rank", "comment_count", "archived",
			"created_by", "created_at", "updated_at", "version"}, 1,
			func(id uuid.UUID, r *taskRow) []any {
				return []any{pgUUID(id), pgUUID(r.workspaceID), pgUUID(r.projectID), r.number, r.key, r.title, r.description, r.status, r.priority, r.priorityOrder,
					optString(r.assigneeID), optString(r.assigneeName), optTime(r.due), r.labels, r.rank, r.commentCount, r.archived,
					r.createdBy, r.createdAt, r.updatedAt, r.version}
			}),
		comments: newBulkTable(v, "rm_comments", []string{"id", "task_id", "workspace_id", "author_id", "author_name", "body", "mentions",
			"created_at", "edited_at"}, 1,
			func(id uuid.UUID, r *commentRow) []any {
				return []any{pgUUID(id), pgUUID(r.taskID), pgUUID(r.workspaceID), r.authorID, r.authorName, r.body, r.mentions, r.createdAt, optTime(r.editedAt)}
			}),
		people: newBulkPeople(v, "rm_task_people"), changes: newBulkChanges(v, "rm_task_changes"), assigned: map[string]map[uuid.UUID]struct{}{},
	}
	f.tasks.computed = [][2]string{{"search", taskSearch}, {"labels_ci", labelsCI("s.labels")}}
	return f
}

func optString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func (f *tasksFolder) take() bulkJob { return takeAll(f.tasks, f.comments, f.people, f.changes) }

// setAssignee keeps the assignee index of the task.
func (f *tasksFolder) setAssignee(id uuid.UUID, t *taskRow, assignee *string, name *string) {
	if t.assigneeID != nil {
		delete(f.assigned[*t.assigneeID], id)
	}
	t.assigneeID, t.assigneeName = assignee, name
	if assignee != nil {
		m := f.assigned[*assignee]
		if m == nil {
			m = map[uuid.UUID]struct{}{}
			f.assigned[*assignee] = m
		}
		m[id] = struct{}{}
	}
}

// personName is the display name of (ws, user) in rm_task_people, or nil.
func (f *tasksFolder) personName(ws uuid.UUID, user string) *string {
	if n := f.people.get(wsUser{ws, user}); n != nil {
		s := *n
		return &s
	}
	return nil
}

// renamed is peopleRenamed.
func (f *tasksFolder) renamed(user domain.UserID, name string) {
	f.people.renamed(string(user), name)
	for id := range f.assigned[string(user)] {
		if t := f.tasks.mod(id); t != nil {
			s := name
			t.assigneeName = &s
		}
	}
}

func (f *tasksFolder) apply(e *Event) error {
	foldTaskChange(f.changes, e)
	v := e.StreamVersion
	switch ev := e.Payload.(type) {
	case domain.WorkspaceMemberJoined:
		f.people.joined(wsUser{ev.WorkspaceID, string(ev.UserID)}, displayName(ev.DisplayName, ev.UserID))
	case domain.UserRegistered:
		f.renamed(ev.UserID, displayName(ev.DisplayName, ev.UserID))
	case domain.UserProfileUpdated:
		f.renamed(ev.UserID, displayName(ev.DisplayName, ev.UserID))

	case domain.TaskCreated:
		labels := ev.Labels
		if labels == nil {
			labels = []string{}
		}
		t := taskRow{workspaceID: ev.WorkspaceID, projectID: ev.ProjectID, number: ev.Number, key: ev.Key, title: ev.Title,
			description: ev.Description, status: ev.Status, priority: string(ev.Priority), priorityOrder: priorityOrder(ev.Priority),
			due: ev.DueDate, labels: labels, rank: ev.Rank, createdBy: string(ev.By), createdAt: ev.At, updatedAt: ev.At, version: v}
		if f.tasks.get(ev.TaskID) != nil {
			return f.tasks.insert(ev.TaskID, t) // the duplicate key error
		}
		if ev.Assignee != "" {
			a := string(ev.Assignee)
			f.setAssignee(ev.TaskID, &t, &a, f.personName(ev.WorkspaceID, a))
		}
		return f.tasks.insert(ev.TaskID, t)
	case domain.TaskTitleChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.title, t.updatedAt, t.version = ev.Title, ev.At, v
		}
	case domain.TaskDescriptionChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.description, t.updatedAt, t.version = ev.Description, ev.At, v
		}
	case domain.TaskPriorityChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.priority, t.priorityOrder, t.updatedAt, t.version = string(ev.Priority), priorityOrder(ev.Priority), ev.At, v
		}
	case domain.TaskDueDateChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.due, t.updatedAt, t.version = ev.DueDate, ev.At, v
		}
	case domain.TaskLabelsChanged:
		labels := ev.Labels
		if labels == nil {
			labels = []string{}
		}
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.labels, t.updatedAt, t.version = labels, ev.At, v
		}
	case domain.TaskStatusChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.status, t.updatedAt, t.version = ev.To, ev.At, v
		}
	case domain.TaskAssigned:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			a := string(ev.Assignee)
			f.setAssignee(ev.TaskID, t, &a, f.personName(t.workspaceID, a))
			t.updatedAt, t.version = ev.At, v
		}
	case domain.TaskUnassigned:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			f.setAssignee(ev.TaskID, t, nil, nil)
			t.updatedAt, t.version = ev.At, v
		}
	case domain.TaskReordered:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.rank, t.updatedAt, t.version = ev.Rank, ev.At, v
		}
	case domain.TaskArchived:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.archived, t.updatedAt, t.version = true, ev.At, v
		}
	case domain.TaskRestored:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.archived, t.updatedAt, t.version = false, ev.At, v
		}
	case domain.TaskCommentAdded:
		if t := f.tasks.get(ev.TaskID); t != nil {
			author := string(ev.By)
			name := author
			if n := f.personName(t.workspaceID, author); n != nil {
				name = *n
			}
			if err := f.comments.insert(ev.CommentID, commentRow{taskID: ev.TaskID, workspaceID: t.workspaceID, authorID: author,
				authorName: name, body: ev.Body, mentions: userIDs(ev.Mentions), createdAt: ev.At}); err != nil {
				return err
			}
		}
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.commentCount, t.updatedAt, t.version = t.commentCount+1, ev.At, v
		}
	case domain.TaskCommentEdited:
		if c := f.comments.mod(ev.CommentID); c != nil {
			at := ev.At
			c.body, c.mentions, c.editedAt = ev.Body, userIDs(ev.Mentions), &at
		}
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.version = v
		}
	case domain.TaskCommentDeleted:
		f.comments.remove(ev.CommentID)
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.commentCount, t.updatedAt, t.version = t.commentCount-1, ev.At, v
		}
	}
	return nil
}
