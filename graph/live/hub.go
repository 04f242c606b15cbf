package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/eventstore/feed"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// ConsumerGroup is the topic under which a Hub subscribes to the global log. Like every
// consumer group name it is a constant, never renamed, but nothing is stored under it: the hub
// keeps its position in memory (see Hub).
const ConsumerGroup = "graph-live-hub"

// CodeSlowConsumer is the extensions.code of the error that ends a subscription the hub dropped
// because its client did not take its messages (EndSlow): resume from the error's lastPosition
// (End.LastPosition). A revoked subscription (EndRevoked) ends with domain.CodeForbidden.
const CodeSlowConsumer = "SLOW_CONSUMER"

// ErrUnavailable answers a subscription when the process runs no live hub (or it stopped).
var ErrUnavailable = errors.New("live updates are unavailable")

// Hub defaults.
const (
	defaultSlowAfter = 30 * time.Second
	defaultMaxQueue  = 10_000
	defaultWaitWarn  = 10 * time.Second
	defaultLoadRetry = time.Minute
)

// HubOptions tune a Hub. Zero values take the defaults.
type HubOptions struct {
	Logger *slog.Logger
	// SlowAfter is how long a subscription's next message may wait for its client to take it
	// (default 30 s): a client that has messages pending and takes none for that long is dropped
	// (EndSlow). It measures the client's own reading, never a server-side stall or burst.
	SlowAfter time.Duration
	// MaxQueue bounds the messages pending for one subscription (default 10,000): one more drops
	// it (EndSlow). It bounds memory, not time.
	MaxQueue int
	// WaitWarn is how long the hub waits for the projections before it logs a warning, then at
	// most once per WaitWarn while the wait lasts (default 10 s). The hub never stops waiting: a
	// change is delivered late, never skipped.
	WaitWarn time.Duration
	// LoadRetry is how long a failing load of read-model state is retried, with backoff (default
	// 1 min), before the subscriptions that wanted it end (EndFailed) with their last position.
	LoadRetry time.Duration
	// PollInterval is the subscriber's fallback poll when a NOTIFY is lost (default 1 s).
	PollInterval time.Duration
	// Metrics, when set, receives the open subscriptions, messages queued and pending,
	// subscriptions dropped as slow or ended by a failure, and the current wait for the projections.
	Metrics prometheus.Registerer
}

// Hub delivers the live updates of one server process. See doc.go for the design; in short:
//
//   - It tails the global log with feed.NewSubscriber from an in-memory checkpoint that
//     starts at the log's head when Run starts: a live tail, not a durable consumer.
//   - Every process runs its own hub over the shared event store, so a mutation served by one
//     process reaches subscribers connected to any other.
//   - A reader follows the log and queues task events, the project events that change a board
//     (workflow, name, archived) and member removals (at most maxPending; beyond, it stops
//     acknowledging and the tail pauses: the log is the buffer). A deliverer takes everything
//     queued at once: for the events some subscription wants, it waits, for as long as it takes,
//     until the projections they need have applied the last of them, loads the read-model state
//     once per task, project and inbox, and queues it, in log order, to each matching
//     subscription with the event's position. A task changed several times in one batch is sent
//     once, in its latest state (board changes are sent for each event).
//   - Each subscription's queue is drained by its own pump into the channel its client reads,
//     which tracks the last position delivered. A client is slow when it leaves a message
//     untaken for SlowAfter or lets MaxQueue pile up; then, and when the hub stops or cannot
//     load a change, the subscription ends with its last position, from which the client
//     resumes. Nothing is skipped in the middle of a stream.
type Hub struct {
	store    *eventstore.Store
	reg      *domain.Registry
	notifier *eventstore.Notifier
	queries  *projections.Queries
	opts     HubOptions
	log      *slog.Logger

	started atomic.Bool
	ready   chan struct{} // closed once the start position is known
	stopped chan struct{} // closed when Run returns

	mu        sync.Mutex
	byProject map[uuid.UUID]map[*hubSub]struct{}
	byInbox   map[inboxKey]map[*hubSub]struct{}
	count     int
	cursor    eventstore.GlobalPosition // the last event the deliverer matched to subscriptions

	delivered   atomic.Int64
	dropped     atomic.Int64
	failed      atomic.Int64
	pending     atomic.Int64 // messages queued to subscriptions, not yet taken
	waitingFrom atomic.Int64 // unix nanoseconds the current wait for the projections began; 0: none
}

