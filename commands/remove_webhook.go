package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RemoveWebhook deletes a webhook endpoint (admin+).
type RemoveWebhook struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	WebhookID      uuid.UUID
	IdempotencyKey string
}

func (RemoveWebhook) CommandName() string      { return "remove_webhook" }
func (c RemoveWebhook) ActorID() domain.UserID { return c.Actor.UserID }

type RemoveWebhookHandler struct{ rt *Runtime }

func (h *RemoveWebhookHandler) Handle(ctx context.Context, cmd RemoveWebhook) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.RemoveWebhook(cmd.Actor, cmd.WebhookID, now)
		},
	})
}
