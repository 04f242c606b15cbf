// Package sideeffects owns what the service does outside its database in reaction to events:
// signed webhook deliveries and notification emails. It owns its tables (migrations/00003): the
// outboxes webhook_deliveries and email_outbox, the state they are computed from (webhook_endpoints,
// side_effect_users, side_effect_tasks) and its consumer checkpoint.
//
// It is a transactional outbox in two stages, so that no transaction is ever open while a network
// call waits, and a slow or dead receiver delays nothing but its own deliveries:
//
//	events (global log, commit-safe order)
//	   │ Source: logSource reads ReadAllOn from the checkpoint, woken by eventstore.Notifier
//	   ▼
//	enqueue stage ── one transaction per batch ───────────────────────────────┐
//	   fold state: webhook.* → webhook_endpoints, user.* / member_joined →     │ UNIQUE (endpoint, event)
//	   side_effect_users, task.* → side_effect_tasks                          │ UNIQUE (recipient, event, kind)
//	   INSERT outbox rows … ON CONFLICT DO NOTHING; UPDATE checkpoint          │ = exactly-once enqueue
//	   COMMIT ─────────────────────────────────────────────────────────────────┘
//	   │ wake
//	   ▼
//	dispatchers (webhook: Workers, at most PerEndpoint per endpoint; email: Workers)
//	   1. claim: UPDATE … FOR UPDATE SKIP LOCKED → status delivering, lease, claim id   (autocommit)
//	   2. attempt: HTTP POST / SMTP send                                       (no transaction open)
//	   3. record: delivered | pending + backoff | dead, WHERE claim_id matches (autocommit)
//
// Guarantees. Events are read at least once and enqueued exactly once (the outbox rows and the
// checkpoint commit together; the unique keys absorb a re-read). Delivery is at least once: a
// worker that dies between a receiver's 2xx and step 3 leaves a lease that expires, and the
// attempt repeats with the same Idempotency-Key (the event id) and, for email, the same
// Message-ID. Nothing is dropped: failures retry with exponential backoff and full jitter, then
// stay as dead letters (status 'dead') until `taskforge deadletters retry` requeues them; emails
// that could not be sent because SMTP was not configured stay as 'skipped'.
//
// Webhooks: the body is WebhookPayload as JSON, signed with the endpoint's secret as
// X-Taskforge-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)), timestamp in
// X-Taskforge-Timestamp. Any non-2xx answer (4xx included) and redirects are failures and retried;
// see webhookQueue.judge. Endpoint removal cancels deliveries not yet started.
//
// Emails: assignment → the assignee; @mention → each mentioned member; a comment on a task → its
// assignee. Nobody is mailed about their own action. A permanent SMTP rejection (5xx) is a dead
// letter at once.
//
// Events recorded before the consumer's first start only feed the state (see
// Options.DeliverHistory). Rebuilding projections never touches this consumer, so it never re-runs
// side effects.
//
// Idle, a Runner issues about one query a second: each dispatcher looks for due retries every
// PollInterval (2s), and the log reader, woken by NOTIFY, polls only every 10s as a fallback.
//
// The per-endpoint limit is per process; with several processes an endpoint may see that many
// concurrent requests from each. Deliveries to one endpoint are not ordered: receivers order by
// the payload's position.
package sideeffects
