package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// Command is a request to change state. Every command struct in this
// package implements it.
type Command interface {
	// CommandName is the command's stable name: it labels metrics and logs
	// and scopes idempotency keys, so it never changes.
	CommandName() string
	// ActorID is the user issuing the command.
	ActorID() domain.UserID
}

// Handler handles one kind of command. Every handler in this package is one;
// NewHandlers wraps each of them once with logging and metrics.
type Handler[C Command, R any] interface {
	Handle(ctx context.Context, cmd C) (R, error)
}

// Result is what a command changed: the aggregate, its version after the
// command and the global position of its events, which a query can wait for
// to read its own write. A command that changed nothing returns the version
// it decided on and the zero position.
type Result struct {
	ID       uuid.UUID
	Version  int64
	Position eventstore.GlobalPosition
}

// Options tunes a Runtime. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAttempts bounds how often a command without an expected version
	// is decided again after a conflict (default 10).
	MaxAttempts int
	// BackoffBase and BackoffMax bound the jittered wait before attempt n:
	// uniform in (0, min(BackoffMax, BackoffBase·2^(n-2))] (defaults 5ms,
	// 1s). Retries of one process queue in a lane per stream; the backoff
	// spreads the writers of several processes.
	BackoffBase, BackoffMax time.Duration
	// SnapshotEvery saves an aggregate's snapshot once it is that many
	// events past its last one (default 100).
	SnapshotEvery int64
	// Logger receives retries and snapshot failures (default: discarded).
	Logger *slog.Logger
	// Metrics, when set, counts retries.
	Metrics *Metrics

	// WebhookSecrets stores webhook signing secrets, encrypted, outside the
	// log (internal/webhooksecrets). Nil: webhook commands fail, storing
	// nothing, rather than write a secret anywhere else.
	WebhookSecrets WebhookSecrets
	// AllowPrivateWebhooks accepts webhook URLs that point to private,
	// loopback or local hosts (WEBHOOK_ALLOW_PRIVATE_NETWORKS, the setting
	// that also lets deliveries connect to them): development and tests only.
	AllowPrivateWebhooks bool
}

// WebhookSecrets stores and reads webhook signing secrets by id.
type WebhookSecrets interface {
	// Put stores secret under secretID and returns the secret stored there
	// (the first one, when a retried command stored the id already).
	Put(ctx context.Context, workspaceID, webhookID, secretID uuid.UUID, secret string) (string, error)
	Get(ctx context.Context, workspaceID, webhookID, secretID uuid.UUID) (string, error)
}

// Runtime is what every handler shares: the store, the codec, the clock and
// the retry policy. It is safe for concurrent use.
type Runtime struct {
	store *eventstore.Store
	codec *Codec
	opts  Options
	log   *slog.Logger
	lanes lanes
	// creations batches the task creations of each project (creations.go).
	creations creationQueues
}

// NewRuntime returns a runtime appending to store and encoding with reg.
func NewRuntime(store *eventstore.Store, reg *domain.Registry, opts Options) (*Runtime, error) {
	if store == nil {
		return nil, errors.New("commands: nil event store")
	}
	codec, err := NewCodec(reg)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 5 * time.Millisecond
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = max(time.Second, opts.BackoffBase)
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 100
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{store: store, codec: codec, opts: opts, log: log}, nil
}

// Codec returns the runtime's codec.
func (rt *Runtime) Codec() *Codec { return rt.codec }

func (rt *Runtime) now() time.Time { return rt.opts.Now().UTC() }

var errNilRuntime = errors.New("commands: nil runtime")

// write is one stream's part of a decision: events to append at an expected
// version, or none (an assertion that the stream is still at the version the
// decision read).
type write struct {
	stream, streamType string
	expected           eventstore.ExpectedVersion
	loaded             int64 // the version decided on: the result of a no-op
	events             []domain.Event
}

func exactWrite(stream, streamType string, loaded int64, events []domain.Event) write {
	return write{stream: stream, streamType: streamType, expected: eventstore.Exact(loaded), loaded: loaded, events: events}
}

