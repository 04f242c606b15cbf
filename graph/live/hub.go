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
// because its client fell too far behind (EndSlow): re-query, then subscribe again. A revoked
// subscription (EndRevoked) ends with domain.CodeForbidden.
const CodeSlowConsumer = "SLOW_CONSUMER"

// ErrUnavailable answers a subscription when the process runs no live hub (or it stopped).
var ErrUnavailable = errors.New("live updates are unavailable")

// Hub defaults.
const (
	defaultHubBuffer    = 64
	defaultHubApplyWait = 10 * time.Second
)

// HubOptions tune a Hub. Zero values take the defaults.
type HubOptions struct {
	Logger *slog.Logger
	// Buffer is each subscription's queue of messages not yet written to its websocket (default
	// 64). A subscription whose queue is full is dropped: see Hub.
	Buffer int
	// ApplyWait bounds the wait for the projections to apply an event (default 10 s). An event
	// they do not reach in time is not delivered (logged): the hub moves on.
	ApplyWait time.Duration
	// PollInterval is the subscriber's fallback poll when a NOTIFY is lost (default 1 s).
	PollInterval time.Duration
	// Metrics, when set, receives the open subscriptions, messages queued and subscriptions
	// dropped as slow.
	Metrics prometheus.Registerer
}

// Hub delivers the live updates of one server process. See doc.go for the design; in short:
//
//   - It tails the global log with feed.NewSubscriber from an in-memory checkpoint that
//     starts at the log's head when Run starts: a live tail, not a durable consumer. Nothing is
//     replayed after a restart; a client reconnects, re-queries and subscribes again.
//   - Every process runs its own hub over the shared event store, so a mutation served by one
//     process reaches subscribers connected to any other.
//   - A reader follows the log and queues task events, the project events that change a board
//     (workflow, name, archived) and member removals (at most maxPending; beyond, it stops
//     acknowledging and the tail pauses). A deliverer takes everything queued at once: for the
//     events some subscription wants, it waits until the projections they need have applied the
//     last of them (Queries.WaitFor), loads the read-model state once per task, project and
//     inbox, and offers it, in log order, to each matching subscription. A task changed several
//     times in one batch is sent once, in its latest state (board changes, a task's or a
//     project's, are sent for each event, with the latest state).
//   - It never blocks on a client: each subscription has a bounded queue; when it is full the
//     subscription is dropped (closed with a SLOW_CONSUMER error, logged) rather than the hub
//     waiting or silently skipping a message in the middle of a stream.
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

	delivered atomic.Int64
	dropped   atomic.Int64
}

type inboxKey struct {
	workspace uuid.UUID
	user      string
}

type subKind int

const (
	subTask subKind = iota
	subBoard
	subNotification
)

// hubSub is one subscription. Its queue is written and closed only by the hub, under Hub.mu.
type hubSub struct {
	kind      subKind
	workspace uuid.UUID
	project   uuid.UUID // subTask, subBoard
	user      string
	offer     func(any) bool // a non-blocking send of the subscription's message type
	end       func(why EndReason)
	closed    bool
}

// EndReason is why the hub ended a subscription; the client is told (the caller's onEnd), so that
// it can tell "re-query and subscribe again" from "you may no longer read this".
type EndReason int

const (
	EndDone    EndReason = iota // the client stopped, the connection closed or the hub stopped
	EndSlow                     // dropped: the client fell too far behind (CodeSlowConsumer)
	EndRevoked                  // the user was removed from the workspace (domain.CodeForbidden)
)

// NewHub returns a hub over the event store. notifier may be nil (then the hub polls).
func NewHub(store *eventstore.Store, notifier *eventstore.Notifier, queries *projections.Queries, o HubOptions) (*Hub, error) {
	if store == nil || queries == nil {
		return nil, errors.New("live: the hub needs the event store and the read queries")
	}
	if o.Buffer <= 0 {
		o.Buffer = defaultHubBuffer
	}
	if o.ApplyWait <= 0 {
		o.ApplyWait = defaultHubApplyWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{store: store, reg: domain.NewRegistry(), notifier: notifier, queries: queries, opts: o, log: o.Logger.With("component", "live-hub"),
		ready: make(chan struct{}), stopped: make(chan struct{}),
		byProject: map[uuid.UUID]map[*hubSub]struct{}{}, byInbox: map[inboxKey]map[*hubSub]struct{}{}}
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "taskforge_live_subscriptions",
				Help: "Open GraphQL subscriptions in this process."}, func() float64 { return float64(h.Subscriptions()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "taskforge_live_messages_total",
				Help: "Subscription messages queued for delivery."}, func() float64 { return float64(h.Delivered()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "taskforge_live_dropped_subscriptions_total",
				Help: "Subscriptions dropped because their client did not keep up."}, func() float64 { return float64(h.Dropped()) }),
		} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// Subscriptions is the number of open subscriptions.
func (h *Hub) Subscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Delivered and Dropped count messages queued to subscriptions and subscriptions dropped as slow.
func (h *Hub) Delivered() int64 { return h.delivered.Load() }
func (h *Hub) Dropped() int64   { return h.dropped.Load() }

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

// Run tails the log and delivers until ctx is done; then every open subscription ends. It is
// called once.
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
}

