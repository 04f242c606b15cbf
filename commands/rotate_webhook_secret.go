package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RotateWebhookSecret gives a webhook a new signing secret (admin+): the
// admin's own or, when Secret is empty, a generated one. The old secret stops
// signing as soon as the event is appended; the new one is returned once.
type RotateWebhookSecret struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	WebhookID      uuid.UUID
	Secret         string
	IdempotencyKey string
}

func (RotateWebhookSecret) CommandName() string      { return "rotate_webhook_secret" }
func (c RotateWebhookSecret) ActorID() domain.UserID { return c.Actor.UserID }

type RotateWebhookSecretHandler struct{ rt *Runtime }

func (h *RotateWebhookSecretHandler) Handle(ctx context.Context, cmd RotateWebhookSecret) (WebhookResult, error) {
	secrets := h.rt.opts.WebhookSecrets
	if secrets == nil {
		return WebhookResult{}, errNoWebhookSecrets
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return WebhookResult{}, err
	}
	// A new id per call (or per idempotency key): rotating never reuses a secret's id.
	secretID := inv.derive("webhook-secret")
	var stored string
	res, err := h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			events, err := ws.RotateWebhookSecret(cmd.Actor, cmd.WebhookID, secretID, now)
			if err != nil {
				return nil, err
			}
			secret, err := webhookSecret(cmd.Secret)
			if err != nil {
				return nil, err
			}
			stored, err = secrets.Put(ctx, ws.ID(), cmd.WebhookID, secretID, secret)
			return events, err
		},
	})
	if err != nil {
		return WebhookResult{}, err
	}
	if stored == "" { // a replayed call: show its secret again to the same caller
		if stored, err = secrets.Get(ctx, cmd.WorkspaceID, cmd.WebhookID, secretID); err != nil {
			return WebhookResult{}, err
		}
	}
	return WebhookResult{Result: res, WebhookID: cmd.WebhookID, Secret: stored}, nil
}
