package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
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
	// MetaBatchSize is set only on batch messages (SubscriberConfig.MaxBatch > 1 and several
	// events buffered): their events are in the message's context, not its payload (see
	// EventsFromMessage), and MetaPosition / MetaTransactionID are the last event's.
	MetaBatchSize = "batch_size"
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
	// MaxBatch > 1 lets one message carry up to MaxBatch events that are already read and
	// waiting (never waiting for more to arrive): a consumer that has fallen behind by a few
	// events handles them together, e.g. in one transaction with one checkpoint advance, instead
	// of one transaction per event. Order is unchanged and Ack/Nack cover the whole message.
	// Default 1: one event per message, the contract of consumers that use EventFromMessage.
	MaxBatch int
	Logger   *slog.Logger
}

// Subscriber is a watermill message.Subscriber over the event store's global log. The topic is
// the consumer group: each subscription resumes from the group's checkpoint and delivers events in
// the commit-safe global order, one message at a time (the next after Ack; after Nack the same
// events again, re-read from the stored checkpoint). A message is one event, or with
// SubscriberConfig.MaxBatch several that were already read (EventsFromMessage). See doc.go.
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

	queries    atomic.Int64
	emptyReads atomic.Int64
	pollSeq    atomic.Uint64 // head moves seen by pollHead

	emptyMu sync.Mutex
	empty   emptyRead

	// Subscriptions share their reads: the projections' five consumer groups, woken by the same
	// commit, want the same events. readMu lets one of them read while the others wait and then
	// find the events in tail.
	readMu sync.Mutex
	tail   tail
}

// read returns the events after pos: from the tail another subscription read, or from the store.
// pending reports, when there are none, that committed events wait above the read horizon (behind
// a transaction still running, whose end sends no NOTIFY): the caller should look again soon.
//
// An empty read is shared too: after the five projections apply a commit they all ask for what
// follows the same position, and while no commit has been announced since the first of them
// found nothing (Notifier.Seq and the poll have not moved), the others are told so without a
// query of their own.
func (s *Subscriber) read(ctx context.Context, pos eventstore.GlobalPosition) (evs []eventstore.RecordedEvent, pending bool, err error) {
	if evs := s.tail.after(pos, s.cfg.BatchSize); len(evs) > 0 {
		return evs, false, nil
	}
	if pending, ok := s.knownEmpty(pos); ok {
		return nil, pending, nil
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if evs := s.tail.after(pos, s.cfg.BatchSize); len(evs) > 0 {
		return evs, false, nil
	}
	if pending, ok := s.knownEmpty(pos); ok {
		return nil, pending, nil
	}
	seq := s.wakeSeq() // before the read: a commit announced after this moves it
	s.queries.Add(1)
	evs, pending, err = s.store.ReadAllOrPending(ctx, pos, s.cfg.BatchSize)
	if err != nil {
		return nil, false, err
	}
	if len(evs) > 0 {
		s.tail.add(pos, evs)
		return evs, false, nil
	}
	if !pending {
		s.emptyReads.Add(1)
	}
	s.emptyMu.Lock()
	s.empty = emptyRead{pos: pos, seq: seq, pending: pending, at: time.Now()}
	s.emptyMu.Unlock()
	return nil, pending, nil
}

// emptyRead is the last read that found nothing after pos.
type emptyRead struct {
	pos     eventstore.GlobalPosition
	seq     uint64 // wakeSeq before that read
	pending bool
	at      time.Time
}

// pendingReuse is how long a "committed events wait above the horizon" answer is shared: the
// subscriptions that get it back off for at least a millisecond anyway.
const pendingReuse = time.Millisecond

// knownEmpty reports whether a read after pos would find nothing because one just did and no
// commit has been announced since; pending as that read found it.
func (s *Subscriber) knownEmpty(pos eventstore.GlobalPosition) (pending, ok bool) {
	s.emptyMu.Lock()
	e := s.empty
	s.emptyMu.Unlock()
	if e.at.IsZero() || e.pos != pos || e.seq != s.wakeSeq() {
		return false, false
	}
	if e.pending {
		return true, time.Since(e.at) < pendingReuse
	}
	return false, true
}

// wakeSeq moves whenever a subscription may be woken: a notification or the poll seeing the head
// move. Both counters move before the wake-up is sent.
func (s *Subscriber) wakeSeq() uint64 {
	seq := s.pollSeq.Load()
	if s.notifier != nil {
		seq += s.notifier.Seq()
	}
	return seq
}

// tailMax is about how many recently read events a Subscriber keeps for its subscriptions.
const tailMax = 2000

// tail is the stretch of the log read last: evs are exactly the events that follow start in the
// global order. A read after p returns the events after p that are below the horizon, and no
// event can later appear between them (a later commit is above the horizon, hence after them),
// so consecutive reads join into one contiguous stretch. Slices handed out are never written.
type tail struct {
	mu    sync.Mutex
	start eventstore.GlobalPosition
	evs   []eventstore.RecordedEvent
}

// after returns up to limit events that follow pos, if the tail holds pos (or starts there).
func (t *tail) after(pos eventstore.GlobalPosition, limit int) []eventstore.RecordedEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.evs) == 0 {
		return nil
	}
	i := 0
	if pos != t.start {
		j := sort.Search(len(t.evs), func(k int) bool { return !t.evs[k].GlobalPosition().Less(pos) })
		if j == len(t.evs) || t.evs[j].GlobalPosition() != pos {
			return nil
		}
		i = j + 1
	}
	return t.evs[i:min(i+limit, len(t.evs))]
}

