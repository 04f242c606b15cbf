package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Snapshot is an aggregate's state folded up to StreamVersion. SchemaVersion is the version of the
// snapshot's own format: when the aggregate's state shape changes, bump it and old snapshots are
// ignored (the aggregate folds from the first event and a new snapshot replaces the stale one).
type Snapshot struct {
	StreamID      string
	SchemaVersion int
	StreamVersion int64
	Data          json.RawMessage
	CreatedAt     time.Time
}

// SaveSnapshot stores snap as the stream's latest unless a newer one of the same schema version is
// already there (two writers snapshotting at once keep the more advanced one).
func (s *Store) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	if snap.StreamID == "" || snap.StreamVersion <= 0 || snap.SchemaVersion <= 0 || !json.Valid(snap.Data) {
		return fmt.Errorf("%w: snapshot needs a stream, a positive version and schema version, and JSON data", ErrInvalidAppend)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO snapshots (stream_id, schema_version, stream_version, data)
		VALUES ($1, $2, $3, $4::text::jsonb)
		ON CONFLICT (stream_id) DO UPDATE
		SET schema_version = EXCLUDED.schema_version, stream_version = EXCLUDED.stream_version,
		    data = EXCLUDED.data, created_at = now()
		WHERE snapshots.schema_version <> EXCLUDED.schema_version
		   OR snapshots.stream_version < EXCLUDED.stream_version`,
		snap.StreamID, snap.SchemaVersion, snap.StreamVersion, string(snap.Data))
	if err != nil {
		return fmt.Errorf("save snapshot of %s: %w", snap.StreamID, err)
	}
	return nil
}

// LoadSnapshot returns the stream's latest snapshot in schemaVersion, or ErrNotFound when there is
// none or only one in another schema version.
func (s *Store) LoadSnapshot(ctx context.Context, streamID string, schemaVersion int) (Snapshot, error) {
	snap := Snapshot{StreamID: streamID}
	// served by snapshots_pkey
	err := s.pool.QueryRow(ctx, `SELECT schema_version, stream_version, data, created_at FROM snapshots
		WHERE stream_id = $1 AND schema_version = $2`, streamID, schemaVersion).
		Scan(&snap.SchemaVersion, &snap.StreamVersion, &snap.Data, &snap.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Snapshot{}, fmt.Errorf("snapshot of %s v%d: %w", streamID, schemaVersion, ErrNotFound)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot of %s: %w", streamID, err)
	}
	return snap, nil
}
