package sideeffects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// enqueuer is the consumer stage: inside watermillSource's transaction it folds events into the
// module's state (endpoints, users, tasks) and inserts the outbox rows they call for. It does no
// I/O besides those statements, so the transaction stays short.
type enqueuer struct {
	reg          *domain.Registry
	deliverFrom  time.Time // events recorded earlier only feed the state
	emailEnabled bool
	links        emailLinks
	webhookTypes map[string]bool
	metrics      *Metrics
}

func newEnqueuer(reg *domain.Registry, deliverFrom time.Time, emailEnabled bool, links emailLinks, m *Metrics) *enqueuer {
	types := map[string]bool{}
	for _, t := range domain.WebhookEventTypes() {
		types[t] = true
	}
	return &enqueuer{reg: reg, deliverFrom: deliverFrom, emailEnabled: emailEnabled, links: links, webhookTypes: types, metrics: m}
}

func (e *enqueuer) apply(ctx context.Context, tx pgx.Tx, events []eventstore.RecordedEvent) error {
	for _, ev := range events {
		if err := e.applyOne(ctx, tx, ev); err != nil {
			return fmt.Errorf("side effects of event %s (%s, position %d): %w", ev.ID, ev.Type, ev.Position, err)
		}
	}
	return nil
}

func (e *enqueuer) applyOne(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	evt, err := e.reg.Decode(ev.Type, ev.SchemaVersion, ev.Data)
	if errors.Is(err, domain.ErrUnknownEventType) {
		return nil // written by a newer version of the service: nothing here reacts to it
	}
	if err != nil {
		return err
	}
	// State first, so that an event's own effect on it counts (a task created assigned).
	if err := e.fold(ctx, tx, ev, evt); err != nil {
		return err
	}
	if ev.RecordedAt.Before(e.deliverFrom) {
		return nil
	}
	if e.webhookTypes[ev.Type] && ev.Metadata.WorkspaceID != uuid.Nil {
		if err := e.enqueueWebhooks(ctx, tx, ev, evt); err != nil {
			return err
		}
	}
	return e.enqueueEmails(ctx, tx, ev, evt)
}

// fold keeps the module's own state. Each statement sets every field it owns (creations upsert
// rather than skip), so re-reading the log from the start rebuilds, event by event, the state each
// event saw the first time, and the outbox rows derived from it come out the same (and conflict).
func (e *enqueuer) fold(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent, evt domain.Event) error {
	var sql string
	var args []any
	switch x := evt.(type) {
	case domain.UserRegistered:
		sql, args = upsertProfileSQL, []any{string(x.UserID), x.Email, x.DisplayName}
	case domain.UserProfileUpdated:
		sql, args = upsertProfileSQL, []any{string(x.UserID), x.Email, x.DisplayName}
	case domain.WorkspaceMemberJoined:
		// A copy from the member's token; the user's own events win.
		sql = `INSERT INTO side_effect_users (user_id, email, display_name) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name
			WHERE NOT side_effect_users.from_profile`
		args = []any{string(x.UserID), x.Email, x.DisplayName}
	case domain.WorkspaceCreated:
		sql = `INSERT INTO side_effect_workspaces (workspace_id, name) VALUES ($1, $2)
			ON CONFLICT (workspace_id) DO UPDATE SET name = EXCLUDED.name`
		args = []any{x.WorkspaceID, x.Name}
	case domain.WorkspaceRenamed:
		sql, args = `UPDATE side_effect_workspaces SET name = $2 WHERE workspace_id = $1`, []any{x.WorkspaceID, x.Name}
	case domain.WebhookRegistered:
		// The secret itself stays in webhook_secrets: the signer reads it at delivery time.
		sql = `INSERT INTO webhook_endpoints (webhook_id, workspace_id, url, secret_id, event_types, registered_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (webhook_id) DO UPDATE SET url = EXCLUDED.url,
				secret_id = EXCLUDED.secret_id, event_types = EXCLUDED.event_types, registered_at = EXCLUDED.registered_at,
				updated_at = EXCLUDED.updated_at, removed_at = NULL`
		args = []any{x.WebhookID, x.WorkspaceID, x.URL, x.SecretID, nonNil(x.EventTypes), x.At}
	case domain.WebhookUpdated:
		sql = `UPDATE webhook_endpoints SET url = $2, secret_id = $3, event_types = $4, updated_at = $5 WHERE webhook_id = $1`
		args = []any{x.WebhookID, x.URL, x.SecretID, nonNil(x.EventTypes), x.At}
	case domain.WebhookSecretRotated:
		sql, args = `UPDATE webhook_endpoints SET secret_id = $2, updated_at = $3 WHERE webhook_id = $1`, []any{x.WebhookID, x.SecretID, x.At}
	case domain.WebhookRemoved:
		// Deliveries not yet started are cancelled; one in flight finishes.
		sql = `WITH removed AS (UPDATE webhook_endpoints SET removed_at = $2 WHERE webhook_id = $1 RETURNING webhook_id)
			UPDATE webhook_deliveries d SET status = 'cancelled', last_error = 'endpoint removed'
			FROM removed WHERE d.webhook_id = removed.webhook_id AND d.status = 'pending'`
		args = []any{x.WebhookID, x.At}
	case domain.TaskCreated:
		sql = `INSERT INTO side_effect_tasks (task_id, workspace_id, key, title, assignee)
			VALUES ($1, $2, $3, $4, NULLIF($5, '')) ON CONFLICT (task_id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id,
				key = EXCLUDED.key, title = EXCLUDED.title, assignee = EXCLUDED.assignee`
		args = []any{x.TaskID, x.WorkspaceID, x.Key, x.Title, string(x.Assignee)}
	case domain.TaskTitleChanged:
		sql, args = `UPDATE side_effect_tasks SET title = $2 WHERE task_id = $1`, []any{x.TaskID, x.Title}
	case domain.TaskAssigned:
		sql, args = `UPDATE side_effect_tasks SET assignee = $2 WHERE task_id = $1`, []any{x.TaskID, string(x.Assignee)}
	case domain.TaskUnassigned:
		sql, args = `UPDATE side_effect_tasks SET assignee = NULL WHERE task_id = $1`, []any{x.TaskID}
	default:
		return nil
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("fold %s: %w", ev.Type, err)
	}
	return nil
}

