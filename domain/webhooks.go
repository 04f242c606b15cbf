package domain

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Webhook limits.
const (
	MaxWebhooks      = 20
	MinWebhookSecret = 16
	MaxWebhookSecret = 256
	MaxWebhookURLLen = 2048
)

// WebhookRegistered records a webhook endpoint. Since schema version 2 it
// names its signing secret by SecretID, a row of the encrypted secret table
// (see internal/webhooksecrets): the log is immutable and readable by every
// member, so a secret must never be written to it. Version 1 held the secret
// in clear; UpcastWebhookV1 removes it on every read. The URL may carry a
// token (a query string, a path such as Slack's): show it only via Redacted.
type WebhookRegistered struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	URL         string    `json:"url"`
	SecretID    uuid.UUID `json:"secret_id"`
	EventTypes  []string  `json:"event_types"` // empty: every deliverable type
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

// WebhookUpdated carries the webhook's whole new configuration, the id of
// its current secret included (version 1: the secret itself, see
// WebhookRegistered): show it only via Redacted.
type WebhookUpdated struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	URL         string    `json:"url"`
	SecretID    uuid.UUID `json:"secret_id"`
	EventTypes  []string  `json:"event_types"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

// WebhookSecretRotated records that a webhook signs with a new secret, named
// by SecretID; the secret itself lives only in the encrypted table.
type WebhookSecretRotated struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	SecretID    uuid.UUID `json:"secret_id"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type WebhookRemoved struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

func (WebhookRegistered) EventType() string { return EventWebhookRegistered }

func (WebhookUpdated) EventType() string { return EventWebhookUpdated }

func (WebhookRemoved) EventType() string { return EventWebhookRemoved }

func (WebhookSecretRotated) EventType() string { return EventWebhookSecretRotated }

func (e WebhookRegistered) Redacted() Event {
	e.URL = RedactWebhookURL(e.URL)
	e.EventTypes = slices.Clone(e.EventTypes)
	return e
}

func (e WebhookUpdated) Redacted() Event {
	e.URL = RedactWebhookURL(e.URL)
	e.EventTypes = slices.Clone(e.EventTypes)
	return e
}

// Webhook is an endpoint as the aggregate knows it: its secret only by id.
type Webhook struct {
	ID         uuid.UUID `json:"id"`
	URL        string    `json:"url"`
	SecretID   uuid.UUID `json:"secret_id"`
	EventTypes []string  `json:"event_types"`
}

// WebhookUpdate lists the webhook settings to change; nil fields stay as
// they are. An empty EventTypes list means every deliverable event type.
// SecretID names a secret the command has already stored (encrypted).
type WebhookUpdate struct {
	URL        *string
	SecretID   *uuid.UUID
	EventTypes *[]string
}

