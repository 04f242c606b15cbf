package eventstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the PostgreSQL channel an append notifies when its transaction commits.
const NotifyChannel = "taskforge_events"

// Querier is what the store needs to run SQL: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Options configures a Store. The zero value is usable.
type Options struct {
	// Upcasters convert old schema versions of event payloads on read. Nil means none.
	Upcasters *Upcasters
	// Metrics, when set, records append latency and outcomes.
	Metrics *Metrics
}

// Store is the PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	upcasters *Upcasters
	metrics   *Metrics
	notifier  *commitNotifier
}

// New returns a store over pool. The schema comes from the migrations package.
func New(pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("eventstore: nil pool")
	}
	up := opts.Upcasters
	if up == nil {
		up = NewUpcasters()
	}
	return &Store{pool: pool, upcasters: up, metrics: opts.Metrics, notifier: &commitNotifier{pool: pool}}, nil
}

// Pool returns the store's pool, for callers that run their own transactions around AppendTx.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

const appendSQL = `SELECT stream_versions, event_versions, positions, transaction_id, recorded_at, replayed
FROM taskforge_append($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb[], $10::jsonb[], $11, $12)`

// Append writes events to one or several streams atomically in a transaction of its own: either
// every stream is at its expected version and every event is stored, or nothing is.
//
// It is one statement in one round trip (the transaction is the statement's implicit one), so a
// single-event append costs little more than a plain INSERT. Readers are woken by a NOTIFY sent just
// after the commit, coalesced across concurrent appends (see commitNotifier).
//
// Appending event ids that are all stored already returns the original result with Replayed set.
// That also holds when the same ids race: the loser's conflict is turned into the winner's result.
func (s *Store) Append(ctx context.Context, appends ...StreamAppend) (AppendResult, error) {
	start := time.Now()
	args, err := buildAppendArgs(appends)
	if err == nil {
		var res AppendResult
		res, err = s.appendOn(ctx, s.pool, appends, args, false, false)
		if err != nil && (errors.Is(err, ErrConcurrency) || isUniqueViolation(err)) && len(args.eventIDs) > 0 {
			// Perhaps these ids are stored already (a retried request, or a concurrent twin that
			// won): run again with the known-ids check, which replays the original result.
			res, err = s.appendOn(ctx, s.pool, appends, args, true, false)
		}
		if err == nil {
			if !res.Replayed && len(res.Events) > 0 {
				s.notifier.signal()
			}
			s.metrics.observeAppend(start, res, nil)
			return res, nil
		}
	}
	s.metrics.observeAppend(start, AppendResult{}, err)
	return AppendResult{}, err
}

// AppendTx is Append inside the caller's transaction: the events commit or roll back with it, and
// the NOTIFY is sent inside it (PostgreSQL delivers it at commit). A conflict aborts the caller's
// transaction, as any failed statement does.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, appends ...StreamAppend) (AppendResult, error) {
	if tx == nil {
		return AppendResult{}, errors.New("eventstore: nil transaction")
	}
	start := time.Now()
	args, err := buildAppendArgs(appends)
	var res AppendResult
	if err == nil {
		res, err = s.appendOn(ctx, tx, appends, args, true, true)
	}
	s.metrics.observeAppend(start, res, err)
	return res, err
}

// appendArgs are taskforge_append's array parameters, streams sorted by id.
type appendArgs struct {
	streamIDs, streamTypes []string
	modes                  []int16
	expected               []int64
	eventStreams           []int32
	eventIDs               []uuid.UUID
	eventTypes             []string
	schemaVersions         []int32
	data, metadata         []string
	eventStreamIDs         []string // each event's stream id, for the result
}

func (s *Store) appendOn(ctx context.Context, q Querier, appends []StreamAppend, args appendArgs, checkKnown, notify bool) (AppendResult, error) {
	var (
		streamVersions, eventVersions, positions []int64
		txID                                     *int64
		recorded                                 time.Time
		res                                      AppendResult
	)
	err := q.QueryRow(ctx, appendSQL, args.streamIDs, args.streamTypes, args.modes, args.expected,
		args.eventStreams, args.eventIDs, args.eventTypes, args.schemaVersions, args.data, args.metadata,
		checkKnown, notify).Scan(&streamVersions, &eventVersions, &positions, &txID, &recorded, &res.Replayed)
	if err != nil {
		return AppendResult{}, translateAppendError(appends, err)
	}
	if len(eventVersions) != len(args.eventIDs) || len(positions) != len(args.eventIDs) || len(streamVersions) != len(args.streamIDs) {
		return AppendResult{}, fmt.Errorf("append: result has %d versions and %d positions for %d events",
			len(eventVersions), len(positions), len(args.eventIDs))
	}
	res.Streams = make(map[string]int64, len(args.streamIDs))
	for i, id := range args.streamIDs {
		res.Streams[id] = streamVersions[i]
	}
	if txID != nil {
		res.TransactionID = uint64(*txID)
	}
	byID := make(map[uuid.UUID]AppendedEvent, len(args.eventIDs))
	for i, id := range args.eventIDs {
		byID[id] = AppendedEvent{ID: id, StreamID: args.eventStreamIDs[i], StreamVersion: eventVersions[i], Position: positions[i], RecordedAt: recorded}
		res.LastPosition = max(res.LastPosition, positions[i])
	}
	res.Events = make([]AppendedEvent, 0, len(args.eventIDs))
	for _, a := range appends { // the caller's order, not the lock order
		for _, e := range a.Events {
			res.Events = append(res.Events, byID[e.ID])
		}
	}
	return res, nil
}

