package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/eventstore/feed"
)

// RunnerOptions configures a Runner. The zero value (plus a store) runs every projection.
type RunnerOptions struct {
	Projections []*Projection // nil: All()
	Registry    *domain.Registry
	Notifier    *eventstore.Notifier // nil: polling only
	Metrics     *Metrics
	Logger      *slog.Logger
	// MaxRetries is how often an event that fails is tried again (with exponential backoff from
	// RetryInterval) before it is poison. Default 5.
	MaxRetries    int
	RetryInterval time.Duration // default 100ms
	// Park makes a poison event be recorded in parked_events and skipped; by default it stops
	// the projection (state failed) until an engineer resumes or rebuilds it.
	Park bool
	// PollInterval is the subscriber's fallback poll (default 1s).
	PollInterval time.Duration
	// StatusInterval is how often lag metrics and the read horizon are refreshed (default 5s;
	// two queries).
	StatusInterval time.Duration
	// HorizonWarnAfter: committed events waiting behind the read horizon longer than this are
	// logged (at most once a minute), naming the transaction that holds it (default 10s).
	HorizonWarnAfter time.Duration
	// OnApplied, when set, is called after an event's writes committed (benchmarks, tests).
	OnApplied func(projection string, ev eventstore.RecordedEvent)
}

// Runner runs every projection as its own Watermill router handler: one consumer group per
// projection, events in order, each applied with its checkpoint in one transaction.
type Runner struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
	opts  RunnerOptions
	log   *slog.Logger
	sub   *feed.Subscriber
	// refusals counts checkpoint advances refused (Refusals).
	refusals atomic.Int64

	sharedMu    sync.Mutex
	shared      *feed.Subscriber // RunConsumer's (sharedSubscriber)
	sharedUsers int
	// sharedQueries counts the queries of shared subscribers closed so far.
	sharedQueries int64
}

// NewRunner returns a runner over store.
func NewRunner(store *eventstore.Store, opts RunnerOptions) (*Runner, error) {
	if store == nil {
		return nil, errors.New("projections: nil store")
	}
	if opts.Projections == nil {
		opts.Projections = All()
	}
	if opts.Registry == nil {
		opts.Registry = domain.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 5
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 100 * time.Millisecond
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 5 * time.Second
	}
	if opts.HorizonWarnAfter <= 0 {
		opts.HorizonWarnAfter = 10 * time.Second
	}
	r := &Runner{store: store, pool: store.Pool(), opts: opts, log: opts.Logger}
	sub, err := r.newSubscriber()
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// liveBatch is the most events a projection applies in one live transaction. It only matters when
// a projection has fallen behind (a burst, a slow commit): then the events already read are
// applied together with one checkpoint advance instead of one transaction each, which is what
// lets five projections keep up with hundreds of events per second on two cores. Small enough
// that a batch's transaction stays short (it holds an xid, see DESIGN.md).
const liveBatch = 100

// Refusals is how many checkpoint advances this runner's handlers had refused so far: events
// another worker applied first, redeliveries, gaps, version swaps (each rolled back, never
// committed twice).
func (r *Runner) Refusals() int64 { return r.refusals.Load() }

// Subscriber returns the runner's subscriber (for its query count).
func (r *Runner) Subscriber() *feed.Subscriber { return r.sub }

// Queries is the number of queries the runner's subscribers issued (reads, horizon checks, polls).
func (r *Runner) Queries() int64 {
	r.sharedMu.Lock()
	defer r.sharedMu.Unlock()
	n := r.sub.Queries() + r.sharedQueries
	if r.shared != nil {
		n += r.shared.Queries()
	}
	return n
}

// Run installs missing projections, then consumes until ctx is done and every in-flight event is
// finished (graceful stop). A projection that is failed is not started: status shows it.
func (r *Runner) Run(ctx context.Context) error {
	err := r.run(ctx)
	if err != nil && ctx.Err() != nil {
		return nil // stopped while starting: not a failure
	}
	return err
}

func (r *Runner) run(ctx context.Context) error {
	if err := Ensure(ctx, r.pool, r.opts.Projections); err != nil {
		return err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, watermill.NewSlogLogger(r.log))
	if err != nil {
		return fmt.Errorf("projections router: %w", err)
	}
	sts, err := Statuses(ctx, r.pool)
	if err != nil {
		return err
	}
	failed := map[string]bool{}
	for _, s := range sts {
		if s.State == StateFailed {
			failed[s.Name] = true
			r.log.Error("projection is failed; not starting it (taskforge projections status)", "projection", s.Name,
				"event_id", s.FailedEventID, "err", s.LastError)
		}
	}
	started := 0
	for _, p := range r.opts.Projections {
		if failed[p.Name] {
			continue
		}
		v, err := activeVersion(ctx, r.pool, p.Name)
		if err != nil {
			return err
		}
		r.addHandler(router, r.sub, p, v, 0)
		started++
	}
	if started == 0 {
		<-ctx.Done()
		return nil
	}
	stopStatus := r.refreshStatus(ctx)
	defer stopStatus()
	return runRouter(ctx, router)
}

// runRouter runs router until ctx is done and its in-flight handlers finished, or until every
// handler stopped on its own.
func runRouter(ctx context.Context, router *message.Router) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = router.Close()
	}()
	// Run returns after Close, once in-flight handlers finished (or CloseTimeout).
	if err := router.Run(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("projections router: %w", err)
	}
	return nil
}

