package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// AcceptInvitation makes the caller a member, if the invitation was sent to
// their email address.
type AcceptInvitation struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	InvitationID   uuid.UUID
	IdempotencyKey string
}

func (AcceptInvitation) CommandName() string      { return "accept_invitation" }
func (c AcceptInvitation) ActorID() domain.UserID { return c.Actor.UserID }

type AcceptInvitationHandler struct{ rt *Runtime }

func (h *AcceptInvitationHandler) Handle(ctx context.Context, cmd AcceptInvitation) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			if err := requireID("invitation_id", cmd.InvitationID); err != nil {
				return nil, err
			}
			return ws.AcceptInvitation(cmd.Actor, cmd.InvitationID, now)
		},
	})
}