type inboxKey struct {
	workspace uuid.UUID
	user      string
}

// NewHub returns a hub over the event store. notifier may be nil (then the hub polls).
func NewHub(store *eventstore.Store, notifier *eventstore.Notifier, queries *projections.Queries, o HubOptions) (*Hub, error) {
	if store == nil || queries == nil {
		return nil, errors.New("live: the hub needs the event store and the read queries")
	}
	h := newHub(o)
	h.store, h.notifier, h.queries = store, notifier, queries
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "taskforge_live_subscriptions",
				Help: "Open GraphQL subscriptions in this process."}, func() float64 { return float64(h.Subscriptions()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "taskforge_live_messages_total",
				Help: "Subscription messages queued for delivery."}, func() float64 { return float64(h.Delivered()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "taskforge_live_pending_messages",
				Help: "Subscription messages queued and not yet taken by their clients."}, func() float64 { return float64(h.Pending()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "taskforge_live_dropped_subscriptions_total",
				Help: "Subscriptions dropped because their client did not keep up."}, func() float64 { return float64(h.Dropped()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "taskforge_live_failed_subscriptions_total",
				Help: "Subscriptions ended because the read-model state of a change could not be loaded."},
				func() float64 { return float64(h.Failed()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "taskforge_live_projection_wait_seconds",
				Help: "How long the live hub has been waiting for the projections to apply the changes it holds (0: not waiting)."},
				func() float64 { return h.ProjectionWait().Seconds() }),
		} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// newHub applies the defaults; NewHub adds the store and the queries.
func newHub(o HubOptions) *Hub {
	if o.SlowAfter <= 0 {
		o.SlowAfter = defaultSlowAfter
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = defaultMaxQueue
	}
	if o.WaitWarn <= 0 {
		o.WaitWarn = defaultWaitWarn
	}
	if o.LoadRetry <= 0 {
		o.LoadRetry = defaultLoadRetry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{reg: domain.NewRegistry(), opts: o, log: o.Logger.With("component", "live-hub"),
		ready: make(chan struct{}), stopped: make(chan struct{}),
		byProject: map[uuid.UUID]map[*hubSub]struct{}{}, byInbox: map[inboxKey]map[*hubSub]struct{}{}}
}

// Subscriptions is the number of open subscriptions.
func (h *Hub) Subscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Delivered counts messages queued to subscriptions, Pending those not yet taken by their
// clients, Dropped subscriptions dropped as slow and Failed those ended by a load failure.
func (h *Hub) Delivered() int64 { return h.delivered.Load() }
func (h *Hub) Pending() int64   { return h.pending.Load() }
func (h *Hub) Dropped() int64   { return h.dropped.Load() }
func (h *Hub) Failed() int64    { return h.failed.Load() }

// ProjectionWait is how long the hub has been waiting for the projections to apply the events
// it holds; 0 when it is not waiting.
func (h *Hub) ProjectionWait() time.Duration {
	from := h.waitingFrom.Load()
	if from == 0 {
		return 0
	}
	return time.Since(time.Unix(0, from))
}

// memoryCheckpoint is the hub's position: in memory, from the head at start.
type memoryCheckpoint struct {
	mu  sync.Mutex
	pos eventstore.GlobalPosition
}

func (m *memoryCheckpoint) Load(context.Context, string) (eventstore.GlobalPosition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, nil
}

func (m *memoryCheckpoint) Save(_ context.Context, _ string, pos eventstore.GlobalPosition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos = pos
	return nil
}

// Run tails the log and delivers until ctx is done; then every open subscription ends
// (EndStopped, after what it has queued). It is called once.
func (h *Hub) Run(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("live: hub already running")
	}
	defer h.stop()
	head, err := h.store.Head(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("live hub: %w", err)
	}
	sub, err := feed.NewSubscriber(h.store, h.notifier, &memoryCheckpoint{pos: head},
		feed.SubscriberConfig{PollInterval: h.opts.PollInterval, Logger: h.log})
	if err != nil {
		return err
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, ConsumerGroup)
	if err != nil {
		return fmt.Errorf("live hub: %w", err)
	}
	h.mu.Lock()
	h.cursor = head
	h.mu.Unlock()
	close(h.ready)
	h.log.Info("live hub started", "from_transaction_id", head.TransactionID, "from_position", head.Position)
	q := newQueue()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.deliver(dctx, q)
	}()
	h.read(ctx, msgs, q) // until ctx is done
	stop()
	<-done
	return nil
}

// waitReady waits until Run knows its start position, so that a subscription registered after
// it returns receives every event committed after that.
func (h *Hub) waitReady(ctx context.Context) error {
	select {
	case <-h.ready:
		return nil
	case <-h.stopped:
		return ErrUnavailable
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Target is what a subscription follows, and for whom. The caller has checked that User may read
// it (a member of Workspace, and Project one of its projects) before subscribing; the hub ends the
// subscription with EndRevoked when User is removed from Workspace.
type Target struct {
	Workspace uuid.UUID
	Project   uuid.UUID // TaskChanged and BoardChanged; NotificationAdded ignores it
	User      string
	// Started, when set, receives the position the subscription starts after (it is sent every
	// event it wants after that one): a subscriber replaying what it missed (since) replays up to
	// it, so that replay and live meet with no gap.
	Started *eventstore.GlobalPosition
}

// TaskChanged subscribes to the changes of t.Project's tasks: each changed task in its state
// after the change (a task changed several times in one batch is sent once, in its latest state,
// at the position of its last change). The channel is closed when the subscription ends: ctx
// done (EndDone), or the hub ending it (see EndReason); onEnd, if set, is called first with the
// reason and the last position the channel delivered. ErrUnavailable when the hub has stopped.
func (h *Hub) TaskChanged(ctx context.Context, t Target, onEnd func(End)) (<-chan *model.Task, error) {
	return subscribe[*model.Task](ctx, h, newHubSub(subTask, t), onEnd)
}

// BoardChanged subscribes to the changes of t.Project's board: tasks created, moved, reordered,
// archived or restored, and the project's own changes (workflow, name, archived). Each message's
// ConsistencyToken is its position. It ends as TaskChanged does.
func (h *Hub) BoardChanged(ctx context.Context, t Target, onEnd func(End)) (<-chan *model.BoardChange, error) {
	return subscribe[*model.BoardChange](ctx, h, newHubSub(subBoard, t), onEnd)
}

// NotificationAdded subscribes to the notifications added to t.User's inbox in t.Workspace. It
// ends as TaskChanged does.
func (h *Hub) NotificationAdded(ctx context.Context, t Target, onEnd func(End)) (<-chan *model.Notification, error) {
	return subscribe[*model.Notification](ctx, h, newHubSub(subNotification, t), onEnd)
}

// subscribe registers a subscription whose messages have type T, starts its pump and returns
// the channel the pump feeds (unbuffered: a message the caller took is one it delivers, so the
// pump knows the last position delivered). The subscription receives every event it wants after
// Hub.cursor at registration.
func subscribe[T any](ctx context.Context, h *Hub, s *hubSub, onEnd func(End)) (<-chan T, error) {
	if err := h.waitReady(ctx); err != nil {
		return nil, err
	}
	ch := make(chan T)
	h.mu.Lock()
	select {
	case <-h.stopped:
		h.mu.Unlock()
		return nil, ErrUnavailable
	default:
	}
	s.start = h.cursor
	if s.started != nil {
		*s.started = s.start
	}
	switch s.kind {
	case subTask, subBoard:
		add(h.byProject, s.project, s)
	case subNotification:
		add(h.byInbox, inboxKey{s.workspace, s.user}, s)
	}
	h.count++
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.removeLocked(s, EndDone, false)
	})
	go pump(ctx, h, s, ch, onEnd)
	return ch, nil
}

func add[K comparable](m map[K]map[*hubSub]struct{}, k K, s *hubSub) {
	set := m[k]
	if set == nil {
		set = map[*hubSub]struct{}{}
		m[k] = set
	}
	set[s] = struct{}{}
}

func remove[K comparable](m map[K]map[*hubSub]struct{}, k K, s *hubSub) {
	delete(m[k], s)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// removeLocked ends s once: it receives nothing more; its pump delivers what is queued first
// when drain is set. h.mu is held.
func (h *Hub) removeLocked(s *hubSub, why EndReason, drain bool) {
	if s.closed {
		return
	}
	s.closed = true
	switch s.kind {
	case subTask, subBoard:
		remove(h.byProject, s.project, s)
	case subNotification:
		remove(h.byInbox, inboxKey{s.workspace, s.user}, s)
	}
	h.count--
	s.end(why, drain)
}

// offerLocked queues v, from the event at pos, for s, or drops s when MaxQueue messages are
// pending. h.mu is held.
func (h *Hub) offerLocked(s *hubSub, pos eventstore.GlobalPosition, v any) {
	if s.closed || !s.start.Less(pos) {
		// A subscription registered while its batch was delivered starts after the batch (the
		// cursor): the events it sends are exactly those after its start.
		return
	}
	queued, full := s.push(envelope{pos: pos, v: v}, h.opts.MaxQueue)
	if queued {
		h.delivered.Add(1)
		h.pending.Add(1)
	}
	if full {
		h.dropLocked(s, "max_queue")
	}
}

// slow is the pump's verdict on a client that left a message untaken for SlowAfter: the
// subscription is dropped; one the hub was ending already stops delivering the rest.
func (h *Hub) slow(s *hubSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		s.hurry()
		return
	}
	h.dropLocked(s, "slow_after")
}

func (h *Hub) dropLocked(s *hubSub, why string) {
	h.dropped.Add(1)
	h.log.Warn("live subscription dropped: its client does not keep up", "why", why, "user", s.user,
		"workspace_id", s.workspace, "project_id", s.project, "slow_after", h.opts.SlowAfter, "max_queue", h.opts.MaxQueue)
	h.removeLocked(s, EndSlow, false)
}

// stop ends every subscription (EndStopped, after what it has queued) and refuses new ones
// (subscribe checks stopped under h.mu).
func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.stopped)
	for _, set := range h.byProject {
		for s := range set {
			h.removeLocked(s, EndStopped, true)
		}
	}
	for _, set := range h.byInbox {
		for s := range set {
			h.removeLocked(s, EndStopped, true)
		}
	}
}

