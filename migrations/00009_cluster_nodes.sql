-- The processes of a deployment (issue 12, "observability of the cluster"): each `taskforge
-- serve` registers itself and refreshes heartbeat_at every few seconds (internal/cluster); a row
-- whose heartbeat is older than a few intervals is a process that died without saying so, and
-- any live process deletes such rows. Consumer leases will name their owner by this id.

-- +goose Up
CREATE TABLE cluster_nodes (
    id           uuid PRIMARY KEY,
    role         text NOT NULL,
    host         text NOT NULL,
    pid          int NOT NULL,
    version      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
-- serves the listing of live nodes and the removal of dead ones (by heartbeat age)
CREATE INDEX cluster_nodes_heartbeat_idx ON cluster_nodes (heartbeat_at);

-- +goose Down
DROP TABLE cluster_nodes;
