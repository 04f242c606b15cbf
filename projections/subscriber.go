package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/taskforge/taskforge/eventstore"
)

// Metadata keys of the messages the Subscriber delivers. The payload is the event's data (JSON,
// upcast to the current schema version); the message UUID is the event id.
const (
	MetaEventType     = "event_type"
	MetaSchemaVersion = "schema_version"
	MetaStreamID      = "stream_id"
	MetaStreamType    = "stream_type"
	MetaStreamVersion = "stream_version"
	MetaPosition      = "position"
	MetaTransactionID = "transaction_id"
	MetaRecordedAt    = "recorded_at" // RFC 3339 with nanoseconds
	MetaActor         = "actor"
	MetaWorkspaceID   = "workspace_id"
	MetaCorrelationID = "correlation_id"
	MetaCausationID   = "causation_id"
	MetaRequestID     = "request_id"
	// The position of the event delivered before this one in the subscription (or the checkpoint
	// it started from): a consumer that commits its own checkpoint uses it to detect gaps.
	MetaPrevTransactionID = "prev_transaction_id"
	MetaPrevPosition      = "prev_position"
)

// CheckpointStore loads and saves a consumer group's position in the global log.
type CheckpointStore interface {
	// Load returns the position after which the group resumes.
	Load(ctx context.Context, group string) (eventstore.GlobalPosition, error)
	// Save records that the group has handled everything up to pos; it is called after each Ack.
	// Consumers that commit their checkpoint with their own writes make it a no-op.
	Save(ctx context.Context, group string, pos eventstore.GlobalPosition) error
}

// SubscriberConfig tunes a Subscriber. Zero values take the defaults.
type SubscriberConfig struct {
	// PollInterval is the fallback: one query for the whole Subscriber (not per subscription)
	// checks every interval whether the log's head moved, in case a NOTIFY was lost. Default 1s.
	PollInterval time.Duration
	// BatchSize is the number of events read per query. Default 500.
	BatchSize int
	// NackBackoff is the wait before redelivering after a Nack. Default 100ms.
	NackBackoff time.Duration
	Logger      *slog.Logger
}

// Subscriber is a watermill message.Subscriber over the event store's global log. The topic is
// the consumer group: each subscription resumes from the group's checkpoint and delivers events in
// the commit-safe global order, one at a time (the next after Ack; after Nack the same event again,
// re-read from the stored checkpoint). See doc.go.
type Subscriber struct {
	store    *eventstore.Store
	notifier *eventstore.Notifier
	cps      CheckpointStore
	cfg      SubscriberConfig
	log      *slog.Logger

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
	polls   map[chan struct{}]struct{}
	poller  bool

	queries atomic.Int64
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber. notifier may be nil (then only the poll wakes readers).
func NewSubscriber(store *eventstore.Store, notifier *eventstore.Notifier, cps CheckpointStore, cfg SubscriberConfig) (*Subscriber, error) {
	if store == nil || cps == nil {
		return nil, errors.New("projections: subscriber needs a store and a checkpoint store")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.NackBackoff <= 0 {
		cfg.NackBackoff = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{store: store, notifier: notifier, cps: cps, cfg: cfg, log: log,
		closing: make(chan struct{}), polls: map[chan struct{}]struct{}{}}, nil
}

// Queries is the number of queries the subscriber has issued (reads, horizon checks, polls).
func (s *Subscriber) Queries() int64 { return s.queries.Load() }

// Subscribe starts delivering the log to consumer group topic.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("projections: empty consumer group")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("projections: subscriber closed")
	}
	poll := make(chan struct{}, 1)
	s.polls[poll] = struct{}{}
	if !s.poller {
		s.poller = true
		s.wg.Add(1)
		go s.pollHead()
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.polls, poll)
			s.mu.Unlock()
		}()
		s.run(ctx, topic, out, poll)
	}()
	return out, nil
}

// Close ends every subscription and waits for them.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// pollHead is the fallback wake-up: one Head query per interval for all subscriptions.
func (s *Subscriber) pollHead() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.closing
		cancel()
	}()
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var last eventstore.GlobalPosition
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.queries.Add(1)
		head, err := s.store.Head(ctx)
		if err != nil || head == last {
			continue
		}
		last = head
		s.mu.Lock()
		for ch := range s.polls {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
	}
}

