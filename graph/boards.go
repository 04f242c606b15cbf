package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// boards serves Project.board, a batch resolver (gqlgen.yml): it receives every project of a list
// at once (a workspace's projects; a project reached alone comes alone) and returns one board per
// project, in order, never touching the projects. It reads the boards in one statement per
// workspace among them (one, for a workspace's projects) whatever their number, then loads what
// the selection asks of the tasks (assignees, projects, comments) in one batch for all of them
// (loadTaskChildren).
func (r *Resolver) boards(ctx context.Context, projects []*model.Project) ([][]*model.BoardColumn, error) {
	var order []uuid.UUID // workspaces, in the parents' order
	ids := map[uuid.UUID][]uuid.UUID{}
	seen := make(map[uuid.UUID]bool, len(projects))
	for _, p := range projects {
		if seen[p.ProjectID] {
			continue
		}
		seen[p.ProjectID] = true
		if _, ok := ids[p.WorkspaceID]; !ok {
			order = append(order, p.WorkspaceID)
		}
		ids[p.WorkspaceID] = append(ids[p.WorkspaceID], p.ProjectID)
	}
	var all []projections.Task
	for _, ws := range order {
		tasks, err := r.Queries.Boards(ctx, ws, ids[ws], projections.MaxPage)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = tasks
		} else {
			all = append(all, tasks...)
		}
	}
	models := taskModels(all)
	if err := loadTaskChildren(ctx, all, models, "tasks"); err != nil {
		return nil, err
	}
	// Boards returns each project's tasks together, in board order.
	byProject := make(map[uuid.UUID][]*model.Task, len(seen))
	for start := 0; start < len(all); {
		end := start + 1
		for end < len(all) && all[end].ProjectID == all[start].ProjectID {
			end++
		}
		byProject[all[start].ProjectID] = models[start:end:end]
		start = end
	}
	out := make([][]*model.BoardColumn, len(projects))
	for i, p := range projects {
		out[i] = board(r.workflows.columns(p.Workflow), byProject[p.ProjectID])
	}
	return out, nil
}
