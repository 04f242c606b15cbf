package sideeffects

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/internal/cursor"
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
	Kind            string     `json:"kind"` // assigned, mentioned, commented, invited
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
	ID          DeadLetterID `json:"id"`   // "webhook-5", "email-7"
	Kind        string       `json:"kind"` // webhook or email
	WorkspaceID uuid.UUID    `json:"workspace_id"`
	EventID     uuid.UUID    `json:"event_id"`
	EventType   string       `json:"event_type"`
	Target      string       `json:"target"` // the endpoint URL or the email address
	Attempts    int          `json:"attempts"`
	Requeues    int          `json:"requeues"`
	LastError   string       `json:"last_error"`
	CreatedAt   time.Time    `json:"created_at"`
	DeadAt      time.Time    `json:"dead_at"`
}

// Dead-letter kinds: the outbox a dead letter is a row of.
const (
	KindWebhook = "webhook"
	KindEmail   = "email"
)

// DeadLetterID names a dead letter (or any outbox row) for operators and the API alike: its kind
// and its row id, printed "webhook-5" or "email-7". The CLI prints and accepts it, the API prints
// it; ParseDeadLetterID is the only parser.
type DeadLetterID struct {
	Kind string // KindWebhook or KindEmail
	Row  int64  // webhook_deliveries.id or email_outbox.id
}

func (id DeadLetterID) String() string { return id.Kind + "-" + strconv.FormatInt(id.Row, 10) }

