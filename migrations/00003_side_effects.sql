-- Side effects (sideeffects/): webhook deliveries and email notifications as durable outboxes.
--
-- The enqueue stage reads the global log and, in one transaction with its checkpoint, keeps its own
-- small state (endpoints, users, tasks) and inserts one outbox row per delivery to make. Unique
-- constraints make a re-read of the same event a no-op, so at-least-once reading becomes
-- exactly-once enqueueing. Workers claim due rows (FOR UPDATE SKIP LOCKED, committed at once), do
-- the network call with no transaction open, then record the outcome guarded by their claim id.
--
-- Rows never leave the outboxes: a dead letter is a row in status 'dead', which
-- `taskforge deadletters retry` puts back to 'pending'. Both outboxes draw ids from one sequence so
-- that a dead letter is named by its id alone.

-- +goose Up
CREATE SEQUENCE side_effect_ids;

-- One row per consumer of the global log (today only 'sideeffects'). deliver_from is set at the
-- consumer's first start: older events only feed the module's state, so installing side effects on
-- an existing log does not replay history to receivers and inboxes.
CREATE TABLE side_effect_consumers (
    name           text PRIMARY KEY,
    transaction_id bigint NOT NULL DEFAULT 0,
    position       bigint NOT NULL DEFAULT 0,
    deliver_from   timestamptz NOT NULL,
    last_error     text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Email addresses and names, from user.* events (authoritative) and workspace.member_joined (a copy
-- taken from the member's token, used until the user's own events say otherwise).
CREATE TABLE side_effect_users (
    user_id      text PRIMARY KEY,
    email        text NOT NULL,
    display_name text NOT NULL,
    from_profile boolean NOT NULL DEFAULT false
);

-- What an email needs to say about a task, and who is assigned (for "comment on your task").
CREATE TABLE side_effect_tasks (
    task_id      uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    key          text NOT NULL,
    title        text NOT NULL,
    assignee     text
);

-- Webhook endpoints as the workspace's webhook.* events define them. The secret is kept in clear:
-- signing needs it, and the event store holds it in clear already.
CREATE TABLE webhook_endpoints (
    webhook_id    uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    url           text NOT NULL,
    secret        text NOT NULL,
    event_types   text[] NOT NULL, -- empty: every deliverable type
    registered_at timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    removed_at    timestamptz
);

-- serves the enqueue stage's fan-out: active endpoints of one workspace
CREATE INDEX webhook_endpoints_workspace_idx ON webhook_endpoints (workspace_id) WHERE removed_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               bigint PRIMARY KEY DEFAULT nextval('side_effect_ids'),
    webhook_id       uuid NOT NULL REFERENCES webhook_endpoints,
    workspace_id     uuid NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    event_position   bigint NOT NULL,
    -- the exact body that is signed and sent, as text: byte-for-byte the same on every attempt
    payload          text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered', 'dead', 'cancelled')),
    attempts         int NOT NULL DEFAULT 0, -- since the last requeue
    requeues         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- set while a worker holds the row; an expired lease (a worker that died mid-call) is reclaimed
    claim_id         uuid,
    claimed_until    timestamptz,
    last_attempt_at  timestamptz,
    last_status_code int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    dead_at          timestamptz,
    -- per-event idempotency: an event is enqueued once per endpoint however often it is read
    CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
);

-- serves the claim: due rows in order
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- serves the lease reaper
CREATE INDEX webhook_deliveries_leased_idx ON webhook_deliveries (claimed_until) WHERE status = 'delivering';
-- serves ListDeliveries (one workspace, newest first)
CREATE INDEX webhook_deliveries_workspace_idx ON webhook_deliveries (workspace_id, id DESC);
-- serves ListDeadLetters and retry --all
CREATE INDEX webhook_deliveries_dead_idx ON webhook_deliveries (id) WHERE status = 'dead';

CREATE TABLE email_outbox (
    id                bigint PRIMARY KEY DEFAULT nextval('side_effect_ids'),
    workspace_id      uuid NOT NULL,
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('assigned', 'mentioned', 'commented')),
    recipient_user_id text NOT NULL,
    recipient_email   text NOT NULL, -- '' when no address was known (status 'skipped')
    subject           text NOT NULL,
    body              text NOT NULL,
    -- skipped: SMTP was not configured or no address was known when the event was read; kept
    -- (not dropped) so that it can be requeued
    status            text NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'dead')),
    attempts          int NOT NULL DEFAULT 0,
    requeues          int NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    claim_id          uuid,
    claimed_until     timestamptz,
    last_attempt_at   timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    dead_at           timestamptz,
    -- per-event idempotency: one email of a kind per recipient per event
    CONSTRAINT email_outbox_once UNIQUE (recipient_user_id, event_id, kind)
);

-- serves the claim
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'pending';
-- serves the lease reaper
CREATE INDEX email_outbox_leased_idx ON email_outbox (claimed_until) WHERE status = 'sending';
-- serves ListEmails (one workspace, newest first)
CREATE INDEX email_outbox_workspace_idx ON email_outbox (workspace_id, id DESC);
-- serves ListDeadLetters and retry --all
CREATE INDEX email_outbox_dead_idx ON email_outbox (id) WHERE status = 'dead';

-- +goose Down
DROP TABLE email_outbox;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE side_effect_tasks;
DROP TABLE side_effect_users;
DROP TABLE side_effect_consumers;
DROP SEQUENCE side_effect_ids;