// TaskChanged subscribes to the changes of t.Project's tasks: each changed task in its state
// after the change (a task changed several times in one batch is sent once, in its latest state).
// The channel is closed when the subscription ends: ctx done, the hub dropping (EndSlow) or
// revoking (EndRevoked) it, or the hub stopping (EndDone); onEnd, if set, is called first with
// the reason. ErrUnavailable when the hub has stopped.
func (h *Hub) TaskChanged(ctx context.Context, t Target, onEnd func(EndReason)) (<-chan *model.Task, error) {
	return subscribe[*model.Task](ctx, h, &hubSub{kind: subTask, workspace: t.Workspace, project: t.Project, user: t.User}, onEnd)
}

// BoardChanged subscribes to the changes of t.Project's board: tasks created, moved, reordered,
// archived or restored, and the project's own changes (workflow, name, archived). It ends as
// TaskChanged does.
func (h *Hub) BoardChanged(ctx context.Context, t Target, onEnd func(EndReason)) (<-chan *model.BoardChange, error) {
	return subscribe[*model.BoardChange](ctx, h, &hubSub{kind: subBoard, workspace: t.Workspace, project: t.Project, user: t.User}, onEnd)
}

// NotificationAdded subscribes to the notifications added to t.User's inbox in t.Workspace. It
// ends as TaskChanged does.
func (h *Hub) NotificationAdded(ctx context.Context, t Target, onEnd func(EndReason)) (<-chan *model.Notification, error) {
	return subscribe[*model.Notification](ctx, h, &hubSub{kind: subNotification, workspace: t.Workspace, user: t.User}, onEnd)
}

// subscribe registers a subscription whose messages have type T and returns its queue. The
// subscription ends when ctx is done, when the hub drops or revokes it, or when the hub stops;
// the queue is then closed. onEnd, if set, runs first with the reason.
func subscribe[T any](ctx context.Context, h *Hub, s *hubSub, onEnd func(EndReason)) (<-chan T, error) {
	if err := h.waitReady(ctx); err != nil {
		return nil, err
	}
	ch := make(chan T, h.opts.Buffer)
	s.offer = func(v any) bool {
		select {
		case ch <- v.(T):
			return true
		default:
			return false
		}
	}
	s.end = func(why EndReason) {
		if onEnd != nil {
			onEnd(why)
		}
		close(ch)
	}
	h.mu.Lock()
	select {
	case <-h.stopped:
		h.mu.Unlock()
		return nil, ErrUnavailable
	default:
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
		h.removeLocked(s, EndDone)
	})
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

// removeLocked ends s once. h.mu is held.
func (h *Hub) removeLocked(s *hubSub, why EndReason) {
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
	s.end(why)
}

// offerLocked queues v for s, or drops s when its queue is full. h.mu is held.
func (h *Hub) offerLocked(s *hubSub, v any) {
	if s.closed {
		return
	}
	if s.offer(v) {
		h.delivered.Add(1)
		return
	}
	h.dropped.Add(1)
	h.log.Warn("live subscription dropped: its client does not keep up", "user", s.user,
		"workspace_id", s.workspace, "project_id", s.project, "buffer", h.opts.Buffer)
	h.removeLocked(s, EndSlow)
}