const upsertProfileSQL = `INSERT INTO side_effect_users (user_id, email, display_name, from_profile) VALUES ($1, $2, $3, true)
	ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name, from_profile = true`

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WebhookPayload is the JSON body POSTed to endpoints.
type WebhookPayload struct {
	ID            uuid.UUID       `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	Position      int64           `json:"position"`
	OccurredAt    time.Time       `json:"occurred_at"`
	WorkspaceID   uuid.UUID       `json:"workspace_id"`
	Actor         string          `json:"actor,omitempty"`
	Data          json.RawMessage `json:"data"`
}

func (e *enqueuer) enqueueWebhooks(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent, evt domain.Event) error {
	data := ev.Data
	if r, ok := evt.(domain.Redactable); ok { // never sign and send a secret
		b, err := json.Marshal(r.Redacted())
		if err != nil {
			return fmt.Errorf("redact: %w", err)
		}
		data = b
	}
	body, err := json.Marshal(WebhookPayload{
		ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, StreamID: ev.StreamID,
		StreamVersion: ev.StreamVersion, Position: ev.Position, OccurredAt: ev.RecordedAt,
		WorkspaceID: ev.Metadata.WorkspaceID, Actor: ev.Metadata.Actor, Data: data,
	})
	if err != nil {
		return fmt.Errorf("webhook payload: %w", err)
	}
	// endpoints served by webhook_endpoints_workspace_idx; duplicates by webhook_deliveries_once
	tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries
			(webhook_id, workspace_id, event_id, event_type, event_position, payload, status)
		SELECT w.webhook_id, w.workspace_id, $2, $3, $4, $5, 'pending' FROM webhook_endpoints w
		WHERE w.workspace_id = $1 AND w.removed_at IS NULL
		  AND (cardinality(w.event_types) = 0 OR $3 = ANY (w.event_types))
		ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING`,
		ev.Metadata.WorkspaceID, ev.ID, ev.Type, ev.Position, string(body))
	if err != nil {
		return fmt.Errorf("enqueue webhooks: %w", err)
	}
	e.metrics.enqueued(kindWebhook, int(tag.RowsAffected()))
	return nil
}

// Email kinds, stored in email_outbox.kind: the wire values of domain's rule.
const (
	EmailAssigned  = domain.NotifyAssigned
	EmailMentioned = domain.NotifyMentioned
	EmailCommented = domain.NotifyCommented // a comment on a task assigned to you
)

