package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// Applied wakes the subscriptions that follow a workspace's sync records (workspaceChanged) when
// the sync projections have applied new events of that workspace. It carries no data: a woken
// subscription reads the records after its own position (Queries.Changes), so a wake-up that
// comes late or twice loses and repeats nothing, and a client that reads slowly is never dropped
// (its subscription fetches the next page when it has taken the last). It waits for the
// projections as long as they take: there is no deadline after which events are skipped.
type Applied struct {
	store    *eventstore.Store
	notifier *eventstore.Notifier
	queries  *projections.Queries
	log      *slog.Logger
	poll     time.Duration

	ready, stopped chan struct{}
	mu             sync.Mutex
	subs           map[uuid.UUID]map[chan struct{}]struct{}
}

// NewApplied returns the feed; notifier may be nil (then it polls every poll, default 1 s).
func NewApplied(store *eventstore.Store, notifier *eventstore.Notifier, queries *projections.Queries, log *slog.Logger, poll time.Duration) *Applied {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = time.Second
	}
	return &Applied{store: store, notifier: notifier, queries: queries, log: log.With("component", "live-applied"), poll: poll,
		ready: make(chan struct{}), stopped: make(chan struct{}), subs: map[uuid.UUID]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives (coalesced) wake-ups while ctx lives: after it
// returns, every event of ws that the sync projections apply is followed by a wake-up. It is
// closed when the feed stops. ErrUnavailable when the feed is not running.
func (a *Applied) Subscribe(ctx context.Context, ws uuid.UUID) (<-chan struct{}, error) {
	select {
	case <-a.ready:
	case <-a.stopped:
		return nil, ErrUnavailable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ch := make(chan struct{}, 1)
	a.mu.Lock()
	select {
	case <-a.stopped:
		a.mu.Unlock()
		return nil, ErrUnavailable
	default:
	}
	set := a.subs[ws]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		a.subs[ws] = set
	}
	set[ch] = struct{}{}
	a.mu.Unlock()
	context.AfterFunc(ctx, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.subs[ws][ch]; ok {
			delete(a.subs[ws], ch)
			if len(a.subs[ws]) == 0 {
				delete(a.subs, ws)
			}
		}
	})
	return ch, nil
}

// Run follows the log until ctx is done.
func (a *Applied) Run(ctx context.Context) error {
	defer a.stop()
	pos, err := a.store.Head(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("live applied: %w", err)
	}
	var wake <-chan struct{}
	if a.notifier != nil {
		var cancel func()
		wake, cancel = a.notifier.Subscribe()
		defer cancel()
	}
	close(a.ready)
	for {
		head, err := a.store.Head(ctx)
		if err == nil && pos.Less(head) {
			err = a.advance(ctx, pos, head)
			if err == nil {
				pos = head
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Error("live applied: follow the log", "err", err)
		}
		t := time.NewTimer(a.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// advance waits until the sync projections have applied (from, to], then wakes the subscribers
// of the workspaces those events belong to (all of them for an event of no workspace: a user's
// profile changes their member record in each of their workspaces).
func (a *Applied) advance(ctx context.Context, from, to eventstore.GlobalPosition) error {
	for waited := time.Duration(0); ; {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := a.queries.WaitFor(wctx, to, projections.SyncProjections...)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		waited += 5 * time.Second
		a.log.Warn("live applied: waiting for the read models", "position", to.String(), "waited", waited)
	}
	// served by events_global_order_idx: the range (from, to]
	rows, err := a.store.Pool().Query(ctx, `SELECT DISTINCT metadata->>'workspace_id' FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2) AND (transaction_id, position) <= ($3::text::xid8, $4)`,
		strconv.FormatUint(from.TransactionID, 10), from.Position, strconv.FormatUint(to.TransactionID, 10), to.Position)
	if err != nil {
		return err
	}
	var wss []uuid.UUID
	all := false
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		id, perr := uuid.Parse(deref(s))
		if s == nil || perr != nil || id == uuid.Nil {
			all = true
			continue
		}
		wss = append(wss, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	wakeAll := func(set map[chan struct{}]struct{}) {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default: // one wake-up pending is enough: the subscriber reads everything after it
			}
		}
	}
	if all {
		for _, set := range a.subs {
			wakeAll(set)
		}
		return nil
	}
	for _, ws := range wss {
		wakeAll(a.subs[ws])
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *Applied) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.stopped)
	for ws, set := range a.subs {
		for ch := range set {
			close(ch)
		}
		delete(a.subs, ws)
	}
}
