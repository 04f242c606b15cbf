-- Consumer ownership (issue 12): every consumer group that must run once in the cluster (each
-- projection, the side-effect enqueuer) is owned by one worker process at a time through a row
-- here, kept by internal/cluster.Leaser. The design is argued in internal/cluster/doc.go.
--
-- A lease names its owner's node and the owner's lease session (a dedicated connection on the
-- direct URL: its pid and backend_start, since a pid alone can be reused). Anyone may take a lease
-- that is free, whose expires_at passed (an owner cut off without its connection closing), or whose
-- session is gone from pg_stat_activity (an owner killed, or its backend terminated): the last is
-- what makes failover take one tick instead of a lease time. Each acquisition adds one to token,
-- the fencing token: the consumer's own commit locks its lease row FOR KEY SHARE and checks the
-- token, so a process that lost the lease can never commit after another took it, and a takeover
-- waits for (skips, then retries) a commit in flight. The token is a key column (the unique
-- constraint below), so only a change of token — a takeover — conflicts with that lock: the
-- owner's renewals, which update expires_at several times a second in all, never wait behind its
-- own commits, nor they behind a renewal.

-- +goose Up
CREATE TABLE consumer_leases (
    name          text PRIMARY KEY,
    token         bigint NOT NULL DEFAULT 0,
    node_id       uuid,           -- cluster_nodes.id of the owner; NULL: free
    session_pid   int,            -- the owner's lease session
    session_start timestamptz,
    expires_at    timestamptz,    -- renewed by the owner every few ticks
    acquired_at   timestamptz,
    released_at   timestamptz NOT NULL DEFAULT now(), -- when it was last given up on purpose
    -- makes token a key column for row locks (see above); trivially unique since name is
    CONSTRAINT consumer_leases_token_key UNIQUE (name, token)
);
-- serves a node's renewal and the listing of what each node owns (taskforge nodes)
CREATE INDEX consumer_leases_node_idx ON consumer_leases (node_id);

-- A worker's lease session and pinned consumers (NULL: any), so that every worker computes the
-- same assignment from the same rows; a node whose session is gone is not a candidate, however
-- fresh its heartbeat.
ALTER TABLE cluster_nodes ADD COLUMN lease_pid int, ADD COLUMN lease_session_start timestamptz,
    ADD COLUMN consumers text[];

-- Which node claimed a delivery: when that node is dead its claims are released at once instead of
-- waiting for claimed_until (the at-least-once repeat of a delivery in flight at a kill).
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by uuid;
ALTER TABLE email_outbox ADD COLUMN claimed_by uuid;

-- taskforge_projection_try_advance with a fencing token: refusal 'fenced' when the lease of p_name
-- no longer carries p_lease_token (another worker took it). The lease row stays locked FOR KEY
-- SHARE until the caller's transaction ends, so a takeover cannot slip between this check and the
-- commit. The 7-argument function stays for processes that run without leases (tests, a single
-- process during a rolling upgrade).
-- +goose StatementBegin
CREATE FUNCTION taskforge_projection_try_advance(
    p_name text, p_version int, p_prev_tx bigint, p_prev_pos bigint, p_tx bigint, p_pos bigint,
    p_event_time timestamptz, p_lease_token bigint,
    OUT refusal text, OUT checkpoint_tx bigint, OUT checkpoint_pos bigint
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM consumer_leases WHERE name = p_name AND token = p_lease_token FOR KEY SHARE;
    IF NOT FOUND THEN
        refusal := 'fenced';
        RETURN;
    END IF;
    SELECT a.refusal, a.checkpoint_tx, a.checkpoint_pos INTO refusal, checkpoint_tx, checkpoint_pos
    FROM taskforge_projection_try_advance(p_name, p_version, p_prev_tx, p_prev_pos, p_tx, p_pos, p_event_time) a;
END;
$$;
-- +goose StatementEnd

-- taskforge_projection_advance_leased is the same check for a lease holder's one-round-trip
-- commit (BEGIN; advance; the event's statements; COMMIT, pipelined): it raises on a refusal, which
-- aborts the transaction so that nothing after it commits, and the caller then classifies the
-- refusal through taskforge_projection_try_advance. A lease holder is refused only around a
-- handover (the previous owner's last commit, a redelivery), so these raises are a few ERROR lines
-- per handover, not one per event as with two unleased workers. One round trip instead of two
-- holds the transaction's xid (which holds every reader's horizon) for a server-side moment rather
-- than a client's round trip, which behind PgBouncer was most of the live lag.
-- +goose StatementBegin
CREATE FUNCTION taskforge_projection_advance_leased(
    p_name text, p_version int, p_prev_tx bigint, p_prev_pos bigint, p_tx bigint, p_pos bigint,
    p_event_time timestamptz, p_lease_token bigint
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM taskforge_projection_try_advance(p_name, p_version, p_prev_tx, p_prev_pos, p_tx, p_pos,
        p_event_time, p_lease_token);
    IF r.refusal IS NOT NULL THEN
        RAISE EXCEPTION 'taskforge: checkpoint advance of % refused: %', p_name, r.refusal
            USING ERRCODE = 'TF409';
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION taskforge_projection_advance_leased(text, int, bigint, bigint, bigint, bigint, timestamptz, bigint);
DROP FUNCTION taskforge_projection_try_advance(text, int, bigint, bigint, bigint, bigint, timestamptz, bigint);
ALTER TABLE email_outbox DROP COLUMN claimed_by;
ALTER TABLE webhook_deliveries DROP COLUMN claimed_by;
ALTER TABLE cluster_nodes DROP COLUMN lease_pid, DROP COLUMN lease_session_start, DROP COLUMN consumers;
DROP TABLE consumer_leases;