// addHandler adds projection p's consumer group to router, applying to version v; token is the
// consumer lease's fencing token (0: the process runs without leases).
func (r *Runner) addHandler(router *message.Router, sub message.Subscriber, p *Projection, v int, token int64) *consumer {
	c := &consumer{r: r, p: p, token: token}
	c.version.Store(int64(v))
	h := router.AddConsumerHandler(p.Name, p.Name, sub, c.handle)
	c.handler = h
	retry := middleware.Retry{
		MaxRetries:      r.opts.MaxRetries,
		InitialInterval: r.opts.RetryInterval,
		MaxInterval:     10 * time.Second,
		Multiplier:      2,
		ShouldRetry: func(p middleware.RetryParams) bool {
			return !errors.Is(p.Err, errReposition) && !errors.Is(p.Err, ErrFailed) && !errors.Is(p.Err, ErrFenced) &&
				!errors.Is(p.Err, context.Canceled)
		},
	}
	// Recoverer inside Retry: a panic is an attempt that failed like any other.
	h.AddMiddleware(retry.Middleware, middleware.Recoverer)
	return c
}

// Consumers lists the projections' consumer groups (their names) for the Leaser.
func (r *Runner) Consumers() []string {
	out := make([]string, len(r.opts.Projections))
	for i, p := range r.opts.Projections {
		out[i] = p.Name
	}
	return out
}

// RunConsumer runs projection name's consumer alone until ctx is done: a Leaser runs it while
// this process owns its lease, token being the lease's fencing token, checked by every commit.
// It returns ErrFenced as soon as a commit finds the token stale (another process took the
// lease). A failed projection is waited on until it is resumed. Install the projections first
// (Ensure; app.New does).
func (r *Runner) RunConsumer(ctx context.Context, name string, token int64) error {
	i := slices.IndexFunc(r.opts.Projections, func(p *Projection) bool { return p.Name == name })
	if i < 0 {
		return fmt.Errorf("projections: no projection %q", name)
	}
	p := r.opts.Projections[i]
	for warned := false; ; warned = true {
		var state, lastErr string
		var failedID *uuid.UUID
		// served by the primary keys
		err := r.pool.QueryRow(ctx, `SELECT c.state, coalesce(c.last_error, ''), c.failed_event_id FROM projection_versions v
			JOIN projection_checkpoints c ON c.name = v.name AND c.version = v.active_version WHERE v.name = $1`,
			name).Scan(&state, &lastErr, &failedID)
		if err != nil {
			return fmt.Errorf("projection %s: %w", name, err)
		}
		if state != StateFailed {
			break
		}
		if !warned {
			r.log.Error("projection is failed; waiting until it is resumed (taskforge projections status)", "projection", name,
				"event_id", failedID, "err", lastErr)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.opts.StatusInterval):
		}
	}
	v, err := activeVersion(ctx, r.pool, name)
	if err != nil {
		return err
	}
	sub, release, err := r.sharedSubscriber()
	if err != nil {
		return err
	}
	defer release()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, watermill.NewSlogLogger(r.log))
	if err != nil {
		return fmt.Errorf("projections router: %w", err)
	}
	c := r.addHandler(router, keepOpen{sub}, p, v, token)
	if err := runRouter(ctx, router); err != nil {
		return err
	}
	if c.fenced.Load() {
		return fmt.Errorf("%s: %w", name, ErrFenced)
	}
	return nil
}

