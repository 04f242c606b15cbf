package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RegisterWebhook adds a webhook endpoint to a workspace (admin+). Its
// signing secret is stored encrypted outside the log; the event names it by
// id only.
type RegisterWebhook struct {
	Actor       domain.Actor
	WorkspaceID uuid.UUID
	// WebhookID is optional: the handler picks one when it is zero.
	WebhookID uuid.UUID
	URL       string
	// Secret is optional: empty means the handler generates one.
	Secret string
	// EventTypes filters the events delivered; empty means all.
	EventTypes     []string
	IdempotencyKey string
}

func (RegisterWebhook) CommandName() string      { return "register_webhook" }
func (c RegisterWebhook) ActorID() domain.UserID { return c.Actor.UserID }

type RegisterWebhookHandler struct{ rt *Runtime }

func (h *RegisterWebhookHandler) Handle(ctx context.Context, cmd RegisterWebhook) (WebhookResult, error) {
	secrets := h.rt.opts.WebhookSecrets
	if secrets == nil {
		return WebhookResult{}, errNoWebhookSecrets
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return WebhookResult{}, err
	}
	webhookID := cmd.WebhookID
	if webhookID == uuid.Nil {
		webhookID = inv.derive("webhook")
	}
	secretID := inv.derive("webhook-secret")
	var stored string
	res, err := h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			events, err := ws.RegisterWebhook(cmd.Actor, webhookID, cmd.URL, secretID, cmd.EventTypes, now)
			if err != nil {
				return nil, err
			}
			if err := h.rt.checkWebhookURL(cmd.URL); err != nil {
				return nil, err
			}
			secret, err := webhookSecret(cmd.Secret)
			if err != nil {
				return nil, err
			}
			// Stored only once the workspace accepted the command; the id is
			// derived from the invocation, so a retried decision stores nothing new.
			stored, err = secrets.Put(ctx, ws.ID(), webhookID, secretID, secret)
			return events, err
		},
	})
	if err != nil {
		return WebhookResult{}, err
	}
	if stored == "" { // a replayed call: show its secret again to the same caller
		if stored, err = secrets.Get(ctx, cmd.WorkspaceID, webhookID, secretID); err != nil {
			return WebhookResult{}, err
		}
	}
	return WebhookResult{Result: res, WebhookID: webhookID, Secret: stored}, nil
}

// WebhookResult is the workspace's Result, the webhook's id and its signing
// secret: the only time the API shows that secret.
type WebhookResult struct {
	Result
	WebhookID uuid.UUID
	Secret    string
}
