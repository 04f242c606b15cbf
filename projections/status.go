package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/eventstore"
)

// Checkpoint states.
const (
	StateRunning  = "running"
	StateBuilding = "building"
	StateFailed   = "failed"
)

// maxLagCount bounds the lag count, so that status stays cheap on a projection far behind.
const maxLagCount = 10_000_000

// Status describes one projection's active version.
type Status struct {
	Name            string                    `json:"name"`
	ActiveVersion   int                       `json:"active_version"`
	BuildingVersion *int                      `json:"building_version,omitempty"`
	Position        eventstore.GlobalPosition `json:"position"`
	EventsHandled   int64                     `json:"events_handled"`
	// LagEvents counts the committed events after the checkpoint, PendingEvents those of them
	// that readers cannot see yet (held behind the read horizon, eventstore.Horizon).
	LagEvents     int64      `json:"lag_events"`
	PendingEvents int64      `json:"pending_events"`
	LagSeconds    float64    `json:"lag_seconds"`
	State         string     `json:"state"`
	LastError     string     `json:"last_error,omitempty"`
	FailedEventID *uuid.UUID `json:"failed_event_id,omitempty"`
	Parked        int64      `json:"parked"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Statuses returns the status of every installed projection, in one query.
func Statuses(ctx context.Context, pool *pgxpool.Pool) ([]Status, error) {
	// The subqueries are served by events_global_order_idx (the range after the checkpoint);
	// parked_events by its primary key. Lag counts every committed event after the checkpoint,
	// including those readers cannot see yet (held behind the horizon by a transaction still
	// running somewhere in the cluster, eventstore.Horizon): counting only the readable ones, a
	// projection stuck behind an idle transaction reported lag 0 while nothing reached it.
	rows, err := pool.Query(ctx, `
		SELECT r.name, r.active_version, r.building_version, c.transaction_id, c.position, c.events_handled,
		       c.state, coalesce(c.last_error, ''), c.failed_event_id, c.updated_at,
		       (SELECT count(*) FROM (SELECT 1 FROM events e
		            WHERE (e.transaction_id, e.position) > (c.transaction_id::text::xid8, c.position) LIMIT $1) AS lag),
		       (SELECT count(*) FROM (SELECT 1 FROM events e
		            WHERE (e.transaction_id, e.position) > (c.transaction_id::text::xid8, c.position)
		              AND e.transaction_id >= pg_snapshot_xmin(pg_current_snapshot()) LIMIT $1) AS pending),
		       coalesce(extract(epoch FROM now() - (SELECT min(e.recorded_at) FROM (SELECT recorded_at FROM events e
		            WHERE (e.transaction_id, e.position) > (c.transaction_id::text::xid8, c.position)
		            ORDER BY e.transaction_id, e.position LIMIT 1000) e)), 0)::float8,
		       (SELECT count(*) FROM parked_events p WHERE p.name = r.name AND p.version = r.active_version)
		FROM projection_versions r
		JOIN projection_checkpoints c ON c.name = r.name AND c.version = r.active_version
		ORDER BY r.name`, maxLagCount)
	if err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var s Status
		var tx int64
		if err := rows.Scan(&s.Name, &s.ActiveVersion, &s.BuildingVersion, &tx, &s.Position.Position, &s.EventsHandled,
			&s.State, &s.LastError, &s.FailedEventID, &s.UpdatedAt, &s.LagEvents, &s.PendingEvents, &s.LagSeconds, &s.Parked); err != nil {
			return nil, fmt.Errorf("projection status: %w", err)
		}
		s.Position.TransactionID = uint64(tx)
		s.LagSeconds = max(s.LagSeconds, 0)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	return out, nil
}

// Resume clears a failed projection's state so that it consumes again (from the poison event,
// which must have been made applicable, e.g. by a fix deployed meanwhile).
func Resume(ctx context.Context, pool *pgxpool.Pool, name string) error {
	tag, err := pool.Exec(ctx, `UPDATE projection_checkpoints c SET state = 'running', failed_event_id = NULL, updated_at = now()
		FROM projection_versions r WHERE r.name = $1 AND c.name = r.name AND c.version = r.active_version AND c.state = 'failed'`, name)
	if err != nil {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("resume %s: not failed", name)
	}
	return nil
}