// sharedSubscriber is one feed.Subscriber for every RunConsumer of the runner, open while any runs:
// the consumers of one process share its reads of the log's tail and its head poll. Separate
// subscribers, each polling while events wait below the horizon, multiplied the reads by the
// number of projections, which behind PgBouncer held the lag at a second.
func (r *Runner) sharedSubscriber() (*feed.Subscriber, func(), error) {
	r.sharedMu.Lock()
	defer r.sharedMu.Unlock()
	if r.shared == nil {
		sub, err := r.newSubscriber()
		if err != nil {
			return nil, nil, err
		}
		r.shared = sub
	}
	r.sharedUsers++
	sub := r.shared
	return sub, func() {
		r.sharedMu.Lock()
		defer r.sharedMu.Unlock()
		if r.sharedUsers--; r.sharedUsers == 0 {
			_ = r.shared.Close()
			r.sharedQueries += r.shared.Queries()
			r.shared = nil
		}
	}, nil
}

// newSubscriber is a subscriber of the log for the projections' consumer groups.
func (r *Runner) newSubscriber() (*feed.Subscriber, error) {
	return feed.NewSubscriber(r.store, r.opts.Notifier, projectionCheckpoints{pool: r.pool},
		feed.SubscriberConfig{PollInterval: r.opts.PollInterval, MaxBatch: liveBatch, Logger: r.log})
}

// keepOpen is a subscriber whose Close leaves it open: a consumer's router closes its subscriber
// when it stops, and the shared one serves the others still (their subscriptions end with their
// handlers' contexts).
type keepOpen struct{ *feed.Subscriber }

func (keepOpen) Close() error { return nil }

// RunStatus refreshes the lag metrics and watches the read horizon until ctx is done: once per
// process that runs consumers through RunConsumer (Run does it itself).
func (r *Runner) RunStatus(ctx context.Context) error {
	stop := r.refreshStatus(ctx)
	<-ctx.Done()
	stop()
	return nil
}

