package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/taskforge/taskforge/eventstore"
)

// Notification is one item of a user's inbox.
type Notification struct {
	ID        uuid.UUID                 `json:"id"`
	Kind      string                    `json:"kind"`
	TaskID    uuid.UUID                 `json:"task_id"`
	CommentID *uuid.UUID                `json:"comment_id,omitempty"`
	ActorID   string                    `json:"actor_id"`
	Line      string                    `json:"line"`
	At        time.Time                 `json:"at"`
	Read      bool                      `json:"read"`
	Position  eventstore.GlobalPosition `json:"position"`
}

// NotificationPage is a page of an inbox, newest first.
type NotificationPage struct {
	Items  []Notification             `json:"items"`
	Unread int                        `json:"unread"` // on this page
	Before *eventstore.GlobalPosition `json:"before,omitempty"`
}

// Notifications returns user's inbox in a workspace, newest first, strictly before before.
func (q *Queries) Notifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition, limit int) (NotificationPage, error) {
	return q.notifications(ctx, workspaceID, user, before, limit, false)
}

// UnreadNotifications is Notifications without the notifications user has read (those at or
// below their read mark, see MarkNotificationsRead): full pages of unread ones.
func (q *Queries) UnreadNotifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition, limit int) (NotificationPage, error) {
	return q.notifications(ctx, workspaceID, user, before, limit, true)
}

// notificationsSQL reads a page of an inbox, served by rm_notifications_vN_inbox_idx (a range
// below the cursor; notification_reads_pkey, one row; notification_read_items_pkey per row). %s
// is empty, or unreadSQL for the unread notifications only. A notification is read at or below
// its workspace's mark, or when read on its own (inbox_query.go).
const notificationsSQL = `SELECT n.id, n.kind, n.task_id, n.comment_id, n.actor_id, n.line, n.at,
		coalesce((n.transaction_id, n.position) <= (r.transaction_id, r.position), false) OR ` + readItemSQL + `,
		n.transaction_id, n.position
	FROM rm_notifications n LEFT JOIN notification_reads r ON r.user_id = n.user_id AND r.workspace_id = n.workspace_id
	WHERE n.user_id = $2 AND n.workspace_id = $1 AND (n.transaction_id, n.position) < ($3, $4)%s
	ORDER BY n.transaction_id DESC, n.position DESC LIMIT $5`

// unreadSQL is unreadAboveMarkSQL with $1 the workspace and $2 the user.
var unreadSQL = fmt.Sprintf(unreadAboveMarkSQL, "$1", "$2")

var (
	inboxSQL       = fmt.Sprintf(notificationsSQL, "")
	unreadInboxSQL = fmt.Sprintf(notificationsSQL, unreadSQL)
)

func (q *Queries) notifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition,
	limit int, unreadOnly bool) (NotificationPage, error) {
	limit = pageSize(limit)
	b := eventstore.GlobalPosition{TransactionID: 1 << 62}
	if before != nil {
		b = *before
	}
	sql := inboxSQL
	if unreadOnly {
		sql = unreadInboxSQL
	}
	items, err := list(ctx, q.pool, scanNotification, sql, workspaceID, user, int64(b.TransactionID), b.Position, limit+1)
	if err != nil {
		return NotificationPage{}, err
	}
	page := NotificationPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		p := page.Items[limit-1].Position
		page.Before = &p
	}
	for _, n := range page.Items {
		if !n.Read {
			page.Unread++
		}
	}
	return page, nil
}

// ErrNotNotified is returned by MarkNotificationsRead for a position the user holds no
// notification at.
var ErrNotNotified = errors.New("projections: no notification at this position")

// MarkNotificationsRead marks user's notifications up to through as read, in the workspace of
// their notification at through: one mark per user and workspace. It never moves the mark
// backwards, and only moves it to the position of one of the user's notifications (else
// ErrNotNotified): a mark far in the future would hide every notification still to come.
func (q *Queries) MarkNotificationsRead(ctx context.Context, user string, through eventstore.GlobalPosition) error {
	var notified bool
	// the check is served by rm_notifications_vN_read_idx; markSQL by notification_reads_pkey
	// and notification_read_items_mark_idx
	err := q.pool.QueryRow(ctx, `WITH known AS (
			SELECT workspace_id, transaction_id, position FROM rm_notifications
			WHERE user_id = $1 AND transaction_id = $2 AND position = $3 LIMIT 1),`+markSQL+`
		SELECT EXISTS (SELECT 1 FROM known)`,
		user, int64(through.TransactionID), through.Position).Scan(&notified)
	if err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	if !notified {
		return ErrNotNotified
	}
	return nil
}

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	var tx int64
	err := row.Scan(&n.ID, &n.Kind, &n.TaskID, &n.CommentID, &n.ActorID, &n.Line, &n.At, &n.Read, &tx, &n.Position.Position)
	n.Position.TransactionID = uint64(tx)
	return n, err
}