// RegisterWebhook adds a webhook endpoint (admin+). eventTypes filters the
// events delivered; empty means all of WebhookEventTypes.
// secretID names the signing secret, which the command stores encrypted
// outside the log (after ValidateWebhookSecret).
func (w *Workspace) RegisterWebhook(actor Actor, webhookID uuid.UUID, endpoint string, secretID uuid.UUID, eventTypes []string, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	if webhookID == uuid.Nil {
		return nil, InvalidInput("webhook_id", "must not be empty")
	}
	if secretID == uuid.Nil {
		return nil, InvalidInput("secret_id", "must not be empty")
	}
	hook, err := cleanWebhook(Webhook{ID: webhookID, URL: endpoint, SecretID: secretID, EventTypes: eventTypes})
	if err != nil {
		return nil, err
	}
	if _, exists := w.state.Webhooks[webhookID]; exists {
		return nil, Conflict("this webhook id is already used")
	}
	if len(w.state.Webhooks) >= MaxWebhooks {
		return nil, PreconditionFailed(fmt.Sprintf("a workspace can have at most %d webhooks", MaxWebhooks))
	}
	return []Event{WebhookRegistered{
		WorkspaceID: w.state.ID, WebhookID: webhookID, URL: hook.URL, SecretID: hook.SecretID,
		EventTypes: hook.EventTypes, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// UpdateWebhook changes a webhook's settings (admin+). An update that changes
// nothing records nothing.
func (w *Workspace) UpdateWebhook(actor Actor, webhookID uuid.UUID, update WebhookUpdate, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	current, ok := w.state.Webhooks[webhookID]
	if !ok {
		return nil, NotFound("webhook not found")
	}
	next := current
	if update.URL != nil {
		next.URL = *update.URL
	}
	if update.SecretID != nil {
		if *update.SecretID == uuid.Nil {
			return nil, InvalidInput("secret_id", "must not be empty")
		}
		next.SecretID = *update.SecretID
	}
	if update.EventTypes != nil {
		next.EventTypes = *update.EventTypes
	}
	next, err := cleanWebhook(next)
	if err != nil {
		return nil, err
	}
	if next.URL == current.URL && next.SecretID == current.SecretID && slices.Equal(next.EventTypes, current.EventTypes) {
		return nil, nil
	}
	return []Event{WebhookUpdated{
		WorkspaceID: w.state.ID, WebhookID: webhookID, URL: next.URL, SecretID: next.SecretID,
		EventTypes: next.EventTypes, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// RotateWebhookSecret makes a webhook sign with the secret named secretID
// (admin+), which the command has stored encrypted beforehand.
func (w *Workspace) RotateWebhookSecret(actor Actor, webhookID, secretID uuid.UUID, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	current, ok := w.state.Webhooks[webhookID]
	if !ok {
		return nil, NotFound("webhook not found")
	}
	if secretID == uuid.Nil {
		return nil, InvalidInput("secret_id", "must not be empty")
	}
	if secretID == current.SecretID {
		return nil, nil
	}
	return []Event{WebhookSecretRotated{WorkspaceID: w.state.ID, WebhookID: webhookID, SecretID: secretID, By: actor.UserID, At: now.UTC()}}, nil
}

// RemoveWebhook deletes a webhook endpoint (admin+).
func (w *Workspace) RemoveWebhook(actor Actor, webhookID uuid.UUID, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	if _, ok := w.state.Webhooks[webhookID]; !ok {
		return nil, NotFound("webhook not found")
	}
	return []Event{WebhookRemoved{WorkspaceID: w.state.ID, WebhookID: webhookID, By: actor.UserID, At: now.UTC()}}, nil
}

// cleanWebhook validates a webhook's settings and normalizes its event-type
// filter (deduplicated, sorted, never nil so that it encodes as []).
func cleanWebhook(h Webhook) (Webhook, error) {
	if len(h.URL) > MaxWebhookURLLen+maxPadding {
		return Webhook{}, InvalidInput("url", fmt.Sprintf("must be at most %d bytes", MaxWebhookURLLen))
	}
	endpoint := strings.TrimSpace(h.URL)
	u, err := url.Parse(endpoint)
	switch {
	case err != nil || len(endpoint) > MaxWebhookURLLen || !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return Webhook{}, InvalidInput("url", "must be an absolute http or https URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return Webhook{}, InvalidInput("url", "must be an absolute http or https URL")
	case u.User != nil:
		// Credentials in a URL end up in logs; use the signing secret.
		return Webhook{}, InvalidInput("url", "must not contain credentials")
	}
	types := make([]string, 0, len(h.EventTypes))
	for _, t := range h.EventTypes {
		t = strings.TrimSpace(t)
		if !isWebhookEventType(t) {
			return Webhook{}, InvalidInput("event_types", quote(t)+" is not an event type a webhook can receive")
		}
		types = append(types, t)
	}
	slices.Sort(types)
	return Webhook{ID: h.ID, URL: endpoint, SecretID: h.SecretID, EventTypes: slices.Compact(types)}, nil
}

// ValidateWebhookSecret checks a signing secret chosen by an admin before
// the command stores it.
func ValidateWebhookSecret(secret string) error {
	if len(secret) > MaxWebhookSecret*utf8.UTFMax { // bounded in bytes before any scan
		return InvalidInput("secret", fmt.Sprintf("must be at most %d characters", MaxWebhookSecret))
	}
	n := utf8.RuneCountInString(secret)
	switch {
	case !utf8.ValidString(secret) || strings.ContainsFunc(secret, unicode.IsControl):
		return InvalidInput("secret", "must be printable text")
	case n < MinWebhookSecret:
		return InvalidInput("secret", fmt.Sprintf("must be at least %d characters", MinWebhookSecret))
	case n > MaxWebhookSecret:
		return InvalidInput("secret", fmt.Sprintf("must be at most %d characters", MaxWebhookSecret))
	}
	return nil
}

func (w *Workspace) Webhook(id uuid.UUID) (Webhook, bool) {
	h, ok := w.state.Webhooks[id]
	h.EventTypes = slices.Clone(h.EventTypes)
	return h, ok
}

// Webhooks returns the webhook endpoints sorted by id.
func (w *Workspace) Webhooks() []Webhook {
	out := make([]Webhook, 0, len(w.state.Webhooks))
	for _, h := range w.state.Webhooks {
		h.EventTypes = slices.Clone(h.EventTypes)
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Webhook) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return out
}
