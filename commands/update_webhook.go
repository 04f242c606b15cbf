package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// UpdateWebhook changes a webhook's settings (admin+); nil fields stay as they are.
type UpdateWebhook struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	WebhookID      uuid.UUID
	URL            *string
	Secret         *string
	EventTypes     *[]string
	IdempotencyKey string
}

func (UpdateWebhook) CommandName() string      { return "update_webhook" }
func (c UpdateWebhook) ActorID() domain.UserID { return c.Actor.UserID }

type UpdateWebhookHandler struct{ rt *Runtime }

func NewUpdateWebhookHandler(rt *Runtime) (*UpdateWebhookHandler, error) {
	if rt == nil {
		return nil, errNilRuntime
	}
	return &UpdateWebhookHandler{rt: rt}, nil
}

func (h *UpdateWebhookHandler) Handle(ctx context.Context, cmd UpdateWebhook) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.UpdateWebhook(cmd.Actor, cmd.WebhookID, domain.WebhookUpdate{URL: cmd.URL, Secret: cmd.Secret, EventTypes: cmd.EventTypes}, now)
		},
	})
}
