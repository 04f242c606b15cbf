-- Projections (projections/): the registry of read models, their checkpoints and parked events.
--
-- The read tables themselves are not created here: each projection version has its own tables
-- (rm_tasks_v1, rm_tasks_v2, ...), created by the projections package from DDL templates, because
-- a rebuild creates version N+1 at run time while version N keeps serving. Stable views
-- (rm_tasks -> rm_tasks_vN) are what queries read; a swap replaces them in the same transaction
-- that moves active_version.

-- +goose Up

-- One row per projection: which version serves reads, and which one a rebuild is building.
CREATE TABLE projection_versions (
    name             text PRIMARY KEY,
    active_version   int NOT NULL CHECK (active_version > 0),
    building_version int CHECK (building_version > active_version),
    swapped_at       timestamptz
);

-- One row per projection version. A handler advances its version's row in the same transaction as
-- its table writes (taskforge_projection_advance), so the tables and the checkpoint never disagree.
-- transaction_id is xid8 as a bigint: eventstore.GlobalPosition{TransactionID, Position}.
CREATE TABLE projection_checkpoints (
    name            text NOT NULL,
    version         int NOT NULL,
    transaction_id  bigint NOT NULL DEFAULT 0,
    position        bigint NOT NULL DEFAULT 0,
    events_handled  bigint NOT NULL DEFAULT 0,
    -- last applied event's recorded time: lag in seconds is head time minus this
    event_time      timestamptz,
    -- running: consuming; building: a rebuild is filling this version; failed: stopped on a poison
    -- event (failed_event_id, last_error) until an engineer resumes or rebuilds it
    state           text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'building', 'failed')),
    last_error      text,
    failed_event_id uuid,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- Events a projection gave up on in park mode: recorded, and the projection moved on. Never in
-- fail mode (the default), where a poison event stops the projection instead.
CREATE TABLE parked_events (
    name           text NOT NULL,
    version        int NOT NULL,
    event_id       uuid NOT NULL,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    event_type     text NOT NULL,
    error          text NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, event_id)
);

-- Per user "read up to here" mark of the notifications inbox. It is the user's state, not a read
-- model, so it lives outside the versioned tables and survives rebuilds.
CREATE TABLE notification_reads (
    user_id        text PRIMARY KEY,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- taskforge_projection_advance moves a projection version's checkpoint from prev to next, or raises:
--   TFP01 the checkpoint is not at prev: next is already applied (a redelivery after a crash
--         between commit and ack; the caller acks it as a no-op) or there is a gap (the caller
--         repositions its subscription from the stored checkpoint);
--   TFP02 the version is not the active one (a rebuild swapped it: the caller reloads);
--   TFP03 the projection is failed (it stays stopped until resumed).
-- It is the first statement of every handler transaction and locks the checkpoint row, so two
-- workers of one projection can never both apply an event.
-- +goose StatementBegin
CREATE FUNCTION taskforge_projection_advance(
    p_name text, p_version int, p_prev_tx bigint, p_prev_pos bigint, p_tx bigint, p_pos bigint,
    p_event_time timestamptz
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c projection_checkpoints%ROWTYPE;
BEGIN
    -- The common case in one statement; the refusals below are classified only when it misses.
    UPDATE projection_checkpoints
    SET transaction_id = p_tx, position = p_pos, events_handled = events_handled + 1,
        event_time = p_event_time, updated_at = now(), last_error = NULL
    WHERE name = p_name AND version = p_version AND transaction_id = p_prev_tx AND position = p_prev_pos
      AND state <> 'failed'
      AND EXISTS (SELECT 1 FROM projection_versions WHERE name = p_name AND active_version = p_version);
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO c FROM projection_checkpoints WHERE name = p_name AND version = p_version FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (
        SELECT 1 FROM projection_versions WHERE name = p_name AND active_version = p_version
    ) THEN
        RAISE EXCEPTION 'projection % version % is not active', p_name, p_version USING ERRCODE = 'TFP02';
    END IF;
    IF c.state = 'failed' THEN
        RAISE EXCEPTION 'projection % is failed: %', p_name, c.last_error USING ERRCODE = 'TFP03';
    END IF;
    RAISE EXCEPTION 'projection % checkpoint is at (%, %), not (%, %)', p_name,
        c.transaction_id, c.position, p_prev_tx, p_prev_pos
        USING ERRCODE = 'TFP01', DETAIL = c.transaction_id || ',' || c.position;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION taskforge_projection_advance;
DROP TABLE notification_reads;
DROP TABLE parked_events;
DROP TABLE projection_checkpoints;
DROP TABLE projection_versions;