func newStreamWrite(stream, streamType string, events []domain.Event) write {
	return write{stream: stream, streamType: streamType, expected: eventstore.NoStream(), events: events}
}

// decision is what a command decided on one load of the state.
type decision struct {
	workspaceID uuid.UUID // for the events' metadata; zero for user streams
	writes      []write
}

func (d decision) changes() bool {
	for _, w := range d.writes {
		if len(w.events) > 0 {
			return true
		}
	}
	return false
}

// unchanged is the result of a decision that changed nothing.
func (d decision) unchanged() eventstore.AppendResult {
	res := eventstore.AppendResult{Streams: make(map[string]int64, len(d.writes))}
	for _, w := range d.writes {
		res.Streams[w.stream] = w.loaded
	}
	return res
}

// plan is one command execution: decide loads state and decides; it runs
// again after a conflict.
type plan struct {
	cmd Command
	// pinned is the stream whose version the caller gave: a conflict on it
	// is the caller's to resolve, not retried.
	pinned string
	// target names the kind of aggregate the caller's id designates
	// ("workspace", "project", "task"): a non-member is told it was not
	// found, exactly as for an id that does not exist.
	target string
	decide func(ctx context.Context) (decision, error)
}

// invocation identifies one command call. Its id is the causation id of the
// events; event ids and new aggregate ids derive from it, so a call with an
// idempotency key derives the same ones every time.
type invocation struct {
	id    uuid.UUID
	keyed bool
	// inputHash identifies a keyed call's input; stored in its events' metadata.
	inputHash string
}

// namespace of command ids derived from idempotency keys.
var idempotencyNamespace = uuid.MustParse("6f1d9a52-4c1e-4a8b-9f3e-2b7c5d0e8a41")

// MaxIdempotencyKeyLen bounds idempotency keys.
const MaxIdempotencyKeyLen = 255

// invoke starts a call of cmd. A key is scoped to the actor, the command
// and the aggregate the command targets (scope), so that two users, or one
// user in two workspaces, may use the same key.
func invoke(cmd Command, key, scope string) (invocation, error) {
	if key == "" {
		return invocation{id: uuid.New()}, nil
	}
	if len(key) > MaxIdempotencyKeyLen {
		return invocation{}, domain.InvalidInput("idempotency_key", fmt.Sprintf("must be at most %d bytes", MaxIdempotencyKeyLen))
	}
	name := string(cmd.ActorID()) + "\x00" + cmd.CommandName() + "\x00" + scope + "\x00" + key
	hash, err := inputHash(cmd)
	if err != nil {
		return invocation{}, err
	}
	return invocation{id: uuid.NewSHA1(idempotencyNamespace, []byte(name)), keyed: true, inputHash: hash}, nil
}

