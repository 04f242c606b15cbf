// Package sideeffects owns what the service does outside its database in reaction to events:
// signed webhook deliveries and notification emails. It owns its tables (migrations/00003, 00005,
// 00007): the outboxes webhook_deliveries and email_outbox, the state they are computed from
// (webhook_endpoints, side_effect_users, side_effect_tasks, side_effect_workspaces) and its consumer
// checkpoint; it reads the users' notification_preferences.
//
// It is a transactional outbox in two stages, so that no transaction is ever open while a network
// call waits, and a slow or dead receiver delays nothing but its own deliveries:
//
//	events (global log, commit-safe order)
//	   │ feed.Subscriber (eventstore/feed), woken by eventstore.Notifier: one event at a time from the checkpoint
//	   ▼
//	Watermill router, consumer group "sideeffects" (ConsumerName) ── Retry ── Recoverer
//	   │ handler: one short transaction per event ─────────────────────────────┐
//	   fold state: webhook.* → webhook_endpoints, user.* / member_joined →     │ UNIQUE (endpoint, event)
//	   side_effect_users, task.* → side_effect_tasks                          │ UNIQUE (recipient, event, kind)
//	   INSERT outbox rows … ON CONFLICT DO NOTHING; advance the checkpoint     │ = exactly-once enqueue
//	   (side_effect_consumers, locked FOR UPDATE, from the message's previous  │
//	   position to the event's); COMMIT; ack ──────────────────────────────────┘
//	   │ wake
//	   ▼
//	dispatchers (webhook: Workers, at most PerEndpoint per endpoint; email: Workers)
//	   1. claim: UPDATE … FOR UPDATE SKIP LOCKED → status delivering, lease, claim id   (autocommit)
//	   2. attempt: HTTP POST / SMTP send                                       (no transaction open)
//	   3. record: delivered | pending + backoff | dead, WHERE claim_id matches (autocommit)
//
// The consumer group is a Watermill handler of its own, separate from the projections' groups: it
// never shares a checkpoint or a transaction with them. Its checkpoint is loaded when the group
// subscribes (and after a nack); the handler commits it with the outbox rows, so the subscriber's
// Save after the ack has nothing to do. If the stored checkpoint is not where the message says
// the previous event was, the handler acks an event that is already enqueued (another process, or
// a lost ack) and otherwise nacks so the subscriber re-reads from the checkpoint.
//
// In a deployment the consumer group runs in one worker at a time, the holder of its lease
// (internal/cluster; Runner.RunConsumer with the lease's fencing token, checked FOR SHARE in the
// transaction that advances the checkpoint), while every worker delivers (Runner.RunDelivery):
// deliveries compete through SKIP LOCKED, each claim naming its node (claimed_by), and the claims
// of a node that left the cluster are released at once (Runner.ReleaseClaims) rather than after
// their lease.
//
// A poison event (one whose enqueue keeps failing) stops the consumer at it, loudly: every failed
// attempt is logged, counted (taskforge_sideeffects_consumer_events_total{result="error"}) and
// stored as the consumer row's last_error (`taskforge deadletters list`); Retry tries it again with
// exponential backoff, then the nack redelivers it and the cycle repeats. It is never skipped; the
// next event enqueued clears last_error.
//
// Guarantees. Events are read at least once and enqueued exactly once (the outbox rows and the
// checkpoint commit together; the unique keys absorb a re-read). Delivery is at least once: a
// worker that dies between a receiver's 2xx and step 3 leaves a lease that expires, and the
// attempt repeats with the same Idempotency-Key (the event id) and, for email, the same
// Message-ID. Nothing is dropped: failures retry with exponential backoff and full jitter, then
// stay as dead letters (status 'dead') until `taskforge deadletters retry` requeues them; emails
// that could not be sent because SMTP was not configured stay as 'skipped'. Inspector.ListDeadLetters
// is the one listing of dead letters (the CLI's and the API's), named by DeadLetterID
// ("webhook-5", "email-7") and paged by DeadLetterCursor.
//
// Webhooks: the body is WebhookPayload as JSON, signed with the endpoint's secret as
// X-Taskforge-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)), timestamp in
// X-Taskforge-Timestamp. Any non-2xx answer (4xx included) and redirects are failures and retried;
// see webhookQueue.judge. Endpoint removal cancels deliveries not yet started.
//
// The module's tables never hold a secret: webhook_endpoints keeps the id of the current one, and
// a worker reads it from the encrypted table (WebhookOptions.Secrets, internal/webhooksecrets)
// just before signing, after its claim has committed. Connections go only to public addresses
// (domain.PublicAddr, checked in the dialer on the address actually dialed, so DNS rebinding is
// refused too) unless AllowPrivateNetworks. A failed attempt records a short fixed text
// ("HTTP 500", "timeout", "connect refused: private address"; see describeFailure), never the
// receiver's body, what a name resolved to or the URL: admins read last_error, and it must not
// turn webhooks into a probe of the service's network.
//
// Emails: the notices of domain.PlanNotifications with the email channel (assignment → the
// assignee; @mention → each mentioned member; a comment on a task → its assignee, not its
// creator, who hears of it in the inbox). Nobody is mailed about their own action, nor about a
// kind they turned off (notification_preferences). Each links to its task (APP_URL) and carries a
// signed one-click List-Unsubscribe (API_URL; links.go). An invitation is mailed to its address
// with its accept link. A permanent SMTP rejection (5xx) is a dead letter at once.
//
// Events recorded before the consumer's first start only feed the state (see
// Options.DeliverHistory). Rebuilding projections never touches this consumer group, so it never
// re-runs side effects (TestRebuildFiresNoSideEffects).
//
// Idle, a Runner issues about one query a second: each dispatcher looks for due retries every
// PollInterval (2s), and the subscriber, woken by NOTIFY, checks the log's head only every 10s as
// a fallback.
//
// The per-endpoint limit is per process; with several processes an endpoint may see that many
// concurrent requests from each. Deliveries to one endpoint are not ordered: receivers order by
// the payload's position.
package sideeffects
