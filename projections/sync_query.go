package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/eventstore"
)

// SyncProjections are the projections whose tables Changes reads: a page of changes is bounded by
// the position all of them have applied, so that every record in it is final for that range.
var SyncProjections = []string{Workspaces, Projects, Tasks, Notifications}

// Change is one sync record: an entity's latest change after the page's since, at or below its
// bound. Key is the entity's id (a user id for members).
type Change struct {
	Kind             string
	Key              string
	Position         eventstore.GlobalPosition
	ClientMutationID string
	Removed          bool
}

// ChangePage is a page of a workspace's changes, in log order.
type ChangePage struct {
	Changes []Change
	// Bound is the position every sync projection has applied when the page was read: records
	// above it were not considered.
	Bound eventstore.GlobalPosition
	// Last is where the next page starts (since): the last record's position, or Bound when
	// the page holds everything up to it (More false).
	Last eventstore.GlobalPosition
	More bool
	// Access is the position of the last change of the caller's own membership (joined, role
	// changed, removed) and AccessRemoved whether it removed them; Access is zero when the
	// caller never was a member.
	Access        eventstore.GlobalPosition
	AccessRemoved bool
	// Unknown: since is past the end of the log (a client of another database, or of one
	// restored from an older backup).
	Unknown bool
}

// SyncBound is the position every sync projection has applied (projection_checkpoints_pkey):
// where a subscription to the sync records without since starts.
func (q *Queries) SyncBound(ctx context.Context) (eventstore.GlobalPosition, error) {
	var b eventstore.GlobalPosition
	var tx int64
	err := q.pool.QueryRow(ctx, `SELECT c.transaction_id, c.position FROM projection_checkpoints c
		JOIN projection_versions v ON v.name = c.name AND v.active_version = c.version
		WHERE c.name = ANY ($1::text[]) ORDER BY c.transaction_id, c.position LIMIT 1`, SyncProjections).Scan(&tx, &b.Position)
	if err != nil {
		return b, fmt.Errorf("sync bound: %w", err)
	}
	b.TransactionID = uint64(tx)
	return b, nil
}

// ErrNoSuchAccess: the caller never was a member of the workspace (Changes).
var ErrNoSuchAccess = errors.New("projections: not a member of the workspace")

// changesBoundSQL reads the page bound (the lowest checkpoint of the sync projections' active
// versions: projection_checkpoints_pkey) and the caller's access record (rm_workspace_changes_pkey).
const changesBoundSQL = `SELECT b.tx, b.pos, a.tx, a.pos, a.removed
	FROM (SELECT c.transaction_id AS tx, c.position AS pos FROM projection_checkpoints c
			JOIN projection_versions v ON v.name = c.name AND v.active_version = c.version
			WHERE c.name = ANY ($3::text[]) ORDER BY c.transaction_id, c.position LIMIT 1) b
	LEFT JOIN rm_workspace_changes a ON a.workspace_id = $1 AND a.kind = 'access' AND a.key = $2`

// changesSQL reads up to $7 records of a workspace after ($2, $3) and at or below ($4, $5), in log
// order: each branch is a range of its change table's since index ((workspace_id, tx, pos)),
// the caller's notifications a range of rm_notifications_vN_inbox_idx (user_id, workspace_id, position).
const changesSQL = `SELECT kind, key, tx, pos, client_mutation_id, removed FROM (
	(SELECT kind, key, tx, pos, client_mutation_id, removed FROM rm_task_changes
		WHERE workspace_id = $1 AND (tx, pos) > ($2, $3) AND (tx, pos) <= ($4, $5) ORDER BY tx, pos LIMIT $7)
	UNION ALL
	(SELECT kind, key, tx, pos, client_mutation_id, removed FROM rm_project_changes
		WHERE workspace_id = $1 AND (tx, pos) > ($2, $3) AND (tx, pos) <= ($4, $5) ORDER BY tx, pos LIMIT $7)
	UNION ALL
	(SELECT kind, key, tx, pos, client_mutation_id, removed FROM rm_workspace_changes
		WHERE workspace_id = $1 AND (tx, pos) > ($2, $3) AND (tx, pos) <= ($4, $5) AND kind <> 'access' ORDER BY tx, pos LIMIT $7)
	UNION ALL
	(SELECT 'notification', id::text, transaction_id, position, NULL, false FROM rm_notifications
		WHERE user_id = $6 AND (transaction_id, position) > ($2, $3) AND (transaction_id, position) <= ($4, $5)
			AND workspace_id = $1
		ORDER BY transaction_id, position LIMIT $7)
) r ORDER BY tx, pos, kind, key LIMIT $7`

// MaxChangesPage bounds a page of changes.
const MaxChangesPage = MaxPage

// Changes returns a page of workspace ws's sync records after since for user: every entity
// (workspace, members, projects, tasks, comments, user's notifications) whose latest change is
// after since, once, in the order of those changes. A page never splits the records of one
// position (one event may change a task and its comment): it ends before such a group, or holds
// a whole group larger than limit. ErrNoSuchAccess when user never was a member of ws; the caller
// checks that they are one now (a removed member learns it from AccessRemoved).
func (q *Queries) Changes(ctx context.Context, ws uuid.UUID, user string, since eventstore.GlobalPosition, limit int) (ChangePage, error) {
	return q.ChangesBoundBy(ctx, ws, user, since, limit, SyncProjections)
}

