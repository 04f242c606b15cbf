package sideeffects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/config"
)

// Options configure a Runner. Zero values take the defaults noted on each field.
type Options struct {
	// Log receives warnings about failed attempts and stalls; nil discards.
	Log *slog.Logger
	// Metrics registers the module's instruments; nil records none.
	Metrics prometheus.Registerer
	// Notifier wakes the consumer group's subscriber when events commit; nil means polling only.
	Notifier *eventstore.Notifier
	// PollInterval is how often idle workers look for due retries, and the subscriber's fallback
	// poll of the log's head (five times slower when a Notifier wakes it). Default 2s: about one
	// query a second idle.
	PollInterval time.Duration
	// BatchSize bounds the events the subscriber reads per query (default 500). Each event is
	// enqueued in its own transaction.
	BatchSize int
	// DeliverHistory, on the consumer's very first start, delivers events recorded before it too.
	// Off by default: installing side effects on an existing log must not mail everyone's past.
	DeliverHistory bool
	// Node is this process's cluster node (cluster.Registration.ID), recorded on the rows it claims
	// so that the claims of a node that died are released at once (ReleaseClaims); uuid.Nil: none.
	Node uuid.UUID

	Webhooks WebhookOptions
	Email    EmailOptions
}

// RetryPolicy is shared by webhooks and email: exponential backoff with full jitter, then a dead
// letter after MaxAttempts.
type RetryPolicy struct {
	MaxAttempts int           // attempts before a dead letter (default 8)
	BackoffBase time.Duration // first retry waits up to this (default 5s)
	BackoffMax  time.Duration // cap of one wait (default 1h)
}

// WebhookOptions tune webhook delivery.
type WebhookOptions struct {
	RetryPolicy
	// Timeout bounds one HTTP attempt, connection to last body byte (default 10s).
	Timeout time.Duration
	// Workers is how many deliveries run at once in this process (default 16).
	Workers int
	// PerEndpoint caps concurrent deliveries to one endpoint (default 2), so that a slow endpoint
	// holds at most that many workers and the others keep flowing.
	PerEndpoint int
	// Client sends the requests; nil builds one with Timeout that does not follow redirects and
	// does not connect to private, loopback or link-local addresses.
	Client *http.Client
	// AllowPrivateNetworks lets webhooks reach loopback and private addresses
	// (WEBHOOK_ALLOW_PRIVATE_NETWORKS): for development and tests, never for a service whose
	// workspace admins are not all trusted with its network.
	AllowPrivateNetworks bool
	// Secrets reads each webhook's signing secret at delivery time (internal/webhooksecrets).
	// Required: deliveries are never signed with anything else.
	Secrets SecretReader
}

// SecretReader returns a webhook's signing secret by id.
type SecretReader interface {
	Get(ctx context.Context, workspaceID, webhookID, secretID uuid.UUID) (string, error)
}

// EmailOptions configure the SMTP client. An empty Addr disables email: notifications are then
// recorded as skipped, not lost.
type EmailOptions struct {
	RetryPolicy
	Addr     string // SMTP_ADDR, host:port
	From     string // SMTP_FROM, an address
	Username string // SMTP_USERNAME; with Password, PLAIN auth (TLS required unless localhost)
	Password string // SMTP_PASSWORD
	// Timeout bounds one send, dial to QUIT (default 30s).
	Timeout time.Duration
	// Workers is how many emails are sent at once (default 4).
	Workers int
	// Host names the client in HELO and Message-IDs (default "taskforge").
	Host string
	// AppURL (APP_URL) is the web app's base: emails link to the task and to the invitation.
	// Empty: no such links.
	AppURL string
	// APIURL (API_URL) is this API's public base, and LinkKey the key that signs its unsubscribe
	// links: with both, notification emails carry a one-click List-Unsubscribe (RFC 8058).
	APIURL  string
	LinkKey []byte
}

func (o EmailOptions) links() emailLinks {
	return emailLinks{appURL: o.AppURL, apiURL: o.APIURL, key: o.LinkKey}
}

// Enabled reports whether email is configured.
func (o EmailOptions) Enabled() bool { return o.Addr != "" }

func (p *RetryPolicy) defaults() error {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 8
	}
	if p.BackoffBase == 0 {
		p.BackoffBase = 5 * time.Second
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = time.Hour
	}
	switch {
	case p.MaxAttempts < 1:
		return errors.New("max attempts must be at least 1")
	case p.BackoffBase < 0 || p.BackoffMax < p.BackoffBase:
		return errors.New("backoff: want 0 <= base <= max")
	}
	return nil
}

// validate fills defaults and rejects settings that cannot work.
func (o *Options) validate() error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.BatchSize == 0 {
		o.BatchSize = 500
	}
	if o.PollInterval < 0 || o.BatchSize < 1 || o.BatchSize > eventstore.MaxBatch {
		return errors.New("sideeffects: poll interval must be positive and batch size in 1..10000")
	}
	w := &o.Webhooks
	if err := w.defaults(); err != nil {
		return fmt.Errorf("sideeffects: webhooks: %w", err)
	}
	if w.Timeout == 0 {
		w.Timeout = 10 * time.Second
	}
	if w.Workers == 0 {
		w.Workers = 16
	}
	if w.PerEndpoint == 0 {
		w.PerEndpoint = 2
	}
	if w.Secrets == nil {
		return errors.New("sideeffects: webhooks: no secret store (WEBHOOK_SECRET_KEY)")
	}
	if w.Timeout < 0 || w.Workers < 1 || w.PerEndpoint < 1 {
		return errors.New("sideeffects: webhooks: timeout, workers and per-endpoint limit must be positive")
	}
	if w.Client == nil {
		w.Client = &http.Client{
			Timeout:   w.Timeout,
			Transport: webhookTransport(w.AllowPrivateNetworks),
			// A redirect would send the signed body somewhere the endpoint's owner did not
			// register: report it as a failed attempt instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	e := &o.Email
	if err := e.defaults(); err != nil {
		return fmt.Errorf("sideeffects: email: %w", err)
	}
	if e.Timeout == 0 {
		e.Timeout = 30 * time.Second
	}
	if e.Workers == 0 {
		e.Workers = 4
	}
	if e.Host == "" {
		e.Host = "taskforge"
	}
	if e.Timeout < 0 || e.Workers < 1 {
		return errors.New("sideeffects: email: timeout and workers must be positive")
	}
	if e.Enabled() {
		if _, err := mail.ParseAddress(e.From); err != nil {
			return fmt.Errorf("sideeffects: SMTP_FROM %q: %w", e.From, err)
		}
		if (e.Username == "") != (e.Password == "") {
			return errors.New("sideeffects: SMTP_USERNAME and SMTP_PASSWORD go together")
		}
	}
	return nil
}

// OptionsFrom is the side effects' part of the service configuration (config.SideEffects
// documents the variables). Zero values keep the defaults.
func OptionsFrom(c config.SideEffects) Options {
	var o Options
	o.Email.Addr, o.Email.From, o.Email.Username, o.Email.Password = c.SMTPAddr, c.SMTPFrom, c.SMTPUsername, c.SMTPPassword
	o.Webhooks.Timeout, o.Webhooks.MaxAttempts = c.WebhookTimeout, c.WebhookMaxAttempts
	o.Webhooks.Workers, o.Webhooks.PerEndpoint = c.WebhookWorkers, c.WebhookPerEndpoint
	o.Webhooks.AllowPrivateNetworks = c.WebhookAllowPrivateNetworks
	o.Email.AppURL, o.Email.APIURL, o.Email.LinkKey = c.AppURL, c.APIURL, c.LinkKey
	return o
}
