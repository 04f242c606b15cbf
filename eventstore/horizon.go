package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The read horizon. Readers see events only below the oldest transaction still running anywhere
// in the PostgreSQL cluster (pg_snapshot_xmin; see doc.go): that is what makes the global order
// gap-free. Its price: one transaction left open with an xid — in any database of the cluster, an
// idle psql session, a stuck migration, a prepared transaction — holds every reader back, while
// writes go on being acknowledged. Horizon says how many committed events wait behind it and
// which backend holds it, so that lag, /metrics, /readyz and the logs tell the truth.

// Horizon is the state of the read horizon.
type Horizon struct {
	// Pending is the number of committed events readers cannot see yet (at or above the
	// horizon), at most maxPendingCount.
	Pending int64 `json:"pending"`
	// OldestPendingAt is when the oldest of them was recorded (zero when none).
	OldestPendingAt time.Time `json:"oldest_pending_at,omitzero"`
	// Holder is the oldest transaction holding an xid in the cluster, or nil when none runs.
	Holder *HorizonHolder `json:"holder,omitempty"`
}

// HorizonHolder is a transaction holding the horizon: a backend (PID > 0) or a prepared
// transaction (PID 0, Prepared set).
type HorizonHolder struct {
	PID         int           `json:"pid"`
	Database    string        `json:"database"`
	User        string        `json:"user,omitempty"`
	Application string        `json:"application,omitempty"`
	State       string        `json:"state,omitempty"`
	Prepared    string        `json:"prepared,omitempty"` // a prepared transaction's gid
	Age         time.Duration `json:"age"`
}

// Stalled reports whether committed events have waited behind the horizon for longer than d.
func (h Horizon) Stalled(d time.Duration, now time.Time) bool {
	return h.Pending > 0 && !h.OldestPendingAt.IsZero() && now.Sub(h.OldestPendingAt) > d
}

// maxPendingCount bounds Pending's count, so that the check stays cheap when much is held back.
const maxPendingCount = 1_000_000

// horizonSQL counts the committed events at or above the horizon (a range of
// events_global_order_idx from the horizon up: a transaction's events are visible to this
// statement once committed, wherever the horizon is), and finds the oldest transaction holding
// an xid in the whole cluster: a backend (pg_stat_activity shows every database's) or a prepared
// transaction. Another role's backends show their xid only to superusers and members of
// pg_read_all_stats: grant it to the role Taskforge runs as.
const horizonSQL = `
WITH pending AS (
	SELECT count(*) AS n, min(recorded_at) AS oldest FROM (
		SELECT recorded_at FROM events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()) LIMIT $1) e),
holder AS (
	SELECT pid, coalesce(datname, '') AS db, coalesce(usename, '') AS usr, coalesce(application_name, '') AS app,
		coalesce(state, '') AS state, ''::text AS gid, now() - coalesce(xact_start, now()) AS age, age(backend_xid) AS xid_age
	FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
	UNION ALL
	SELECT 0, database, owner, '', 'prepared', gid, now() - prepared, age(transaction)
	FROM pg_prepared_xacts
	ORDER BY xid_age DESC LIMIT 1)
SELECT p.n, p.oldest, h.pid, h.db, h.usr, h.app, h.state, h.gid, h.age
FROM pending p LEFT JOIN holder h ON true`

// Horizon returns the state of the read horizon (one statement).
func (s *Store) Horizon(ctx context.Context) (Horizon, error) {
	var h Horizon
	var oldest *time.Time
	var pid *int
	var db, user, app, state, gid *string
	var age *time.Duration
	err := s.pool.QueryRow(ctx, horizonSQL, maxPendingCount).Scan(&h.Pending, &oldest, &pid, &db, &user, &app, &state, &gid, &age)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read horizon: %w", err)
	}
	if oldest != nil {
		h.OldestPendingAt = *oldest
	}
	if pid != nil {
		h.Holder = &HorizonHolder{PID: *pid, Database: deref(db), User: deref(user), Application: deref(app),
			State: deref(state), Prepared: deref(gid)}
		if age != nil {
			h.Holder.Age = *age
		}
	}
	return h, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
