-- A lease holder's one-round-trip commit sets its transaction's settings inside
-- taskforge_projection_advance_leased instead of in a statement of its own: behind PgBouncer before
-- 1.21 every statement is parsed and planned again, and this one ran for every event of every
-- projection. The settings are the same (set_config with is_local: until the transaction ends):
-- an asynchronous commit (a crash loses whole transactions, tables and checkpoint together, which
-- are delivered and applied again), and idle_in_transaction_session_timeout, which ends a
-- transaction left open by a paused process so that its row locks (checkpoint, lease) cannot hold
-- a takeover back for longer than a lease's time.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskforge_projection_advance_leased(
    p_name text, p_version int, p_prev_tx bigint, p_prev_pos bigint, p_tx bigint, p_pos bigint,
    p_event_time timestamptz, p_lease_token bigint
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true), set_config('idle_in_transaction_session_timeout', '5s', true);
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskforge_projection_advance_leased(
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
