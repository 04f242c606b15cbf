-- Per-workspace applied positions (issue 13, "reads keyed by position"). A projection that applies
-- an event records, in the same transaction as the event's table writes and its checkpoint, the
-- event's global position in the row of (the event's workspace, the projection); an event of no
-- workspace (a user's profile: its rows span every workspace of the user) in the row of the nil
-- workspace, which every reader counts as part of every workspace. So a row changes exactly when
-- that projection's tables change for that workspace, and the API's response cache (graph,
-- readcache.go) keys a read by the rows of the caller's workspaces plus each projection's active
-- version (a rebuild swaps tables without applying events here): a key read with one indexed
-- statement on any API node is the same key on every node, and it moves with the data it covers.
--
-- Only the position is kept (no transaction id): a cache key needs a value that changes at every
-- apply, and a global position is unique to one event, applied once per projection version.

-- +goose Up
CREATE TABLE read_positions (
    workspace_id uuid   NOT NULL, -- the nil uuid: events of no workspace (user profiles)
    projection   text   NOT NULL, -- projection_versions.name
    position     bigint NOT NULL, -- global position of the last event applied for the workspace
    PRIMARY KEY (workspace_id, projection) -- serves the upsert and the cache key's lookup
);

-- +goose Down
DROP TABLE read_positions;