// inputHash is sha256 over cmd's canonical JSON (object keys sorted), without the actor (the
// key's scope already holds their id; their token's name or email may change between retries)
// and the key itself.
func inputHash(cmd Command) (string, error) {
	raw, err := json.Marshal(cmd)
	if err != nil {
		return "", fmt.Errorf("%s: hash input: %w", cmd.CommandName(), err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "", fmt.Errorf("%s: hash input: %w", cmd.CommandName(), err)
	}
	delete(fields, "Actor")
	delete(fields, "IdempotencyKey")
	canonical, err := json.Marshal(fields) // maps marshal with sorted keys
	if err != nil {
		return "", fmt.Errorf("%s: hash input: %w", cmd.CommandName(), err)
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

func (inv invocation) eventID(i int) uuid.UUID {
	return uuid.NewSHA1(inv.id, fmt.Appendf(nil, "event/%d", i))
}

// derive returns the id of something the command creates (label says what).
func (inv invocation) derive(label string) uuid.UUID {
	return uuid.NewSHA1(inv.id, []byte("id/"+label))
}

// execute runs p until it appends, is refused, or runs out of attempts.
// After a conflict on a stream, the next attempt waits in that stream's
// retry lane (lanes.go) after a jittered backoff.
func (rt *Runtime) execute(ctx context.Context, inv invocation, p plan) (eventstore.AppendResult, error) {
	res, err := rt.run(ctx, inv, p)
	if p.target != "" && errors.Is(err, domain.ErrNotMember) {
		// The same answer as for an id that does not exist (the loaders'
		// NOT_FOUND), so that a foreign id does not reveal that it exists.
		return res, domain.NotFound(p.target + " not found")
	}
	return res, err
}

// run is execute's loop of attempts.
func (rt *Runtime) run(ctx context.Context, inv invocation, p plan) (eventstore.AppendResult, error) {
	name := p.cmd.CommandName()
	lane := ""
	for attempt := 1; ; attempt++ {
		res, err := rt.attempt(ctx, inv, p, lane)
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return res, err
		}
		var ce *eventstore.ConflictError
		if errors.As(err, &ce) {
			switch {
			case ce.StreamID == p.pinned:
				return eventstore.AppendResult{}, &ConflictError{Current: ce.Current}
			case ce.Expected == eventstore.NoStream():
				return eventstore.AppendResult{}, errAlreadyExists
			}
			lane = ce.StreamID
		}
		if attempt >= rt.opts.MaxAttempts {
			return eventstore.AppendResult{}, fmt.Errorf("%s after %d attempts: %w (%w)", name, attempt, ErrContention, err)
		}
		rt.opts.Metrics.retried(name)
		rt.log.DebugContext(ctx, "command conflicted, deciding again", "command", name, "attempt", attempt, "err", err)
		if err := rt.backoff(ctx, attempt); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%s: %w", name, err)
		}
	}
}

// attempt loads, decides and appends once. A version conflict is returned
// as is, for execute to retry; other errors are final.
//
// With an idempotency key it first looks for the call's events (the derived
// ids of a previous call) and returns that append's result if they exist; it
// looks again whenever the attempt does not append fresh events, because a
// racing identical call may have won in between.
func (rt *Runtime) attempt(ctx context.Context, inv invocation, p plan, lane string) (eventstore.AppendResult, error) {
	name := p.cmd.CommandName()
	if lane != "" {
		leave, err := rt.lanes.enter(ctx, lane)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%s: %w", name, err)
		}
		defer leave()
	}
	if inv.keyed {
		if res, found, err := rt.findAppend(ctx, inv); err != nil || found {
			return res, err
		}
	}
	d, err := p.decide(ctx)
	if err != nil {
		if domain.CodeOf(err) != "" {
			return rt.replayedOr(ctx, inv, eventstore.AppendResult{}, err)
		}
		return eventstore.AppendResult{}, fmt.Errorf("%s: %w", name, err)
	}
	if !d.changes() {
		return rt.replayedOr(ctx, inv, d.unchanged(), nil)
	}
	appends, err := rt.encode(ctx, inv, p.cmd, d)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%s: %w", name, err)
	}
	res, err := rt.store.Append(ctx, appends...)
	if err == nil && !res.Replayed {
		return res, nil
	}
	if inv.keyed {
		// Replayed or refused: a racing call with the same key may have
		// appended other events under our ids. Its result is the answer,
		// unless its input was not ours.
		if found, ok, ferr := rt.findAppend(ctx, inv); (ferr == nil && ok) || errors.Is(ferr, ErrIdempotencyKeyReused) {
			return found, ferr
		}
	}
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, eventstore.ErrConcurrency):
		return eventstore.AppendResult{}, err
	}
	return eventstore.AppendResult{}, fmt.Errorf("%s: %w", name, err)
}

// replayedOr returns a keyed call's stored result if there is one, else res
// and err.
func (rt *Runtime) replayedOr(ctx context.Context, inv invocation, res eventstore.AppendResult, err error) (eventstore.AppendResult, error) {
	if inv.keyed {
		if found, ok, ferr := rt.findAppend(ctx, inv); (ferr == nil && ok) || errors.Is(ferr, ErrIdempotencyKeyReused) {
			return found, ferr
		}
	}
	return res, err
}

