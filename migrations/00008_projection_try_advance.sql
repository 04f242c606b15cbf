-- A refused checkpoint advance is an answer, not an error (issue 12).
--
-- taskforge_projection_advance RAISEs when it refuses, and PostgreSQL logs every raised exception
-- as an ERROR with its statement: with two workers running the same projections, every event the
-- slower one tries again after the other applied it is a refusal, 40,765 ERROR lines in 2.5
-- minutes, which buries real errors. taskforge_projection_try_advance does the same check under
-- the same row lock and returns the refusal instead; the caller then rolls its transaction back
-- (nothing of the batch commits) and acknowledges or repositions.
--
-- It is a new function, not a replacement: a process of the previous release, still running during
-- a rolling upgrade, calls taskforge_projection_advance and ignores its result, so a version of it
-- that returned instead of raising would let that process commit a refused batch (an event applied
-- twice). The old function keeps raising for such processes and can be dropped once no release
-- that calls it runs.

-- +goose Up

-- taskforge_projection_try_advance moves a projection version's checkpoint from prev to next and
-- returns refusal NULL, or changes nothing and returns why not, with the checkpoint it found:
--   moved     the checkpoint is not at prev: next is already applied (another worker, or a
--             redelivery after a crash between commit and ack: the caller acks it as a no-op) or
--             there is a gap (the caller repositions its subscription from the stored checkpoint);
--   inactive  the version is not the active one (a rebuild swapped it: the caller reloads);
--   failed    the projection is failed (it stays stopped until resumed).
-- It is the first statement of every handler transaction and locks the checkpoint row (also when
-- it refuses, until the caller rolls back), so two workers of one projection can never both apply
-- an event. The caller must not commit after a refusal.
-- +goose StatementBegin
CREATE FUNCTION taskforge_projection_try_advance(
    p_name text, p_version int, p_prev_tx bigint, p_prev_pos bigint, p_tx bigint, p_pos bigint,
    p_event_time timestamptz,
    OUT refusal text, OUT checkpoint_tx bigint, OUT checkpoint_pos bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    c projection_checkpoints%ROWTYPE;
BEGIN
    -- The common case in one statement; a refusal is classified only when it misses. Under READ
    -- COMMITTED an UPDATE that waited for another worker's lock re-checks its WHERE against the
    -- row that worker committed, so the loser misses here.
    UPDATE projection_checkpoints
    SET transaction_id = p_tx, position = p_pos, events_handled = events_handled + 1,
        event_time = p_event_time, updated_at = now(), last_error = NULL
    WHERE name = p_name AND version = p_version AND transaction_id = p_prev_tx AND position = p_prev_pos
      AND state <> 'failed'
      AND EXISTS (SELECT 1 FROM projection_versions WHERE name = p_name AND active_version = p_version);
    IF FOUND THEN
        checkpoint_tx := p_tx;
        checkpoint_pos := p_pos;
        RETURN;
    END IF;
    SELECT * INTO c FROM projection_checkpoints WHERE name = p_name AND version = p_version FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (
        SELECT 1 FROM projection_versions WHERE name = p_name AND active_version = p_version
    ) THEN
        refusal := 'inactive';
    ELSIF c.state = 'failed' THEN
        refusal := 'failed';
    ELSE
        refusal := 'moved';
    END IF;
    checkpoint_tx := c.transaction_id;
    checkpoint_pos := c.position;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION taskforge_projection_try_advance;
