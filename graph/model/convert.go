package model

import (
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/projections"
)

// The read side's objects built from the read models' rows (projections): one function per
// object, shared by the resolvers (package graph) and the live hub (graph/live), which sends the
// same objects to subscriptions.

// NewWorkspace is w as seen by its member m (the caller).
func NewWorkspace(w projections.Workspace, m projections.Member) *Workspace {
	return &Workspace{ID: w.ID.String(), Name: w.Name, MemberCount: w.MemberCount, UpdatedAt: w.UpdatedAt,
		Version: int(w.Version), WorkspaceID: w.ID, Plan: Plan(upper(w.Plan)), MyRole: Role(upper(m.Role))}
}

// NewMember is a workspace member as the API shows it.
func NewMember(m projections.Member) *Member {
	return &Member{UserID: m.UserID, DisplayName: m.DisplayName, Email: m.Email, JoinedAt: m.JoinedAt,
		Role: Role(upper(m.Role))}
}

// NewProject is a project with its counts (by status, in status order).
func NewProject(p projections.Project) *Project {
	counts := make([]*StatusCount, 0, len(p.TaskCounts))
	for s, n := range p.TaskCounts {
		counts = append(counts, &StatusCount{Status: s, Count: n})
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].Status < counts[j].Status })
	return &Project{ID: p.ID.String(), Key: p.Key, Name: p.Name, Archived: p.Archived, OpenCount: p.OpenTasks,
		OverdueCount: p.OverdueTasks, TaskCounts: counts, UpdatedAt: p.UpdatedAt, Version: int(p.Version),
		ProjectID: p.ID, WorkspaceID: p.WorkspaceID, Workflow: p.Workflow}
}

// NewTask is a task as the board and lists show it.
func NewTask(t projections.Task) *Task {
	m := new(Task)
	FillTask(m, t)
	return m
}

// FillTask sets *m to t, for callers that build a slice of tasks at once.
func FillTask(m *Task, t projections.Task) {
	labels := t.Labels
	if labels == nil {
		labels = []string{}
	}
	*m = Task{ID: t.ID.String(), Key: t.Key, Number: int(t.Number), Title: t.Title, Description: t.Description,
		Status: t.Status, AssigneeID: t.AssigneeID, Labels: labels, DueDate: t.DueDate, Priority: priority(t.Priority),
		Rank: t.Rank, CommentCount: t.CommentCount, Archived: t.Archived, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Version: int(t.Version), TaskID: t.ID, WorkspaceID: t.WorkspaceID, ProjectID: t.ProjectID}
}

// priority maps the read model's priority ("high", "" for none) to the schema's enum.
func priority(p string) Priority {
	if p == "" {
		return PriorityNone
	}
	return Priority(upper(p))
}

// upper maps the domain's spelling of an enum value (high, in_progress) to the schema's (HIGH,
// IN_PROGRESS); the known values without allocating (this runs for every object of a response).
func upper(s string) string {
	if u, ok := enumSpelling[s]; ok {
		return u
	}
	return strings.ToUpper(s)
}

var enumSpelling = func() map[string]string {
	m := map[string]string{}
	for _, v := range AllPriority {
		m[strings.ToLower(string(v))] = string(v)
	}
	for _, v := range AllRole {
		m[strings.ToLower(string(v))] = string(v)
	}
	for _, v := range AllPlan {
		m[strings.ToLower(string(v))] = string(v)
	}
	return m
}()

// NewComment is a comment on a task.
func NewComment(c projections.Comment) *Comment {
	mentions := c.Mentions
	if mentions == nil {
		mentions = []string{}
	}
	return &Comment{ID: c.ID.String(), AuthorID: c.AuthorID, AuthorName: c.AuthorName, Body: c.Body, TaskID: c.TaskID.String(),
		Mentions: mentions, CreatedAt: c.CreatedAt, EditedAt: c.EditedAt}
}

// NewActivityItem is a line of a workspace's, project's or task's activity.
func NewActivityItem(a projections.ActivityItem) *ActivityItem {
	out := &ActivityItem{EventID: a.EventID.String(), EventType: a.EventType, ActorID: a.ActorID,
		ActorName: a.ActorName, Line: a.Line, At: a.At}
	if a.SubjectID != nil {
		s := a.SubjectID.String()
		out.SubjectID = &s
	}
	return out
}

// NewNotification is a notification in the inbox of a member of workspace ws.
func NewNotification(ws uuid.UUID, n projections.Notification) *Notification {
	out := &Notification{ID: n.ID.String(), Kind: n.Kind, TaskID: n.TaskID.String(), ActorID: n.ActorID,
		Line: n.Line, At: n.At, Read: n.Read, Position: n.Position.String(), WorkspaceID: ws, TaskUUID: n.TaskID}
	if n.CommentID != nil {
		c := n.CommentID.String()
		out.CommentID = &c
	}
	return out
}