// ChangesBoundBy is Changes with the page bounded by what the named projections (a subset of
// SyncProjections) have applied, for a reader of only their records: a subscription replaying
// tasks must not lose a task whose record moved past a bound held back by an unrelated projection
// (the notifications, say) while the live messages start below that record.
func (q *Queries) ChangesBoundBy(ctx context.Context, ws uuid.UUID, user string, since eventstore.GlobalPosition, limit int, bound []string) (ChangePage, error) {
	if limit <= 0 || limit > MaxChangesPage {
		limit = MaxChangesPage
	}
	var page ChangePage
	var btx int64
	var atx, apos *int64
	var removed *bool
	err := q.pool.QueryRow(ctx, changesBoundSQL, ws, user, bound).Scan(&btx, &page.Bound.Position, &atx, &apos, &removed)
	if errors.Is(err, pgx.ErrNoRows) {
		return ChangePage{}, errors.New("projections: the sync projections are not installed")
	}
	if err != nil {
		return ChangePage{}, fmt.Errorf("changes bound: %w", err)
	}
	page.Bound.TransactionID = uint64(btx)
	if atx == nil {
		return ChangePage{}, ErrNoSuchAccess
	}
	page.Access = eventstore.GlobalPosition{TransactionID: uint64(*atx), Position: *apos}
	page.AccessRemoved = *removed
	page.Last = since
	if !since.Less(page.Bound) {
		// Nothing applied after since yet; is since a position of this log at all (served by
		// events_global_order_idx)?
		if since != page.Bound {
			var known bool
			if err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events
				WHERE (transaction_id, position) >= ($1::text::xid8, $2))`,
				strconv.FormatUint(since.TransactionID, 10), since.Position).Scan(&known); err != nil {
				return ChangePage{}, fmt.Errorf("changes: %w", err)
			}
			page.Unknown = !known
		}
		return page, nil
	}
	rows, err := list(ctx, q.pool, scanChange, changesSQL, ws, int64(since.TransactionID), since.Position,
		btx, page.Bound.Position, user, limit+1)
	if err != nil {
		return ChangePage{}, fmt.Errorf("changes: %w", err)
	}
	if len(rows) <= limit {
		page.Changes, page.Last = rows, page.Bound
		return page, nil
	}
	// More than a page: end before the group of the first record left out.
	cut := rows[limit].Position
	n := limit
	for n > 0 && rows[n-1].Position == cut {
		n--
	}
	if n == 0 { // one position holds more than a page: return the whole group
		group, err := list(ctx, q.pool, scanChange, changesSQL, ws, int64(since.TransactionID), since.Position,
			int64(cut.TransactionID), cut.Position, user, MaxChangesPage*10)
		if err != nil {
			return ChangePage{}, fmt.Errorf("changes: %w", err)
		}
		rows, n = group, len(group)
	}
	page.Changes, page.Last, page.More = rows[:n], rows[n-1].Position, true
	return page, nil
}

func scanChange(row pgx.Row) (Change, error) {
	var c Change
	var tx int64
	var cmid *string
	err := row.Scan(&c.Kind, &c.Key, &tx, &c.Position.Position, &cmid, &c.Removed)
	c.Position.TransactionID = uint64(tx)
	if cmid != nil {
		c.ClientMutationID = *cmid
	}
	return c, err
}

// CommentsByIDs returns the comments of ws with the given ids that exist (rm_comments_pkey).
func (q *Queries) CommentsByIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) ([]Comment, error) {
	return list(ctx, q.pool, scanComment, `SELECT `+commentCols+` FROM rm_comments c
		WHERE c.id = ANY ($2::uuid[]) AND c.workspace_id = $1`, ws, ids)
}

// TaskChange is a task's latest change (its record in rm_task_changes).
type TaskChange struct {
	WorkspaceID      uuid.UUID
	TaskID           uuid.UUID
	Position         eventstore.GlobalPosition
	ClientMutationID string
}

// TaskChangesByKeys is the batch loader of tasks' latest changes: one statement for any number
// of tasks of any number of workspaces (rm_task_changes_pkey, once per key).
func (q *Queries) TaskChangesByKeys(ctx context.Context, keys []Key) ([]TaskChange, error) {
	wss, ids := splitKeys(keys)
	return list(ctx, q.pool, func(row pgx.Row) (TaskChange, error) {
		var c TaskChange
		var tx int64
		var cmid *string
		err := row.Scan(&c.WorkspaceID, &c.TaskID, &tx, &c.Position.Position, &cmid)
		c.Position.TransactionID = uint64(tx)
		if cmid != nil {
			c.ClientMutationID = *cmid
		}
		return c, err
	}, `SELECT c.workspace_id, c.key::uuid, c.tx, c.pos, c.client_mutation_id
		FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::text[])) AS k(ws, id)
		JOIN rm_task_changes c ON c.workspace_id = k.ws AND c.kind = 'task' AND c.key = k.id`, wss, uuidStrings(ids))
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
