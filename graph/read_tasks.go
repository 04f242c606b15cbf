package graph

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// taskByKey finds "TF-12" in ws: the project by key (one statement), then the task by number
// (one statement, keyset on rm_tasks_vN_number_idx).
func (r *Resolver) taskByKey(ctx context.Context, ws uuid.UUID, key string) (projections.Task, error) {
	prefix, num, ok := strings.Cut(strings.TrimSpace(key), "-")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 1 || prefix == "" {
		return projections.Task{}, domain.InvalidInput("key", "not a task key such as TF-12")
	}
	ps, err := r.Queries.ProjectsByWorkspace(ctx, ws)
	if err != nil {
		return projections.Task{}, err
	}
	for _, p := range ps {
		if !strings.EqualFold(p.Key, prefix) {
			continue
		}
		page, err := r.Queries.ListTasks(ctx, ws, projections.TaskFilter{ProjectID: p.ID, Order: projections.OrderNumber,
			After: strconv.FormatInt(n-1, 10), IncludeArchived: true, Limit: 1})
		if err != nil {
			return projections.Task{}, err
		}
		if len(page.Tasks) == 1 && page.Tasks[0].Number == n {
			return page.Tasks[0], nil
		}
	}
	return projections.Task{}, errNotFound
}

// listTasks reads one page of tasks. With a search text the read side ranks matches in one page
// (at most n) and the other filters apply to that page.
func (r *Resolver) listTasks(ctx context.Context, ws uuid.UUID, filter *model.TaskFilter, orderBy *model.TaskOrder,
	n int, after *string) (projections.TaskPage, string, error) {
	f := projections.TaskFilter{Order: projections.OrderUpdated, After: str(after), Limit: n}
	if orderBy != nil && *orderBy == model.TaskOrderNumber {
		f.Order = projections.OrderNumber
	}
	var search string
	if filter != nil {
		var err error
		if f.ProjectID, err = parseOptionalID("filter.projectId", filter.ProjectID); err != nil {
			return projections.TaskPage{}, "", err
		}
		f.Status, f.AssigneeID, f.Label, search = str(filter.Status), str(filter.AssigneeID), str(filter.Label), strings.TrimSpace(str(filter.Search))
		f.IncludeArchived = filter.IncludeArchived != nil && *filter.IncludeArchived
		f.DueBefore = filter.DueBefore
	}
	if f.Order == projections.OrderNumber && f.ProjectID == uuid.Nil {
		return projections.TaskPage{}, "", domain.InvalidInput("orderBy", "ordering by number needs filter.projectId")
	}
	if search != "" {
		if f.After != "" {
			return projections.TaskPage{}, "", domain.InvalidInput("after", "a search has a single page")
		}
		tasks, err := r.Queries.SearchTasks(ctx, ws, search, n)
		if err != nil {
			return projections.TaskPage{}, "", err
		}
		kept := tasks[:0]
		for _, t := range tasks {
			if (f.ProjectID == uuid.Nil || t.ProjectID == f.ProjectID) && (f.Status == "" || t.Status == f.Status) &&
				(f.AssigneeID == "" || (t.AssigneeID != nil && *t.AssigneeID == f.AssigneeID)) &&
				(f.Label == "" || contains(t.Labels, f.Label)) && (f.IncludeArchived || !t.Archived) &&
				(f.DueBefore == nil || (t.DueDate != nil && t.DueDate.Before(*f.DueBefore))) {
				kept = append(kept, t)
			}
		}
		return projections.TaskPage{Tasks: kept}, f.Order, nil
	}
	if f.After != "" && !validTaskCursor(f.Order, f.After) {
		return projections.TaskPage{}, "", domain.InvalidInput("after", "not a valid cursor")
	}
	page, err := r.Queries.ListTasks(ctx, ws, f)
	return page, f.Order, err
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// validTaskCursor checks a client's cursor before the read side sees it (its error would be
// an INTERNAL one).
func validTaskCursor(order, s string) bool {
	if order == projections.OrderNumber {
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && n >= 0
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return false
	}
	t, err1 := time.Parse(time.RFC3339Nano, at)
	_, err2 := uuid.Parse(id)
	y := t.UTC().Year() // as the read side decodes it: years 1..9999 in UTC
	return err1 == nil && err2 == nil && y >= 1 && y <= 9999
}

// deadLetters merges a workspace's dead webhook deliveries and dead emails, newest id first; the
// cursor keeps each source's own position (their ids come from different sequences).
func (r *Resolver) deadLetters(ctx context.Context, ws uuid.UUID, n int, cur deadCursor) (*model.DeadLetterConnection, error) {
	hooks, err := r.Inspector.ListDeliveries(ctx, ws, sideeffects.Page{Status: "dead", Limit: n + 1, BeforeID: cur.webhook})
	if err != nil {
		return nil, err
	}
	emails, err := r.Inspector.ListEmails(ctx, ws, sideeffects.Page{Status: "dead", Limit: n + 1, BeforeID: cur.email})
	if err != nil {
		return nil, err
	}
	if err := chargeRows(ctx, len(hooks)+len(emails)); err != nil {
		return nil, err
	}
	return mergeDead(hooks, emails, n, cur), nil
}

// mergeDead takes the n newest of two newest-first lists (each fetched with n+1 rows).
func mergeDead(hooks []sideeffects.Delivery, emails []sideeffects.Email, n int, cur deadCursor) *model.DeadLetterConnection {
	conn := &model.DeadLetterConnection{Edges: []*model.DeadLetterEdge{}, PageInfo: &model.PageInfo{}}
	for len(conn.Edges) < n && (len(hooks) > 0 || len(emails) > 0) {
		var d model.DeadLetter
		if len(emails) == 0 || (len(hooks) > 0 && hooks[0].ID > emails[0].ID) {
			h := hooks[0]
			hooks = hooks[1:]
			cur.webhook = h.ID
			d = model.DeadLetter{ID: "webhook-" + strconv.FormatInt(h.ID, 10), Kind: "webhook", EventID: h.EventID.String(),
				EventType: h.EventType, Target: h.URL, Attempts: h.Attempts, Requeues: h.Requeues, LastError: h.LastError,
				CreatedAt: h.CreatedAt, DeadAt: deref(h.DeadAt)}
		} else {
			e := emails[0]
			emails = emails[1:]
			cur.email = e.ID
			d = model.DeadLetter{ID: "email-" + strconv.FormatInt(e.ID, 10), Kind: "email", EventID: e.EventID.String(),
				EventType: e.EventType, Target: e.RecipientEmail, Attempts: e.Attempts, Requeues: e.Requeues, LastError: e.LastError,
				CreatedAt: e.CreatedAt, DeadAt: deref(e.DeadAt)}
		}
		cursor := cur.String()
		conn.Edges = append(conn.Edges, &model.DeadLetterEdge{Cursor: cursor, Node: &d})
		conn.PageInfo.EndCursor = &cursor
	}
	conn.PageInfo.HasNextPage = len(hooks) > 0 || len(emails) > 0
	return conn
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
