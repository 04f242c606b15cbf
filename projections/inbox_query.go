package projections

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/domain"
)

// Read state of the inbox (migration 00007): a mark per user and workspace (notification_reads;
// everything at or below it is read) and single notifications read above it
// (notification_read_items). Both are user tables outside the projection, kept across rebuilds:
// notification ids and positions are derived from the log, so they survive a rebuild.

// readItemSQL is true when notification n was read on its own (notification_read_items_pkey).
const readItemSQL = `EXISTS (SELECT 1 FROM notification_read_items i WHERE i.user_id = n.user_id AND i.notification_id = n.id)`

// unreadAboveMarkSQL keeps the notifications n above the read mark of user %[2]s in workspace
// %[1]s (-1 when there is none; notification_reads_pkey) that were not read on their own. The
// unread notifications are the newest ones, so an index range on (user, workspace, position)
// stops at the mark instead of running through every read one.
const unreadAboveMarkSQL = `
		AND (n.transaction_id, n.position) >
			(coalesce((SELECT m.transaction_id FROM notification_reads m WHERE m.user_id = %[2]s AND m.workspace_id = %[1]s), -1),
			 coalesce((SELECT m.position FROM notification_reads m WHERE m.user_id = %[2]s AND m.workspace_id = %[1]s), -1))
		AND NOT ` + readItemSQL

// markSQL continues a WITH whose CTE known holds (workspace_id, transaction_id, position) rows of
// user $1's notifications: it moves each workspace's mark up to them (never back;
// notification_reads_pkey) and drops the single reads the mark now covers
// (notification_read_items_mark_idx).
const markSQL = `
		mark AS (INSERT INTO notification_reads (user_id, workspace_id, transaction_id, position)
			SELECT $1, k.workspace_id, k.transaction_id, k.position FROM known k
			ON CONFLICT (user_id, workspace_id) DO UPDATE
			SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position, updated_at = now()
			WHERE (notification_reads.transaction_id, notification_reads.position) < (EXCLUDED.transaction_id, EXCLUDED.position)),
		pruned AS (DELETE FROM notification_read_items i USING known k
			WHERE i.user_id = $1 AND i.workspace_id = k.workspace_id
			  AND (i.transaction_id, i.position) <= (k.transaction_id, k.position))`

// unreadCountsSQL counts the unread notifications of each (workspace $1[i], user $2[i]): one
// statement however many pairs, each a range of rm_notifications_vN_inbox_idx above the pair's
// mark, with notification_read_items_pkey per row in it.
var unreadCountsSQL = `SELECT k.id, k.user_id, (SELECT count(*) FROM rm_notifications n
		WHERE n.user_id = k.user_id AND n.workspace_id = k.id` + fmt.Sprintf(unreadAboveMarkSQL, "k.id", "k.user_id") + `)
	FROM unnest($1::uuid[], $2::text[]) AS k(id, user_id)`

// InboxKey names a user's inbox in a workspace.
type InboxKey struct {
	WorkspaceID uuid.UUID
	UserID      string
}