// taskRef is what every task event's payload names.
type taskRef struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
}

// boardKinds are the task events that change the board's layout.
var boardKinds = map[string]model.BoardChangeKind{
	domain.EventTaskCreated:       model.BoardChangeKindCreated,
	domain.EventTaskStatusChanged: model.BoardChangeKindMoved,
	domain.EventTaskReordered:     model.BoardChangeKindReordered,
	domain.EventTaskArchived:      model.BoardChangeKindArchived,
	domain.EventTaskRestored:      model.BoardChangeKindRestored,
}

// projectBoardKinds are the project events that change the board: its columns (the workflow), the
// project's name or its archived flag.
var projectBoardKinds = map[string]model.BoardChangeKind{
	domain.EventProjectWorkflowDefined: model.BoardChangeKindWorkflowChanged,
	domain.EventProjectRenamed:         model.BoardChangeKindProjectRenamed,
	domain.EventProjectArchived:        model.BoardChangeKindProjectArchived,
	domain.EventProjectUnarchived:      model.BoardChangeKindProjectUnarchived,
}

// hearsLive reports whether the notification rule can give user a live notice of e. The hub
// does not know the task's assignee and creator (the inbox does): it asks as if user held both
// roles, so a role's notice counts for every subscriber but the actor, and the inbox rows it then
// loads at the event's position say who was notified.
func hearsLive(e domain.Event, user string) bool {
	u := domain.UserID(user)
	for _, n := range domain.Notify(e, domain.NotifyContext{Assignee: u, Creator: u}) {
		if n.User == u && n.Channels.Has(domain.ChannelLive) {
			return true
		}
	}
	return false
}