func (s *Subscriber) run(ctx context.Context, group string, out chan<- *message.Message, poll <-chan struct{}) {
	var wake <-chan struct{}
	if s.notifier != nil {
		ch, unsubscribe := s.notifier.Subscribe()
		defer unsubscribe()
		wake = ch
	}
	log := s.log.With("consumer_group", group)
	var (
		pos     eventstore.GlobalPosition
		loaded  bool
		buf     []eventstore.RecordedEvent
		retry   = 10 * time.Millisecond // after errors
		horizon = time.Millisecond      // while committed events wait below the horizon
	)
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-s.closing:
			return false
		case <-t.C:
			return true
		}
	}
	for {
		if !loaded {
			p, err := s.cps.Load(ctx, group)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error("load checkpoint", "err", err)
				if !sleep(retry) {
					return
				}
				retry = min(retry*2, 5*time.Second)
				continue
			}
			pos, loaded, buf = p, true, nil
		}
		if len(buf) == 0 {
			s.queries.Add(1)
			evs, err := s.store.ReadAllOn(ctx, s.store.Pool(), pos, s.cfg.BatchSize)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error("read events", "err", err)
				if !sleep(retry) {
					return
				}
				retry = min(retry*2, 5*time.Second)
				continue
			}
			retry = 10 * time.Millisecond
			if len(evs) == 0 {
				// Events that committed but wait behind a still-running transaction become
				// readable when it ends, which sends no NOTIFY: look again soon.
				if s.committedAboveHorizon(ctx) {
					if !sleep(horizon) {
						return
					}
					horizon = min(horizon*2, 5*time.Millisecond)
					continue
				}
				horizon = time.Millisecond
				select {
				case <-ctx.Done():
					return
				case <-s.closing:
					return
				case <-wake:
				case <-poll:
				}
				continue
			}
			buf, horizon = evs, time.Millisecond
		}
		ev := buf[0]
		msg := NewMessage(ev, pos)
		msg.SetContext(ctx)
		select {
		case out <- msg:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
		select {
		case <-msg.Acked():
			pos, buf = ev.GlobalPosition(), buf[1:]
			if err := s.cps.Save(ctx, group, pos); err != nil && ctx.Err() == nil {
				// The event may be delivered again after a restart: consumers are idempotent.
				log.Error("save checkpoint", "err", err, "event_id", ev.ID)
			}
		case <-msg.Nacked():
			if !sleep(s.cfg.NackBackoff) {
				return
			}
			loaded = false // re-read from the stored checkpoint: the same event, or a repositioning
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

func (s *Subscriber) committedAboveHorizon(ctx context.Context) bool {
	s.queries.Add(1)
	var pending bool
	// served by events_global_order_idx (range from the horizon, one row)
	err := s.store.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events
		WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))`).Scan(&pending)
	return err == nil && pending
}

// NewMessage returns the watermill message for ev; prev is the position delivered before it.
func NewMessage(ev eventstore.RecordedEvent, prev eventstore.GlobalPosition) *message.Message {
	msg := message.NewMessage(ev.ID.String(), message.Payload(ev.Data))
	m := msg.Metadata
	m.Set(MetaEventType, ev.Type)
	m.Set(MetaSchemaVersion, strconv.Itoa(ev.SchemaVersion))
	m.Set(MetaStreamID, ev.StreamID)
	m.Set(MetaStreamType, ev.StreamType)
	m.Set(MetaStreamVersion, strconv.FormatInt(ev.StreamVersion, 10))
	m.Set(MetaPosition, strconv.FormatInt(ev.Position, 10))
	m.Set(MetaTransactionID, strconv.FormatUint(ev.TransactionID, 10))
	m.Set(MetaRecordedAt, ev.RecordedAt.Format(time.RFC3339Nano))
	m.Set(MetaActor, ev.Metadata.Actor)
	m.Set(MetaWorkspaceID, ev.Metadata.WorkspaceID.String())
	m.Set(MetaCorrelationID, ev.Metadata.CorrelationID.String())
	m.Set(MetaCausationID, ev.Metadata.CausationID.String())
	m.Set(MetaRequestID, ev.Metadata.RequestID)
	m.Set(MetaPrevTransactionID, strconv.FormatUint(prev.TransactionID, 10))
	m.Set(MetaPrevPosition, strconv.FormatInt(prev.Position, 10))
	return msg
}

// EventFromMessage rebuilds the recorded event (without its hashes) and the previous position from
// a message delivered by the Subscriber.
func EventFromMessage(msg *message.Message) (eventstore.RecordedEvent, eventstore.GlobalPosition, error) {
	var (
		ev   eventstore.RecordedEvent
		prev eventstore.GlobalPosition
		errs []error
	)
	m := msg.Metadata
	parseInt := func(key string) int64 {
		n, err := strconv.ParseInt(m.Get(key), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return n
	}
	parseUint := func(key string) uint64 {
		n, err := strconv.ParseUint(m.Get(key), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return n
	}
	parseUUID := func(s string) uuid.UUID {
		id, err := uuid.Parse(s)
		if err != nil {
			errs = append(errs, err)
		}
		return id
	}
	ev.ID = parseUUID(msg.UUID)
	ev.Type = m.Get(MetaEventType)
	ev.SchemaVersion = int(parseInt(MetaSchemaVersion))
	ev.StreamID = m.Get(MetaStreamID)
	ev.StreamType = m.Get(MetaStreamType)
	ev.StreamVersion = parseInt(MetaStreamVersion)
	ev.Position = parseInt(MetaPosition)
	ev.TransactionID = parseUint(MetaTransactionID)
	at, err := time.Parse(time.RFC3339Nano, m.Get(MetaRecordedAt))
	if err != nil {
		errs = append(errs, err)
	}
	ev.RecordedAt = at
	ev.Data = []byte(msg.Payload)
	ev.Metadata = eventstore.Metadata{
		Actor:         m.Get(MetaActor),
		WorkspaceID:   parseUUID(m.Get(MetaWorkspaceID)),
		CorrelationID: parseUUID(m.Get(MetaCorrelationID)),
		CausationID:   parseUUID(m.Get(MetaCausationID)),
		RequestID:     m.Get(MetaRequestID),
	}
	prev.TransactionID = parseUint(MetaPrevTransactionID)
	prev.Position = parseInt(MetaPrevPosition)
	if err := errors.Join(errs...); err != nil {
		return ev, prev, fmt.Errorf("message %s is not an event: %w", msg.UUID, err)
	}
	return ev, prev, nil
}