func buildAppendArgs(appends []StreamAppend) (appendArgs, error) {
	if len(appends) == 0 {
		return appendArgs{}, fmt.Errorf("%w: no streams", ErrInvalidAppend)
	}
	// Lock streams in id order so that concurrent multi-stream appends cannot deadlock.
	sorted := slices.Clone(appends)
	slices.SortStableFunc(sorted, func(a, b StreamAppend) int { return cmp.Compare(a.StreamID, b.StreamID) })
	var a appendArgs
	for i, sa := range sorted {
		if sa.StreamID == "" || sa.StreamType == "" {
			return appendArgs{}, fmt.Errorf("%w: stream id and type are required", ErrInvalidAppend)
		}
		if i > 0 && sorted[i-1].StreamID == sa.StreamID {
			return appendArgs{}, fmt.Errorf("%w: stream %s given twice", ErrInvalidAppend, sa.StreamID)
		}
		if sa.Expected.mode == modeExact && sa.Expected.version < 0 {
			return appendArgs{}, fmt.Errorf("%w: negative expected version for %s", ErrInvalidAppend, sa.StreamID)
		}
		a.streamIDs = append(a.streamIDs, sa.StreamID)
		a.streamTypes = append(a.streamTypes, sa.StreamType)
		a.modes = append(a.modes, int16(sa.Expected.mode))
		a.expected = append(a.expected, sa.Expected.version)
		for _, ev := range sa.Events {
			if ev.Type == "" {
				return appendArgs{}, fmt.Errorf("%w: event without type on %s", ErrInvalidAppend, sa.StreamID)
			}
			if ev.ID == uuid.Nil {
				return appendArgs{}, fmt.Errorf("%w: event %s on %s has no id", ErrInvalidAppend, ev.Type, sa.StreamID)
			}
			data := ev.Data
			if len(data) == 0 {
				data = json.RawMessage("{}")
			}
			if !json.Valid(data) {
				return appendArgs{}, fmt.Errorf("%w: event %s data is not JSON", ErrInvalidAppend, ev.ID)
			}
			meta, err := json.Marshal(ev.Metadata)
			if err != nil {
				return appendArgs{}, fmt.Errorf("append: metadata: %w", err)
			}
			sv := ev.SchemaVersion
			if sv == 0 {
				sv = 1
			}
			a.eventStreams = append(a.eventStreams, int32(i+1))
			a.eventStreamIDs = append(a.eventStreamIDs, sa.StreamID)
			a.eventIDs = append(a.eventIDs, ev.ID)
			a.eventTypes = append(a.eventTypes, ev.Type)
			a.schemaVersions = append(a.schemaVersions, int32(sv))
			a.data = append(a.data, string(data))
			a.metadata = append(a.metadata, string(meta))
		}
	}
	return a, nil
}

// translateAppendError turns the SQL function's error codes into the store's typed errors.
func translateAppendError(appends []StreamAppend, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("append: %w", err)
	}
	switch pgErr.Code {
	case "TF409":
		var d struct {
			StreamID string `json:"stream_id"`
			Current  int64  `json:"current"`
		}
		if jerr := json.Unmarshal([]byte(pgErr.Detail), &d); jerr != nil {
			return fmt.Errorf("append: conflict with unreadable detail %q: %w", pgErr.Detail, ErrConcurrency)
		}
		ce := &ConflictError{StreamID: d.StreamID, Current: d.Current}
		for _, a := range appends {
			if a.StreamID == d.StreamID {
				ce.Expected = a.Expected
			}
		}
		return ce
	case "TF422":
		return fmt.Errorf("%w: %s", ErrInvalidAppend, pgErr.Message)
	case "TF403":
		return ErrImmutable
	case "23505":
		// events_event_id_key: the same event ids were appended concurrently, and retrying replays
		// the winner's result. events_stream_version_key: the caller's transaction snapshot is older
		// than the stream's head (REPEATABLE READ); a retry in a new transaction sees it.
		return fmt.Errorf("append: %s: %w", pgErr.ConstraintName, ErrConcurrency)
	}
	return fmt.Errorf("append: %w", err)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
