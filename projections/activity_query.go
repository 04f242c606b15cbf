package projections

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/cursor"
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

// Cursor is the item's place in its workspace's feed (opaque, internal/cursor).
func (a ActivityItem) Cursor() string { return positionCursor(cursor.Activity, a.Position) }

// positionCursor is the cursor of an item of a list ordered by global position.
func positionCursor(kind byte, p eventstore.GlobalPosition) string {
	return cursor.New(kind).Uint64(p.TransactionID).Int64(p.Position).Encode()
}

func readPosition(r *cursor.Reader) []any { return []any{r.Int64(), r.Int64()} }

// activityKeys: a feed is newest first, by the events' global position.
var activityKeys = keyset{kind: cursor.Activity, cols: []string{"transaction_id", "position"},
	out: []string{"transaction_id", "position"}, desc: true, read: readPosition}

// ActivityFeed returns a page of the workspace's feed, newest first.
func (q *Queries) ActivityFeed(ctx context.Context, workspaceID uuid.UUID, w Window) (Page[ActivityItem], error) {
	a := args{workspaceID}
	// served by rm_activity_vN_pkey (workspace_id, transaction_id, position), scanned in either
	// direction
	body, err := activityKeys.union(`event_id, event_type, actor_id, actor_name, subject_id, line, at, transaction_id, position`,
		`FROM rm_activity WHERE workspace_id = $1`, &a, w)
	if err != nil {
		return Page[ActivityItem]{}, err
	}
	rows, err := list(ctx, q.pool, scanProbed(scanActivity), `SELECT * FROM (`+body+`) page ORDER BY page.probe, `+activityKeys.listOrder("page"), a...)
	if err != nil {
		return Page[ActivityItem]{}, err
	}
	return cut(rows, w), nil
}

func scanActivity(row pgx.Row) (ActivityItem, error) {
	var a ActivityItem
	var tx int64
	err := row.Scan(&a.EventID, &a.EventType, &a.ActorID, &a.ActorName, &a.SubjectID, &a.Line, &a.At, &tx, &a.Position.Position)
	a.Position.TransactionID = uint64(tx)
	return a, err
}
