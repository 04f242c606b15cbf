package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Priority of a task.
type Priority string

const (
	PriorityNone   Priority = "none"
	PriorityLow    Priority = "low"
	PriorityMedium Priority = "medium"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

func (p Priority) Valid() bool {
	switch p {
	case PriorityNone, PriorityLow, PriorityMedium, PriorityHigh, PriorityUrgent:
		return true
	}
	return false
}

// ParsePriority accepts a priority name in any letter case.
func ParsePriority(s string) (Priority, error) {
	p := Priority(strings.ToLower(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", InvalidInput("priority", "must be one of none, low, medium, high, urgent")
	}
	return p, nil
}

// Reasons recorded on task.unassigned.
const (
	UnassignReasonUnassigned    = "unassigned"     // someone unassigned the task
	UnassignReasonMemberRemoved = "member_removed" // the assignee left the workspace
)

const (
	EventTaskCreated            = "task.created"
	EventTaskTitleChanged       = "task.title_changed"
	EventTaskDescriptionChanged = "task.description_changed"
	EventTaskPriorityChanged    = "task.priority_changed"
	EventTaskDueDateChanged     = "task.due_date_changed"
	EventTaskLabelsChanged      = "task.labels_changed"
	EventTaskStatusChanged      = "task.status_changed"
	EventTaskAssigned           = "task.assigned"
	EventTaskUnassigned         = "task.unassigned"
	EventTaskReordered          = "task.reordered"
	EventTaskCommentAdded       = "task.comment_added"
	EventTaskCommentEdited      = "task.comment_edited"
	EventTaskCommentDeleted     = "task.comment_deleted"
	EventTaskArchived           = "task.archived"
	EventTaskRestored           = "task.restored"
)

// TaskCreated starts a task stream. It is appended together with the
// ProjectTaskNumberReserved of its number.
type TaskCreated struct {
	TaskID      uuid.UUID  `json:"task_id"`
	ProjectID   uuid.UUID  `json:"project_id"`
	WorkspaceID uuid.UUID  `json:"workspace_id"`
	Number      int64      `json:"number"`
	Key         string     `json:"key"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Priority    Priority   `json:"priority"`
	DueDate     *time.Time `json:"due_date,omitempty"`
	Labels      []string   `json:"labels"`
	Assignee    UserID     `json:"assignee,omitempty"`
	Status      string     `json:"status"`
	Rank        string     `json:"rank"`
	By          UserID     `json:"by"`
	At          time.Time  `json:"at"`
}

type TaskTitleChanged struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	Title     string    `json:"title"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type TaskDescriptionChanged struct {
	TaskID      uuid.UUID `json:"task_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	Description string    `json:"description"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type TaskPriorityChanged struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	Priority  Priority  `json:"priority"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

// TaskDueDateChanged sets the due date; a null DueDate clears it.
type TaskDueDateChanged struct {
	TaskID    uuid.UUID  `json:"task_id"`
	ProjectID uuid.UUID  `json:"project_id"`
	DueDate   *time.Time `json:"due_date"`
	By        UserID     `json:"by"`
	At        time.Time  `json:"at"`
}

// TaskLabelsChanged carries the whole new label set.
type TaskLabelsChanged struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	Labels    []string  `json:"labels"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type TaskStatusChanged struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type TaskAssigned struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	Assignee  UserID    `json:"assignee"`
	Previous  UserID    `json:"previous,omitempty"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

// TaskUnassigned names the assignee that was removed. By is empty when the
// system unassigned them (Reason UnassignReasonMemberRemoved).
type TaskUnassigned struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	Assignee  UserID    `json:"assignee"`
	Reason    string    `json:"reason"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type TaskReordered struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	Rank      string    `json:"rank"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type TaskArchived struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type TaskRestored struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

func (TaskCreated) EventType() string            { return EventTaskCreated }
func (TaskTitleChanged) EventType() string       { return EventTaskTitleChanged }
func (TaskDescriptionChanged) EventType() string { return EventTaskDescriptionChanged }
func (TaskPriorityChanged) EventType() string    { return EventTaskPriorityChanged }
func (TaskDueDateChanged) EventType() string     { return EventTaskDueDateChanged }
func (TaskLabelsChanged) EventType() string      { return EventTaskLabelsChanged }
func (TaskStatusChanged) EventType() string      { return EventTaskStatusChanged }
func (TaskAssigned) EventType() string           { return EventTaskAssigned }
func (TaskUnassigned) EventType() string         { return EventTaskUnassigned }
func (TaskReordered) EventType() string          { return EventTaskReordered }
func (TaskArchived) EventType() string           { return EventTaskArchived }
func (TaskRestored) EventType() string           { return EventTaskRestored }

// NewTask is the input of CreateTask. Zero values mean "none".
type NewTask struct {
	Title       string
	Description string
	Priority    Priority
	DueDate     *time.Time
	Labels      []string
	Assignee    UserID
}

// TaskChanges is the input of Task.Edit: nil fields stay as they are.
// ClearDueDate removes the due date (and excludes DueDate).
type TaskChanges struct {
	Title        *string
	Description  *string
	Priority     *Priority
	DueDate      *time.Time
	ClearDueDate bool
	Labels       *[]string
}

// Task is a unit of work in a project, with its comments.
type Task struct {
	state taskState
}

type taskState struct {
	ID          uuid.UUID  `json:"id"`
	ProjectID   uuid.UUID  `json:"project_id"`
	WorkspaceID uuid.UUID  `json:"workspace_id"`
	Number      int64      `json:"number"`
	Key         string     `json:"key"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Priority    Priority   `json:"priority"`
	DueDate     *time.Time `json:"due_date,omitempty"`
	Labels      []string   `json:"labels"`
	Assignee    UserID     `json:"assignee,omitempty"`
	Status      string     `json:"status"`
	Rank        string     `json:"rank"`
	Archived    bool       `json:"archived"`
	Comments    []Comment  `json:"comments"` // in the order they were added
	CreatedBy   UserID     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	Version     int64      `json:"version"`
}

// errWrongProject is a programmer error: a command passed another project.
var errWrongProject = errors.New("task belongs to another project")

// CreateTask creates a task in project p (member+; not in an archived
// project), numbered by numbers, the project's TaskNumbers. It starts in the
// workflow's initial status, ranked after the project's earlier tasks. It
// returns events for two streams, which the command must append atomically:
// the number reservation on the task numbers stream (expecting
// numbers.Version()) and task.created on the new task stream (expecting no
// stream), asserting that the project is still at p.Version() (archive flag,
// workflow).
func CreateTask(ws *Workspace, p *Project, numbers *TaskNumbers, actor Actor, taskID uuid.UUID, in NewTask, now time.Time) (numberEvents, taskEvents []Event, err error) {
	if p == nil {
		return nil, nil, errWrongProject
	}
	if numbers == nil || numbers.state.ProjectID != p.state.ID {
		return nil, nil, errWrongNumbers
	}
	if _, err := ws.authorizeFor(p.state.WorkspaceID, actor.UserID, RoleMember); err != nil {
		return nil, nil, err
	}
	if p.state.Archived {
		return nil, nil, PreconditionFailed("the project is archived")
	}
	if taskID == uuid.Nil {
		return nil, nil, InvalidInput("task_id", "must not be empty")
	}
	title, err := cleanLine("title", in.Title, MaxTitleLen)
	if err != nil {
		return nil, nil, err
	}
	if err := checkDescription(in.Description); err != nil {
		return nil, nil, err
	}
	priority := in.Priority
	if priority == "" {
		priority = PriorityNone
	}
	if !priority.Valid() {
		return nil, nil, InvalidInput("priority", "must be one of none, low, medium, high, urgent")
	}
	due, err := cleanDueDate(in.DueDate)
	if err != nil {
		return nil, nil, err
	}
	labels, err := cleanLabels(in.Labels)
	if err != nil {
		return nil, nil, err
	}
	if in.Assignee != "" {
		if err := checkAssignee(ws, in.Assignee); err != nil {
			return nil, nil, err
		}
	}
	numberEvents, number, err := numbers.Reserve(p, actor, taskID, now)
	if err != nil {
		return nil, nil, err
	}
	return numberEvents, []Event{TaskCreated{
		TaskID: taskID, ProjectID: p.state.ID, WorkspaceID: p.state.WorkspaceID,
		Number: number, Key: TaskKey(p.state.Key, number),
		Title: title, Description: in.Description, Priority: priority, DueDate: due, Labels: labels,
		Assignee: in.Assignee, Status: p.state.Workflow.Initial, Rank: rankForNumber(number),
		By: actor.UserID, At: now.UTC(),
	}}, nil
}

// Edit changes the given fields (member+). It records one event per field
// that actually changes, and nothing when nothing changes.
func (t *Task) Edit(ws *Workspace, p *Project, actor Actor, ch TaskChanges, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	if ch.DueDate != nil && ch.ClearDueDate {
		return nil, InvalidInput("due_date", "cannot be both set and cleared")
	}
	s, at := &t.state, now.UTC()
	var events []Event
	if ch.Title != nil {
		title, err := cleanLine("title", *ch.Title, MaxTitleLen)
		if err != nil {
			return nil, err
		}
		if title != s.Title {
			events = append(events, TaskTitleChanged{TaskID: s.ID, ProjectID: s.ProjectID, Title: title, By: actor.UserID, At: at})
		}
	}
	if ch.Description != nil {
		if err := checkDescription(*ch.Description); err != nil {
			return nil, err
		}
		if *ch.Description != s.Description {
			events = append(events, TaskDescriptionChanged{TaskID: s.ID, ProjectID: s.ProjectID, Description: *ch.Description, By: actor.UserID, At: at})
		}
	}
	if ch.Priority != nil {
		if !ch.Priority.Valid() {
			return nil, InvalidInput("priority", "must be one of none, low, medium, high, urgent")
		}
		if *ch.Priority != s.Priority {
			events = append(events, TaskPriorityChanged{TaskID: s.ID, ProjectID: s.ProjectID, Priority: *ch.Priority, By: actor.UserID, At: at})
		}
	}
	if ch.DueDate != nil || ch.ClearDueDate {
		due, err := cleanDueDate(ch.DueDate)
		if err != nil {
			return nil, err
		}
		if !sameTime(due, s.DueDate) {
			events = append(events, TaskDueDateChanged{TaskID: s.ID, ProjectID: s.ProjectID, DueDate: due, By: actor.UserID, At: at})
		}
	}
	if ch.Labels != nil {
		labels, err := cleanLabels(*ch.Labels)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(labels, s.Labels) {
			events = append(events, TaskLabelsChanged{TaskID: s.ID, ProjectID: s.ProjectID, Labels: labels, By: actor.UserID, At: at})
		}
	}
	return events, nil
}

// ChangeStatus moves the task along the project's workflow (member+). A task
// whose status the workflow no longer has may move to any status.
func (t *Task) ChangeStatus(ws *Workspace, p *Project, actor Actor, status string, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	wf := p.state.Workflow
	if _, ok := wf.Status(status); !ok {
		return nil, InvalidInput("status", "is not a status of this project's workflow")
	}
	from := t.state.Status
	if status == from {
		return nil, nil
	}
	if _, known := wf.Status(from); known && !wf.Allows(from, status) {
		return nil, PreconditionFailed("the workflow does not allow moving from " + from + " to " + status)
	}
	return []Event{TaskStatusChanged{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, From: from, To: status, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// Assign makes a workspace member the task's assignee (member+). Viewers
// cannot be assigned: they could not change the task they are responsible
// for. Demoting an assignee to viewer does not unassign them.
func (t *Task) Assign(ws *Workspace, p *Project, actor Actor, assignee UserID, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	if assignee == "" {
		return nil, InvalidInput("assignee_id", "must not be empty")
	}
	if err := checkAssignee(ws, assignee); err != nil {
		return nil, err
	}
	if assignee == t.state.Assignee {
		return nil, nil
	}
	return []Event{TaskAssigned{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, Assignee: assignee, Previous: t.state.Assignee,
		By: actor.UserID, At: now.UTC(),
	}}, nil
}

// Unassign removes the assignee (member+).
func (t *Task) Unassign(ws *Workspace, p *Project, actor Actor, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	if t.state.Assignee == "" {
		return nil, nil
	}
	return []Event{TaskUnassigned{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, Assignee: t.state.Assignee,
		Reason: UnassignReasonUnassigned, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// UnassignBecauseMemberRemoved is the system's reaction to a member leaving
// the workspace: it unassigns them if they are this task's assignee. It checks
// no role, and applies to archived tasks and projects too, since "the assignee
// is a member" must hold everywhere. ws must already reflect the removal.
func (t *Task) UnassignBecauseMemberRemoved(ws *Workspace, member UserID, now time.Time) ([]Event, error) {
	if ws == nil || ws.state.ID != t.state.WorkspaceID {
		return nil, errWrongWorkspace
	}
	if member == "" || t.state.Assignee != member {
		return nil, nil
	}
	if ws.IsMember(member) {
		return nil, PreconditionFailed("the assignee is still a member of the workspace")
	}
	return []Event{TaskUnassigned{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, Assignee: member,
		Reason: UnassignReasonMemberRemoved, At: now.UTC(),
	}}, nil
}

// Reorder places the task between two neighbours on the board, given their
// ranks ("" for the start or end of the list), member+. Nothing is recorded
// if the task already sits between them. Read models order by (rank,
// number), since two concurrent moves into the same gap can yield equal
// ranks.
func (t *Task) Reorder(ws *Workspace, p *Project, actor Actor, before, after string, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	if err := checkRankBounds(before, after); err != nil {
		return nil, err
	}
	if rankWithin(t.state.Rank, before, after) {
		return nil, nil
	}
	rank, err := RankBetween(before, after)
	if err != nil {
		return nil, err
	}
	return []Event{TaskReordered{TaskID: t.state.ID, ProjectID: t.state.ProjectID, Rank: rank, By: actor.UserID, At: now.UTC()}}, nil
}

// Archive freezes the task (member+): nothing changes it until Restore.
func (t *Task) Archive(ws *Workspace, p *Project, actor Actor, now time.Time) ([]Event, error) {
	if err := t.authorize(ws, p, actor); err != nil {
		return nil, err
	}
	if t.state.Archived {
		return nil, nil
	}
	if p.state.Archived {
		return nil, PreconditionFailed("the project is archived")
	}
	return []Event{TaskArchived{TaskID: t.state.ID, ProjectID: t.state.ProjectID, By: actor.UserID, At: now.UTC()}}, nil
}

// Restore unfreezes an archived task (member+), even in an archived project.
func (t *Task) Restore(ws *Workspace, p *Project, actor Actor, now time.Time) ([]Event, error) {
	if err := t.authorize(ws, p, actor); err != nil {
		return nil, err
	}
	if !t.state.Archived {
		return nil, nil
	}
	return []Event{TaskRestored{TaskID: t.state.ID, ProjectID: t.state.ProjectID, By: actor.UserID, At: now.UTC()}}, nil
}

// authorize checks that ws and p are the task's own and that the actor may
// change tasks (member+).
func (t *Task) authorize(ws *Workspace, p *Project, actor Actor) error {
	_, err := t.authorizeRole(ws, p, actor)
	return err
}

func (t *Task) authorizeRole(ws *Workspace, p *Project, actor Actor) (Role, error) {
	if p == nil || p.state.ID != t.state.ProjectID || p.state.WorkspaceID != t.state.WorkspaceID {
		return "", errWrongProject
	}
	return ws.authorizeFor(t.state.WorkspaceID, actor.UserID, RoleMember)
}

// authorizeChange is authorize plus the freeze rules: nothing changes an
// archived task, nor a task of an archived project.
func (t *Task) authorizeChange(ws *Workspace, p *Project, actor Actor) (Role, error) {
	role, err := t.authorizeRole(ws, p, actor)
	if err != nil {
		return "", err
	}
	if t.state.Archived {
		return "", PreconditionFailed("the task is archived; restore it first")
	}
	if p.state.Archived {
		return "", PreconditionFailed("the project is archived")
	}
	return role, nil
}

func checkAssignee(ws *Workspace, assignee UserID) error {
	role, ok := ws.RoleOf(assignee)
	if !ok {
		return InvalidInput("assignee_id", "must be a member of the workspace")
	}
	if role == RoleViewer {
		return InvalidInput("assignee_id", "viewers cannot be assigned tasks")
	}
	return nil
}

func checkDescription(s string) error {
	if len(s) > MaxDescriptionLen {
		return InvalidInput("description", fmt.Sprintf("must be at most %d bytes", MaxDescriptionLen))
	}
	return checkText("description", s)
}

// cleanDueDate keeps due dates in UTC, and within the years JSON can encode.
func cleanDueDate(d *time.Time) (*time.Time, error) {
	if d == nil {
		return nil, nil
	}
	u := d.UTC()
	if y := u.Year(); y < 1970 || y > 9999 {
		return nil, InvalidInput("due_date", "must be between the years 1970 and 9999")
	}
	return &u, nil
}

// cleanLabels trims labels, drops duplicates (ignoring letter case, keeping
// the first spelling) and sorts them, so that a label set has one form. The
// result is never nil, so it encodes as [].
func cleanLabels(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, l := range in {
		l, err := cleanLine(fmt.Sprintf("labels[%d]", i), l, MaxLabelLen)
		if err != nil {
			return nil, err
		}
		if k := strings.ToLower(l); !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}
	if len(out) > MaxLabels {
		return nil, InvalidInput("labels", fmt.Sprintf("must be at most %d distinct labels", MaxLabels))
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func (t *Task) ID() uuid.UUID          { return t.state.ID }
func (t *Task) ProjectID() uuid.UUID   { return t.state.ProjectID }
func (t *Task) WorkspaceID() uuid.UUID { return t.state.WorkspaceID }
func (t *Task) Number() int64          { return t.state.Number }
func (t *Task) Key() string            { return t.state.Key }
func (t *Task) Title() string          { return t.state.Title }
func (t *Task) Description() string    { return t.state.Description }
func (t *Task) Priority() Priority     { return t.state.Priority }
func (t *Task) DueDate() *time.Time    { return copyTime(t.state.DueDate) }
func (t *Task) Labels() []string       { return slices.Clone(t.state.Labels) }
func (t *Task) Assignee() UserID       { return t.state.Assignee }
func (t *Task) Status() string         { return t.state.Status }
func (t *Task) Rank() string           { return t.state.Rank }
func (t *Task) Archived() bool         { return t.state.Archived }
func (t *Task) CreatedBy() UserID      { return t.state.CreatedBy }
func (t *Task) CreatedAt() time.Time   { return t.state.CreatedAt }

// Version is the number of events folded into t: the stream version that a
// command appending after it must expect.
func (t *Task) Version() int64 { return t.state.Version }

// LoadTask rebuilds a task from its whole stream, for loading only: decisions
// are taken by behaviour methods, never while folding. An empty stream is
// NOT_FOUND.
func LoadTask(events []Event) (*Task, error) { return RestoreTask(nil, events) }

// RestoreTask loads a task from a snapshot (nil for none) and the events
// recorded after it, for loading only.
func RestoreTask(snapshot []byte, events []Event) (*Task, error) {
	t := &Task{}
	if snapshot != nil {
		if err := unmarshalSnapshot(StreamTypeTask, taskSnapshotFormat, snapshot, &t.state); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := t.apply(e); err != nil {
			return nil, fmt.Errorf("load task %s at version %d: %w", t.state.ID, t.state.Version+1, err)
		}
		t.state.Version++
	}
	if t.state.Version == 0 {
		return nil, NotFound("task not found")
	}
	return t, nil
}

// Snapshot encodes t's state for the event store's snapshot table.
func (t *Task) Snapshot() ([]byte, error) {
	return marshalSnapshot(StreamTypeTask, taskSnapshotFormat, t.state)
}

func (t *Task) apply(e Event) error {
	if err := checkFirst(t.state.Version, e, EventTaskCreated); err != nil {
		return err
	}
	s := &t.state
	switch e := e.(type) {
	case TaskCreated:
		*s = taskState{
			ID: e.TaskID, ProjectID: e.ProjectID, WorkspaceID: e.WorkspaceID, Number: e.Number, Key: e.Key,
			Title: e.Title, Description: e.Description, Priority: e.Priority, DueDate: copyTime(e.DueDate),
			Labels: slices.Clone(e.Labels), Assignee: e.Assignee, Status: e.Status, Rank: e.Rank,
			CreatedBy: e.By, CreatedAt: e.At,
		}
	case TaskTitleChanged:
		s.Title = e.Title
	case TaskDescriptionChanged:
		s.Description = e.Description
	case TaskPriorityChanged:
		s.Priority = e.Priority
	case TaskDueDateChanged:
		s.DueDate = copyTime(e.DueDate)
	case TaskLabelsChanged:
		s.Labels = slices.Clone(e.Labels)
	case TaskStatusChanged:
		s.Status = e.To
	case TaskAssigned:
		s.Assignee = e.Assignee
	case TaskUnassigned:
		if s.Assignee == e.Assignee {
			s.Assignee = ""
		}
	case TaskReordered:
		s.Rank = e.Rank
	case TaskCommentAdded:
		s.Comments = append(s.Comments, Comment{
			ID: e.CommentID, Author: e.By, Body: e.Body, Mentions: slices.Clone(e.Mentions), CreatedAt: e.At,
		})
	case TaskCommentEdited:
		if i := t.commentIndex(e.CommentID); i >= 0 {
			at := e.At
			s.Comments[i].Body, s.Comments[i].Mentions, s.Comments[i].EditedAt = e.Body, slices.Clone(e.Mentions), &at
		}
	case TaskCommentDeleted:
		if i := t.commentIndex(e.CommentID); i >= 0 {
			s.Comments[i].Body, s.Comments[i].Mentions, s.Comments[i].Deleted = "", nil, true
		}
	case TaskArchived:
		s.Archived = true
	case TaskRestored:
		s.Archived = false
	default:
		return errUnexpectedEvent(e)
	}
	return nil
}
