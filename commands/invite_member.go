package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// InviteMember invites an email address to join a workspace with a role (admin+).
type InviteMember struct {
	Actor       domain.Actor
	WorkspaceID uuid.UUID
	// InvitationID is optional: the handler picks one when it is zero.
	InvitationID   uuid.UUID
	Email          string
	Role           domain.Role
	IdempotencyKey string
}

func (InviteMember) CommandName() string      { return "invite_member" }
func (c InviteMember) ActorID() domain.UserID { return c.Actor.UserID }

type InviteMemberHandler struct{ rt *Runtime }

func (h *InviteMemberHandler) Handle(ctx context.Context, cmd InviteMember) (InvitationResult, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return InvitationResult{}, err
	}
	invitationID := cmd.InvitationID
	if invitationID == uuid.Nil {
		invitationID = inv.derive("invitation")
	}
	res, err := h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.InviteMember(cmd.Actor, invitationID, cmd.Email, cmd.Role, now)
		},
	})
	if err != nil {
		return InvitationResult{}, err
	}
	return InvitationResult{Result: res, InvitationID: invitationID}, nil
}

// InvitationResult is the workspace's Result and the invitation's id.
type InvitationResult struct {
	Result
	InvitationID uuid.UUID
}
