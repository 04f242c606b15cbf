package sideeffects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type emailJob struct {
	id        int64
	eventID   uuid.UUID
	kind      string
	recipient string // user id
	to        string // address
	subject   string
	body      string
	attempts  int
	createdAt time.Time
	claimID   uuid.UUID
}

// emailQueue is the email_outbox, sent through one SMTP server.
type emailQueue struct {
	pool    *pgxpool.Pool
	opts    EmailOptions
	log     *slog.Logger
	metrics *Metrics
	node    uuid.UUID // recorded as claimed_by
}

func (q *emailQueue) key(emailJob) string { return "" } // one server: no per-key limit beyond Workers

func (q *emailQueue) lease() time.Duration { return q.opts.Timeout + 30*time.Second }

// claimEmailsSQL is claimWebhooksSQL without per-endpoint quotas.
const claimEmailsSQL = `WITH due AS (
	-- served by email_outbox_due_idx
	SELECT id, next_attempt_at AS at FROM email_outbox
	WHERE status = 'pending' AND next_attempt_at <= now()
	ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
), stale AS (
	-- served by email_outbox_leased_idx
	SELECT id, claimed_until AS at FROM email_outbox
	WHERE status = 'sending' AND claimed_until < now()
	ORDER BY claimed_until LIMIT $1 FOR UPDATE SKIP LOCKED
), picked AS (
	SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM stale) c ORDER BY at, id LIMIT $1
)
UPDATE email_outbox o
SET status = 'sending', attempts = o.attempts + 1, claim_id = $2, claimed_by = $4,
    claimed_until = now() + make_interval(secs => $3), last_attempt_at = now()
FROM picked WHERE o.id = picked.id
RETURNING o.id, o.event_id, o.kind, o.recipient_user_id, o.recipient_email, o.subject, o.body, o.attempts, o.created_at`

func (q *emailQueue) claim(ctx context.Context, n int, _ map[string]int) ([]emailJob, error) {
	claimID := uuid.New()
	rows, err := q.pool.Query(ctx, claimEmailsSQL, n, claimID, q.lease().Seconds(), nullNode(q.node))
	if err != nil {
		return nil, fmt.Errorf("claim emails: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (emailJob, error) {
		j := emailJob{claimID: claimID}
		err := r.Scan(&j.id, &j.eventID, &j.kind, &j.recipient, &j.to, &j.subject, &j.body, &j.attempts, &j.createdAt)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim emails: %w", err)
	}
	return jobs, nil
}

func (q *emailQueue) deliver(ctx context.Context, j emailJob) {
	var o outcome
	start := time.Now()
	if j.attempts > q.opts.MaxAttempts {
		o = outcome{status: "dead", err: "attempt abandoned (lease expired) after the last attempt", metricTag: "dead"}
	} else {
		o = q.judge(ctx, j, q.send(ctx, j))
	}
	q.metrics.attempt(kindEmail, o.metricTag, time.Since(start))
	if o.err != "" && !o.released {
		q.log.Warn("email notification failed", "email", j.id, "event", j.eventID, "attempt", j.attempts,
			"next", o.status, "err", o.err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var retryIn *float64
	if o.retryIn != nil {
		s := o.retryIn.Seconds()
		retryIn = &s
	}
	released := 0
	if o.released {
		released = 1
	}
	// served by email_outbox_pkey; guarded by the claim id like webhook deliveries
	_, err := q.pool.Exec(rctx, `UPDATE email_outbox SET status = $3,
			next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $4) END,
			last_error = NULLIF($5, ''),
			sent_at = CASE WHEN $3 = 'sent' THEN now() ELSE sent_at END,
			dead_at = CASE WHEN $3 = 'dead' THEN now() ELSE dead_at END,
			attempts = attempts - $6, claim_id = NULL, claimed_until = NULL
		WHERE id = $1 AND claim_id = $2`,
		j.id, j.claimID, o.status, retryIn, o.err, released)
	if err != nil {
		q.log.Error("email: recording the outcome failed; the lease will expire and the email be sent again",
			"email", j.id, "err", err)
	}
}

// judge retries transient failures (network, SMTP 4xx) with backoff; a permanent SMTP rejection
// (5xx, such as an unknown mailbox) is a dead letter at once, as retrying cannot change it.
func (q *emailQueue) judge(ctx context.Context, j emailJob, err error) outcome {
	if err == nil {
		return outcome{status: "sent", metricTag: "delivered"}
	}
	if ctx.Err() != nil {
		zero := time.Duration(0)
		return outcome{status: "pending", retryIn: &zero, err: "interrupted by shutdown", released: true, metricTag: "released"}
	}
	var smtpErr *textproto.Error
	if (errors.As(err, &smtpErr) && smtpErr.Code >= 500) || j.attempts >= q.opts.MaxAttempts {
		return outcome{status: "dead", err: err.Error(), metricTag: "dead"}
	}
	wait := q.opts.backoff(j.attempts)
	return outcome{status: "pending", retryIn: &wait, err: err.Error(), metricTag: "retry"}
}

// send delivers one message with the standard library's SMTP client: STARTTLS when the server
// offers it, PLAIN auth when configured (net/smtp refuses it over plain text except to localhost).
func (q *emailQueue) send(ctx context.Context, j emailJob) error {
	ctx, cancel := context.WithTimeout(ctx, q.opts.Timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(q.opts.Addr)
	if err != nil {
		return fmt.Errorf("SMTP_ADDR %q: %w", q.opts.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", q.opts.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", q.opts.Addr, err)
	}
	// net/smtp takes no context: a deadline bounds each exchange, and cancellation closes the
	// connection under it.
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(q.opts.Host); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if q.opts.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", q.opts.Username, q.opts.Password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from, err := mail.ParseAddress(q.opts.From)
	if err != nil {
		return fmt.Errorf("SMTP_FROM: %w", err)
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(j.to); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(q.message(j, from)); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// message renders an RFC 5322 message. Its Message-ID is derived from the outbox row's identity,
// so a message sent twice (a worker that died after the server accepted it) carries the same id
// and mail clients show it once.
func (q *emailQueue) message(j emailJob, from *mail.Address) []byte {
	sum := sha256.Sum256([]byte(j.recipient))
	msgID := fmt.Sprintf("<%s.%s.%s@%s>", j.eventID, j.kind, hex.EncodeToString(sum[:6]), q.opts.Host)
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", (&mail.Address{Address: j.to}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", j.subject))
	header("Date", j.createdAt.UTC().Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header("X-Taskforge-Event-Id", j.eventID.String())
	header("X-Taskforge-Notification", j.kind)
	if u := q.opts.links().unsubscribe(j.recipient, j.kind); u != "" {
		// RFC 8058 one-click: a mail client POSTs List-Unsubscribe=One-Click to the URL, which
		// turns this kind of email off for the recipient (graph serves it).
		header("List-Unsubscribe", "<"+u+">")
		header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(j.body, "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
