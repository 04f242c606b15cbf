package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// CreateProject creates a project with a key unique in its workspace
// (member+). The key reservation (workspace stream) and project.created
// (new project stream) are appended atomically.
type CreateProject struct {
	Actor       domain.Actor
	WorkspaceID uuid.UUID
	// ProjectID is optional: the handler picks one when it is zero.
	ProjectID      uuid.UUID
	Name           string
	Key            string
	IdempotencyKey string
}

func (CreateProject) CommandName() string      { return "create_project" }
func (c CreateProject) ActorID() domain.UserID { return c.Actor.UserID }

type CreateProjectHandler struct{ rt *Runtime }

// Handle returns the new project's Result.
func (h *CreateProjectHandler) Handle(ctx context.Context, cmd CreateProject) (Result, error) {
	if err := requireID("workspace_id", cmd.WorkspaceID); err != nil {
		return Result{}, err
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	id := cmd.ProjectID
	if id == uuid.Nil {
		id = inv.derive("project")
	}
	stream := domain.ProjectStream(id)
	res, err := h.rt.execute(ctx, inv, plan{cmd: cmd, target: "workspace", decide: func(ctx context.Context) (decision, error) {
		ws, err := h.rt.loadWorkspace(ctx, cmd.WorkspaceID)
		if err != nil {
			return decision{}, err
		}
		wsEvents, projectEvents, err := domain.CreateProject(ws, cmd.Actor, id, cmd.Name, cmd.Key, h.rt.now())
		if err != nil {
			return decision{}, err
		}
		return decision{workspaceID: ws.ID(), writes: []write{
			exactWrite(domain.WorkspaceStream(ws.ID()), domain.StreamTypeWorkspace, ws.Version(), wsEvents),
			newStreamWrite(stream, domain.StreamTypeProject, projectEvents),
		}}, nil
	}})
	if err != nil {
		return Result{}, err
	}
	return result(id, stream, res), nil
}
