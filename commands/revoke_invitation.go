package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RevokeInvitation cancels a pending invitation (admin+).
type RevokeInvitation struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	InvitationID   uuid.UUID
	IdempotencyKey string
}

func (RevokeInvitation) CommandName() string      { return "revoke_invitation" }
func (c RevokeInvitation) ActorID() domain.UserID { return c.Actor.UserID }

type RevokeInvitationHandler struct{ rt *Runtime }

func (h *RevokeInvitationHandler) Handle(ctx context.Context, cmd RevokeInvitation) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.RevokeInvitation(cmd.Actor, cmd.InvitationID, now)
		},
	})
}