// refreshStatus updates the lag metrics every StatusInterval, and logs a stalled read horizon:
// events acknowledged to their writers that no projection can see, because a transaction is
// still open somewhere in the cluster (eventstore.Horizon).
func (r *Runner) refreshStatus(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.opts.StatusInterval)
		defer t.Stop()
		var warned time.Time
		for {
			if sts, err := Statuses(ctx, r.pool); err == nil {
				r.opts.Metrics.observeStatus(sts)
			}
			if h, err := r.store.Horizon(ctx); err == nil {
				r.opts.Metrics.observeHorizon(h)
				if now := time.Now(); h.Stalled(r.opts.HorizonWarnAfter, now) && now.Sub(warned) > time.Minute {
					warned = now
					r.logStalled(h, now)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// logStalled says who holds the horizon back.
func (r *Runner) logStalled(h eventstore.Horizon, now time.Time) {
	args := []any{"pending_events", h.Pending, "waiting", now.Sub(h.OldestPendingAt).Round(time.Second)}
	if hd := h.Holder; hd != nil {
		args = append(args, "holder_pid", hd.PID, "holder_database", hd.Database, "holder_user", hd.User,
			"holder_application", hd.Application, "holder_state", hd.State, "holder_age", hd.Age.Round(time.Second))
		if hd.Prepared != "" {
			args = append(args, "prepared_transaction", hd.Prepared)
		}
	}
	r.log.Warn("read horizon stalled: committed events wait behind an open transaction; no projection or subscription sees them until it ends", args...)
}

var (
	// ErrFailed is returned for a projection stopped on a poison event.
	ErrFailed = errors.New("projections: projection failed")
	// ErrFenced is returned by a consumer that lost its lease: its commit found a newer fencing
	// token, so another process owns the projection now. Nothing of the refused event committed.
	ErrFenced = errors.New("projections: lease lost (fenced)")
	// errReposition makes the subscription re-read from the stored checkpoint (a gap, or a
	// version swap).
	errReposition = errors.New("projections: reposition from checkpoint")
)

// consumer applies one projection's events.
type consumer struct {
	r       *Runner
	p       *Projection
	handler *message.Handler
	version atomic.Int64
	token   int64       // the lease's fencing token; 0: no lease (a single process, tests)
	fenced  atomic.Bool // a commit found token stale: the handler stopped

	mu       sync.Mutex
	lastID   uuid.UUID
	attempts int
	// refusalLogged is when a refusal was last logged; refusedSinceLog counts refusals since.
	refusalLogged   time.Time
	refusedSinceLog int
}

// failures is the number of consecutive failed attempts at event id so far.
func (c *consumer) failures(id uuid.UUID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastID != id {
		return 0
	}
	return c.attempts
}

// failedAt records a failed attempt at event id. Only failures move the count (successes and
// duplicates do not reset it): a batch retried by the Retry middleware re-runs its events that
// committed already (acknowledged as duplicates) before it reaches the failing one again, which
// must still see its earlier failures.
func (c *consumer) failedAt(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastID != id {
		c.lastID, c.attempts = id, 0
	}
	c.attempts++
}

// handle applies one message: one event, or a batch of events already waiting
// (feed.SubscriberConfig.MaxBatch). A batch is applied in one transaction with one checkpoint advance
// (handleBatch); if that fails for any reason, its events are applied one at a time by
// handleOne, which owns every failure path (savepoint, retry, park, fail, reposition), so a batch
// never changes what happens to a poison event. Events committed before a failure are skipped
// as duplicates when the message is retried or redelivered.
func (c *consumer) handle(msg *message.Message) error {
	start := time.Now()
	ctx := msg.Context()
	evs, prev, err := feed.EventsFromMessage(msg)
	if err != nil {
		return fmt.Errorf("%s: %w", c.p.Name, err)
	}
	if len(evs) > 1 {
		err := c.handleBatch(ctx, evs, prev, start)
		if err == nil {
			return nil
		}
		if errors.Is(err, errDuplicate) {
			// The checkpoint is at or past the batch's last event: all of it is applied (another
			// worker was first), which one at a time would be as many refused transactions.
			for range evs {
				c.r.opts.Metrics.observeHandled(c.p.Name, start)
			}
			return nil
		}
	}
	for _, re := range evs {
		if err := c.handleOne(ctx, re, prev, start); err != nil {
			return err
		}
		prev = re.GlobalPosition()
	}
	return nil
}

// handleBatch is the fast path of a batch: every event's statements and one advance from prev to
// the last event in one transaction. Any error means "apply them one at a time".
func (c *consumer) handleBatch(ctx context.Context, evs []eventstore.RecordedEvent, prev eventstore.GlobalPosition, start time.Time) error {
	v := int(c.version.Load())
	w := newWriter(v)
	applied := make(map[uuid.UUID]int64, 1) // workspace → its last event's position
	for _, re := range evs {
		n := w.Len()
		if err := c.apply(w, re); err != nil {
			return err
		}
		if w.Len() > n { // an event that writes nothing here changes no table of the workspace's
			applied[re.Metadata.WorkspaceID] = re.Position
		}
	}
	for _, ws := range slices.SortedFunc(maps.Keys(applied), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
		recordReadPosition(w, c.p.Name, ws, applied[ws])
	}
	last := evs[len(evs)-1]
	// taskforge_projection_try_advance counts one event; the rest of the batch is added in the same
	// transaction.
	w.Exec(`UPDATE projection_checkpoints SET events_handled = events_handled + $3 WHERE name = $1 AND version = $2`,
		c.p.Name, v, len(evs)-1)
	if err := c.commitFast(ctx, v, last, prev, w); err != nil {
		return err
	}
	for _, re := range evs {
		c.r.opts.Metrics.observeHandled(c.p.Name, start)
		if c.r.opts.OnApplied != nil {
			c.r.opts.OnApplied(c.p.Name, re)
		}
	}
	return nil
}

// handleOne applies one event with its checkpoint advance from prev.
func (c *consumer) handleOne(ctx context.Context, re eventstore.RecordedEvent, prev eventstore.GlobalPosition, start time.Time) error {
	v := int(c.version.Load())
	w := newWriter(v)
	applyErr := c.apply(w, re)
	if applyErr == nil && w.Len() > 0 {
		recordReadPosition(w, c.p.Name, re.Metadata.WorkspaceID, re.Position)
	}
	final := c.failures(re.ID) >= c.r.opts.MaxRetries
	err := errSlowPath
	if applyErr == nil {
		err = c.commitFast(ctx, v, re, prev, w)
	}
	if errors.Is(err, errSlowPath) {
		err = c.commit(ctx, v, re, prev, w, applyErr, final)
	}
	switch {
	case err == nil:
		c.r.opts.Metrics.observeHandled(c.p.Name, start)
		if c.r.opts.OnApplied != nil {
			c.r.opts.OnApplied(c.p.Name, re)
		}
		return nil
	case errors.Is(err, errDuplicate):
		c.r.opts.Metrics.observeHandled(c.p.Name, start)
		return nil
	case errors.Is(err, ErrFailed):
		c.handler.Stop()
		return err
	case errors.Is(err, ErrFenced):
		c.fenced.Store(true)
		c.handler.Stop()
		return err
	default:
		c.failedAt(re.ID)
		return err
	}
}

// apply runs the projection's Apply, turning a panic into an error.
func (c *consumer) apply(w *Writer, re eventstore.RecordedEvent) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("apply panicked: %v", p)
		}
	}()
	ev, err := Decode(c.r.opts.Registry, re)
	if err != nil {
		return err
	}
	return c.p.Apply(w, ev)
}

