-- The event store: the immutable events log and snapshots.
--
-- There is no table of stream heads: a stream's head is its last event, found by a backward scan of
-- events_stream_version_key. A heads table updated on every append was measured here at 3x the cost
-- of the append itself under 8 writers: every update of a hot row leaves a dead version behind that
-- the next lookup must step over until vacuum catches up. The events table only ever grows.
--
-- Writers of one stream are serialised by a transaction-scoped advisory lock on the stream id
-- (taskforge_append), and UNIQUE (stream_id, stream_version) stands behind it.

-- +goose Up
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The committing transaction. Global readers order by (transaction_id, position) and read only
    -- below pg_snapshot_xmin, which never skips an event whose transaction commits late.
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id      text NOT NULL,
    stream_type    text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    schema_version int NOT NULL CHECK (schema_version > 0),
    -- json, not jsonb: the exact bytes the appender sent are kept, so the hash chain (computed in
    -- Go on the hot path) covers what is stored, and an audit export reproduces it byte for byte.
    -- Readers decode payloads in Go; nothing queries inside them.
    data           json NOT NULL,
    metadata       json NOT NULL,
    -- the appending process's clock, in microseconds (the hash covers it, so it is chosen before
    -- the INSERT); positions, not times, order events
    recorded_at    timestamptz NOT NULL,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    -- serves ReadStream forward and backward, and guards against holes and duplicates in a stream
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    -- serves idempotent re-appends (lookup by event id)
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

-- serves ReadAll: the commit-safe global order
CREATE INDEX events_global_order_idx ON events (transaction_id, position);

-- Events are immutable: the database refuses UPDATE, DELETE and TRUNCATE, whoever asks. A superuser
-- can still disable the trigger; the per-stream hash chain is what exposes such an edit.
-- +goose StatementBegin
CREATE FUNCTION taskforge_events_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused', TG_OP USING ERRCODE = 'TF403';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER events_immutable_rows BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION taskforge_events_immutable();
CREATE TRIGGER events_immutable_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION taskforge_events_immutable();

-- The hash of one event: sha256(prev_hash || content), where content is each field as
-- "<byte length>:<utf-8 text>" so that no two field lists share an encoding. data and metadata are
-- json (stored verbatim) and recorded_at is taken in microseconds since the epoch, so eventstore
-- computes the same bytes in Go (EventHash), both to append and to verify.
-- PL/pgSQL rather than SQL: called from taskforge_append it runs about 3x faster (a SQL function that
-- is not inlined is set up anew on every call).
-- +goose StatementBegin
CREATE FUNCTION taskforge_event_hash(
    prev_hash bytea, stream_id text, stream_version bigint, event_id uuid, event_type text,
    schema_version int, recorded_at timestamptz, data json, metadata json
) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    v  text := stream_version::text;
    id text := event_id::text;
    sv text := schema_version::text;
    t  text := ((extract(epoch FROM recorded_at) * 1000000)::bigint)::text;
    d  text := data::text;
    m  text := metadata::text;
BEGIN
    RETURN sha256(prev_hash || convert_to(
        octet_length(stream_id) || ':' || stream_id || octet_length(v) || ':' || v ||
        octet_length(id) || ':' || id || octet_length(event_type) || ':' || event_type ||
        octet_length(sv) || ':' || sv || octet_length(t) || ':' || t ||
        octet_length(d) || ':' || d || octet_length(m) || ':' || m,
        'UTF8'));
END;
$$;
-- +goose StatementEnd

