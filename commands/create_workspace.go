package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// CreateWorkspace creates a workspace owned by the caller.
type CreateWorkspace struct {
	Actor domain.Actor
	// WorkspaceID is optional: the handler picks one when it is zero.
	WorkspaceID    uuid.UUID
	Name           string
	Plan           domain.Plan // zero means free
	IdempotencyKey string
}

func (CreateWorkspace) CommandName() string      { return "create_workspace" }
func (c CreateWorkspace) ActorID() domain.UserID { return c.Actor.UserID }

type CreateWorkspaceHandler struct{ rt *Runtime }

func (h *CreateWorkspaceHandler) Handle(ctx context.Context, cmd CreateWorkspace) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, "")
	if err != nil {
		return Result{}, err
	}
	id := cmd.WorkspaceID
	if id == uuid.Nil {
		id = inv.derive("workspace")
	}
	tier := cmd.Plan
	if tier == "" {
		tier = domain.PlanFree
	}
	stream := domain.WorkspaceStream(id)
	res, err := h.rt.execute(ctx, inv, plan{cmd: cmd, decide: func(ctx context.Context) (decision, error) {
		events, err := domain.CreateWorkspace(cmd.Actor, id, cmd.Name, tier, h.rt.now())
		if err != nil {
			return decision{}, err
		}
		return decision{workspaceID: id, writes: []write{newStreamWrite(stream, domain.StreamTypeWorkspace, events)}}, nil
	}})
	if err != nil {
		return Result{}, err
	}
	return result(id, stream, res), nil
}