// recordReadPosition queues the upsert of the workspace's applied position for the projection
// (read_positions, migration 00011), in the transaction of the event's writes: the API's
// response cache keys reads by these rows, so they must move exactly when the tables do. An
// event of no workspace (uuid.Nil: a user's profile) goes to the nil row, part of every key.
// Each row is written by its projection's consumer only, after the checkpoint row's lock, so
// two workers of one projection never wait on each other here.
func recordReadPosition(w *Writer, projection string, ws uuid.UUID, pos int64) {
	w.Exec(`INSERT INTO read_positions (workspace_id, projection, position) VALUES ($1, $2, $3)
		ON CONFLICT (workspace_id, projection) DO UPDATE SET position = EXCLUDED.position`, ws, projection, pos)
}

var errDuplicate = errors.New("projections: event already applied")

var errSlowPath = errors.New("projections: take the slow path")

// advanceSQL moves the checkpoint, or reports why not without raising: a refusal is routine with
// two workers on one projection, and a raised one is an ERROR line in the server's log each time.
const advanceSQL = `SELECT refusal, checkpoint_tx, checkpoint_pos FROM taskforge_projection_try_advance($1, $2, $3, $4, $5, $6, $7)`

// advanceLeasedSQL also checks the lease's fencing token $8 (refusal 'fenced'), locking the lease
// row until the transaction ends.
const advanceLeasedSQL = `SELECT refusal, checkpoint_tx, checkpoint_pos FROM taskforge_projection_try_advance($1, $2, $3, $4, $5, $6, $7, $8)`

