-- Notification read state per workspace and per notification, email preferences, invitation emails
-- (issue 11).
--
-- notification_reads was one mark per user across every workspace: reading one workspace's inbox
-- marked another's. The mark becomes per (user, workspace). An existing mark is kept for every
-- workspace the user ever joined (read from the log's member_joined events, once: the read models
-- may not exist yet when migrations run), which reads exactly as before.
--
-- notification_read_items holds single notifications read above their workspace's mark
-- (markNotificationRead); moving the mark past them deletes them, so the table stays small.
--
-- notification_preferences holds a user's email switch per notification kind; no row means on.
-- These are user tables, not event-sourced and kept across projection rebuilds, like the marks: a
-- preference is a setting of one user that no other decision depends on, changed also by a
-- one-click unsubscribe that carries no token of the user.
--
-- email_outbox learns the kind 'invited': the invitation email to an address that is no user yet,
-- which names the workspace: side_effect_workspaces keeps workspace names for it, folded from
-- workspace.created and .renamed by the side-effect consumer, and filled here from the log for the
-- workspaces that exist already (each stream's latest name).

-- +goose Up
ALTER TABLE notification_reads DROP CONSTRAINT notification_reads_pkey;
ALTER TABLE notification_reads ADD COLUMN workspace_id uuid;
INSERT INTO notification_reads (user_id, workspace_id, transaction_id, position, updated_at)
SELECT DISTINCT r.user_id, (e.data->>'workspace_id')::uuid, r.transaction_id, r.position, r.updated_at
FROM notification_reads r
JOIN events e ON e.event_type = 'workspace.member_joined' AND e.data->>'user_id' = r.user_id
WHERE r.workspace_id IS NULL;
DELETE FROM notification_reads WHERE workspace_id IS NULL;
ALTER TABLE notification_reads ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE notification_reads ADD PRIMARY KEY (user_id, workspace_id);

CREATE TABLE notification_read_items (
    user_id         text NOT NULL,
    notification_id uuid NOT NULL,
    workspace_id    uuid NOT NULL,
    transaction_id  bigint NOT NULL,
    position        bigint NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, notification_id)
);
-- serves the prune when a workspace's mark moves past items
CREATE INDEX notification_read_items_mark_idx ON notification_read_items (user_id, workspace_id, transaction_id, position);

CREATE TABLE notification_preferences (
    user_id    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('assigned', 'mentioned', 'commented')),
    email      boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check CHECK (kind IN ('assigned', 'mentioned', 'commented', 'invited'));
CREATE TABLE side_effect_workspaces (
    workspace_id uuid PRIMARY KEY,
    name         text NOT NULL
);
INSERT INTO side_effect_workspaces (workspace_id, name)
SELECT DISTINCT ON (stream_id) (data->>'workspace_id')::uuid, data->>'name'
FROM events WHERE event_type IN ('workspace.created', 'workspace.renamed')
ORDER BY stream_id, stream_version DESC;

-- +goose Down
DROP TABLE side_effect_workspaces;
DELETE FROM email_outbox WHERE kind = 'invited';
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check CHECK (kind IN ('assigned', 'mentioned', 'commented'));
DROP TABLE notification_preferences;
DROP TABLE notification_read_items;
-- back to one mark per user: the furthest of their workspaces' marks
ALTER TABLE notification_reads DROP CONSTRAINT notification_reads_pkey;
DELETE FROM notification_reads r USING notification_reads o
WHERE o.user_id = r.user_id AND (o.transaction_id, o.position, o.workspace_id) > (r.transaction_id, r.position, r.workspace_id);
ALTER TABLE notification_reads DROP COLUMN workspace_id;
ALTER TABLE notification_reads ADD PRIMARY KEY (user_id);
