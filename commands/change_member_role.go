package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// ChangeMemberRole sets a member's role (admin+; owners for the owner role).
type ChangeMemberRole struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	UserID         domain.UserID
	Role           domain.Role
	IdempotencyKey string
}

func (ChangeMemberRole) CommandName() string      { return "change_member_role" }
func (c ChangeMemberRole) ActorID() domain.UserID { return c.Actor.UserID }

type ChangeMemberRoleHandler struct{ rt *Runtime }

func (h *ChangeMemberRoleHandler) Handle(ctx context.Context, cmd ChangeMemberRole) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.ChangeMemberRole(cmd.Actor, cmd.UserID, cmd.Role, now)
		},
	})
}
