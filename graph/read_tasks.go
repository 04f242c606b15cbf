package graph

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// taskPageArgs are the tasks query's paging arguments: first/after forward, last/before backward.
type taskPageArgs struct {
	first, last   *int
	after, before *string
}

// listTasks reads one page of tasks: the filter compiled to the read side's condition tree (every
// condition part of the one statement, before its LIMIT), in orderBy's order (by default the best
// matches of a search first, else the most recently updated). n is the page size asked for.
func (r *Resolver) listTasks(ctx context.Context, ws uuid.UUID, filter *model.TaskFilter, orderBy *model.TaskOrder,
	pa taskPageArgs) (page projections.TaskPage, n int, err error) {
	tf, err := readTaskFilter(filter, time.Now())
	if err != nil {
		return page, 0, err
	}
	f := projections.TaskFilter{Where: tf.where, Search: tf.search, IncludeArchived: tf.archived, ProjectID: tf.project,
		After: str(pa.after), Before: str(pa.before)}
	if n, err = pageSize(pa.first, 50); err != nil {
		return page, 0, err
	}
	if pa.last != nil {
		if *pa.last < 0 || *pa.last > projections.MaxPage {
			return page, 0, domain.InvalidInput("last", fmt.Sprintf("must be between 0 and %d", projections.MaxPage))
		}
		n, f.Last = *pa.last, true
	}
	f.Limit = pageRead(n)
	search := projections.IsSearch(f.Search)
	switch {
	case orderBy == nil && search, orderBy != nil && *orderBy == model.TaskOrderRelevance:
		if !search {
			return page, 0, domain.InvalidInput("orderBy", "ordering by relevance needs filter.search")
		}
		f.Order = projections.OrderRelevance
	case orderBy != nil && *orderBy == model.TaskOrderNumber:
		if f.ProjectID == uuid.Nil {
			return page, 0, domain.InvalidInput("orderBy", "ordering by number needs filter.project: {eq: …} (or filter.projectId)")
		}
		f.Order = projections.OrderNumber
	case orderBy != nil && *orderBy == model.TaskOrderUpdatedAsc:
		f.Order = projections.OrderUpdatedAsc
	default:
		f.Order = projections.OrderUpdated
	}
	for _, c := range []struct{ arg, cursor string }{{"after", f.After}, {"before", f.Before}} {
		if c.cursor == "" {
			continue
		}
		if _, err := projections.ParseTaskCursor(projections.CursorOrder(f.Order), c.cursor); err != nil {
			return page, 0, domain.InvalidInput(c.arg, "not a valid cursor")
		}
	}
	page, err = r.Queries.ListTasks(ctx, ws, f)
	return page, n, err
}

// taskPageInfo completes a page of tasks (Relay): forward, as forwardPage does; backward (last),
// its mirror: hasPreviousPage says whether the list continues before the page, hasNextPage
// whether the page ends at a cursor (before). An empty page (last: 0) was read with one task.
func taskPageInfo(page projections.TaskPage, n int, edges []*model.TaskEdge, pa taskPageArgs) ([]*model.TaskEdge, *model.PageInfo) {
	cursor := func(e *model.TaskEdge) string { return e.Cursor }
	if pa.last == nil {
		return forwardPage(n, edges, cursor, page.Next != "", pa.after)
	}
	hasPrev := page.Previous != ""
	if n == 0 {
		hasPrev, edges = hasPrev || len(edges) > 0, edges[:0]
	}
	info := &model.PageInfo{HasPreviousPage: hasPrev, HasNextPage: pa.before != nil && *pa.before != ""}
	if len(edges) > 0 {
		start, end := cursor(edges[0]), cursor(edges[len(edges)-1])
		info.StartCursor, info.EndCursor = &start, &end
	}
	return edges, info
}
