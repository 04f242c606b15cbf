package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxBatch caps one read; callers page with the last event's version or global position.
const MaxBatch = 10_000

const eventColumns = `position, transaction_id::text::bigint, stream_id, stream_type, stream_version, event_id,
	event_type, schema_version, data, metadata, recorded_at, prev_hash, hash`

// ReadStream returns up to limit events of a stream, from version from (inclusive) upwards.
// A stream with no events returns an empty slice, not an error.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64, limit int) ([]RecordedEvent, error) {
	// served by events_stream_version_key
	evs, err := s.query(ctx, s.pool, `SELECT `+eventColumns+` FROM events
		WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3`,
		streamID, from, clampLimit(limit))
	if len(evs) > 0 {
		// A command that loaded the stream appends at its last version next: remember its hash.
		last := evs[len(evs)-1]
		s.heads.put(streamID, last.StreamVersion, last.Hash, last.StreamType)
	}
	return evs, err
}

// ReadStreamBackward returns up to limit events of a stream, from version from (inclusive) downwards;
// from < 0 starts at the stream's last event.
func (s *Store) ReadStreamBackward(ctx context.Context, streamID string, from int64, limit int) ([]RecordedEvent, error) {
	if from < 0 {
		from = math.MaxInt64
	}
	// served by events_stream_version_key (scanned backwards)
	evs, err := s.query(ctx, s.pool, `SELECT `+eventColumns+` FROM events
		WHERE stream_id = $1 AND stream_version <= $2 ORDER BY stream_version DESC LIMIT $3`,
		streamID, from, clampLimit(limit))
	if len(evs) > 0 {
		s.heads.put(streamID, evs[0].StreamVersion, evs[0].Hash, evs[0].StreamType)
	}
	return evs, err
}

// ReadAll returns up to limit events that follow after in the commit-safe global order.
//
// Events are ordered by (transaction_id, position) and only transactions older than the oldest one
// still running are read. Every transaction below that horizon has finished, so no event can later
// appear before a position already returned: a reader that resumes from the last event it saw never
// skips an event whose transaction committed late, and never sees one twice. The price is that a
// long-running transaction anywhere in the cluster holds readers back until it ends.
//
// Why not "position > last": positions are taken when a transaction inserts, not when it commits.
// A transaction that took position 7 and commits after another committed 8 would be skipped by a
// reader that had already moved past 8 (see TestReadAllNeverSkipsLateCommits).
func (s *Store) ReadAll(ctx context.Context, after GlobalPosition, limit int) ([]RecordedEvent, error) {
	return s.ReadAllOn(ctx, s.pool, after, limit)
}

// ReadAllOn is ReadAll on the given querier (a transaction in which a reader also writes its
// checkpoint, for example).
func (s *Store) ReadAllOn(ctx context.Context, q Querier, after GlobalPosition, limit int) ([]RecordedEvent, error) {
	if after.TransactionID > math.MaxInt64 {
		return nil, fmt.Errorf("read all: transaction id %d out of range", after.TransactionID)
	}
	return s.query(ctx, q, readAllSQL, int64(after.TransactionID), after.Position, clampLimit(limit))
}

// readAllSQL is served by events_global_order_idx. The ORDER BY names the table's columns: bare,
// "transaction_id" would be the select list's bigint cast of the same name, which PostgreSQL sorts
// by instead of reading the index in order (TestGlobalReadsUseTheIndexOrder).
const readAllSQL = `SELECT ` + eventColumns + ` FROM events
	WHERE (events.transaction_id, events.position) > ($1::bigint::text::xid8, $2)
	  AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY events.transaction_id, events.position LIMIT $3`

// headSQL is served by events_global_order_idx, backward, one row (same ORDER BY care).
const headSQL = `SELECT events.transaction_id::text::bigint, events.position FROM events
	WHERE events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1`

// StreamVersion returns a stream's current version (its last event's), or ErrNotFound.
func (s *Store) StreamVersion(ctx context.Context, streamID string) (int64, error) {
	var v int64
	// served by events_stream_version_key (backward, one row)
	err := s.pool.QueryRow(ctx, `SELECT stream_version FROM events WHERE stream_id = $1
		ORDER BY stream_version DESC LIMIT 1`, streamID).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("stream %s: %w", streamID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("stream version of %s: %w", streamID, err)
	}
	return v, nil
}

