package sideeffects

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/domain"
)

// Webhook request headers.
const (
	HeaderSignature = "X-Taskforge-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderTimestamp = "X-Taskforge-Timestamp" // Unix seconds of this attempt; reject old ones to stop replays
	HeaderEventID   = "X-Taskforge-Event-Id"
	HeaderEventType = "X-Taskforge-Event-Type"
	HeaderDelivery  = "X-Taskforge-Delivery" // the delivery's id, as `deadletters` shows it
	HeaderAttempt   = "X-Taskforge-Attempt"
	// HeaderIdempotencyKey is the event id: the same on every attempt, so receivers can drop repeats.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Sign returns the X-Taskforge-Signature value for body sent at timestamp (Unix seconds, as sent in
// X-Taskforge-Timestamp). Receivers recompute it and compare with hmac.Equal.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type webhookJob struct {
	id          int64
	webhookID   uuid.UUID
	workspaceID uuid.UUID
	eventID     uuid.UUID
	eventType   string
	payload     string
	attempts    int // including this one
	url         string
	secretID    uuid.UUID // the secret itself is read from webhook_secrets just before signing
	removed     bool
	claimID     uuid.UUID
}

// webhookQueue is the webhook_deliveries outbox.
type webhookQueue struct {
	pool    *pgxpool.Pool
	opts    WebhookOptions
	log     *slog.Logger
	metrics *Metrics
	node    uuid.UUID // recorded as claimed_by
}

// lease is how long a claim lasts: one attempt plus a margin. A worker that dies mid-call leaves
// its row to be claimed again once the lease expires.
func (q *webhookQueue) lease() time.Duration { return q.opts.Timeout + 30*time.Second }

// claimWebhooksSQL takes due rows and rows whose lease expired, at most quota per endpoint, and
// marks them in flight. It runs as one statement: the claim is committed when it returns.
//
//	$1 how many, $2 endpoints with no quota left, $3 the per-endpoint limit,
//	$4/$5 endpoints with jobs in flight and their remaining quota, $6 claim id, $7 lease seconds,
//	$8 the claiming node (NULL without one)
const claimWebhooksSQL = `WITH due AS (
	-- served by webhook_deliveries_due_idx
	SELECT id, webhook_id, next_attempt_at AS at FROM webhook_deliveries
	WHERE status = 'pending' AND next_attempt_at <= now() AND NOT (webhook_id = ANY ($2::uuid[]))
	ORDER BY next_attempt_at LIMIT $1 * 4 FOR UPDATE SKIP LOCKED
), stale AS (
	-- served by webhook_deliveries_leased_idx
	SELECT id, webhook_id, claimed_until AS at FROM webhook_deliveries
	WHERE status = 'delivering' AND claimed_until < now() AND NOT (webhook_id = ANY ($2::uuid[]))
	ORDER BY claimed_until LIMIT $1 FOR UPDATE SKIP LOCKED
), ranked AS (
	SELECT c.id, c.at, row_number() OVER (PARTITION BY c.webhook_id ORDER BY c.at, c.id) AS rn,
	       coalesce(q.quota, $3) AS quota
	FROM (SELECT * FROM due UNION ALL SELECT * FROM stale) c
	LEFT JOIN unnest($4::uuid[], $5::int[]) AS q(webhook_id, quota) ON q.webhook_id = c.webhook_id
), picked AS (
	SELECT id FROM ranked WHERE rn <= quota ORDER BY at, id LIMIT $1
)
UPDATE webhook_deliveries d
SET status = 'delivering', attempts = d.attempts + 1, claim_id = $6, claimed_by = $8,
    claimed_until = now() + make_interval(secs => $7), last_attempt_at = now()
FROM picked, webhook_endpoints w
WHERE d.id = picked.id AND w.webhook_id = d.webhook_id
RETURNING d.id, d.webhook_id, d.workspace_id, d.event_id, d.event_type, d.payload, d.attempts, w.url, w.secret_id,
	w.removed_at IS NOT NULL`

func (q *webhookQueue) key(j webhookJob) string { return j.webhookID.String() }

func (q *webhookQueue) claim(ctx context.Context, n int, quota map[string]int) ([]webhookJob, error) {
	full := []uuid.UUID{}
	var busy []uuid.UUID
	var left []int32
	for k, v := range quota {
		id := uuid.MustParse(k)
		if v <= 0 {
			full = append(full, id)
			continue
		}
		busy = append(busy, id)
		left = append(left, int32(v))
	}
	claimID := uuid.New()
	rows, err := q.pool.Query(ctx, claimWebhooksSQL, n, full, q.opts.PerEndpoint, busy, left, claimID, q.lease().Seconds(),
		nullNode(q.node))
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	j := webhookJob{claimID: claimID}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhookJob, error) {
		var secretID *uuid.UUID
		err := r.Scan(&j.id, &j.webhookID, &j.workspaceID, &j.eventID, &j.eventType, &j.payload, &j.attempts, &j.url, &secretID, &j.removed)
		j.secretID = domain.LegacyWebhookSecretID(j.webhookID) // folded before secrets left the log
		if secretID != nil {
			j.secretID = *secretID
		}
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return jobs, nil
}

// outcome is what recording an attempt writes.
type outcome struct {
	status    string         // the row's next status
	retryIn   *time.Duration // for pending: when to try again
	code      int            // HTTP status, 0 when none
	err       string         // "" on success
	released  bool           // the attempt did not happen (shutdown): it does not count
	metricTag string         // delivered, retry, dead, released
}