// enqueueEmails mails the notices of domain.PlanNotifications that have the email channel, to
// recipients who did not turn that kind of email off, and invitations.
func (e *enqueuer) enqueueEmails(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent, evt domain.Event) error {
	if inv, ok := evt.(domain.WorkspaceMemberInvited); ok {
		return e.enqueueInvitation(ctx, tx, ev, inv)
	}
	plan := domain.PlanNotifications(evt)
	if len(plan.Notices) == 0 {
		return nil
	}
	var comment string
	switch x := evt.(type) {
	case domain.TaskCommentAdded:
		comment = x.Body
	case domain.TaskCommentEdited:
		comment = x.Body
	}
	by := plan.Actor
	task := taskInfo{ID: plan.TaskID, WorkspaceID: ev.Metadata.WorkspaceID}
	// served by side_effect_tasks_pkey
	err := tx.QueryRow(ctx, `SELECT workspace_id, key, title, coalesce(assignee, '') FROM side_effect_tasks WHERE task_id = $1`,
		plan.TaskID).Scan(&task.WorkspaceID, &task.Key, &task.Title, &task.Assignee)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("task for email: %w", err)
	}
	// side_effect_tasks keeps no creator: by the rule a task's creator is never mailed as its
	// creator (only when mentioned or assigned, which the plan names), and the creator's notice
	// comes last, so leaving it unresolved changes no one else's.
	var notices []domain.Notice
	for _, n := range plan.Resolve(domain.NotifyContext{Assignee: domain.UserID(task.Assignee)}) {
		if n.Channels.Has(domain.ChannelEmail) {
			notices = append(notices, n)
		}
	}
	if len(notices) == 0 {
		return nil
	}
	ids := []string{string(by)}
	for _, n := range notices {
		ids = append(ids, string(n.User))
	}
	people, err := lookupUsers(ctx, tx, ids)
	if err != nil {
		return err
	}
	actor := people[string(by)].DisplayName
	if actor == "" {
		actor = string(by)
	}
	for _, n := range notices {
		to := people[string(n.User)]
		if slices.Contains(to.EmailOff, n.Kind) {
			continue // the recipient turned this kind of email off (notificationPreferences, unsubscribe)
		}
		links := mailLinks{task: e.links.task(task.WorkspaceID, task.Key), unsubscribe: e.links.unsubscribe(string(n.User), n.Kind),
			unsubscribeAll: e.links.unsubscribe(string(n.User), UnsubscribeAll)}
		subject, body := composeEmail(n.Kind, actor, to.DisplayName, task, comment, links)
		status, reason := "pending", ""
		switch {
		case to.Email == "":
			status, reason = "skipped", "no email address known for the recipient"
		case !e.emailEnabled:
			status, reason = "skipped", "email is not configured (SMTP_ADDR)"
		}
		// duplicates by email_outbox_once
		tag, err := tx.Exec(ctx, `INSERT INTO email_outbox (workspace_id, event_id, event_type, kind,
				recipient_user_id, recipient_email, subject, body, status, last_error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''))
			ON CONFLICT ON CONSTRAINT email_outbox_once DO NOTHING`,
			task.WorkspaceID, ev.ID, ev.Type, n.Kind, string(n.User), to.Email, subject, body, status, reason)
		if err != nil {
			return fmt.Errorf("enqueue email: %w", err)
		}
		if status == "skipped" {
			e.metrics.outcome(kindEmail, "skipped", int(tag.RowsAffected()))
		} else {
			e.metrics.enqueued(kindEmail, int(tag.RowsAffected()))
		}
	}
	return nil
}

type taskInfo struct {
	ID          uuid.UUID
	WorkspaceID uuid.UUID
	Key, Title  string
	Assignee    string
}

type person struct {
	Email, DisplayName string
	EmailOff           []string // the kinds of notification email the user turned off
}

