package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/cursor"
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

// Cursor is the notification's place in its inbox (opaque, internal/cursor); what
// MarkNotificationsRead's caller passes (ParseNotificationCursor).
func (n Notification) Cursor() string { return positionCursor(cursor.Notification, n.Position) }

// ParseNotificationCursor reads a notification's Cursor.
func ParseNotificationCursor(s string) (eventstore.GlobalPosition, error) {
	vals, err := inboxKeys.check(s)
	if err != nil {
		return eventstore.GlobalPosition{}, err
	}
	p := eventstore.GlobalPosition{TransactionID: uint64(vals[0].(int64)), Position: vals[1].(int64)}
	if vals[0].(int64) < 0 || p.Position < 0 {
		return eventstore.GlobalPosition{}, fmt.Errorf("%w: not a cursor of this list", ErrBadCursor)
	}
	return p, nil
}

// inboxKeys: an inbox is newest first, by the events' global position.
var inboxKeys = keyset{kind: cursor.Notification, cols: []string{"n.transaction_id", "n.position"},
	out: []string{"transaction_id", "position"}, desc: true, read: readPosition}

// Notifications returns user's inbox in a workspace, newest first, strictly before before.
func (q *Queries) Notifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition, limit int) (NotificationPage, error) {
	return q.notifications(ctx, workspaceID, user, before, limit, false)
}

// UnreadNotifications is Notifications without the notifications user has read (those at or
// below their read mark, see MarkNotificationsRead): full pages of unread ones.
func (q *Queries) UnreadNotifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition, limit int) (NotificationPage, error) {
	return q.notifications(ctx, workspaceID, user, before, limit, true)
}

// notificationCols reads a notification with its read flag: n at or below its workspace's read
// mark, or read on its own (inbox_query.go).
const notificationCols = `n.id, n.kind, n.task_id, n.comment_id, n.actor_id, n.line, n.at,
		coalesce((n.transaction_id, n.position) <= (r.transaction_id, r.position), false) OR ` + readItemSQL + ` AS read,
		n.transaction_id, n.position`

// readsJoin joins a notification's workspace read mark (notification_reads_pkey, one row).
const readsJoin = `LEFT JOIN notification_reads r ON r.user_id = n.user_id AND r.workspace_id = n.workspace_id`

// inboxFrom is an inbox, served by rm_notifications_vN_inbox_idx (a range on either side of the
// cursor), with readsJoin; notification_read_items_pkey per row.
const inboxFrom = `FROM rm_notifications n ` + readsJoin + `
	WHERE n.user_id = $2 AND n.workspace_id = $1`

// unreadSQL is unreadAboveMarkSQL with $1 the workspace and $2 the user.
var unreadSQL = fmt.Sprintf(unreadAboveMarkSQL, "$1", "$2")

// Inbox returns a page of user's inbox in a workspace, newest first; with unreadOnly, of the
// notifications they have not read (in the query: full pages).
func (q *Queries) Inbox(ctx context.Context, workspaceID uuid.UUID, user string, unreadOnly bool, w Window) (Page[Notification], error) {
	from := inboxFrom
	if unreadOnly {
		from += unreadSQL
	}
	a := args{workspaceID, user}
	body, err := inboxKeys.union(notificationCols, from, &a, w)
	if err != nil {
		return Page[Notification]{}, err
	}
	rows, err := list(ctx, q.pool, scanProbed(scanNotification), `SELECT * FROM (`+body+`) page ORDER BY page.probe, `+inboxKeys.listOrder("page"), a...)
	if err != nil {
		return Page[Notification]{}, err
	}
	return cut(rows, w), nil
}

// NotificationsByIDs returns user's notifications by id, with their workspace: one statement,
// served by rm_notifications_vN_pkey (id = ANY), the user rechecked.
func (q *Queries) NotificationsByIDs(ctx context.Context, user string, ids []uuid.UUID) ([]Notification, map[uuid.UUID]uuid.UUID, error) {
	workspaces := map[uuid.UUID]uuid.UUID{}
	ns, err := list(ctx, q.pool, func(row pgx.Row) (Notification, error) {
		var ws uuid.UUID
		n, err := scanNotification(flagRow{Row: row, ws: &ws})
		workspaces[n.ID] = ws
		return n, err
	}, `SELECT `+notificationCols+`, n.workspace_id FROM rm_notifications n `+readsJoin+`
		WHERE n.id = ANY ($2) AND n.user_id = $1`, user, ids)
	return ns, workspaces, err
}

func (q *Queries) notifications(ctx context.Context, workspaceID uuid.UUID, user string, before *eventstore.GlobalPosition,
	limit int, unreadOnly bool) (NotificationPage, error) {
	w := Window{Limit: pageSize(limit)}
	if before != nil {
		w.Cursor = positionCursor(cursor.Notification, *before)
	}
	p, err := q.Inbox(ctx, workspaceID, user, unreadOnly, w)
	if err != nil {
		return NotificationPage{}, err
	}
	page := NotificationPage{Items: p.Items}
	if p.HasNext {
		last := p.Items[len(p.Items)-1].Position
		page.Before = &last
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
	// and notification_read_items_mark_idx; planned with its arguments (customPlan: a generic
	// plan reads the check from inbox_idx, the user's whole inbox)
	err := q.pool.QueryRow(ctx, `WITH known AS (
			SELECT workspace_id, transaction_id, position FROM rm_notifications
			WHERE user_id = $1 AND transaction_id = $2 AND position = $3 LIMIT 1),`+markSQL+`
		SELECT EXISTS (SELECT 1 FROM known)`,
		customPlan, user, int64(through.TransactionID), through.Position).Scan(&notified)
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