// advanceLeasedOrRaiseSQL is the lease holder's advance in its one-round-trip commit: it raises
// (SQLSTATE TF409) on a refusal, aborting the transaction.
const advanceLeasedOrRaiseSQL = `SELECT taskforge_projection_advance_leased($1, $2, $3, $4, $5, $6, $7, $8)`

// commitTimeout bounds a commit that is not cancelled with its consumer.
const commitTimeout = 30 * time.Second

// txSettings are a consumer transaction's settings, in one statement (behind PgBouncer before 1.21
// each statement is parsed and planned again): an asynchronous commit (see commitFast), and
// idle_in_transaction_session_timeout, which ends a transaction left open by a paused process so
// that its row locks (checkpoint, lease) cannot hold a takeover back for longer than a lease's
// time. Used by the unleased path; a lease holder's taskforge_projection_advance_leased sets the
// same two itself (migration 00013): change both together.
const txSettings = `SELECT set_config('synchronous_commit', 'off', true), set_config('idle_in_transaction_session_timeout', '5s', true)`

// txIdleTimeout ends a consumer's transaction left open by a paused process, so that its row
// locks (checkpoint, lease) cannot hold a takeover back for longer than a lease's time.
const txIdleTimeout = `SET LOCAL idle_in_transaction_session_timeout = '5s'`

// advance is taskforge_projection_try_advance's answer: refusal is "" when the checkpoint moved,
// else moved, inactive or failed, with the checkpoint found.
type advance struct {
	refusal string
	at      eventstore.GlobalPosition
}

// queueAdvance queues the advance of version v from prev to re into b; a holds its answer once
// the batch's results are read.
func (c *consumer) queueAdvance(b *pgx.Batch, v int, prev eventstore.GlobalPosition, re eventstore.RecordedEvent, a *advance) {
	args := []any{c.p.Name, v, int64(prev.TransactionID), prev.Position, int64(re.TransactionID), re.Position, re.RecordedAt}
	sql := advanceSQL
	if c.token != 0 {
		sql, args = advanceLeasedSQL, append(args, c.token)
	}
	b.Queue(sql, args...).
		QueryRow(func(row pgx.Row) error {
			// NULLs: no refusal; no checkpoint row (inactive: an old version's row is gone).
			var refusal *string
			var tx, pos *int64
			if err := row.Scan(&refusal, &tx, &pos); err != nil {
				return err
			}
			*a = advance{}
			if refusal != nil {
				a.refusal = *refusal
			}
			if tx != nil && pos != nil {
				a.at = eventstore.GlobalPosition{TransactionID: uint64(*tx), Position: *pos}
			}
			return nil
		})
}

