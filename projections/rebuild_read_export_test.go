package projections

import (
	"context"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// ReadLoad is the load phase's read of the log; scanned makes it decode every row with pgx's
// Scan instead of from the raw values.
func ReadLoad(ctx context.Context, store *eventstore.Store, after eventstore.GlobalPosition, limit int, scanned bool) ([]eventstore.RecordedEvent, error) {
	return readLoad(ctx, store.Pool(), store, domain.NewRegistry(), after, limit, scanned)
}
