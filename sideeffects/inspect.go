package sideeffects

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrNotFound: no delivery or email has that id.
	ErrNotFound = errors.New("sideeffects: not found")
	// ErrNotRetryable: the row is not a dead letter (nor a skipped email with an address), or its
	// webhook endpoint was removed.
	ErrNotRetryable = errors.New("sideeffects: not retryable")
)

// Inspector reads the outboxes and requeues dead letters; the CLI and the GraphQL layer use it.
type Inspector struct{ pool *pgxpool.Pool }

// NewInspector returns an inspector over pool.
func NewInspector(pool *pgxpool.Pool) (*Inspector, error) {
	if pool == nil {
		return nil, errors.New("sideeffects: nil pool")
	}
	return &Inspector{pool: pool}, nil
}

// Delivery is one webhook delivery: one event for one endpoint.
type Delivery struct {
	ID             int64      `json:"id"`
	WebhookID      uuid.UUID  `json:"webhook_id"`
	WorkspaceID    uuid.UUID  `json:"workspace_id"`
	URL            string     `json:"url"`
	EventID        uuid.UUID  `json:"event_id"`
	EventType      string     `json:"event_type"`
	EventPosition  int64      `json:"event_position"`
	Status         string     `json:"status"` // pending, delivering, delivered, dead, cancelled
	Attempts       int        `json:"attempts"`
	Requeues       int        `json:"requeues"`
	NextAttemptAt  time.Time  `json:"next_attempt_at"`
	LastAttemptAt  *time.Time `json:"last_attempt_at,omitempty"`
	LastStatusCode *int       `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	DeadAt         *time.Time `json:"dead_at,omitempty"`
}

// Email is one notification email.
type Email struct {
	ID              int64      `json:"id"`
	WorkspaceID     uuid.UUID  `json:"workspace_id"`
	EventID         uuid.UUID  `json:"event_id"`
	EventType       string     `json:"event_type"`
	Kind            string     `json:"kind"` // assigned, mentioned, commented
	RecipientUserID string     `json:"recipient_user_id"`
	RecipientEmail  string     `json:"recipient_email"`
	Subject         string     `json:"subject"`
	Status          string     `json:"status"` // pending, sending, sent, skipped, dead
	Attempts        int        `json:"attempts"`
	Requeues        int        `json:"requeues"`
	NextAttemptAt   time.Time  `json:"next_attempt_at"`
	LastAttemptAt   *time.Time `json:"last_attempt_at,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	SentAt          *time.Time `json:"sent_at,omitempty"`
	DeadAt          *time.Time `json:"dead_at,omitempty"`
}

// DeadLetter is a webhook delivery or an email that ran out of attempts.
type DeadLetter struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"` // webhook or email
	WorkspaceID uuid.UUID `json:"workspace_id"`
	EventID     uuid.UUID `json:"event_id"`
	EventType   string    `json:"event_type"`
	Target      string    `json:"target"` // the endpoint URL or the email address
	Attempts    int       `json:"attempts"`
	Requeues    int       `json:"requeues"`
	LastError   string    `json:"last_error"`
	CreatedAt   time.Time `json:"created_at"`
	DeadAt      time.Time `json:"dead_at"`
}

// Page selects rows newest first: at most Limit (default 50, at most 1000), with ids below BeforeID
// when it is set (keyset paging), and only Status when it is set.
type Page struct {
	Status   string
	Limit    int
	BeforeID int64
}

func (p Page) args() (string, int, int64) {
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	before := p.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	return p.Status, min(limit, 1000), before
}