// maxPending bounds the events read but not yet delivered; when it is reached the reader stops
// acknowledging, which pauses the tail (the log is the buffer).
const maxPending = 4096

// hubEvent is an event the hub may deliver: a task event, a project event that changes the board
// (task.TaskID nil), or a member removal.
type hubEvent struct {
	ev      eventstore.RecordedEvent
	task    taskRef
	payload domain.Event // a task event's, decoded; nil when it could not be
	removed *domain.WorkspaceMemberRemoved
}

// projectChange reports whether e is a project's own change (not a task's).
func (e hubEvent) projectChange() bool { return e.removed == nil && e.task.TaskID == uuid.Nil }

// queue hands events from the reader (which follows the log) to the deliverer (which waits for
// the projections): the deliverer takes everything pending at once, so one wait and one load per
// task cover a batch when the hub has fallen behind.
type queue struct {
	mu     sync.Mutex
	events []hubEvent
	wake   chan struct{} // one pending signal: events were queued
	space  chan struct{} // one pending signal: events were taken
}

func newQueue() *queue {
	return &queue{wake: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func (q *queue) push(ctx context.Context, e hubEvent) bool {
	for {
		q.mu.Lock()
		if len(q.events) < maxPending {
			q.events = append(q.events, e)
			q.mu.Unlock()
			select {
			case q.wake <- struct{}{}:
			default:
			}
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-ctx.Done():
			return false
		}
	}
}

func (q *queue) take(ctx context.Context) ([]hubEvent, bool) {
	for {
		q.mu.Lock()
		if len(q.events) > 0 {
			out := q.events
			q.events = nil
			q.mu.Unlock()
			select {
			case q.space <- struct{}{}:
			default:
			}
			return out, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// read follows the log and queues the events the hub may deliver.
func (h *Hub) read(ctx context.Context, msgs <-chan *message.Message, q *queue) {
	for msg := range msgs {
		ev, _, err := feed.EventFromMessage(msg)
		if err != nil {
			h.log.Error("live hub: unreadable message", "err", err)
			msg.Ack()
			continue
		}
		var he *hubEvent
		switch ev.StreamType {
		case domain.StreamTypeTask:
			var ref taskRef
			if err := json.Unmarshal(ev.Data, &ref); err != nil || ref.TaskID == uuid.Nil {
				h.log.Error("live hub: task event without a task id", "event_id", ev.ID, "type", ev.Type)
				break
			}
			he = &hubEvent{ev: ev, task: ref}
			if payload, err := h.reg.Decode(ev.Type, ev.SchemaVersion, ev.Data); err == nil {
				he.payload = payload // for the notification rule; unknown types notify nobody
			} else if !errors.Is(err, domain.ErrUnknownEventType) {
				h.log.Error("live hub: undecodable task event", "event_id", ev.ID, "type", ev.Type, "err", err)
			}
		case domain.StreamTypeProject:
			if _, ok := projectBoardKinds[ev.Type]; !ok {
				break
			}
			var ref taskRef
			if err := json.Unmarshal(ev.Data, &ref); err != nil || ref.ProjectID == uuid.Nil {
				h.log.Error("live hub: project event without a project id", "event_id", ev.ID, "type", ev.Type)
				break
			}
			he = &hubEvent{ev: ev, task: taskRef{ProjectID: ref.ProjectID}}
		case domain.StreamTypeWorkspace:
			if ev.Type == domain.EventWorkspaceMemberRemoved {
				var removed domain.WorkspaceMemberRemoved
				if err := json.Unmarshal(ev.Data, &removed); err == nil {
					he = &hubEvent{ev: ev, removed: &removed}
				}
			}
		}
		if he != nil && !q.push(ctx, *he) {
			return
		}
		msg.Ack() // in-memory position: an event is never retried, a failure is logged and skipped
	}
}

// deliver takes the queued events in batches and delivers them, in order.
func (h *Hub) deliver(ctx context.Context, q *queue) {
	for {
		batch, ok := q.take(ctx)
		if !ok {
			return
		}
		h.deliverBatch(ctx, batch)
	}
}

// wanted is what the open subscriptions want of one event.
type wanted struct {
	workspace  uuid.UUID // of the project's subscriptions
	task       bool      // taskChanged or boardChanged
	project    bool      // boardChanged, for a project's change
	inboxUsers []string
}

func (h *Hub) want(e hubEvent) wanted {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A subscription registered from now on starts after e: it is matched against later events.
	h.cursor = e.ev.GlobalPosition()
	var w wanted
	if e.removed != nil {
		return w
	}
	if e.projectChange() {
		for s := range h.byProject[e.task.ProjectID] {
			if s.kind == subBoard {
				w.workspace, w.project = s.workspace, true
			}
		}
		return w
	}
	_, board := boardKinds[e.ev.Type]
	for s := range h.byProject[e.task.ProjectID] {
		if s.kind == subTask || (s.kind == subBoard && board) {
			w.workspace, w.task = s.workspace, true
		}
	}
	if e.payload != nil {
		for k := range h.byInbox {
			if k.workspace == e.ev.Metadata.WorkspaceID && hearsLive(e.payload, k.user) {
				w.inboxUsers = append(w.inboxUsers, k.user)
			}
		}
	}
	return w
}

// hubKeys lists a set of keys.
func hubKeys(set map[projections.Key]bool) []projections.Key {
	out := make([]projections.Key, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out
}

// Backoff of the retries of a failing wait or load.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitProjections waits until the named projections have applied pos, however long that takes
// (the reader's bounded queue and the log hold what arrives meanwhile): a change is delivered
// late rather than never. A wait beyond WaitWarn is logged (then once per WaitWarn) and shows in
// ProjectionWait; a failing query (the database restarting) is retried with backoff. Only ctx
// (the hub stopping) ends it early.
func (h *Hub) awaitProjections(ctx context.Context, pos eventstore.GlobalPosition, names []string) error {
	start := time.Now()
	h.waitingFrom.Store(start.UnixNano())
	defer h.waitingFrom.Store(0)
	slice := min(h.opts.WaitWarn, time.Second) // how often the wait looks up from WaitFor
	backoff := retryMin
	var warned time.Time
	for {
		wctx, cancel := context.WithTimeout(ctx, slice)
		err := h.queries.WaitFor(wctx, pos, names...)
		sliceOver := wctx.Err() != nil
		cancel()
		if err == nil {
			if !warned.IsZero() {
				h.log.Info("live hub: the projections caught up; delivering", "waited", time.Since(start).Round(time.Millisecond),
					"position", pos.String())
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !sliceOver { // the query failed: retry with backoff
			if time.Since(warned) >= h.opts.WaitWarn {
				warned = time.Now()
				h.log.Warn("live hub: cannot read the projections' progress; retrying", "err", err, "position", pos.String())
			}
			if err := sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(2*backoff, retryMax)
			continue
		}
		backoff = retryMin
		if waited := time.Since(start); waited >= h.opts.WaitWarn && time.Since(warned) >= h.opts.WaitWarn {
			warned = time.Now()
			h.log.Warn("live hub: waiting for the projections; subscriptions get these changes once they apply them",
				"waited", waited.Round(time.Millisecond), "position", pos.String(), "projections", names)
		}
	}
}

// retryLoad runs load until it succeeds, retrying with backoff for LoadRetry. It returns the
// last error when it gives up, or ctx's.
func (h *Hub) retryLoad(ctx context.Context, what string, load func(context.Context) error) error {
	deadline := time.Now().Add(h.opts.LoadRetry)
	backoff := retryMin
	for {
		err := load(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		wait := min(backoff, left) // a last try at the deadline
		h.log.Warn("live hub: load failed; retrying", "what", what, "err", err, "retry_in", wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		backoff = min(2*backoff, retryMax)
	}
}

// failLocked ends s because the state of a change it wanted could not be loaded: after what it
// has queued, with its last position, from which its client resumes. h.mu is held.
func (h *Hub) failLocked(s *hubSub) {
	if s.closed {
		return
	}
	h.failed.Add(1)
	h.removeLocked(s, EndFailed, true)
}

// failProjects ends the subscriptions of kinds in projects (load failures).
func (h *Hub) failProjects(projects map[uuid.UUID]bool, kinds ...subKind) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p := range projects {
		for s := range h.byProject[p] {
			for _, k := range kinds {
				if s.kind == k {
					h.failLocked(s)
				}
			}
		}
	}
}

func (h *Hub) failInbox(k inboxKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byInbox[k] {
		h.failLocked(s)
	}
}

func (h *Hub) deliverBatch(ctx context.Context, batch []hubEvent) {
	wants := make([]wanted, len(batch))
	var (
		last           eventstore.GlobalPosition
		needTasks      bool
		needProjects   bool
		needInbox      bool
		tasks          = map[projections.Key]bool{}
		taskProjects   = map[uuid.UUID]bool{} // the projects of tasks
		projects       = map[projections.Key]bool{}
		inboxes        = map[inboxKey]bool{}
		positions      = map[eventstore.GlobalPosition]bool{}
		firstPosition  eventstore.GlobalPosition
		anyInboxWanted bool
	)
	for i, e := range batch {
		w := h.want(e)
		wants[i] = w
		if !w.task && !w.project && len(w.inboxUsers) == 0 {
			continue
		}
		last = e.ev.GlobalPosition()
		if w.project {
			needProjects = true
			projects[projections.Key{WorkspaceID: w.workspace, ID: e.task.ProjectID}] = true
		}
		if w.task {
			needTasks = true
			tasks[projections.Key{WorkspaceID: w.workspace, ID: e.task.TaskID}] = true
			taskProjects[e.task.ProjectID] = true
		}
		for _, u := range w.inboxUsers {
			needInbox = true
			inboxes[inboxKey{e.ev.Metadata.WorkspaceID, u}] = true
			positions[last] = true
			if !anyInboxWanted {
				firstPosition, anyInboxWanted = last, true
			}
		}
	}
	if needTasks || needProjects || needInbox {
		var names []string
		if needTasks {
			names = append(names, projections.Tasks)
		}
		if needProjects {
			names = append(names, projections.Projects)
		}
		if needInbox {
			names = append(names, projections.Notifications)
		}
		if err := h.awaitProjections(ctx, last, names); err != nil {
			return // the hub is stopping: every subscription ends with its last position
		}
	}
	// Read-model state once per task and once per inbox for the whole batch. A load that keeps
	// failing ends the subscriptions that wanted it, with their last position: they would
	// otherwise miss a change without knowing.
	states := map[uuid.UUID]*model.Task{}
	if needTasks {
		err := h.retryLoad(ctx, "tasks", func(ctx context.Context) error {
			rows, err := h.queries.TasksByKeys(ctx, hubKeys(tasks)) // all workspaces: one statement
			for _, t := range rows {
				states[t.ID] = model.NewTask(t)
			}
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("live hub: cannot load tasks; ending the subscriptions that wanted them", "err", err)
			h.failProjects(taskProjects, subTask, subBoard)
		}
	}
	projectStates := map[uuid.UUID]*model.Project{}
	if needProjects {
		err := h.retryLoad(ctx, "projects", func(ctx context.Context) error {
			rows, err := h.queries.ProjectsByKeys(ctx, hubKeys(projects))
			for _, p := range rows {
				projectStates[p.ID] = model.NewProject(p)
			}
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("live hub: cannot load projects; ending the subscriptions that wanted them", "err", err)
			failed := map[uuid.UUID]bool{}
			for k := range projects {
				failed[k.ID] = true
			}
			h.failProjects(failed, subBoard)
		}
	}
	notes := map[inboxKey]map[eventstore.GlobalPosition][]*model.Notification{}
	if needInbox {
		for k := range inboxes {
			var byPos map[eventstore.GlobalPosition][]*model.Notification
			err := h.retryLoad(ctx, "notifications", func(ctx context.Context) error {
				var err error
				byPos, err = h.loadInbox(ctx, k, firstPosition, last, positions)
				return err
			})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				h.log.Error("live hub: cannot load an inbox; ending its subscriptions", "user", k.user, "err", err)
				h.failInbox(k)
				continue
			}
			notes[k] = byPos
		}
	}
	// Deliver in log order. A task's state is its latest: a task changed several times in one
	// batch is sent once, at its last change (board changes are sent for each board event).
	lastChange := map[uuid.UUID]int{}
	for i, e := range batch {
		if e.removed == nil && wants[i].task {
			lastChange[e.task.TaskID] = i
		}
	}
	for i, e := range batch {
		if e.removed != nil {
			h.revoke(e.removed.WorkspaceID, string(e.removed.UserID))
			continue
		}
		if p := projectStates[e.task.ProjectID]; p != nil && wants[i].project {
			h.publishProject(e.ev, p)
		}
		if t := states[e.task.TaskID]; t != nil && wants[i].task {
			h.publishTask(e.ev, e.task.ProjectID, t, lastChange[e.task.TaskID] == i)
		}
		pos := e.ev.GlobalPosition()
		for _, u := range wants[i].inboxUsers {
			k := inboxKey{e.ev.Metadata.WorkspaceID, u}
			if ns := notes[k][pos]; len(ns) > 0 {
				h.publishNotifications(k, pos, ns)
			}
		}
	}
}

// loadInbox reads k's notifications from first through last at the wanted positions, grouped by
// position in log order. It pages (newest first) until it passes first, so a burst of any size
// is read whole.
func (h *Hub) loadInbox(ctx context.Context, k inboxKey, first, last eventstore.GlobalPosition,
	positions map[eventstore.GlobalPosition]bool) (map[eventstore.GlobalPosition][]*model.Notification, error) {
	byPos := map[eventstore.GlobalPosition][]*model.Notification{}
	before := eventstore.GlobalPosition{TransactionID: last.TransactionID, Position: last.Position + 1}
	for {
		page, err := h.queries.Notifications(ctx, k.workspace, k.user, &before, projections.MaxPage)
		if err != nil {
			return nil, err
		}
		for _, n := range page.Items { // newest first
			if n.Position.Less(first) {
				return byPos, nil
			}
			if positions[n.Position] {
				byPos[n.Position] = append([]*model.Notification{model.NewNotification(k.workspace, n)}, byPos[n.Position]...)
			}
		}
		if page.Before == nil {
			return byPos, nil
		}
		before = *page.Before
	}
}

// revoke ends a removed member's subscriptions in the workspace: they may no longer read it.
// Each ends with a FORBIDDEN error, not a plain completion that a client would take for "done",
// after the messages queued before the removal.
func (h *Hub) revoke(ws uuid.UUID, user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	revoked := 0
	for _, set := range h.byProject {
		for s := range set {
			if s.workspace == ws && s.user == user {
				h.removeLocked(s, EndRevoked, true)
				revoked++
			}
		}
	}
	for s := range h.byInbox[inboxKey{ws, user}] {
		h.removeLocked(s, EndRevoked, true)
		revoked++
	}
	if revoked > 0 {
		h.log.Info("live subscriptions revoked: member removed", "user", user, "workspace_id", ws,
			"subscriptions", revoked)
	}
}

// publishTask offers t to the project's taskChanged subscriptions (when taskChanged: the task's
// last change in its batch) and a board change to its boardChanged ones (for board events), at
// the event's position.
func (h *Hub) publishTask(ev eventstore.RecordedEvent, project uuid.UUID, t *model.Task, taskChanged bool) {
	pos := ev.GlobalPosition()
	var change *model.BoardChange
	if kind, ok := boardKinds[ev.Type]; ok {
		change = &model.BoardChange{Kind: kind, TaskID: &t.ID, Status: &t.Status, Rank: &t.Rank,
			Archived: &t.Archived, Task: t, ConsistencyToken: pos.String(),
			Position: pos.String(), ClientMutationID: optString(ev.Metadata.ClientMutationID),
			ProjectID: t.ProjectID, WorkspaceID: t.WorkspaceID}
	}
	// taskChanged's message carries its change (position, clientMutationId): a copy, as t is
	// shared by the batch's messages.
	msg := *t
	msg.Change = &model.TaskChange{Position: pos.String(), ClientMutationID: optString(ev.Metadata.ClientMutationID)}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byProject[project] {
		switch {
		case s.kind == subTask && taskChanged:
			h.offerLocked(s, pos, &msg)
		case s.kind == subBoard && change != nil:
			h.offerLocked(s, pos, change)
		}
	}
}

// publishProject offers a project's change, with its state p, to the project's boardChanged
// subscriptions.
func (h *Hub) publishProject(ev eventstore.RecordedEvent, p *model.Project) {
	pos := ev.GlobalPosition()
	change := &model.BoardChange{Kind: projectBoardKinds[ev.Type], ProjectID: p.ProjectID,
		WorkspaceID: p.WorkspaceID, ProjectState: p, ConsistencyToken: pos.String(),
		Position: pos.String(), ClientMutationID: optString(ev.Metadata.ClientMutationID)}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byProject[p.ProjectID] {
		if s.kind == subBoard {
			h.offerLocked(s, pos, change)
		}
	}
}

// publishNotifications offers the notifications an event at pos added to an inbox.
func (h *Hub) publishNotifications(k inboxKey, pos eventstore.GlobalPosition, ns []*model.Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byInbox[k] {
		for _, n := range ns {
			h.offerLocked(s, pos, n)
		}
	}
}

// optString is s, or nil when empty.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