-- taskforge_stream_lock is the advisory lock key of a stream (a 64-bit hash of its id; a collision
-- only makes two streams wait for each other).
-- +goose StatementBegin
CREATE FUNCTION taskforge_stream_lock(stream_id text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT hashtextextended('taskforge:' || stream_id, 0) $$;
-- +goose StatementEnd

-- taskforge_append appends events to one or several streams in the caller's transaction, in one
-- round trip. Streams must be passed sorted by id (eventstore does it) so that concurrent
-- multi-stream appends take their locks in the same order and cannot deadlock.
--
-- Each written stream is locked with an exclusive transaction-scoped advisory lock, then its head
-- (last event) is read with a fresh snapshot: a second writer of the same stream waits for the
-- first to finish and then sees its events, so it fails with a clean version conflict. A stream with
-- no events in this call is only checked, under a shared lock held until commit: this lets a command
-- assert the version of a stream it decided on but does not write.
--
-- Expected-version modes: 0 any, 1 no stream, 2 stream exists, 3 exact (p_expected).
--
-- Errors: SQLSTATE TF409 is a version conflict, DETAIL holds {"stream_id","current"} as JSON;
-- TF422 is a malformed request (event ids reused for other events, stream type mismatch); 23505 on
-- events_event_id_key means the same event ids were appended concurrently, on
-- events_stream_version_key that the caller's snapshot was too old to see the head (REPEATABLE
-- READ callers).
--
-- With p_check_known, event ids that are all stored already return the original append
-- (replayed = true) and nothing changes. The check costs an index probe per event, so the hot path
-- skips it and eventstore re-runs the call with it only after a conflict or a duplicate id.
--
-- This is the general path. eventstore appends with a plain INSERT instead when it knows the hash
-- of every written stream's expected version (see fastAppendSQL in eventstore/store.go).
--
-- Returns one row: each stream's version and head hash after the append (in p_stream_ids order),
-- each event's stream version and position (in p_event_ids order), the transaction id and the
-- recorded time.
-- +goose StatementBegin
CREATE FUNCTION taskforge_append(
    p_stream_ids        text[],
    p_stream_types      text[],
    p_modes             smallint[],
    p_expected          bigint[],
    p_event_streams     int[],      -- for each event, the 1-based index of its stream
    p_event_ids         uuid[],
    p_event_types       text[],
    p_schema_versions   int[],
    p_data              json[],
    p_metadata          json[],
    p_recorded_at       timestamptz,
    p_check_known       boolean,
    p_notify            boolean,
    OUT stream_versions bigint[],
    OUT stream_hashes   bytea[],
    OUT event_versions  bigint[],
    OUT positions       bigint[],
    OUT transaction_id  bigint,
    OUT recorded_at     timestamptz,
    OUT replayed        boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    n_streams  int := coalesce(array_length(p_stream_ids, 1), 0);
    n_events   int := coalesce(array_length(p_event_ids, 1), 0);
    v_known    int;
    v_cur      bigint;
    v_hash     bytea;
    v_type     text;
    v_writes   int[];
    v_hashes   bytea[];
    e_prev     bytea[];
    e_hash     bytea[];
    s          int;
    e          int;
BEGIN
    recorded_at := p_recorded_at;
    replayed := false;
    IF p_check_known AND n_events > 0 THEN
        SELECT count(*) INTO v_known FROM events ev WHERE ev.event_id = ANY (p_event_ids);
        IF v_known > 0 THEN
            IF v_known <> n_events OR EXISTS (
                SELECT 1
                FROM unnest(p_event_ids, p_event_streams, p_event_types) AS x(id, s, t)
                JOIN events ev ON ev.event_id = x.id
                WHERE ev.stream_id <> p_stream_ids[x.s] OR ev.event_type <> x.t
            ) THEN
                RAISE EXCEPTION 'event ids already used by other events'
                    USING ERRCODE = 'TF422', DETAIL = 'duplicate_event_id';
            END IF;
            SELECT array_agg(ev.stream_version ORDER BY x.ord), array_agg(ev.position ORDER BY x.ord),
                   max(ev.transaction_id::text::bigint), min(ev.recorded_at)
            INTO event_versions, positions, transaction_id, recorded_at
            FROM unnest(p_event_ids) WITH ORDINALITY AS x(id, ord) JOIN events ev ON ev.event_id = x.id;
            SELECT array_agg(coalesce(
                       (SELECT max(ev.stream_version) FROM events ev
                        WHERE ev.event_id = ANY (p_event_ids) AND ev.stream_id = sid),
                       CASE WHEN p_modes[i] = 3 THEN p_expected[i] END) ORDER BY i)
            INTO stream_versions
            FROM unnest(p_stream_ids) WITH ORDINALITY AS y(sid, i);
            replayed := true;
            RETURN;
        END IF;
    END IF;

    v_writes := array_fill(0, ARRAY[n_streams]);
    FOR e IN 1 .. n_events LOOP
        v_writes[p_event_streams[e]] := v_writes[p_event_streams[e]] + 1;
    END LOOP;
    stream_versions := array_fill(0::bigint, ARRAY[n_streams]);
    v_hashes := array_fill(''::bytea, ARRAY[n_streams]);

    FOR s IN 1 .. n_streams LOOP
        IF v_writes[s] > 0 THEN
            PERFORM pg_advisory_xact_lock(taskforge_stream_lock(p_stream_ids[s]));
        ELSE
            PERFORM pg_advisory_xact_lock_shared(taskforge_stream_lock(p_stream_ids[s]));
        END IF;
        -- served by events_stream_version_key (backward, one row)
        SELECT ev.stream_version, ev.hash, ev.stream_type INTO v_cur, v_hash, v_type
        FROM events ev WHERE ev.stream_id = p_stream_ids[s] ORDER BY ev.stream_version DESC LIMIT 1;
        IF NOT FOUND THEN
            v_cur := 0;
            v_hash := ''::bytea;
            v_type := p_stream_types[s];
        END IF;
        IF (p_modes[s] = 1 AND v_cur > 0)
           OR (p_modes[s] = 2 AND v_cur = 0)
           OR (p_modes[s] = 3 AND v_cur <> p_expected[s]) THEN
            RAISE EXCEPTION 'version conflict on stream %', p_stream_ids[s] USING ERRCODE = 'TF409',
                DETAIL = json_build_object('stream_id', p_stream_ids[s], 'current', v_cur)::text;
        END IF;
        IF v_writes[s] > 0 AND v_type <> p_stream_types[s] THEN
            RAISE EXCEPTION 'stream % has type %, not %', p_stream_ids[s], v_type, p_stream_types[s]
                USING ERRCODE = 'TF422', DETAIL = 'stream_type_mismatch';
        END IF;
        stream_versions[s] := v_cur;
        v_hashes[s] := v_hash;
    END LOOP;

    IF n_events = 0 THEN
        stream_hashes := v_hashes;
        RETURN;
    END IF;

    -- Number the events and chain their hashes, stream by stream, in the order given.
    event_versions := array_fill(0::bigint, ARRAY[n_events]);
    e_prev := array_fill(''::bytea, ARRAY[n_events]);
    e_hash := array_fill(''::bytea, ARRAY[n_events]);
    FOR e IN 1 .. n_events LOOP
        s := p_event_streams[e];
        stream_versions[s] := stream_versions[s] + 1;
        event_versions[e] := stream_versions[s];
        e_prev[e] := v_hashes[s];
        v_hashes[s] := taskforge_event_hash(v_hashes[s], p_stream_ids[s], stream_versions[s], p_event_ids[e],
            p_event_types[e], p_schema_versions[e], recorded_at, p_data[e], p_metadata[e]);
        e_hash[e] := v_hashes[s];
    END LOOP;
    stream_hashes := v_hashes;

    IF n_events = 1 THEN
        -- The common case, without the unnest plan (measured at half the cost of the batch form).
        INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type,
                            schema_version, data, metadata, recorded_at, prev_hash, hash)
        VALUES (p_stream_ids[p_event_streams[1]], p_stream_types[p_event_streams[1]], event_versions[1],
                p_event_ids[1], p_event_types[1], p_schema_versions[1], p_data[1], p_metadata[1],
                recorded_at, e_prev[1], e_hash[1])
        RETURNING ARRAY[events.position] INTO positions;
    ELSE
        -- Identity values follow the SELECT's order, so sorted positions are in p_event_ids order.
        WITH ins AS (
            INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type,
                                schema_version, data, metadata, recorded_at, prev_hash, hash)
            SELECT p_stream_ids[x.s], p_stream_types[x.s], x.v, x.id, x.t, x.sv, x.d, x.m, recorded_at, x.ph, x.h
            FROM unnest(p_event_streams, event_versions, p_event_ids, p_event_types, p_schema_versions,
                        p_data, p_metadata, e_prev, e_hash)
                 WITH ORDINALITY AS x(s, v, id, t, sv, d, m, ph, h, ord)
            ORDER BY x.ord
            RETURNING events.position
        )
        SELECT array_agg(ins.position ORDER BY ins.position) INTO positions FROM ins;
    END IF;
    transaction_id := pg_current_xact_id()::text::bigint;

    IF p_notify THEN
        -- Delivered at commit; the payload is empty: readers re-read from their checkpoint.
        PERFORM pg_notify('taskforge_events', '');
    END IF;
END;
$$;
-- +goose StatementEnd

-- Latest snapshot per stream. schema_version is the snapshot format's version: a reader that expects
-- another one ignores the row and folds from the start.
CREATE TABLE snapshots (
    stream_id      text PRIMARY KEY,
    schema_version int NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    data           jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE snapshots;
DROP FUNCTION taskforge_append;
DROP FUNCTION taskforge_stream_lock;
DROP FUNCTION taskforge_event_hash;
DROP TABLE events;
DROP FUNCTION taskforge_events_immutable;