// ListDeliveries returns a workspace's webhook deliveries, newest first.
func (i *Inspector) ListDeliveries(ctx context.Context, workspaceID uuid.UUID, p Page) ([]Delivery, error) {
	status, limit, before := p.args()
	// served by webhook_deliveries_workspace_idx
	rows, err := i.pool.Query(ctx, `SELECT d.id, d.webhook_id, d.workspace_id, w.url, d.event_id, d.event_type,
			d.event_position, d.status, d.attempts, d.requeues, d.next_attempt_at, d.last_attempt_at,
			d.last_status_code, coalesce(d.last_error, ''), d.created_at, d.delivered_at, d.dead_at
		FROM webhook_deliveries d JOIN webhook_endpoints w USING (webhook_id)
		WHERE d.workspace_id = $1 AND d.id < $2 AND ($3 = '' OR d.status = $3)
		ORDER BY d.id DESC LIMIT $4`, workspaceID, before, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.WebhookID, &d.WorkspaceID, &d.URL, &d.EventID, &d.EventType, &d.EventPosition,
			&d.Status, &d.Attempts, &d.Requeues, &d.NextAttemptAt, &d.LastAttemptAt, &d.LastStatusCode,
			&d.LastError, &d.CreatedAt, &d.DeliveredAt, &d.DeadAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// ListEmails returns a workspace's notification emails, newest first.
func (i *Inspector) ListEmails(ctx context.Context, workspaceID uuid.UUID, p Page) ([]Email, error) {
	status, limit, before := p.args()
	// served by email_outbox_workspace_idx
	rows, err := i.pool.Query(ctx, `SELECT id, workspace_id, event_id, event_type, kind, recipient_user_id,
			recipient_email, subject, status, attempts, requeues, next_attempt_at, last_attempt_at,
			coalesce(last_error, ''), created_at, sent_at, dead_at
		FROM email_outbox
		WHERE workspace_id = $1 AND id < $2 AND ($3 = '' OR status = $3)
		ORDER BY id DESC LIMIT $4`, workspaceID, before, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list emails: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Email, error) {
		var e Email
		err := r.Scan(&e.ID, &e.WorkspaceID, &e.EventID, &e.EventType, &e.Kind, &e.RecipientUserID,
			&e.RecipientEmail, &e.Subject, &e.Status, &e.Attempts, &e.Requeues, &e.NextAttemptAt,
			&e.LastAttemptAt, &e.LastError, &e.CreatedAt, &e.SentAt, &e.DeadAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list emails: %w", err)
	}
	return out, nil
}

// ListDeadLetters returns dead webhook deliveries and emails of every workspace, newest first
// (Page.Status is ignored).
func (i *Inspector) ListDeadLetters(ctx context.Context, p Page) ([]DeadLetter, error) {
	_, limit, before := p.args()
	// each branch served by its table's *_dead_idx
	rows, err := i.pool.Query(ctx, `SELECT * FROM (
			(SELECT d.id, 'webhook' AS kind, d.workspace_id, d.event_id, d.event_type, w.url AS target,
				d.attempts, d.requeues, coalesce(d.last_error, ''), d.created_at, d.dead_at
			 FROM webhook_deliveries d JOIN webhook_endpoints w USING (webhook_id)
			 WHERE d.status = 'dead' AND d.id < $1 ORDER BY d.id DESC LIMIT $2)
			UNION ALL
			(SELECT id, 'email', workspace_id, event_id, event_type, recipient_email, attempts, requeues,
				coalesce(last_error, ''), created_at, dead_at
			 FROM email_outbox WHERE status = 'dead' AND id < $1 ORDER BY id DESC LIMIT $2)
		) dead ORDER BY id DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
		err := r.Scan(&d.ID, &d.Kind, &d.WorkspaceID, &d.EventID, &d.EventType, &d.Target, &d.Attempts,
			&d.Requeues, &d.LastError, &d.CreatedAt, &d.DeadAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// requeueWebhookSQL puts dead deliveries back for an immediate attempt, with a fresh allowance of
// attempts, unless their endpoint was removed. $1 is an id, or NULL for every dead letter.
const requeueWebhookSQL = `UPDATE webhook_deliveries d
	SET status = 'pending', attempts = 0, requeues = d.requeues + 1, next_attempt_at = now(), dead_at = NULL
	FROM webhook_endpoints w
	WHERE d.status = 'dead' AND ($1::bigint IS NULL OR d.id = $1)
	  AND w.webhook_id = d.webhook_id AND w.removed_at IS NULL`

// requeueEmailSQL does the same for emails; a single id may also name a skipped email that has
// an address (sent once SMTP is configured).
const requeueEmailSQL = `UPDATE email_outbox
	SET status = 'pending', attempts = 0, requeues = requeues + 1, next_attempt_at = now(), dead_at = NULL
	WHERE ($1::bigint IS NULL AND status = 'dead')
	   OR (id = $1 AND (status = 'dead' OR (status = 'skipped' AND recipient_email <> '')))`

// Retry requeues one dead letter (or skipped email) for immediate delivery.
func (i *Inspector) Retry(ctx context.Context, id int64) error {
	for _, sql := range []string{requeueWebhookSQL, requeueEmailSQL} {
		tag, err := i.pool.Exec(ctx, sql, id)
		if err != nil {
			return fmt.Errorf("retry %d: %w", id, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	// Say why not.
	var status string
	err := i.pool.QueryRow(ctx, `SELECT status FROM webhook_deliveries WHERE id = $1
		UNION ALL SELECT status FROM email_outbox WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("retry %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("retry %d: %w", id, err)
	}
	if status == "dead" {
		return fmt.Errorf("retry %d: its webhook endpoint was removed: %w", id, ErrNotRetryable)
	}
	return fmt.Errorf("retry %d: status is %s: %w", id, status, ErrNotRetryable)
}

// RetryAll requeues every dead letter and returns how many.
func (i *Inspector) RetryAll(ctx context.Context) (int, error) {
	total := 0
	for _, sql := range []string{requeueWebhookSQL, requeueEmailSQL} {
		tag, err := i.pool.Exec(ctx, sql, nil)
		if err != nil {
			return total, fmt.Errorf("retry all: %w", err)
		}
		total += int(tag.RowsAffected())
	}
	return total, nil
}

// ConsumerStatus is where the side-effect consumer stands in the global log.
type ConsumerStatus struct {
	TransactionID uint64    `json:"transaction_id"`
	Position      int64     `json:"position"`
	DeliverFrom   time.Time `json:"deliver_from"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastError     string    `json:"last_error,omitempty"`
}

// Consumer returns the consumer's checkpoint, or ErrNotFound before its first start.
func (i *Inspector) Consumer(ctx context.Context) (ConsumerStatus, error) {
	var s ConsumerStatus
	var tx int64
	err := i.pool.QueryRow(ctx, `SELECT transaction_id, position, deliver_from, updated_at, coalesce(last_error, '')
		FROM side_effect_consumers WHERE name = $1`, ConsumerName).Scan(&tx, &s.Position, &s.DeliverFrom, &s.UpdatedAt, &s.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("consumer status: %w", err)
	}
	s.TransactionID = uint64(tx)
	return s, nil
}