// findAppend returns the append that stored the call's derived event ids,
// looking them up in batches since a call may have appended many events.
func (rt *Runtime) findAppend(ctx context.Context, inv invocation) (eventstore.AppendResult, bool, error) {
	const batch = 64
	total := eventstore.AppendResult{Streams: map[string]int64{}, Replayed: true}
	for start := 0; ; start += batch {
		ids := make([]uuid.UUID, batch)
		for i := range ids {
			ids[i] = inv.eventID(start + i)
		}
		res, found, err := rt.store.FindAppend(ctx, ids)
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		if !found {
			if start > 0 {
				return total, true, rt.sameInput(ctx, inv, total)
			}
			return total, false, nil
		}
		for s, v := range res.Streams {
			total.Streams[s] = max(total.Streams[s], v)
		}
		total.Events = append(total.Events, res.Events...)
		total.TransactionID = res.TransactionID
		total.LastPosition = max(total.LastPosition, res.LastPosition)
		if len(res.Events) < batch {
			return total, true, rt.sameInput(ctx, inv, total)
		}
	}
}

// sameInput refuses a keyed call whose stored first event records another input's hash. Events
// stored before hashes were recorded carry none and are accepted.
func (rt *Runtime) sameInput(ctx context.Context, inv invocation, found eventstore.AppendResult) error {
	first := found.Events[0]
	evs, err := rt.store.ReadStream(ctx, first.StreamID, first.StreamVersion, 1)
	if err != nil {
		return fmt.Errorf("check idempotency key: %w", err)
	}
	if len(evs) == 1 && evs[0].ID == first.ID && evs[0].Metadata.InputHash != "" && evs[0].Metadata.InputHash != inv.inputHash {
		return ErrIdempotencyKeyReused
	}
	return nil
}

func (rt *Runtime) encode(ctx context.Context, inv invocation, cmd Command, d decision) ([]eventstore.StreamAppend, error) {
	req, _ := RequestFrom(ctx)
	meta := eventstore.Metadata{
		Actor:         string(cmd.ActorID()),
		CorrelationID: req.CorrelationID,
		CausationID:   inv.id,
		WorkspaceID:   d.workspaceID,
		RequestID:     req.RequestID,
		InputHash:     inv.inputHash,
		// ClientMutationID: per mutation, not per request (a document may hold several).
		ClientMutationID: ClientMutationIDFrom(ctx),
	}
	if meta.CorrelationID == uuid.Nil {
		meta.CorrelationID = inv.id
	}
	appends := make([]eventstore.StreamAppend, 0, len(d.writes))
	n := 0
	for _, w := range d.writes {
		sa := eventstore.StreamAppend{StreamID: w.stream, StreamType: w.streamType, Expected: w.expected}
		for _, e := range w.events {
			ed, err := rt.codec.Encode(inv.eventID(n), e, meta)
			if err != nil {
				return nil, err
			}
			sa.Events = append(sa.Events, ed)
			n++
		}
		appends = append(appends, sa)
	}
	return appends, nil
}

// backoff waits before attempt+1: full jitter over an exponential window, so
// that writers that conflicted together do not collide again in lockstep.
func (rt *Runtime) backoff(ctx context.Context, attempt int) error {
	window := rt.opts.BackoffMax
	if shift := attempt - 1; shift < 30 {
		window = min(window, rt.opts.BackoffBase<<shift)
	}
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(window))) + 1)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// result is the Result of a command on the aggregate id in stream.
func result(id uuid.UUID, stream string, res eventstore.AppendResult) Result {
	r := Result{ID: id, Version: res.Streams[stream]}
	if res.TransactionID != 0 {
		r.Position = res.Head()
	}
	return r
}

// requireID refuses a missing id.
func requireID(field string, id uuid.UUID) error {
	if id == uuid.Nil {
		return domain.InvalidInput(field, "must not be empty")
	}
	return nil
}

func validExpected(expected *int64) error {
	if expected != nil && *expected < 0 {
		return domain.InvalidInput("expected_version", "must not be negative")
	}
	return nil
}