// add records evs, read after pos: appended when they continue the tail, else they replace it
// unless they are older (a subscription catching up must not evict the head of the log).
func (t *tail) add(pos eventstore.GlobalPosition, evs []eventstore.RecordedEvent) {
	if len(evs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch n := len(t.evs); {
	case n > 0 && t.evs[n-1].GlobalPosition() == pos:
		t.evs = append(t.evs, evs...)
	case n > 0 && !t.evs[n-1].GlobalPosition().Less(evs[len(evs)-1].GlobalPosition()):
		return
	default:
		t.start, t.evs = pos, slices.Clone(evs)
	}
	if len(t.evs) > 2*tailMax {
		k := len(t.evs) - tailMax
		t.start, t.evs = t.evs[k-1].GlobalPosition(), slices.Clone(t.evs[k:])
	}
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber. notifier may be nil (then only the poll wakes readers).
func NewSubscriber(store *eventstore.Store, notifier *eventstore.Notifier, cps CheckpointStore, cfg SubscriberConfig) (*Subscriber, error) {
	if store == nil || cps == nil {
		return nil, errors.New("feed: subscriber needs a store and a checkpoint store")
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

// EmptyReads is the number of reads that found nothing new and nothing waiting above the horizon:
// about one per wake-up however many subscriptions share the subscriber.
func (s *Subscriber) EmptyReads() int64 { return s.emptyReads.Load() }

// Subscribe starts delivering the log to consumer group topic.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("feed: empty consumer group")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("feed: subscriber closed")
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
		s.pollSeq.Add(1)
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
			evs, pending, err := s.read(ctx, pos)
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
				if pending {
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
		n := 1
		if s.cfg.MaxBatch > 1 {
			n = min(len(buf), s.cfg.MaxBatch)
		}
		ev := buf[n-1]
		var msg *message.Message
		if n == 1 {
			msg = NewMessage(ev, pos)
		} else {
			msg = newBatchMessage(buf[:n], pos)
		}
		// The events travel with the message in its context, decoded: consumers in this process
		// (all of them: the Subscriber reads the database directly) skip parsing them back.
		msg.SetContext(context.WithValue(ctx, deliveredKey{}, delivered{evs: buf[:n:n], prev: pos}))
		select {
		case out <- msg:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
		save := func(ctx context.Context) {
			pos, buf = ev.GlobalPosition(), buf[n:]
			if err := s.cps.Save(ctx, group, pos); err != nil && ctx.Err() == nil {
				// The event may be delivered again after a restart: consumers are idempotent.
				log.Error("save checkpoint", "err", err, "event_id", ev.ID)
			}
		}
		// ackedAtStop saves the checkpoint of a message acked just as the subscription stops
		// (both ready in the select below): otherwise it is delivered again after a restart.
		ackedAtStop := func() {
			select {
			case <-msg.Acked():
				save(context.WithoutCancel(ctx))
			default:
			}
		}
		select {
		case <-msg.Acked():
			save(ctx)
		case <-msg.Nacked():
			if !sleep(s.cfg.NackBackoff) {
				return
			}
			loaded = false // re-read from the stored checkpoint: the same event, or a repositioning
		case <-ctx.Done():
			ackedAtStop()
			return
		case <-s.closing:
			ackedAtStop()
			return
		}
	}
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

// deliveredKey is the context key of the events a Subscriber's message carries.
type deliveredKey struct{}

type delivered struct {
	evs  []eventstore.RecordedEvent
	prev eventstore.GlobalPosition
}

func deliveredWith(msg *message.Message) (delivered, bool) {
	d, ok := msg.Context().Value(deliveredKey{}).(delivered)
	return d, ok && len(d.evs) > 0
}

// newBatchMessage returns one message for evs (in order); prev is the position delivered before
// the first. Its UUID is a new one; MetaPosition and MetaTransactionID are the last event's. The
// events themselves are in the message's context (EventsFromMessage), not in a payload: encoding
// them as JSON only to decode them in the same process cost about a sixth of a live projection's
// Go time, and a batch never leaves the process.
func newBatchMessage(evs []eventstore.RecordedEvent, prev eventstore.GlobalPosition) *message.Message {
	last := evs[len(evs)-1]
	msg := message.NewMessage(uuid.NewString(), nil)
	m := msg.Metadata
	m.Set(MetaBatchSize, strconv.Itoa(len(evs)))
	m.Set(MetaPosition, strconv.FormatInt(last.Position, 10))
	m.Set(MetaTransactionID, strconv.FormatUint(last.TransactionID, 10))
	m.Set(MetaPrevTransactionID, strconv.FormatUint(prev.TransactionID, 10))
	m.Set(MetaPrevPosition, strconv.FormatInt(prev.Position, 10))
	return msg
}

// EventsFromMessage returns the events a message carries (one, or a batch's) and the position
// delivered before the first of them.
func EventsFromMessage(msg *message.Message) ([]eventstore.RecordedEvent, eventstore.GlobalPosition, error) {
	if d, ok := deliveredWith(msg); ok {
		return d.evs, d.prev, nil
	}
	if msg.Metadata.Get(MetaBatchSize) != "" {
		return nil, eventstore.GlobalPosition{}, fmt.Errorf("batch message %s has lost its events (its context): batches are only for consumers in the Subscriber's process", msg.UUID)
	}
	ev, prev, err := EventFromMessage(msg)
	if err != nil {
		return nil, prev, err
	}
	return []eventstore.RecordedEvent{ev}, prev, nil
}

// EventFromMessage rebuilds the recorded event (without its hashes) and the previous position from
// a message delivered by the Subscriber.
func EventFromMessage(msg *message.Message) (eventstore.RecordedEvent, eventstore.GlobalPosition, error) {
	if d, ok := deliveredWith(msg); ok && len(d.evs) == 1 {
		return d.evs[0], d.prev, nil
	}
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
