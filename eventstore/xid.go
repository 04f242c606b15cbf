package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// xidCheckSQL is served by events_global_order_idx (backward, one row; the ORDER BY names the
// column, not the select list's cast of the same name).
const xidCheckSQL = `SELECT (SELECT events.transaction_id::text::bigint FROM events
	ORDER BY events.transaction_id DESC LIMIT 1), pg_snapshot_xmax(pg_current_snapshot())::text::bigint`

// ErrTransactionIDsBehind says that the server hands out transaction ids below ones already stored
// in the log, which happens after a dump is restored into a new cluster. Appending then would put
// new events before old ones in the global order, where every reader's checkpoint has already
// passed: they would never be read. Refusing to start is the safe answer.
var ErrTransactionIDsBehind = errors.New("eventstore: the server's transaction ids are behind the log's")

// CheckTransactionIDs returns ErrTransactionIDsBehind (with the recovery command) when the next
// transaction id the server will assign is not above every transaction id stored in events.
// `taskforge serve` runs it at start-up; it consumes no transaction id itself.
func (s *Store) CheckTransactionIDs(ctx context.Context) error {
	var maxStored, next *int64
	err := s.pool.QueryRow(ctx, xidCheckSQL).Scan(&maxStored, &next)
	if err != nil {
		return fmt.Errorf("check transaction ids: %w", err)
	}
	if maxStored == nil || *next > *maxStored {
		return nil
	}
	want := *maxStored + 1_000_000 // headroom for transactions that ran meanwhile
	return fmt.Errorf("%w: the log holds transaction id %d, the server is at %d. Stop PostgreSQL and run "+
		"`pg_resetwal -e %d -x %d <data directory>` to move the server past the log, then start again",
		ErrTransactionIDsBehind, *maxStored, *next, want>>32, want&0xFFFFFFFF)
}
