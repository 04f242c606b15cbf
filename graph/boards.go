package graph

import (
	"context"

	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// boards serves Project.board, a batch resolver (gqlgen.yml): it receives every project of a list
// at once (a workspace's projects; a project reached alone comes alone) and returns one board per
// project, in order, never touching the projects. The boards come from Loaders.LoadBoards (one
// statement for any number of projects of any number of workspaces; none when a list above
// primed them, see primeBoards), then what the selection asks of the tasks (assignees,
// projects, comments) in one batch for all of them (loadTaskChildren).
func (r *Resolver) boards(ctx context.Context, projects []*model.Project) ([][]*model.BoardColumn, error) {
	keys := make([]loaders.Key, 0, len(projects))
	at := make(map[loaders.Key]int, len(projects)) // a key's index in keys
	for _, p := range projects {
		k := loaders.Key{WorkspaceID: p.WorkspaceID, ID: p.ProjectID}
		if _, ok := at[k]; !ok {
			at[k] = len(keys)
			keys = append(keys, k)
		}
	}
	boards, err := loaders.For(ctx).LoadBoards(ctx, keys)
	if err != nil {
		return nil, err
	}
	// Each project served gets its board's rows, a board loaded once but served again as well:
	// they are what the response holds.
	rows := 0
	for _, p := range projects {
		rows += len(boards[at[loaders.Key{WorkspaceID: p.WorkspaceID, ID: p.ProjectID}]])
	}
	if err := chargeRows(ctx, rows); err != nil {
		return nil, err
	}
	var all []projections.Task
	if len(boards) == 1 {
		all = boards[0]
	} else {
		for _, b := range boards {
			all = append(all, b...)
		}
	}
	models := taskModels(all)
	if err := loadTaskChildren(ctx, all, models, "tasks"); err != nil {
		return nil, err
	}
	byKey := make([][]*model.Task, len(keys)) // each board's task models, in board order
	start := 0
	for i, b := range boards {
		byKey[i] = models[start : start+len(b) : start+len(b)]
		start += len(b)
	}
	out := make([][]*model.BoardColumn, len(projects))
	for i, p := range projects {
		out[i] = board(r.workflows.columns(p.Workflow), byKey[at[loaders.Key{WorkspaceID: p.WorkspaceID, ID: p.ProjectID}]])
	}
	return out, nil
}
