package projections

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/taskforge/taskforge/eventstore"
)

// ActivityItem is one line of a workspace's feed.
type ActivityItem struct {
	EventID   uuid.UUID                 `json:"event_id"`
	EventType string                    `json:"event_type"`
	ActorID   string                    `json:"actor_id"`
	ActorName string                    `json:"actor_name"`
	SubjectID *uuid.UUID                `json:"subject_id,omitempty"`
	Line      string                    `json:"line"`
	At        time.Time                 `json:"at"`
	Position  eventstore.GlobalPosition `json:"position"`
}

// ActivityPage is a page of the feed, newest first.
type ActivityPage struct {
	Items []ActivityItem `json:"items"`
	// Before is where the next (older) page starts; nil on the last page.
	Before *eventstore.GlobalPosition `json:"before,omitempty"`
}

// ActivityFeed returns the workspace's feed, newest first, strictly before before (nil: from the
// newest).
func (q *Queries) ActivityFeed(ctx context.Context, workspaceID uuid.UUID, before *eventstore.GlobalPosition, limit int) (ActivityPage, error) {
	limit = pageSize(limit)
	b := eventstore.GlobalPosition{TransactionID: 1 << 62}
	if before != nil {
		b = *before
	}
	// served by rm_activity_vN_pkey (backward scan)
	items, err := list(ctx, q.pool, scanActivity, `SELECT event_id, event_type, actor_id, actor_name, subject_id, line, at, transaction_id, position
		FROM rm_activity WHERE workspace_id = $1 AND (transaction_id, position) < ($2, $3)
		ORDER BY transaction_id DESC, position DESC LIMIT $4`, workspaceID, int64(b.TransactionID), b.Position, limit+1)
	if err != nil {
		return ActivityPage{}, err
	}
	page := ActivityPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		p := page.Items[limit-1].Position
		page.Before = &p
	}
	return page, nil
}

func scanActivity(row pgx.Row) (ActivityItem, error) {
	var a ActivityItem
	var tx int64
	err := row.Scan(&a.EventID, &a.EventType, &a.ActorID, &a.ActorName, &a.SubjectID, &a.Line, &a.At, &tx, &a.Position.Position)
	a.Position.TransactionID = uint64(tx)
	return a, err
}
