package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RenameWorkspace renames a workspace (admin+).
type RenameWorkspace struct {
	Actor           domain.Actor
	WorkspaceID     uuid.UUID
	Name            string
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (RenameWorkspace) CommandName() string      { return "rename_workspace" }
func (c RenameWorkspace) ActorID() domain.UserID { return c.Actor.UserID }

type RenameWorkspaceHandler struct{ rt *Runtime }

func (h *RenameWorkspaceHandler) Handle(ctx context.Context, cmd RenameWorkspace) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID, expected: cmd.ExpectedVersion,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.Rename(cmd.Actor, cmd.Name, now)
		},
	})
}
