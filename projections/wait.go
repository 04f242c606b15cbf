package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/taskforge/taskforge/eventstore"
)

// DefaultWait bounds WaitFor when ctx has no deadline.
const DefaultWait = 5 * time.Second

// WaitFor waits until every named projection (all when none) has applied the log up to pos, for
// read-your-writes. It polls the checkpoints (one indexed query each time, backing off from 2ms to
// 50ms) until ctx is done, or DefaultWait when ctx has no deadline.
func (q *Queries) WaitFor(ctx context.Context, pos eventstore.GlobalPosition, names ...string) error {
	if names == nil {
		names = []string{} // NULL would match nothing
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	delay := 2 * time.Millisecond
	for {
		var behind, installed int
		// served by projection_versions_pkey and projection_checkpoints_pkey
		err := q.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE (c.transaction_id, c.position) < ($1, $2)), count(*)
			FROM projection_versions r JOIN projection_checkpoints c ON c.name = r.name AND c.version = r.active_version
			WHERE cardinality($3::text[]) = 0 OR r.name = ANY ($3)`, int64(pos.TransactionID), pos.Position, names).Scan(&behind, &installed)
		if err != nil {
			return fmt.Errorf("wait for projections: %w", err)
		}
		if behind == 0 && installed > 0 && (len(names) == 0 || installed == len(names)) {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for projections at %s: %w", pos, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}
