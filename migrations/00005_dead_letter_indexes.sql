-- One workspace's dead letters, newest first (sideeffects.Inspector.ListDeadLetters for the API).
--
-- The API used to list a workspace's dead letters through *_workspace_idx (workspace_id, id DESC),
-- which holds every delivery and email of the workspace: to find a page of dead ones it read past
-- all the delivered and sent rows, the vast majority. These partial indexes hold only dead rows,
-- so each branch of the listing reads at most a page of entries whatever the outbox's size. They
-- stay small: a row leaves them when it is retried. (The operators' listing over every workspace
-- keeps using *_dead_idx from 00003.)

-- +goose Up
CREATE INDEX webhook_deliveries_dead_workspace_idx ON webhook_deliveries (workspace_id, id DESC) WHERE status = 'dead';
CREATE INDEX email_outbox_dead_workspace_idx ON email_outbox (workspace_id, id DESC) WHERE status = 'dead';

-- +goose Down
DROP INDEX email_outbox_dead_workspace_idx;
DROP INDEX webhook_deliveries_dead_workspace_idx;
