package graph

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// taskByKey finds "TF-12" (or "tf-012") in ws: one statement on the task's key.
func (r *Resolver) taskByKey(ctx context.Context, ws uuid.UUID, key string) (projections.Task, error) {
	prefix, num, ok := strings.Cut(strings.TrimSpace(key), "-")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 1 || prefix == "" {
		return projections.Task{}, domain.InvalidInput("key", "not a task key such as TF-12")
	}
	t, err := r.Queries.TaskByKey(ctx, ws, domain.TaskKey(strings.ToUpper(prefix), n))
	if errors.Is(err, projections.ErrNotFound) {
		return projections.Task{}, errNotFound
	}
	return t, err
}

// listTasks reads one page of tasks and returns the order its cursors are in. With a search text
// the best matches come first; every filter is the read side's, before its page's LIMIT.
func (r *Resolver) listTasks(ctx context.Context, ws uuid.UUID, filter *model.TaskFilter, orderBy *model.TaskOrder,
	n int, after *string) (projections.TaskPage, string, error) {
	f := projections.TaskFilter{Order: projections.OrderUpdated, After: str(after), Limit: n}
	if orderBy != nil && *orderBy == model.TaskOrderNumber {
		f.Order = projections.OrderNumber
	}
	if filter != nil {
		var err error
		if f.ProjectID, err = parseOptionalID("filter.projectId", filter.ProjectID); err != nil {
			return projections.TaskPage{}, "", err
		}
		f.Status, f.AssigneeID, f.Label, f.Search = str(filter.Status), str(filter.AssigneeID), str(filter.Label), strings.TrimSpace(str(filter.Search))
		f.IncludeArchived = filter.IncludeArchived != nil && *filter.IncludeArchived
		f.DueBefore = filter.DueBefore
	}
	if f.Order == projections.OrderNumber && f.ProjectID == uuid.Nil {
		return projections.TaskPage{}, "", domain.InvalidInput("orderBy", "ordering by number needs filter.projectId")
	}
	if f.Search != "" {
		f.Order = projections.OrderRelevance
	}
	if f.After != "" {
		if _, err := projections.ParseTaskCursor(f.Order, f.After); err != nil {
			return projections.TaskPage{}, "", domain.InvalidInput("after", "not a valid cursor")
		}
	}
	page, err := r.Queries.ListTasks(ctx, ws, f)
	return page, f.Order, err
}
