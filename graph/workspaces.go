package graph

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// workspaceMembers serves Workspace.members, a batch resolver (gqlgen.yml): the members of every
// workspace of a list (the caller's workspaces; a workspace reached alone comes alone) in one
// statement, whatever their number. The workspaces are the caller's: the resolvers that built
// them checked the membership.
func (r *Resolver) workspaceMembers(ctx context.Context, workspaces []*model.Workspace) ([][]*model.Member, error) {
	ms, err := r.Queries.MembersOfWorkspaces(ctx, distinctWorkspaces(workspaces))
	if err != nil {
		return nil, err
	}
	byWorkspace := make(map[uuid.UUID][]*model.Member, len(workspaces))
	for _, m := range ms {
		byWorkspace[m.WorkspaceID] = append(byWorkspace[m.WorkspaceID], model.NewMember(m))
	}
	out := perWorkspace(workspaces, byWorkspace)
	return out, chargeLists(ctx, out)
}

// perWorkspace lays out what byWorkspace holds in the order of workspaces, one list each (empty
// for a workspace with none): a batch resolver's answer.
func perWorkspace[T any](workspaces []*model.Workspace, byWorkspace map[uuid.UUID][]T) [][]T {
	out := make([][]T, len(workspaces))
	for i, w := range workspaces {
		if out[i] = byWorkspace[w.WorkspaceID]; out[i] == nil {
			out[i] = []T{}
		}
	}
	return out
}

// workspaceProjects serves Workspace.projects, a batch resolver: the projects of every workspace
// of a list in one statement. The projects are primed in the request's project loader (a board
// task's project is then a cache hit) and, for more than one workspace, when the selection asks
// for their boards, so are the boards and what the selection asks of their tasks (primeBoards):
// each workspace's projects are a list of their own, whose board batch then finds everything
// loaded, so the boards of any number of workspaces are one statement, not one per workspace.
func (r *Resolver) workspaceProjects(ctx context.Context, workspaces []*model.Workspace) ([][]*model.Project, error) {
	ids := distinctWorkspaces(workspaces)
	ps, err := r.Queries.ProjectsOfWorkspaces(ctx, ids)
	if err != nil {
		return nil, err
	}
	l := loaders.For(ctx)
	keys := make([]loaders.Key, len(ps))
	byWorkspace := make(map[uuid.UUID][]*model.Project, len(workspaces))
	for i, p := range ps {
		keys[i] = loaders.Key{WorkspaceID: p.WorkspaceID, ID: p.ID}
		l.Projects.Prime(keys[i], loaders.Found[projections.Project]{Value: p, OK: true})
		byWorkspace[p.WorkspaceID] = append(byWorkspace[p.WorkspaceID], model.NewProject(p))
	}
	if len(ids) > 1 { // one workspace: its projects are one list, their boards one batch already
		if err := primeBoards(ctx, keys, "board"); err != nil {
			return nil, err
		}
	}
	out := perWorkspace(workspaces, byWorkspace)
	return out, chargeLists(ctx, out)
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

// distinctWorkspaces returns the workspaces' ids, each once, in order.
func distinctWorkspaces(workspaces []*model.Workspace) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(workspaces))
	seen := make(map[uuid.UUID]bool, len(workspaces))
	for _, w := range workspaces {
		if !seen[w.WorkspaceID] {
			seen[w.WorkspaceID] = true
			ids = append(ids, w.WorkspaceID)
		}
	}
	return ids
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
