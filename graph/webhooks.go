package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
)

// webhookResult is the payload of registerWebhook and rotateWebhookSecret: the only place the API
// shows a signing secret, once, to the admin who set it.
func webhookResult(res commands.WebhookResult) *model.WebhookResult {
	out := &model.WebhookResult{ID: res.ID.String(), Version: int(res.Version),
		ConsistencyToken: ConsistencyToken(res.Result), WebhookID: res.WebhookID.String(),
		Written: written(model.AggregateWorkspace, res.Result)}
	if res.Secret != "" {
		out.Secret = &res.Secret
	}
	return out
}

// webhookModels lists webhooks for their admins, each secret masked. A secret that cannot be read
// (another key, a legacy secret missing from the log) shows as null rather than failing the list:
// the admin then knows to rotate it.
func (r *Resolver) webhookModels(ctx context.Context, ws uuid.UUID, hooks []domain.Webhook) []*model.Webhook {
	out := make([]*model.Webhook, 0, len(hooks))
	for _, h := range hooks {
		m := &model.Webhook{ID: h.ID.String(), URL: h.URL, EventTypes: h.EventTypes, SecretID: h.SecretID.String(),
			SecretExposed: h.SecretID == domain.LegacyWebhookSecretID(h.ID)}
		if m.EventTypes == nil {
			m.EventTypes = []string{}
		}
		if r.WebhookSecrets != nil {
			if secret, err := r.WebhookSecrets.Get(ctx, ws, h.ID, h.SecretID); err == nil {
				mask := webhooksecrets.Mask(secret)
				m.SecretMask = &mask
			}
		}
		out = append(out, m)
	}
	return out
}