func (q *webhookQueue) deliver(ctx context.Context, j webhookJob) {
	var o outcome
	start := time.Now()
	switch {
	case j.removed:
		o = outcome{status: "cancelled", err: "endpoint removed", metricTag: "cancelled"}
	case j.attempts > q.opts.MaxAttempts:
		// The last attempt's worker died mid-call (its lease expired).
		o = outcome{status: "dead", err: "attempt abandoned (lease expired) after the last attempt", metricTag: "dead"}
	default:
		code, retryAfter, err := q.post(ctx, j)
		o = q.judge(ctx, j, code, retryAfter, err)
	}
	q.metrics.attempt(kindWebhook, o.metricTag, time.Since(start))
	if o.err != "" && !o.released {
		q.log.Warn("webhook delivery failed", "delivery", j.id, "webhook", j.webhookID, "event", j.eventID,
			"attempt", j.attempts, "next", o.status, "err", o.err)
	}
	// Record even when ctx is cancelled: the claim must not wait for its lease to expire.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var retryIn *float64
	if o.retryIn != nil {
		s := o.retryIn.Seconds()
		retryIn = &s
	}
	var code *int
	if o.code != 0 {
		code = &o.code
	}
	released := 0
	if o.released {
		released = 1
	}
	// served by webhook_deliveries_pkey; the claim id guards against a claim that expired and was
	// taken by another worker meanwhile
	_, err := q.pool.Exec(rctx, `UPDATE webhook_deliveries SET status = $3,
			next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $4) END,
			last_status_code = coalesce($5, last_status_code), last_error = NULLIF($6, ''),
			delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END,
			dead_at = CASE WHEN $3 = 'dead' THEN now() ELSE dead_at END,
			attempts = attempts - $7, claim_id = NULL, claimed_until = NULL
		WHERE id = $1 AND claim_id = $2`,
		j.id, j.claimID, o.status, retryIn, code, o.err, released)
	if err != nil {
		q.log.Error("webhook delivery: recording the outcome failed; the lease will expire and the delivery repeat",
			"delivery", j.id, "err", err)
	}
}

// judge turns an attempt's result into the row's next state.
//
// Every non-2xx answer is retried, 4xx included: a 401 after a secret rotation or a 404 during a
// receiver's deploy usually heals, and a delivery that keeps failing ends as a dead letter that an
// operator can replay, rather than being dropped on the first 4xx. Redirects are not followed and
// count as failures.
func (q *webhookQueue) judge(ctx context.Context, j webhookJob, code int, retryAfter time.Duration, err error) outcome {
	if err != nil && ctx.Err() != nil {
		zero := time.Duration(0)
		return outcome{status: "pending", retryIn: &zero, err: "interrupted by shutdown", released: true, metricTag: "released"}
	}
	if err == nil && code >= 200 && code < 300 {
		return outcome{status: "delivered", code: code, metricTag: "delivered"}
	}
	msg := ""
	if err != nil {
		msg = describeFailure(err)
	}
	if j.attempts >= q.opts.MaxAttempts {
		return outcome{status: "dead", code: code, err: msg, metricTag: "dead"}
	}
	wait := max(q.opts.backoff(j.attempts), min(retryAfter, q.opts.BackoffMax))
	return outcome{status: "pending", retryIn: &wait, code: code, err: msg, metricTag: "retry"}
}

// post makes one attempt. A non-2xx answer comes back as its code with an error describing it.
// The secret is read just before signing (no transaction is open: the claim committed already).
func (q *webhookQueue) post(ctx context.Context, j webhookJob) (code int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, q.opts.Timeout)
	defer cancel()
	secret, err := q.opts.Secrets.Get(ctx, j.workspaceID, j.webhookID, j.secretID)
	if err != nil {
		// The cause names no secret (a missing row, another key): operators need it.
		q.log.Error("webhook signing secret unavailable", "webhook", j.webhookID, "secret_id", j.secretID, "err", err)
		return 0, 0, failure{"signing secret unavailable", err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, strings.NewReader(j.payload))
	if err != nil {
		return 0, 0, failure{"invalid URL", err}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Taskforge-Webhooks/1")
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(secret, ts, []byte(j.payload)))
	h.Set(HeaderEventID, j.eventID.String())
	h.Set(HeaderEventType, j.eventType)
	h.Set(HeaderIdempotencyKey, j.eventID.String())
	h.Set(HeaderDelivery, strconv.FormatInt(j.id, 10))
	h.Set(HeaderAttempt, strconv.Itoa(j.attempts))
	resp, err := q.opts.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	// Drain a bounded amount so that the connection can be reused. The body is never kept: an
	// endpoint that is not what its admin thinks (an internal service behind a redirecting name)
	// would otherwise have its answers shown to the workspace's admins.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, failure{"HTTP " + strconv.Itoa(resp.StatusCode), nil}
}

// failure is an attempt's error with the short text stored in last_error and shown to admins.
type failure struct {
	short string
	err   error
}

func (f failure) Error() string { return f.short }
func (f failure) Unwrap() error { return f.err }

// describeFailure reduces an attempt's error to a short, fixed text. The full error names what a
// host resolved to, the resolver's address, the URL (which may hold a token) or TLS details: that
// would make webhooks a probe of the service's network, readable by any workspace admin.
func describeFailure(err error) string {
	var f failure
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &f):
		return f.short
	case errors.Is(err, ErrDestinationNotAllowed):
		return "connect refused: private address"
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &certErr), errors.As(err, &recordErr), strings.Contains(err.Error(), "tls:"):
		return "TLS handshake failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	default:
		return "connection failed"
	}
}