// UnreadNotificationCounts returns the number of unread notifications in each inbox asked about.
// The caller checks that each user may read the workspace's inbox (its member).
func (q *Queries) UnreadNotificationCounts(ctx context.Context, keys []InboxKey) (map[InboxKey]int, error) {
	out := make(map[InboxKey]int, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	wss, users := make([]uuid.UUID, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		wss[i], users[i] = k.WorkspaceID, k.UserID
	}
	rows, err := q.pool.Query(ctx, unreadCountsSQL, wss, users)
	if err != nil {
		return nil, fmt.Errorf("unread notification counts: %w", err)
	}
	var k InboxKey
	var n int
	_, err = pgx.ForEachRow(rows, []any{&k.WorkspaceID, &k.UserID, &n}, func() error {
		out[k] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unread notification counts: %w", err)
	}
	return out, nil
}

// MarkNotificationRead marks one of user's notifications read; ErrNotFound when user holds no
// notification with that id (someone else's included: no oracle). Marking a read one again is a
// no-op.
func (q *Queries) MarkNotificationRead(ctx context.Context, user string, id uuid.UUID) error {
	var ok bool
	// served by rm_notifications_vN_pkey, notification_reads_pkey and notification_read_items_pkey
	err := q.pool.QueryRow(ctx, `WITH known AS (
			SELECT id, workspace_id, transaction_id, position FROM rm_notifications WHERE id = $2 AND user_id = $1),
		item AS (INSERT INTO notification_read_items (user_id, notification_id, workspace_id, transaction_id, position)
			SELECT $1, k.id, k.workspace_id, k.transaction_id, k.position FROM known k
			WHERE NOT EXISTS (SELECT 1 FROM notification_reads r WHERE r.user_id = $1 AND r.workspace_id = k.workspace_id
				AND (k.transaction_id, k.position) <= (r.transaction_id, r.position))
			ON CONFLICT (user_id, notification_id) DO NOTHING)
		SELECT EXISTS (SELECT 1 FROM known)`, user, id).Scan(&ok)
	if err != nil {
		return fmt.Errorf("mark notification read: %w", err)
	}
	if !ok {
		return fmt.Errorf("notification: %w", ErrNotFound)
	}
	return nil
}

// MarkAllNotificationsRead marks every notification user holds in a workspace read: the
// workspace's mark moves to the newest one (a notification arriving later is unread).
func (q *Queries) MarkAllNotificationsRead(ctx context.Context, workspaceID uuid.UUID, user string) error {
	// known is served by rm_notifications_vN_inbox_idx (its first entry)
	_, err := q.pool.Exec(ctx, `WITH known AS (
			SELECT workspace_id, transaction_id, position FROM rm_notifications WHERE user_id = $1 AND workspace_id = $2
			ORDER BY transaction_id DESC, position DESC LIMIT 1),`+markSQL+`
		SELECT 1`, user, workspaceID)
	if err != nil {
		return fmt.Errorf("mark all notifications read: %w", err)
	}
	return nil
}

// NotificationPreference is whether user hears of one kind of notification by email.
type NotificationPreference struct {
	Kind  string `json:"kind"`
	Email bool   `json:"email"`
}

// NotificationPreferences returns user's preference for every kind, in domain.NotificationKinds'
// order; a kind never set is on.
func (q *Queries) NotificationPreferences(ctx context.Context, user string) ([]NotificationPreference, error) {
	// served by notification_preferences_pkey
	return list(ctx, q.pool, func(row pgx.Row) (NotificationPreference, error) {
		var p NotificationPreference
		err := row.Scan(&p.Kind, &p.Email)
		return p, err
	}, `SELECT k.kind, coalesce(p.email, true)
		FROM unnest($2::text[]) WITH ORDINALITY AS k(kind, ord)
		LEFT JOIN notification_preferences p ON p.user_id = $1 AND p.kind = k.kind
		ORDER BY k.ord`, user, domain.NotificationKinds())
}

// SetNotificationPreferences sets user's email switch for the kinds given (known kinds only;
// the caller validates) in one statement. Setting a value again changes nothing.
func (q *Queries) SetNotificationPreferences(ctx context.Context, user string, prefs []NotificationPreference) error {
	kinds, emails := make([]string, len(prefs)), make([]bool, len(prefs))
	for i, p := range prefs {
		kinds[i], emails[i] = p.Kind, p.Email
	}
	// served by notification_preferences_pkey
	_, err := q.pool.Exec(ctx, `INSERT INTO notification_preferences (user_id, kind, email)
		SELECT $1, k, e FROM unnest($2::text[], $3::bool[]) AS p(k, e)
		ON CONFLICT (user_id, kind) DO UPDATE SET email = EXCLUDED.email, updated_at = now()
		WHERE notification_preferences.email <> EXCLUDED.email`, user, kinds, emails)
	if err != nil {
		return fmt.Errorf("set notification preferences: %w", err)
	}
	return nil
}
