package domain

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSnapshotIncompatible means a stored snapshot was written by another
// version of an aggregate's state layout. It is not corruption: the caller
// should ignore the snapshot and load the aggregate from its full stream.
var ErrSnapshotIncompatible = errors.New("snapshot format is not the current one")

// Snapshot formats: bump one whenever the matching state struct changes shape,
// so that old snapshots are ignored rather than misread.
const (
	userSnapshotFormat              = 1
	workspaceSnapshotFormat         = 2 // 2: webhooks hold a secret id, not the secret
	projectSnapshotFormat           = 1
	taskSnapshotFormat              = 1
	memberAssignmentsSnapshotFormat = 1
	taskNumbersSnapshotFormat       = 1
)

// SnapshotFormat returns the current snapshot format of an aggregate's
// stream type, which the event store keeps as the snapshot's schema version
// so that snapshots in an older format are not even loaded.
func SnapshotFormat(streamType string) (int, bool) {
	switch streamType {
	case StreamTypeUser:
		return userSnapshotFormat, true
	case StreamTypeWorkspace:
		return workspaceSnapshotFormat, true
	case StreamTypeProject:
		return projectSnapshotFormat, true
	case StreamTypeTask:
		return taskSnapshotFormat, true
	case StreamTypeMember:
		return memberAssignmentsSnapshotFormat, true
	case StreamTypeTaskNumbers:
		return taskNumbersSnapshotFormat, true
	}
	return 0, false
}

type snapshotEnvelope struct {
	Kind   string          `json:"kind"`
	Format int             `json:"format"`
	State  json.RawMessage `json:"state"`
}

func marshalSnapshot(kind string, format int, state any) ([]byte, error) {
	raw, err := json.Marshal(state)
	if err != nil {
		return nil, fmt.Errorf("encode %s snapshot: %w", kind, err)
	}
	return json.Marshal(snapshotEnvelope{Kind: kind, Format: format, State: raw})
}

func unmarshalSnapshot(kind string, format int, data []byte, state any) error {
	var env snapshotEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("decode %s snapshot: %w", kind, err)
	}
	if env.Kind != kind {
		return fmt.Errorf("decode %s snapshot: snapshot is of a %q", kind, env.Kind)
	}
	if env.Format != format {
		return fmt.Errorf("decode %s snapshot format %d (current %d): %w", kind, env.Format, format, ErrSnapshotIncompatible)
	}
	if err := json.Unmarshal(env.State, state); err != nil {
		return fmt.Errorf("decode %s snapshot: %w", kind, err)
	}
	return nil
}
