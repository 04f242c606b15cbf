package graph

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/internal/cursor"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// workspaceMembers serves Workspace.members, a batch resolver (gqlgen.yml): a page of the members
// of every workspace of a list (the caller's workspaces; a workspace reached alone comes alone)
// in one statement, whatever their number, or none when the list above primed the pages
// (primeWorkspaces). The workspaces are the caller's: the resolvers that built them checked the
// membership.
func (r *Resolver) workspaceMembers(ctx context.Context, workspaces []*model.Workspace, win window) ([]*model.MemberConnection, error) {
	keys := workspaceKeys(workspaces, win)
	pages, err := loaders.For(ctx).MemberPages.LoadAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	byWorkspace := make(map[uuid.UUID]projections.Page[projections.Member], len(keys))
	rows := 0
	for i, k := range keys {
		byWorkspace[k.WorkspaceID] = pages[i]
		rows += len(pages[i].Items)
	}
	out := make([]*model.MemberConnection, len(workspaces))
	for i, w := range workspaces {
		p := byWorkspace[w.WorkspaceID]
		conn := &model.MemberConnection{TotalCount: w.MemberCount}
		conn.Edges, conn.PageInfo = page(win, p, func(m projections.Member) *model.MemberEdge {
			return &model.MemberEdge{Cursor: m.Cursor(), Node: model.NewMember(m)}
		}, func(e *model.MemberEdge) string { return e.Cursor })
		out[i] = conn
	}
	return out, chargeRows(ctx, rows)
}

// workspaceProjects serves Workspace.projects, a batch resolver: a page of the projects of every
// workspace of a list in one statement (none when the list above primed them). The projects
// are primed in the request's project loader (a board task's project is then a cache hit), and
// so are their boards when the selection asks for them, with what it asks of their tasks
// (primeProjects): each edge's project is a list of its own, whose board batch then finds
// everything loaded, so the boards of any number of workspaces are one statement.
func (r *Resolver) workspaceProjects(ctx context.Context, workspaces []*model.Workspace, win window) ([]*model.ProjectConnection, error) {
	keys := workspaceKeys(workspaces, win)
	pages, err := loaders.For(ctx).ProjectPages.LoadAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	var all []projections.Project
	byWorkspace := make(map[uuid.UUID]projections.Page[projections.Project], len(keys))
	for i, k := range keys {
		byWorkspace[k.WorkspaceID] = pages[i]
		all = append(all, pages[i].Items...)
	}
	if err := primeProjects(ctx, all); err != nil {
		return nil, err
	}
	out := make([]*model.ProjectConnection, len(workspaces))
	for i, w := range workspaces {
		p := byWorkspace[w.WorkspaceID]
		conn := &model.ProjectConnection{}
		conn.Edges, conn.PageInfo = page(win, p, func(p projections.Project) *model.ProjectEdge {
			return &model.ProjectEdge{Cursor: p.Cursor(), Node: model.NewProject(p)}
		}, func(e *model.ProjectEdge) string { return e.Cursor })
		out[i] = conn
	}
	return out, chargeRows(ctx, len(all))
}

// primeBoards loads the boards of projects in one statement when the current field's selection
// reaches path (a Project.board field: "board", or "edges", "node", "project", "board"), and what
// the selection asks of their tasks (loadTaskChildren, which primes the boards of their projects
// in turn, one level deeper). Project.board resolvers below then find the boards and their
// tasks' children in the request's loaders, however the projects are spread over lists.
func primeBoards(ctx context.Context, projects []loaders.Key, path ...string) error {
	if len(projects) == 0 || !selects(ctx, path...) {
		return nil
	}
	boards, err := loaders.For(ctx).LoadBoards(ctx, projects)
	if err != nil {
		return err
	}
	var tasks []projections.Task
	for _, b := range boards {
		tasks = append(tasks, b...)
	}
	return loadTaskChildren(ctx, tasks, nil, append(slices.Clip(path), "tasks")...)
}