// commitFast is the common case. Unleased, in two round trips: BEGIN and the advance, then (if it
// moved) the event's statements and COMMIT, pipelined; a refusal rolls back before any statement
// of the event ran. Under a lease, in one: BEGIN, the advance that raises on a refusal, the
// statements, COMMIT (commitLeased). synchronous_commit is off: a crash can lose only whole
// transactions, tables and checkpoint together, which are then delivered and applied again. Any
// other failure goes to commit, which retries with a savepoint and records the failure.
func (c *consumer) commitFast(ctx context.Context, v int, re eventstore.RecordedEvent, prev eventstore.GlobalPosition, w *Writer) error {
	conn, err := c.r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", c.p.Name, err)
	}
	defer conn.Release()
	rollback := func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); err != nil {
			// Do not return a connection in an unknown state to the pool.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	if c.token != 0 {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		// advanceLeasedOrRaiseSQL sets the transaction's settings itself (txSettings; migration 00013).
		b.Queue(advanceLeasedOrRaiseSQL, c.p.Name, v, int64(prev.TransactionID), prev.Position, int64(re.TransactionID),
			re.Position, re.RecordedAt, c.token)
		w.queue(b)
		b.Queue(`COMMIT`)
		// Not cancelled midway (see below); bounded all the same.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if err := conn.SendBatch(cctx, b).Close(); err == nil {
			return nil
		}
		// Refused (TF409) or failed: nothing committed. The slow path classifies a refusal
		// without raising, or records the failure.
		rollback()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errSlowPath
	}
	var a advance
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(txSettings)
	c.queueAdvance(b, v, prev, re, &a)
	err = conn.SendBatch(ctx, b).Close()
	if err == nil && a.refusal != "" {
		// The transaction wrote nothing; ending it releases the checkpoint row.
		rollback()
		return c.refused(ctx, a, re)
	}
	if err == nil {
		b = &pgx.Batch{}
		w.queue(b)
		b.Queue(`COMMIT`)
		// Not cancelled midway: a consumer being stopped (its lease moving on) finishes the commit
		// it started, rather than leaving it to the server whether it committed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		err = conn.SendBatch(cctx, b).Close()
		cancel()
		if err == nil {
			return nil
		}
	}
	rollback()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errSlowPath
}

// commit applies w's statements and advances the checkpoint in one transaction:
//
//	BEGIN
//	SAVEPOINT apply
//	SELECT … taskforge_projection_try_advance(prev → event)   checkpoint row locked; a refusal rolls back
//	<the event's statements>
//	COMMIT
//
// A failing statement is rolled back to the savepoint, so the same transaction can still record
// the error (retry), park the event with the checkpoint advanced (park mode), or mark the
// projection failed (final attempt): a failed statement never poisons what follows.
func (c *consumer) commit(ctx context.Context, v int, re eventstore.RecordedEvent, prev eventstore.GlobalPosition,
	w *Writer, applyErr error, final bool) error {
	tx, err := c.r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", c.p.Name, err)
	}
	// Every return but the commits below ends here: nothing of a refused or failed attempt commits.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var a advance
	b := &pgx.Batch{}
	b.Queue(txIdleTimeout)
	b.Queue(`SAVEPOINT apply`)
	c.queueAdvance(b, v, prev, re, &a)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("%s: advance: %w", c.p.Name, err)
	}
	if a.refusal != "" {
		return c.refused(ctx, a, re)
	}
	if applyErr == nil && w.Len() > 0 {
		b = &pgx.Batch{}
		w.queue(b)
		br := tx.SendBatch(ctx, b)
		for range w.Len() {
			if _, err := br.Exec(); err != nil {
				applyErr = err
				break
			}
		}
		if cerr := br.Close(); applyErr == nil && cerr != nil {
			applyErr = cerr
		}
	}
	if applyErr == nil {
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("%s: commit: %w", c.p.Name, err)
		}
		return nil
	}

	// The event's writes failed: undo them (and the advance), keep the transaction usable.
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT apply`); err != nil {
		return fmt.Errorf("%s: rollback to savepoint: %w (apply: %v)", c.p.Name, err, applyErr)
	}
	msg := fmt.Sprintf("event %s (%s at position %d): %v", re.ID, re.Type, re.Position, applyErr)
	var outcome error
	switch {
	case !final:
		c.r.opts.Metrics.observeFailure(c.p.Name, "retry")
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints SET last_error = $3, updated_at = now() WHERE name = $1 AND version = $2`,
			c.p.Name, v, msg)
		outcome = fmt.Errorf("%s: %s", c.p.Name, msg)
	case c.r.opts.Park:
		c.r.opts.Metrics.observeFailure(c.p.Name, "parked")
		c.r.log.Error("projection parked a poison event", "projection", c.p.Name, "event_id", re.ID, "err", applyErr)
		var a advance
		b := &pgx.Batch{}
		c.queueAdvance(b, v, prev, re, &a)
		if err = tx.SendBatch(ctx, b).Close(); err == nil {
			if a.refusal != "" {
				// Another worker moved the checkpoint once the savepoint's lock was gone.
				return c.refused(ctx, a, re)
			}
			_, err = tx.Exec(ctx, `INSERT INTO parked_events (name, version, event_id, transaction_id, position, event_type, error)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				c.p.Name, v, re.ID, int64(re.TransactionID), re.Position, re.Type, applyErr.Error())
		}
	default:
		c.r.opts.Metrics.observeFailure(c.p.Name, "failed")
		c.r.log.Error("projection failed on a poison event; stopped", "projection", c.p.Name, "event_id", re.ID, "err", applyErr)
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints SET state = 'failed', last_error = $3, failed_event_id = $4,
			updated_at = now() WHERE name = $1 AND version = $2`, c.p.Name, v, msg, re.ID)
		outcome = fmt.Errorf("%s: %w: %s", c.p.Name, ErrFailed, msg)
	}
	if err != nil {
		return fmt.Errorf("%s: record failure: %w (apply: %v)", c.p.Name, err, applyErr)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: commit: %w", c.p.Name, err)
	}
	return outcome
}