// MarshalText prints id as String does (JSON output of the CLI).
func (id DeadLetterID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// ErrBadID: not "webhook-N" or "email-N" with N a positive integer.
var ErrBadID = errors.New(`sideeffects: not a dead-letter id (want "webhook-N" or "email-N")`)

// ParseDeadLetterID parses what DeadLetterID.String prints.
func ParseDeadLetterID(s string) (DeadLetterID, error) {
	kind, n, ok := strings.Cut(s, "-")
	if !ok || (kind != KindWebhook && kind != KindEmail) {
		return DeadLetterID{}, fmt.Errorf("%q: %w", s, ErrBadID)
	}
	row, err := strconv.ParseInt(n, 10, 64)
	if err != nil || row <= 0 || strconv.FormatInt(row, 10) != n { // one spelling per id: no "+5", "05"
		return DeadLetterID{}, fmt.Errorf("%q: %w", s, ErrBadID)
	}
	return DeadLetterID{Kind: kind, Row: row}, nil
}

// DeadLetterCursor is a position in the dead-letter list: the dead letter it names. Clients see it
// as an opaque string (DeadLetter.Cursor, internal/cursor); the zero value is the list's start.
type DeadLetterCursor struct{ at DeadLetterID }

// Cursor is d's place in the list: the next page starts just after it.
func (d DeadLetter) Cursor() string {
	return cursor.New(cursor.DeadLetter).String(d.ID.Kind).Int64(d.ID.Row).Encode()
}

// ErrBadCursor: not a cursor DeadLetter.Cursor made.
var ErrBadCursor = errors.New("sideeffects: not a dead-letter cursor")

// ParseDeadLetterCursor parses DeadLetter.Cursor's output; "" is the list's start.
func ParseDeadLetterCursor(s string) (DeadLetterCursor, error) {
	if s == "" {
		return DeadLetterCursor{}, nil
	}
	r, ok := cursor.Open(s, cursor.DeadLetter)
	if !ok {
		return DeadLetterCursor{}, ErrBadCursor
	}
	id := DeadLetterID{Kind: r.String(), Row: r.Int64()}
	if !r.Done() || (id.Kind != KindWebhook && id.Kind != KindEmail) || id.Row <= 0 {
		return DeadLetterCursor{}, ErrBadCursor
	}
	return DeadLetterCursor{at: id}, nil
}

// String is the cursor as DeadLetter.Cursor printed it ("" for the start).
func (c DeadLetterCursor) String() string {
	if c.at.Row == 0 {
		return ""
	}
	return DeadLetter{ID: c.at}.Cursor()
}

// The list is ordered by id, then kind, descending ("webhook" > "email"): after webhook-7 comes
// email-7 (were the two sequences ever to give one id twice; they share side_effect_ids), after
// email-7 only ids below 7. rank is a dead letter's place in it as a number: the list is by rank,
// descending.
func (c DeadLetterCursor) rank() int64 {
	r := 2 * c.at.Row
	if c.at.Kind == KindWebhook {
		r++
	}
	return r
}

// bounds turns the cursor into each outbox's exclusive id bound: upper bounds for the letters
// after it (older), lower bounds for those before it (newer, backward); with inclusive, the
// cursor's own letter is in the range too.
func (c DeadLetterCursor) bounds(backward, inclusive bool) (webhook, email int64) {
	if c.at.Row == 0 {
		if backward {
			return 0, 0
		}
		return math.MaxInt64, math.MaxInt64
	}
	// A webhook of id i has rank 2i+1, an email 2i: turn the rank range into id ranges.
	r := c.rank()
	if backward {
		if inclusive {
			r-- // rank >= r: rank > r-1
		}
		// rank > r: webhook 2i+1 > r ⇔ i > (r-1)/2; email 2i > r ⇔ i > r/2
		return floorDiv(r-1, 2), floorDiv(r, 2)
	}
	if inclusive {
		r++ // rank <= r: rank < r+1
	}
	// rank < r: webhook 2i+1 < r ⇔ i < ceil((r-1)/2); email 2i < r ⇔ i < ceil(r/2)
	return -floorDiv(-(r - 1), 2), -floorDiv(-r, 2)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// DeadLetterQuery selects a page of dead letters, newest first.
type DeadLetterQuery struct {
	// Workspace, when set, keeps that workspace's dead letters (the API); uuid.Nil lists every
	// workspace's (operators, the CLI).
	Workspace uuid.UUID
	// After: the page starts just after it (the list's start when zero). Backward: the page is the
	// Limit letters just before it instead (the list's end when zero). Inclusive: the cursor's
	// own letter counts as after (before) it: does the list hold anything from there on?
	After     DeadLetterCursor
	Backward  bool
	Inclusive bool
	Limit     int // default 50, at most 1000
}

// DeadLetterPage is one page, in list order: Items, and More when the list goes on beyond them
// in the page's direction.
type DeadLetterPage struct {
	Items []DeadLetter
	More  bool
}

// Page selects rows newest first: at most Limit (default 50, at most 1000), with ids below BeforeID
// when it is set (keyset paging), and only Status when it is set. Backward, the page is the
// Limit rows just above AfterID (the oldest Limit when it is 0), still newest first.
type Page struct {
	Status   string
	Limit    int
	BeforeID int64
	AfterID  int64
	Backward bool
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
	bound, cmp, dir := before, "<", "DESC"
	if p.Backward {
		bound, cmp, dir = p.AfterID, ">", "ASC"
	}
	// served by webhook_deliveries_workspace_idx (workspace_id, id DESC), in either direction
	rows, err := i.pool.Query(ctx, `SELECT d.id, d.webhook_id, d.workspace_id, w.url, d.event_id, d.event_type,
			d.event_position, d.status, d.attempts, d.requeues, d.next_attempt_at, d.last_attempt_at,
			d.last_status_code, coalesce(d.last_error, ''), d.created_at, d.delivered_at, d.dead_at
		FROM webhook_deliveries d JOIN webhook_endpoints w USING (webhook_id)
		WHERE d.workspace_id = $1 AND d.id `+cmp+` $2 AND ($3 = '' OR d.status = $3)
		ORDER BY d.id `+dir+` LIMIT $4`, workspaceID, bound, status, limit)
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
	if p.Backward {
		slices.Reverse(out)
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

// deadLettersSQL lists dead letters: each outbox's newest below its bound ($2 webhooks, $3 emails),
// merged, newest first, $4 rows; backward (%[2]s ">", %[3]s "ASC"), each outbox's oldest above its
// bound, oldest first. %[1]s is the workspace filter of both branches, "" for all.
// Served by webhook_deliveries_dead_idx and email_outbox_dead_idx (every workspace), or by
// webhook_deliveries_dead_workspace_idx and email_outbox_dead_workspace_idx (one workspace; see
// migrations/00005_dead_letter_indexes.sql): each branch reads at most $4 index entries, in either direction.
const deadLettersSQL = `SELECT * FROM (
		(SELECT d.id, 'webhook' AS kind, d.workspace_id, d.event_id, d.event_type, w.url AS target,
			d.attempts, d.requeues, coalesce(d.last_error, ''), d.created_at, d.dead_at
		 FROM webhook_deliveries d JOIN webhook_endpoints w USING (webhook_id)
		 WHERE d.status = 'dead' %[1]s AND d.id %[2]s $2 ORDER BY d.id %[3]s LIMIT $4)
		UNION ALL
		(SELECT d.id, 'email', d.workspace_id, d.event_id, d.event_type, d.recipient_email, d.attempts, d.requeues,
			coalesce(d.last_error, ''), d.created_at, d.dead_at
		 FROM email_outbox d WHERE d.status = 'dead' %[1]s AND d.id %[2]s $3 ORDER BY d.id %[3]s LIMIT $4)
	) dead ORDER BY id %[3]s, kind %[3]s LIMIT $4`

var (
	deadLettersAllSQL           = fmt.Sprintf(deadLettersSQL, "AND $1::uuid IS NULL", "<", "DESC")
	deadLettersWorkspaceSQL     = fmt.Sprintf(deadLettersSQL, "AND d.workspace_id = $1", "<", "DESC")
	deadLettersAllBackSQL       = fmt.Sprintf(deadLettersSQL, "AND $1::uuid IS NULL", ">", "ASC")
	deadLettersWorkspaceBackSQL = fmt.Sprintf(deadLettersSQL, "AND d.workspace_id = $1", ">", "ASC")
)

// ListDeadLetters returns a page of dead webhook deliveries and emails, newest first: of one
// workspace (the API) or of all (operators). The CLI and the API both list through it, so they
// show the same dead letters under the same ids and page with the same cursors.
func (i *Inspector) ListDeadLetters(ctx context.Context, q DeadLetterQuery) (DeadLetterPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	sql, ws := deadLettersWorkspaceSQL, &q.Workspace
	if q.Backward {
		sql = deadLettersWorkspaceBackSQL
	}
	if q.Workspace == uuid.Nil {
		sql, ws = deadLettersAllSQL, nil
		if q.Backward {
			sql = deadLettersAllBackSQL
		}
	}
	hooks, emails := q.After.bounds(q.Backward, q.Inclusive)
	rows, err := i.pool.Query(ctx, sql, ws, hooks, emails, limit+1)
	if err != nil {
		return DeadLetterPage{}, fmt.Errorf("list dead letters: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
		err := r.Scan(&d.ID.Row, &d.Kind, &d.WorkspaceID, &d.EventID, &d.EventType, &d.Target, &d.Attempts,
			&d.Requeues, &d.LastError, &d.CreatedAt, &d.DeadAt)
		d.ID.Kind = d.Kind
		return d, err
	})
	if err != nil {
		return DeadLetterPage{}, fmt.Errorf("list dead letters: %w", err)
	}
	page := DeadLetterPage{Items: items}
	if len(items) > limit {
		page = DeadLetterPage{Items: items[:limit], More: true}
	}
	if q.Backward {
		slices.Reverse(page.Items)
	}
	return page, nil
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

// Retry requeues one dead letter (or skipped email) for immediate delivery. id is what
// ListDeadLetters returned, or what ParseDeadLetterID read from the CLI's argument.
func (i *Inspector) Retry(ctx context.Context, id DeadLetterID) error {
	// served by each table's pkey
	requeue, status := requeueWebhookSQL, `SELECT status FROM webhook_deliveries WHERE id = $1`
	switch id.Kind {
	case KindWebhook:
	case KindEmail:
		requeue, status = requeueEmailSQL, `SELECT status FROM email_outbox WHERE id = $1`
	default:
		return fmt.Errorf("retry %s: %w", id, ErrBadID)
	}
	tag, err := i.pool.Exec(ctx, requeue, id.Row)
	if err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Say why not.
	var st string
	err = i.pool.QueryRow(ctx, status, id.Row).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("retry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	if st == "dead" {
		return fmt.Errorf("retry %s: its webhook endpoint was removed: %w", id, ErrNotRetryable)
	}
	return fmt.Errorf("retry %s: status is %s: %w", id, st, ErrNotRetryable)
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