func lookupUsers(ctx context.Context, tx pgx.Tx, ids []string) (map[string]person, error) {
	// served by side_effect_users_pkey, and notification_preferences_pkey per user
	rows, err := tx.Query(ctx, `SELECT u.user_id, u.email, u.display_name,
			ARRAY(SELECT p.kind FROM notification_preferences p WHERE p.user_id = u.user_id AND NOT p.email)
		FROM side_effect_users u WHERE u.user_id = ANY ($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("users for email: %w", err)
	}
	out := map[string]person{}
	var id string
	var p person
	_, err = pgx.ForEachRow(rows, []any{&id, &p.Email, &p.DisplayName, &p.EmailOff}, func() error {
		out[id] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("users for email: %w", err)
	}
	return out, nil
}

// mailLinks are a notification email's links; empty ones are left out.
type mailLinks struct{ task, unsubscribe, unsubscribeAll string }

// composeEmail writes a notification's subject and plain-text body.
func composeEmail(kind, actor, name string, task taskInfo, comment string, links mailLinks) (subject, body string) {
	ref := task.Key
	if task.Title != "" {
		ref += ": " + task.Title
	}
	if ref == "" {
		ref = "a task"
	}
	greeting := "Hi,"
	if name != "" {
		greeting = "Hi " + name + ","
	}
	var b strings.Builder
	b.WriteString(greeting + "\n\n")
	switch kind {
	case EmailAssigned:
		subject = fmt.Sprintf("%s assigned you %s", actor, ref)
		fmt.Fprintf(&b, "%s assigned you %s.\n", actor, ref)
	case EmailMentioned:
		subject = fmt.Sprintf("%s mentioned you on %s", actor, ref)
		fmt.Fprintf(&b, "%s mentioned you in a comment on %s:\n\n%s\n", actor, ref, quote(comment))
	case EmailCommented:
		subject = fmt.Sprintf("%s commented on %s", actor, ref)
		fmt.Fprintf(&b, "%s commented on %s, which is assigned to you:\n\n%s\n", actor, ref, quote(comment))
	}
	if links.task != "" {
		fmt.Fprintf(&b, "\nOpen %s: %s\n", task.Key, links.task)
	}
	b.WriteString("\n-- \nTaskforge\n")
	if links.unsubscribe != "" {
		fmt.Fprintf(&b, "Stop these emails (%s): %s\n", kind, links.unsubscribe)
	}
	if links.unsubscribeAll != "" {
		fmt.Fprintf(&b, "Stop all notification emails: %s\n", links.unsubscribeAll)
	}
	return "[Taskforge] " + truncate(subject, 200), b.String()
}

func quote(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}

// enqueueInvitation mails an invitation to its address, with the accept link when APP_URL is set.
// The address is no user yet: the row's recipient is empty, and no preference or unsubscribe
// applies (one email per invitation, sent by a workspace admin's decision).
func (e *enqueuer) enqueueInvitation(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent, inv domain.WorkspaceMemberInvited) error {
	var workspace, inviter string
	// served by side_effect_workspaces_pkey and side_effect_users_pkey
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT name FROM side_effect_workspaces WHERE workspace_id = $1), ''),
			coalesce((SELECT display_name FROM side_effect_users WHERE user_id = $2), '')`,
		inv.WorkspaceID, string(inv.By)).Scan(&workspace, &inviter)
	if err != nil {
		return fmt.Errorf("invitation email: %w", err)
	}
	if inviter == "" {
		inviter = string(inv.By)
	}
	subject, body := composeInvitation(inviter, workspace, inv, e.links.invitation(inv.WorkspaceID, inv.InvitationID))
	status, reason := "pending", ""
	if !e.emailEnabled {
		status, reason = "skipped", "email is not configured (SMTP_ADDR)"
	}
	// duplicates by email_outbox_once
	tag, err := tx.Exec(ctx, `INSERT INTO email_outbox (workspace_id, event_id, event_type, kind,
			recipient_user_id, recipient_email, subject, body, status, last_error)
		VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, NULLIF($9, ''))
		ON CONFLICT ON CONSTRAINT email_outbox_once DO NOTHING`,
		inv.WorkspaceID, ev.ID, ev.Type, EmailKindInvited, inv.Email, subject, body, status, reason)
	if err != nil {
		return fmt.Errorf("enqueue invitation email: %w", err)
	}
	if status == "skipped" {
		e.metrics.outcome(kindEmail, "skipped", int(tag.RowsAffected()))
	} else {
		e.metrics.enqueued(kindEmail, int(tag.RowsAffected()))
	}
	return nil
}

// composeInvitation writes an invitation's subject and plain-text body.
func composeInvitation(inviter, workspace string, inv domain.WorkspaceMemberInvited, link string) (subject, body string) {
	where := "a workspace"
	if workspace != "" {
		where = "the workspace " + workspace
	}
	var b strings.Builder
	b.WriteString("Hi,\n\n")
	fmt.Fprintf(&b, "%s invited you to join %s on Taskforge as %s.\n", inviter, where, inv.Role)
	if link != "" {
		fmt.Fprintf(&b, "\nAccept the invitation: %s\n", link)
	}
	fmt.Fprintf(&b, "\nThe invitation expires on %s. Sign in with this address (%s) to accept it.\n",
		domain.InvitationExpiresAt(inv.At).Format("2 January 2006 at 15:04 MST"), inv.Email)
	b.WriteString("\n-- \nTaskforge\n")
	if workspace == "" {
		return "[Taskforge] " + truncate(inviter+" invited you to a workspace", 200), b.String()
	}
	return "[Taskforge] " + truncate(fmt.Sprintf("%s invited you to %s", inviter, workspace), 200), b.String()
}
