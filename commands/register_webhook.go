package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RegisterWebhook adds a webhook endpoint to a workspace (admin+).
type RegisterWebhook struct {
	Actor       domain.Actor
	WorkspaceID uuid.UUID
	// WebhookID is optional: the handler picks one when it is zero.
	WebhookID uuid.UUID
	URL       string
	Secret    string
	// EventTypes filters the events delivered; empty means all.
	EventTypes     []string
	IdempotencyKey string
}

func (RegisterWebhook) CommandName() string      { return "register_webhook" }
func (c RegisterWebhook) ActorID() domain.UserID { return c.Actor.UserID }

type RegisterWebhookHandler struct{ rt *Runtime }

func NewRegisterWebhookHandler(rt *Runtime) (*RegisterWebhookHandler, error) {
	if rt == nil {
		return nil, errNilRuntime
	}
	return &RegisterWebhookHandler{rt: rt}, nil
}

func (h *RegisterWebhookHandler) Handle(ctx context.Context, cmd RegisterWebhook) (WebhookResult, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return WebhookResult{}, err
	}
	webhookID := cmd.WebhookID
	if webhookID == uuid.Nil {
		webhookID = inv.derive("webhook")
	}
	res, err := h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			return ws.RegisterWebhook(cmd.Actor, webhookID, cmd.URL, cmd.Secret, cmd.EventTypes, now)
		},
	})
	if err != nil {
		return WebhookResult{}, err
	}
	return WebhookResult{Result: res, WebhookID: webhookID}, nil
}

// WebhookResult is the workspace's Result and the webhook's id.
type WebhookResult struct {
	Result
	WebhookID uuid.UUID
}
