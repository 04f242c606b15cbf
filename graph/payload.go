package graph

import (
	"context"
	"errors"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// Mutation payloads serve the object a mutation changed (see graph/schema/payload.graphqls): the
// result converters below record which aggregate it was and where its events are; the payloads'
// field resolvers (payload.resolvers.go) read the object only when selected: wait for the read
// models to include the write, then read it as the matching query would, among the caller's
// workspaces.

// payloadProjections are the read models behind Task, Project and Workspace and every field
// under them (members, comments, boards, counts). Activity and notifications are not waited for.
var payloadProjections = []string{projections.Workspaces, projections.Projects, projections.Tasks}

func written(kind model.Aggregate, r commands.Result) model.Written {
	return model.Written{Aggregate: kind, ID: r.ID, Position: r.Position}
}

func mutationResult(kind model.Aggregate, r commands.Result) *model.MutationResult {
	return &model.MutationResult{ID: r.ID.String(), Version: int(r.Version), ConsistencyToken: ConsistencyToken(r),
		Written: written(kind, r)}
}

// taskResult is the payload of a mutation of a task (comments included).
func taskResult(r commands.Result) *model.MutationResult {
	return mutationResult(model.AggregateTask, r)
}

// projectResult is the payload of a mutation of a project.
func projectResult(r commands.Result) *model.MutationResult {
	return mutationResult(model.AggregateProject, r)
}

// workspaceResult is the payload of a mutation of a workspace (members, invitations, webhooks).
func workspaceResult(r commands.Result) *model.MutationResult {
	return mutationResult(model.AggregateWorkspace, r)
}

// readWritten makes the read side consistent with w before a payload reads it: it waits until
// the read models behind the payload objects have applied w's events (bounded: STALE), then
// drops what the request's loaders cached before, so that the object and its children are read
// after the write even in a document of several mutations (one response, one set of loaders).
func (r *Resolver) readWritten(ctx context.Context, w model.Written) error {
	if w.Position != (eventstore.GlobalPosition{}) { // zero: the mutation appended nothing
		if err := r.await(ctx, w.Position, payloadProjections...); err != nil {
			return err
		}
	}
	loaders.For(ctx).Clear()
	return nil
}

// writtenTask is the task w changed, as task(id) reads it (among the caller's workspaces); nil
// when w changed another aggregate or the caller cannot see the task.
func (r *Resolver) writtenTask(ctx context.Context, w model.Written) (*model.Task, error) {
	if w.Aggregate != model.AggregateTask {
		return nil, nil
	}
	if err := r.readWritten(ctx, w); err != nil {
		return nil, err
	}
	t, err := locate(ctx, r, w.ID, r.Queries.TaskInWorkspaces)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return model.NewTask(t), nil
}

// writtenProject is the project w changed, as project(id) reads it; nil as for writtenTask.
func (r *Resolver) writtenProject(ctx context.Context, w model.Written) (*model.Project, error) {
	if w.Aggregate != model.AggregateProject {
		return nil, nil
	}
	if err := r.readWritten(ctx, w); err != nil {
		return nil, err
	}
	p, err := locate(ctx, r, w.ID, r.Queries.ProjectInWorkspaces)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return model.NewProject(p), nil
}

// writtenWorkspace is the workspace w changed, as workspace(id) reads it (membership first); nil
// when w changed another aggregate or the caller is not (no longer) a member.
func (r *Resolver) writtenWorkspace(ctx context.Context, w model.Written) (*model.Workspace, error) {
	if w.Aggregate != model.AggregateWorkspace {
		return nil, nil
	}
	if err := r.readWritten(ctx, w); err != nil {
		return nil, err
	}
	m, err := member(ctx, w.ID)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ws, err := r.Queries.Workspace(ctx, w.ID)
	if errors.Is(err, projections.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return model.NewWorkspace(ws, m), nil
}