// refusalLogInterval is how often a projection logs that its advances are being refused: with two
// workers on one projection that is most events, and the metric counts them all.
const refusalLogInterval = time.Minute

// refused turns a refusal of taskforge_projection_try_advance into an outcome. The caller has
// rolled back (or will: commit's deferred rollback), so nothing of the attempt is committed.
func (c *consumer) refused(ctx context.Context, a advance, re eventstore.RecordedEvent) error {
	c.r.refusals.Add(1)
	c.r.opts.Metrics.observeRefusal(c.p.Name, a.refusal)
	c.mu.Lock()
	c.refusedSinceLog++
	if now := time.Now(); now.Sub(c.refusalLogged) >= refusalLogInterval {
		c.r.log.Info("projection checkpoint advance refused (another worker applies it, a redelivery, or a gap); acknowledging or repositioning",
			"projection", c.p.Name, "reason", a.refusal, "checkpoint", a.at.String(), "event_position", re.GlobalPosition().String(),
			"refusals_since_last_log", c.refusedSinceLog)
		c.refusalLogged, c.refusedSinceLog = now, 0
	}
	c.mu.Unlock()
	switch a.refusal {
	case "moved":
		if !a.at.Less(re.GlobalPosition()) {
			return errDuplicate // applied by another worker, or before a crash that lost the ack
		}
		return errReposition
	case "inactive":
		v, err := activeVersion(ctx, c.r.pool, c.p.Name)
		if err != nil {
			return err
		}
		c.r.log.Info("projection version swapped; following it", "projection", c.p.Name, "version", v)
		c.version.Store(int64(v))
		return errReposition
	case "failed":
		return fmt.Errorf("%s: %w", c.p.Name, ErrFailed)
	case "fenced":
		return fmt.Errorf("%s: %w", c.p.Name, ErrFenced)
	}
	return fmt.Errorf("%s: advance: unknown refusal %q", c.p.Name, a.refusal)
}

// projectionCheckpoints is the subscriber's feed.CheckpointStore for projections: the position is the
// active version's checkpoint, which handlers advance in their own transactions (Save is a no-op).
type projectionCheckpoints struct{ pool *pgxpool.Pool }

func (p projectionCheckpoints) Load(ctx context.Context, group string) (eventstore.GlobalPosition, error) {
	var tx, pos int64
	err := p.pool.QueryRow(ctx, `SELECT c.transaction_id, c.position FROM projection_versions r
		JOIN projection_checkpoints c ON c.name = r.name AND c.version = r.active_version WHERE r.name = $1`, group).Scan(&tx, &pos)
	if err != nil {
		return eventstore.GlobalPosition{}, fmt.Errorf("checkpoint of %s: %w", group, err)
	}
	return eventstore.GlobalPosition{TransactionID: uint64(tx), Position: pos}, nil
}

func (projectionCheckpoints) Save(context.Context, string, eventstore.GlobalPosition) error {
	return nil
}
