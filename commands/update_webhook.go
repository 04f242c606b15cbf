package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// UpdateWebhook changes a webhook's settings (admin+); nil fields stay as they are.
// A new Secret is stored encrypted outside the log, like RegisterWebhook's.
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

func (h *UpdateWebhookHandler) Handle(ctx context.Context, cmd UpdateWebhook) (Result, error) {
	secrets := h.rt.opts.WebhookSecrets
	if secrets == nil {
		return Result{}, errNoWebhookSecrets
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	var secretID *uuid.UUID
	if cmd.Secret != nil {
		id := inv.derive("webhook-secret")
		secretID = &id
	}
	return h.rt.runWorkspace(ctx, inv, workspaceCommand{
		cmd: cmd, workspaceID: cmd.WorkspaceID,
		decide: func(ws *domain.Workspace, now time.Time) ([]domain.Event, error) {
			events, err := ws.UpdateWebhook(cmd.Actor, cmd.WebhookID, domain.WebhookUpdate{URL: cmd.URL, SecretID: secretID, EventTypes: cmd.EventTypes}, now)
			if err != nil {
				return nil, err
			}
			if cmd.URL != nil {
				if err := h.rt.checkWebhookURL(*cmd.URL); err != nil {
					return nil, err
				}
			}
			if secretID != nil {
				if err := domain.ValidateWebhookSecret(*cmd.Secret); err != nil {
					return nil, err
				}
				if _, err := secrets.Put(ctx, ws.ID(), cmd.WebhookID, *secretID, *cmd.Secret); err != nil {
					return nil, err
				}
			}
			return events, nil
		},
	})
}