// Head returns the global position of the last event a reader can see now, or the zero position.
func (s *Store) Head(ctx context.Context) (GlobalPosition, error) {
	var p GlobalPosition
	var tx, pos *int64
	err := s.pool.QueryRow(ctx, headSQL).Scan(&tx, &pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("head: %w", err)
	}
	return GlobalPosition{TransactionID: uint64(*tx), Position: *pos}, nil
}

// ReadAllOrPending is ReadAll for followers that wait for NOTIFYs between reads. When it finds
// nothing, pending reports whether committed events wait above the read horizon, behind a
// transaction still running: they become readable when it ends, which sends no NOTIFY, so the
// follower should look again soon instead of waiting.
//
// The check runs in the same round trip just before the read, and that order is what makes "not
// pending" safe to wait on: an event committed before the check is either seen by it as pending or
// already below the horizon, where the read (a later snapshot, never a lower horizon) finds it; an
// event committed after the check sends its NOTIFY after that, so a follower that looked at its
// wake-up counter before the call will see it move.
func (s *Store) ReadAllOrPending(ctx context.Context, after GlobalPosition, limit int) (evs []RecordedEvent, pending bool, err error) {
	if after.TransactionID > math.MaxInt64 {
		return nil, false, fmt.Errorf("read all: transaction id %d out of range", after.TransactionID)
	}
	b := &pgx.Batch{}
	b.Queue(pendingSQL)
	b.Queue(readAllSQL, int64(after.TransactionID), after.Position, clampLimit(limit))
	br := s.pool.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			evs, pending, err = nil, false, fmt.Errorf("read events: %w", cerr)
		}
	}()
	if err := br.QueryRow().Scan(&pending); err != nil {
		return nil, false, fmt.Errorf("read events: horizon: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, false, fmt.Errorf("read events: %w", err)
	}
	evs, err = s.scan(rows)
	return evs, pending && len(evs) == 0, err
}

// pendingSQL is served by events_global_order_idx (range from the horizon, one row).
const pendingSQL = `SELECT EXISTS (SELECT 1 FROM events
	WHERE events.transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))`

func (s *Store) query(ctx context.Context, q Querier, sql string, args ...any) ([]RecordedEvent, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return s.scan(rows)
}

// scan decodes rows of eventColumns and closes them.
func (s *Store) scan(rows pgx.Rows) ([]RecordedEvent, error) {
	defer rows.Close()
	var out []RecordedEvent
	for rows.Next() {
		var (
			e    RecordedEvent
			txID int64
			meta []byte
			sv   int32
		)
		if err := rows.Scan(&e.Position, &txID, &e.StreamID, &e.StreamType, &e.StreamVersion, &e.ID,
			&e.Type, &sv, &e.Data, &meta, &e.RecordedAt, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read events: scan: %w", err)
		}
		e.TransactionID = uint64(txID)
		e.SchemaVersion = int(sv)
		e.RecordedAt = e.RecordedAt.UTC()
		if err := unmarshalMetadata(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("read event %s: %w", e.ID, err)
		}
		if err := s.upcasters.apply(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > MaxBatch {
		return MaxBatch
	}
	return limit
}

// FindAppend returns the result of the append that stored the given event ids, and whether it
// exists. Command handlers with an idempotency key call it before deciding again: a repeated
// command must return the first result even when deciding again would produce other events.
func (s *Store) FindAppend(ctx context.Context, ids []uuid.UUID) (AppendResult, bool, error) {
	// served by events_event_id_key
	rows, err := s.pool.Query(ctx, `SELECT stream_id, stream_version, event_id, position,
		transaction_id::text::bigint, recorded_at FROM events WHERE event_id = ANY ($1) ORDER BY position`, ids)
	if err != nil {
		return AppendResult{}, false, fmt.Errorf("find append: %w", err)
	}
	res := AppendResult{Streams: map[string]int64{}, Replayed: true}
	for rows.Next() {
		var e AppendedEvent
		var tx int64
		if err := rows.Scan(&e.StreamID, &e.StreamVersion, &e.ID, &e.Position, &tx, &e.RecordedAt); err != nil {
			rows.Close()
			return AppendResult{}, false, fmt.Errorf("find append: %w", err)
		}
		e.RecordedAt = e.RecordedAt.UTC()
		res.Events = append(res.Events, e)
		res.Streams[e.StreamID] = max(res.Streams[e.StreamID], e.StreamVersion)
		res.TransactionID = uint64(tx)
		res.LastPosition = max(res.LastPosition, e.Position)
	}
	if err := rows.Err(); err != nil {
		return AppendResult{}, false, fmt.Errorf("find append: %w", err)
	}
	return res, len(res.Events) > 0, nil
}
