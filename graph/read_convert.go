package graph

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

func workspaceModel(w projections.Workspace) *model.Workspace {
	return &model.Workspace{ID: w.ID.String(), Name: w.Name, MemberCount: w.MemberCount, UpdatedAt: w.UpdatedAt,
		Version: int(w.Version), WorkspaceID: w.ID, PlanName: w.Plan}
}

func memberModel(m projections.Member) *model.Member {
	return &model.Member{UserID: m.UserID, DisplayName: m.DisplayName, Email: m.Email, JoinedAt: m.JoinedAt, RoleName: m.Role}
}

func projectModel(p projections.Project) *model.Project {
	counts := make([]*model.StatusCount, 0, len(p.TaskCounts))
	for s, n := range p.TaskCounts {
		counts = append(counts, &model.StatusCount{Status: s, Count: n})
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].Status < counts[j].Status })
	return &model.Project{ID: p.ID.String(), Key: p.Key, Name: p.Name, Archived: p.Archived, OpenCount: p.OpenTasks,
		OverdueCount: p.OverdueTasks, TaskCounts: counts, UpdatedAt: p.UpdatedAt, Version: int(p.Version),
		ProjectID: p.ID, WorkspaceID: p.WorkspaceID, Workflow: p.Workflow}
}

func taskModel(t projections.Task) *model.Task {
	labels := t.Labels
	if labels == nil {
		labels = []string{}
	}
	return &model.Task{ID: t.ID.String(), Key: t.Key, Number: int(t.Number), Title: t.Title, Description: t.Description,
		Status: t.Status, AssigneeID: t.AssigneeID, Labels: labels, DueDate: t.DueDate, Rank: t.Rank,
		CommentCount: t.CommentCount, Archived: t.Archived, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Version: int(t.Version), TaskID: t.ID, WorkspaceID: t.WorkspaceID, ProjectID: t.ProjectID, PriorityName: t.Priority}
}

func commentModel(c projections.Comment) *model.Comment {
	mentions := c.Mentions
	if mentions == nil {
		mentions = []string{}
	}
	return &model.Comment{ID: c.ID.String(), AuthorID: c.AuthorID, AuthorName: c.AuthorName, Body: c.Body,
		Mentions: mentions, CreatedAt: c.CreatedAt, EditedAt: c.EditedAt}
}

func activityModel(a projections.ActivityItem) *model.ActivityItem {
	out := &model.ActivityItem{EventID: a.EventID.String(), EventType: a.EventType, ActorID: a.ActorID,
		ActorName: a.ActorName, Line: a.Line, At: a.At}
	if a.SubjectID != nil {
		s := a.SubjectID.String()
		out.SubjectID = &s
	}
	return out
}

func notificationModel(ws uuid.UUID, n projections.Notification) *model.Notification {
	out := &model.Notification{ID: n.ID.String(), Kind: n.Kind, TaskID: n.TaskID.String(), ActorID: n.ActorID,
		Line: n.Line, At: n.At, Read: n.Read, WorkspaceID: ws, TaskUUID: n.TaskID}
	if n.CommentID != nil {
		c := n.CommentID.String()
		out.CommentID = &c
	}
	return out
}

func deliveryModel(d sideeffects.Delivery) *model.WebhookDelivery {
	out := &model.WebhookDelivery{ID: strconv.FormatInt(d.ID, 10), WebhookID: d.WebhookID.String(), URL: d.URL,
		EventID: d.EventID.String(), EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt,
		DeliveredAt: d.DeliveredAt, DeadAt: d.DeadAt}
	if d.LastError != "" {
		out.LastError = &d.LastError
	}
	return out
}

func statusModel(s projections.Status) *model.ProjectionStatus {
	out := &model.ProjectionStatus{Name: s.Name, ActiveVersion: s.ActiveVersion, BuildingVersion: s.BuildingVersion,
		State: s.State, Position: positionString(s.Position), EventsHandled: int(s.EventsHandled),
		LagEvents: int(s.LagEvents), LagSeconds: s.LagSeconds, Parked: int(s.Parked), UpdatedAt: s.UpdatedAt}
	if s.LastError != "" {
		out.LastError = &s.LastError
	}
	return out
}

// board groups tasks (in rank order) by status, in the workflow's order; statuses unknown to the
// workflow (a workflow changed since) come last, by name.
func board(workflow []byte, tasks []projections.Task) []*model.BoardColumn {
	var wf domain.Workflow
	if err := json.Unmarshal(workflow, &wf); err != nil || len(wf.Statuses) == 0 {
		wf = domain.DefaultWorkflow()
	}
	cols := make([]*model.BoardColumn, 0, len(wf.Statuses))
	index := map[string]*model.BoardColumn{}
	for _, s := range wf.Statuses {
		c := &model.BoardColumn{Status: s.ID, Name: s.Name, Category: model.StatusCategory(strings.ToUpper(string(s.Category))),
			Tasks: []*model.Task{}}
		cols = append(cols, c)
		index[s.ID] = c
	}
	var extra []*model.BoardColumn
	for _, t := range tasks {
		c, ok := index[t.Status]
		if !ok {
			c = &model.BoardColumn{Status: t.Status, Name: t.Status, Category: model.StatusCategoryTodo, Tasks: []*model.Task{}}
			index[t.Status] = c
			extra = append(extra, c)
		}
		c.Tasks = append(c.Tasks, taskModel(t))
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Status < extra[j].Status })
	return append(cols, extra...)
}

// taskCursor is a task's position in a list ordered by order, in the projections' cursor format
// (a page's last cursor is what ListTasks returns as Next).
func taskCursor(order string, t projections.Task) string {
	if order == projections.OrderNumber {
		return strconv.FormatInt(t.Number, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(t.UpdatedAt.UTC().Format(time.RFC3339Nano) + "|" + t.ID.String()))
}

// deadCursor is where a dead-letter page stops in each of its two sources (webhook deliveries and
// emails have their own ids): "<webhook id>:<email id>", 0 meaning from the newest.
type deadCursor struct{ webhook, email int64 }

func (c deadCursor) String() string {
	return strconv.FormatInt(c.webhook, 10) + ":" + strconv.FormatInt(c.email, 10)
}

func parseDeadCursor(after *string) (deadCursor, error) {
	if after == nil || *after == "" {
		return deadCursor{}, nil
	}
	w, e, ok := strings.Cut(*after, ":")
	if ok {
		wi, err1 := strconv.ParseInt(w, 10, 64)
		ei, err2 := strconv.ParseInt(e, 10, 64)
		if err1 == nil && err2 == nil && wi >= 0 && ei >= 0 {
			return deadCursor{webhook: wi, email: ei}, nil
		}
	}
	return deadCursor{}, domain.InvalidInput("after", "not a valid cursor")
}