// stop ends every subscription and refuses new ones (subscribe checks stopped under h.mu).
func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.stopped)
	for _, set := range h.byProject {
		for s := range set {
			h.removeLocked(s, EndDone)
		}
	}
	for _, set := range h.byInbox {
		for s := range set {
			h.removeLocked(s, EndDone)
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

func (h *Hub) deliverBatch(ctx context.Context, batch []hubEvent) {
	wants := make([]wanted, len(batch))
	var (
		last           eventstore.GlobalPosition
		needTasks      bool
		needProjects   bool
		needInbox      bool
		tasks          = map[projections.Key]bool{}
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
		wctx, cancel := context.WithTimeout(ctx, h.opts.ApplyWait)
		err := h.queries.WaitFor(wctx, last, names...)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("live hub: projections did not apply events in time; not delivered",
					"events", len(batch), "err", err)
			}
			needTasks, needProjects, needInbox = false, false, false
		}
	}
	// Read-model state once per task and once per inbox for the whole batch.
	states := map[uuid.UUID]*model.Task{}
	if needTasks {
		rows, err := h.queries.TasksByKeys(ctx, hubKeys(tasks)) // all workspaces: one statement
		// (a load cancelled because the hub is stopping is not an error)
		if err != nil && ctx.Err() == nil {
			h.log.Error("live hub: load tasks", "err", err)
		}
		for _, t := range rows {
			states[t.ID] = model.NewTask(t)
		}
	}
	projectStates := map[uuid.UUID]*model.Project{}
	if needProjects {
		rows, err := h.queries.ProjectsByKeys(ctx, hubKeys(projects))
		if err != nil && ctx.Err() == nil {
			h.log.Error("live hub: load projects", "err", err)
		}
		for _, p := range rows {
			projectStates[p.ID] = model.NewProject(p)
		}
	}
	notes := map[inboxKey]map[eventstore.GlobalPosition][]*model.Notification{}
	if needInbox {
		before := eventstore.GlobalPosition{TransactionID: last.TransactionID, Position: last.Position + 1}
		for k := range inboxes {
			page, err := h.queries.Notifications(ctx, k.workspace, k.user, &before, projections.MaxPage)
			if err != nil {
				if ctx.Err() == nil {
					h.log.Error("live hub: load notifications", "user", k.user, "err", err)
				}
				continue
			}
			byPos := map[eventstore.GlobalPosition][]*model.Notification{}
			for _, n := range page.Items { // newest first
				if n.Position.Less(firstPosition) {
					break
				}
				if positions[n.Position] {
					byPos[n.Position] = append([]*model.Notification{model.NewNotification(k.workspace, n)}, byPos[n.Position]...)
				}
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
				h.publishNotifications(k, ns)
			}
		}
	}
}

// revoke ends a removed member's subscriptions in the workspace: they may no longer read it.
// Each ends with a FORBIDDEN error, not a plain completion that a client would take for "done".
func (h *Hub) revoke(ws uuid.UUID, user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	revoked := 0
	for _, set := range h.byProject {
		for s := range set {
			if s.workspace == ws && s.user == user {
				h.removeLocked(s, EndRevoked)
				revoked++
			}
		}
	}
	for s := range h.byInbox[inboxKey{ws, user}] {
		h.removeLocked(s, EndRevoked)
		revoked++
	}
	if revoked > 0 {
		h.log.Info("live subscriptions revoked: member removed", "user", user, "workspace_id", ws,
			"subscriptions", revoked)
	}
}

// publishTask offers t to the project's taskChanged subscriptions (when taskChanged: the task's
// last change in its batch) and a board change to its boardChanged ones (for board events).
func (h *Hub) publishTask(ev eventstore.RecordedEvent, project uuid.UUID, t *model.Task, taskChanged bool) {
	var change *model.BoardChange
	if kind, ok := boardKinds[ev.Type]; ok {
		change = &model.BoardChange{Kind: kind, TaskID: &t.ID, Status: &t.Status, Rank: &t.Rank,
			Archived: &t.Archived, Task: t, ConsistencyToken: ev.GlobalPosition().String(),
			Position: ev.GlobalPosition().String(), ClientMutationID: optString(ev.Metadata.ClientMutationID),
			ProjectID: t.ProjectID, WorkspaceID: t.WorkspaceID}
	}
	// taskChanged's message carries its change (position, clientMutationId): a copy, as t is
	// shared by the batch's messages.
	msg := *t
	msg.Change = &model.TaskChange{Position: ev.GlobalPosition().String(), ClientMutationID: optString(ev.Metadata.ClientMutationID)}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byProject[project] {
		switch {
		case s.kind == subTask && taskChanged:
			h.offerLocked(s, &msg)
		case s.kind == subBoard && change != nil:
			h.offerLocked(s, change)
		}
	}
}

// publishProject offers a project's change, with its state p, to the project's boardChanged
// subscriptions.
func (h *Hub) publishProject(ev eventstore.RecordedEvent, p *model.Project) {
	change := &model.BoardChange{Kind: projectBoardKinds[ev.Type], ProjectID: p.ProjectID,
		WorkspaceID: p.WorkspaceID, ProjectState: p, ConsistencyToken: ev.GlobalPosition().String(),
		Position: ev.GlobalPosition().String(), ClientMutationID: optString(ev.Metadata.ClientMutationID)}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byProject[p.ProjectID] {
		if s.kind == subBoard {
			h.offerLocked(s, change)
		}
	}
}

func (h *Hub) publishNotifications(k inboxKey, ns []*model.Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byInbox[k] {
		for _, n := range ns {
			h.offerLocked(s, n)
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