// loadNotificationTasks loads the tasks of an inbox page when the selection asks for them, in one
// batch, with what the selection asks of them (loadTaskChildren: assignees, comments, projects
// and their boards), and hands them to the notifications' models.
func loadNotificationTasks(ctx context.Context, edges []*model.NotificationEdge) error {
	if len(edges) == 0 || !selects(ctx, "edges", "node", "task") {
		return nil
	}
	keys := make([]loaders.Key, len(edges))
	for i, e := range edges {
		keys[i] = loaders.Key{WorkspaceID: e.Node.WorkspaceID, ID: e.Node.TaskUUID}
	}
	tasks, err := loadDistinct(ctx, loaders.For(ctx).Tasks, keys, func(t loaders.Found[projections.Task]) *projections.Task {
		if !t.OK {
			return nil // a task gone from the read model (never, today): null
		}
		return &t.Value
	})
	if err != nil {
		return err
	}
	var found []projections.Task
	var models []*model.Task
	byKey := make(map[loaders.Key]*model.Task, len(tasks))
	for _, k := range keys {
		if t := tasks[k]; t != nil && byKey[k] == nil {
			byKey[k] = model.NewTask(*t)
			found = append(found, *t)
			models = append(models, byKey[k])
		}
	}
	if err := loadTaskChildren(ctx, found, models, "edges", "node", "task"); err != nil {
		return err
	}
	for i, e := range edges {
		e.Node.TaskLoaded, e.Node.LoadedTask = true, byKey[keys[i]]
	}
	return nil
}

// deliveryCursor reads a webhook delivery's cursor (its id).
func deliveryCursor(s string) (int64, bool) {
	r, ok := cursor.Open(s, cursor.Delivery)
	if !ok {
		return 0, false
	}
	id := r.Int64()
	return id, r.Done() && id > 0
}

// deliveries reads a page of a workspace's webhook deliveries (newest first), and whether the
// list goes on on the page's other side of the cursor: a second statement of one row, when there
// is a cursor.
func (r *Resolver) deliveries(ctx context.Context, ws uuid.UUID, status string, win window) (projections.Page[sideeffects.Delivery], error) {
	at, _ := deliveryCursor(win.w.Cursor)
	q := sideeffects.Page{Status: status, Limit: win.w.Limit + 1, BeforeID: at, AfterID: at, Backward: win.w.Backward}
	ds, err := r.Inspector.ListDeliveries(ctx, ws, q)
	if err != nil {
		return projections.Page[sideeffects.Delivery]{}, err
	}
	more := len(ds) > win.w.Limit
	var behind bool
	if at != 0 { // the delivery at the cursor or any beyond it, the other way
		other := sideeffects.Page{Status: status, Limit: 1, BeforeID: at + 1, AfterID: at - 1, Backward: !win.w.Backward}
		rest, err := r.Inspector.ListDeliveries(ctx, ws, other)
		if err != nil {
			return projections.Page[sideeffects.Delivery]{}, err
		}
		behind = len(rest) > 0
	}
	if win.w.Backward {
		if more {
			ds = ds[1:]
		}
		return projections.Page[sideeffects.Delivery]{Items: ds, HasPrevious: more, HasNext: behind}, nil
	}
	if more {
		ds = ds[:win.w.Limit]
	}
	return projections.Page[sideeffects.Delivery]{Items: ds, HasPrevious: behind, HasNext: more}, nil
}

// deadLetterPage lists a page of a workspace's dead webhook deliveries and dead emails, newest
// first, through the inspector's one listing (the CLI's too: same ids, same cursors), and whether
// the list goes on on the page's other side of the cursor (a second statement, when there is
// one).
func (r *Resolver) deadLetterPage(ctx context.Context, ws uuid.UUID, win window) (projections.Page[sideeffects.DeadLetter], error) {
	at, err := sideeffects.ParseDeadLetterCursor(win.w.Cursor)
	if err != nil {
		return projections.Page[sideeffects.DeadLetter]{}, err
	}
	p, err := r.Inspector.ListDeadLetters(ctx, sideeffects.DeadLetterQuery{Workspace: ws, After: at, Backward: win.w.Backward, Limit: win.w.Limit})
	if err != nil {
		return projections.Page[sideeffects.DeadLetter]{}, err
	}
	var behind bool
	if win.w.Cursor != "" {
		rest, err := r.Inspector.ListDeadLetters(ctx, sideeffects.DeadLetterQuery{Workspace: ws, After: at, Backward: !win.w.Backward,
			Inclusive: true, Limit: 1})
		if err != nil {
			return projections.Page[sideeffects.DeadLetter]{}, err
		}
		behind = len(rest.Items) > 0
	}
	if win.w.Backward {
		return projections.Page[sideeffects.DeadLetter]{Items: p.Items, HasPrevious: p.More, HasNext: behind}, nil
	}
	return projections.Page[sideeffects.DeadLetter]{Items: p.Items, HasPrevious: behind, HasNext: p.More}, nil
}
