package eventstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

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
	// OnCommit, when set, is called after each append this store commits itself (not AppendTx);
	// typically Notifier.Wake, to wake this process's readers without a database round trip.
	OnCommit func()
	// Redact, when set, rewrites a stored payload before Export writes it (it returns changed false
	// for payloads it leaves alone): secrets in old events, tokens in URLs. A redacted line is
	// marked so; VerifyExport then checks its place in the chain but not its content.
	Redact func(eventType string, data []byte) (out []byte, changed bool, err error)
	// NotifyPool, when set, sends the NOTIFYs after commits (commitNotifier) instead of the store's
	// pool: a direct pool when the store's leads through PgBouncer, where a NOTIFY would wait
	// behind the appends queued for its server connections and so delay every other process's
	// readers.
	NotifyPool *pgxpool.Pool
	// DisableGroupCommit makes every Append a transaction of its own (EVENTSTORE_GROUP_COMMIT=off).
	// By default concurrent appends share transactions and commits: see groupcommit.go.
	DisableGroupCommit bool
}

// Store is the PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	upcasters *Upcasters
	metrics   *Metrics
	notifier  *commitNotifier
	onCommit  func()
	redact    func(eventType string, data []byte) ([]byte, bool, error)
	heads     *headCache
	group     *groupCommitter // nil when group commit is off
	now       func() time.Time
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
	s := &Store{
		pool:      pool,
		upcasters: up,
		metrics:   opts.Metrics,
		notifier:  &commitNotifier{pool: cmp.Or(opts.NotifyPool, pool), interval: notifyInterval},
		onCommit:  opts.OnCommit,
		redact:    opts.Redact,
		heads:     newHeadCache(headCacheSize),
		now:       time.Now,
	}
	if !opts.DisableGroupCommit {
		s.group = &groupCommitter{s: s, startAt: groupStartAt}
	}
	return s, nil
}

// Pool returns the store's pool, for callers that run their own transactions around AppendTx.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// appendSQL is the general path: the SQL function reads each stream's head under a lock.
const appendSQL = `SELECT stream_versions, stream_hashes, event_versions, positions, transaction_id, recorded_at, replayed
FROM taskforge_append($1, $2, $3, $4, $5, $6, $7, $8, $9::json[], $10::json[], $11, $12, $13)`

// fastAppendSQL is the hot path, used when the store knows the hash of every written stream's
// expected version (from its own appends and reads): the chain is computed in Go and the events
// go in with one INSERT, which costs about what a plain INSERT does.
//
//   - The advisory locks are the ones taskforge_append takes, so a concurrent version assertion
//     (a stream checked without events) still holds until its transaction ends.
//   - UNIQUE (stream_id, stream_version) turns a concurrent writer of the same version into a
//     23505; the store then re-runs the append on the general path, which reports the conflict
//     with the current version (or replays the original result for known event ids).
//   - If some stream's expected version does not exist with the hash the store knew (the cache was
//     wrong), nothing is inserted and the general path takes over.
const fastAppendSQL = `WITH locks AS (
	SELECT count(pg_advisory_xact_lock(taskforge_stream_lock(id))) AS n FROM unnest($1::text[]) AS id
), ins AS (
	INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type, schema_version,
	                    data, metadata, recorded_at, prev_hash, hash)
	SELECT x.sid, x.stype, x.v, x.id, x.t, x.sv, x.d, x.m, $14, x.ph, x.h
	FROM locks, unnest($4::text[], $5::text[], $6::bigint[], $7::uuid[], $8::text[], $9::int[],
	                   $10::json[], $11::json[], $12::bytea[], $13::bytea[])
	            WITH ORDINALITY AS x(sid, stype, v, id, t, sv, d, m, ph, h, ord)
	WHERE locks.n >= 0 AND NOT EXISTS (
		SELECT 1 FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS c(id, v, h)
		WHERE c.v > 0 AND NOT EXISTS (
			-- served by events_stream_version_key
			SELECT 1 FROM events e WHERE e.stream_id = c.id AND e.stream_version = c.v AND e.hash = c.h))
	ORDER BY x.ord
	RETURNING position, transaction_id
)
SELECT coalesce(array_agg(position ORDER BY position), '{}'), max(transaction_id::text::bigint) FROM ins`

// fastAppendOneSQL is fastAppendSQL for the commonest append, one event on one stream, without the
// arrays (measured here at a third of the batch form's overhead over a plain INSERT) and without
// the probe of the expected version's hash, which measured at 6% of 8-writer throughput. The head
// cache only ever holds hashes of committed rows, which never change, so the probe could only
// catch a database rewound under a running process (a restore without a restart, which the
// transaction-id check at start-up and the README's restore procedure rule out) or a row edited
// by a superuser, which Verify reports. A concurrent writer of the same version still fails on
// events_stream_version_key, and the batch form keeps its probe (one per stream per call).
const fastAppendOneSQL = `WITH locks AS (SELECT pg_advisory_xact_lock(taskforge_stream_lock($1)))
INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type, schema_version,
                    data, metadata, recorded_at, prev_hash, hash)
SELECT $1, $2, $3::bigint, $4, $5, $6, $7::json, $8::json, $9, $10::bytea, $11::bytea FROM locks
RETURNING position, transaction_id::text::bigint`

// Append writes events to one or several streams atomically: either every stream is at its
// expected version and every event is stored, or nothing is.
//
// It is one statement in one round trip (the transaction is the statement's implicit one). With
// group commit, concurrent appends share that statement and its commit (see groupCommitter); each
// keeps its own expected versions, idempotency, result and failure. Readers are woken by a NOTIFY
// sent just after the commit, coalesced across concurrent appends (see commitNotifier).
//
// Appending event ids that are all stored already returns the original result with Replayed set.
// That also holds when the same ids race: the loser's conflict is turned into the winner's result.
func (s *Store) Append(ctx context.Context, appends ...StreamAppend) (AppendResult, error) {
	start := time.Now()
	arriving := s.group.arriving(appends)
	var (
		res AppendResult
		f   *fastAppend
	)
	args, err := s.buildAppendArgs(appends)
	if err == nil {
		f, err = s.prepareFast(appends, args)
	}
	switch {
	case arriving && err == nil:
		res, err = s.group.append(ctx, f)
	case arriving:
		s.group.left() // invalid, or the general path: it never comes to the committer
	case err == nil:
		err = errRunAlone
	}
	if errors.Is(err, errRunAlone) {
		res, err = s.appendFast(ctx, f)
	}
	if errors.Is(err, errSlowPath) {
		res, err = s.appendOn(ctx, s.pool, appends, args, false, false)
	}
	if err != nil && errors.Is(err, ErrConcurrency) {
		// Perhaps these ids are stored already (a retried request, or a concurrent twin that
		// won); else this run reports the conflict with the stream's current version.
		res, err = s.appendOn(ctx, s.pool, appends, args, true, false)
	}
	if err != nil {
		s.metrics.observeAppend(start, AppendResult{}, err)
		return AppendResult{}, err
	}
	if !res.Replayed && len(res.Events) > 0 {
		s.notifier.signal()
		if s.onCommit != nil {
			s.onCommit()
		}
	}
	s.metrics.observeAppend(start, res, nil)
	return res, nil
}

// AppendTx is Append inside the caller's transaction: the events commit or roll back with it, and
// the NOTIFY is sent inside it (PostgreSQL delivers it at commit). A conflict aborts the caller's
// transaction, as any failed statement does. It always takes the general path: the caller's
// transaction may roll back, so what it appends must not reach the head cache.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, appends ...StreamAppend) (AppendResult, error) {
	if tx == nil {
		return AppendResult{}, errors.New("eventstore: nil transaction")
	}
	start := time.Now()
	args, err := s.buildAppendArgs(appends)
	var res AppendResult
	if err == nil {
		res, err = s.appendOn(ctx, tx, appends, args, true, true)
	}
	s.metrics.observeAppend(start, res, err)
	return res, err
}

// appendArgs are the append's parameters as arrays, streams sorted by id.
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
	recordedAt             time.Time
}

var errSlowPath = errors.New("eventstore: take the general append path")

// fastAppend is an append the store can write without reading any stream's head: every stream is
// written, at an exact expected version (or none) whose hash the head cache knows. Its events are
// numbered and hash-chained in Go, as taskforge_append would.
type fastAppend struct {
	appends                    []StreamAppend
	a                          appendArgs
	prevHashes                 [][]byte // per stream: the hash at the expected version
	from, versions             []int64  // per stream: the version before and after the append
	heads                      [][]byte // per stream: the hash after the append
	evVersions                 []int64
	evPrev, evHash             [][]byte
	evStreamIDs, evStreamTypes []string
}

// prepareFast numbers and chains the append's events, or returns errSlowPath when the append
// cannot take the fast path: a stream is only checked, or its expected version is not exact, or its
// head hash is unknown.
func (s *Store) prepareFast(appends []StreamAppend, a appendArgs) (*fastAppend, error) {
	n := len(a.streamIDs)
	f := &fastAppend{appends: appends, a: a, prevHashes: make([][]byte, n), from: make([]int64, n)}
	writes := make([]int, n)
	for _, si := range a.eventStreams {
		writes[si-1]++
	}
	for i := range n {
		if writes[i] == 0 {
			return nil, errSlowPath
		}
		switch expectMode(a.modes[i]) {
		case modeNoStream:
			f.prevHashes[i] = []byte{}
		case modeExact:
			f.from[i] = a.expected[i]
			if a.expected[i] == 0 {
				f.prevHashes[i] = []byte{}
				break
			}
			h, ok := s.heads.get(a.streamIDs[i], a.expected[i], a.streamTypes[i])
			if !ok {
				return nil, errSlowPath
			}
			f.prevHashes[i] = h
		default:
			return nil, errSlowPath
		}
	}

	// Number the events and chain their hashes, as taskforge_append does.
	f.versions = slices.Clone(f.from)
	f.heads = slices.Clone(f.prevHashes)
	m := len(a.eventIDs)
	f.evVersions, f.evPrev, f.evHash = make([]int64, m), make([][]byte, m), make([][]byte, m)
	f.evStreamIDs, f.evStreamTypes = make([]string, m), make([]string, m)
	for e := range m {
		si := a.eventStreams[e] - 1
		f.versions[si]++
		f.evVersions[e] = f.versions[si]
		f.evPrev[e] = f.heads[si]
		f.heads[si] = EventHash(f.heads[si], a.streamIDs[si], f.versions[si], a.eventIDs[e], a.eventTypes[e],
			int(a.schemaVersions[e]), a.recordedAt, []byte(a.data[e]), []byte(a.metadata[e]))
		f.evHash[e] = f.heads[si]
		f.evStreamIDs[e], f.evStreamTypes[e] = a.streamIDs[si], a.streamTypes[si]
	}
	return f, nil
}

// appendFast appends f alone, with fastAppendOneSQL or fastAppendSQL. It returns errSlowPath when
// a known hash did not match what is stored.
func (s *Store) appendFast(ctx context.Context, f *fastAppend) (AppendResult, error) {
	a := f.a
	var (
		positions []int64
		txID      *int64
		err       error
	)
	if len(a.eventIDs) == 1 {
		var pos, tx int64
		err = s.pool.QueryRow(ctx, fastAppendOneSQL, a.streamIDs[0], a.streamTypes[0], f.evVersions[0],
			a.eventIDs[0], a.eventTypes[0], a.schemaVersions[0], a.data[0], a.metadata[0], a.recordedAt,
			f.evPrev[0], f.evHash[0]).Scan(&pos, &tx)
		if err == nil {
			positions, txID = []int64{pos}, &tx
		}
	} else {
		err = s.pool.QueryRow(ctx, fastAppendSQL, a.streamIDs, a.expected, f.prevHashes,
			f.evStreamIDs, f.evStreamTypes, f.evVersions, a.eventIDs, a.eventTypes, a.schemaVersions,
			a.data, a.metadata, f.evPrev, f.evHash, a.recordedAt).Scan(&positions, &txID)
	}
	if err != nil {
		return AppendResult{}, translateAppendError(f.appends, err)
	}
	if len(positions) == 0 { // (batch form) a known hash did not match what is stored
		for _, id := range a.streamIDs {
			s.heads.forget(id)
		}
		return AppendResult{}, errSlowPath
	}
	if len(positions) != len(a.eventIDs) || txID == nil {
		return AppendResult{}, fmt.Errorf("append: %d positions for %d events", len(positions), len(a.eventIDs))
	}
	return s.finishFast(f, positions, uint64(*txID)), nil
}

// finishFast records a committed fast append in the head cache and returns its result.
func (s *Store) finishFast(f *fastAppend, positions []int64, txID uint64) AppendResult {
	res := AppendResult{Streams: make(map[string]int64, len(f.a.streamIDs)), TransactionID: txID}
	for i, id := range f.a.streamIDs {
		res.Streams[id] = f.versions[i]
		s.heads.put(id, f.versions[i], f.heads[i], f.a.streamTypes[i])
	}
	s.fillEvents(&res, f.appends, f.a, f.evVersions, positions)
	return res
}

// appendOn appends with the SQL function taskforge_append.
func (s *Store) appendOn(ctx context.Context, q Querier, appends []StreamAppend, a appendArgs, checkKnown, notify bool) (AppendResult, error) {
	var (
		streamVersions, eventVersions, positions []int64
		streamHashes                             [][]byte
		txID                                     *int64
		recorded                                 time.Time
		res                                      AppendResult
	)
	err := q.QueryRow(ctx, appendSQL, a.streamIDs, a.streamTypes, a.modes, a.expected,
		a.eventStreams, a.eventIDs, a.eventTypes, a.schemaVersions, a.data, a.metadata,
		a.recordedAt, checkKnown, notify).
		Scan(&streamVersions, &streamHashes, &eventVersions, &positions, &txID, &recorded, &res.Replayed)
	if err != nil {
		return AppendResult{}, translateAppendError(appends, err)
	}
	if len(eventVersions) != len(a.eventIDs) || len(positions) != len(a.eventIDs) || len(streamVersions) != len(a.streamIDs) {
		return AppendResult{}, fmt.Errorf("append: result has %d versions and %d positions for %d events",
			len(eventVersions), len(positions), len(a.eventIDs))
	}
	res.Streams = make(map[string]int64, len(a.streamIDs))
	for i, id := range a.streamIDs {
		res.Streams[id] = streamVersions[i]
		// Only for our own transaction: it has committed when the statement returns.
		if q == Querier(s.pool) && len(streamHashes) == len(a.streamIDs) {
			s.heads.put(id, streamVersions[i], streamHashes[i], a.streamTypes[i])
		}
	}
	if txID != nil {
		res.TransactionID = uint64(*txID)
	}
	a.recordedAt = recorded.UTC()
	s.fillEvents(&res, appends, a, eventVersions, positions)
	return res, nil
}

// fillEvents sets res.Events in the caller's order (not the lock order) and res.LastPosition.
func (s *Store) fillEvents(res *AppendResult, appends []StreamAppend, a appendArgs, versions, positions []int64) {
	byID := make(map[uuid.UUID]AppendedEvent, len(a.eventIDs))
	for i, id := range a.eventIDs {
		byID[id] = AppendedEvent{ID: id, StreamID: a.eventStreamIDs[i], StreamVersion: versions[i], Position: positions[i], RecordedAt: a.recordedAt}
		res.LastPosition = max(res.LastPosition, positions[i])
	}
	res.Events = make([]AppendedEvent, 0, len(a.eventIDs))
	for _, sa := range appends {
		for _, e := range sa.Events {
			res.Events = append(res.Events, byID[e.ID])
		}
	}
}

func (s *Store) buildAppendArgs(appends []StreamAppend) (appendArgs, error) {
	if len(appends) == 0 {
		return appendArgs{}, fmt.Errorf("%w: no streams", ErrInvalidAppend)
	}
	// Lock streams in id order so that concurrent multi-stream appends cannot deadlock.
	sorted := slices.Clone(appends)
	slices.SortStableFunc(sorted, func(a, b StreamAppend) int { return cmp.Compare(a.StreamID, b.StreamID) })
	a := appendArgs{recordedAt: s.now().UTC().Truncate(time.Microsecond)}
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
			data := []byte("{}")
			if len(ev.Data) > 0 {
				// Stored compacted: one canonical byte form, which an NDJSON export reproduces
				// exactly (see Export), so its hashes verify offline.
				var buf bytes.Buffer
				if err := json.Compact(&buf, ev.Data); err != nil {
					return appendArgs{}, fmt.Errorf("%w: event %s data is not JSON", ErrInvalidAppend, ev.ID)
				}
				data = buf.Bytes()
			}
			if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
				return appendArgs{}, fmt.Errorf("%w: event %s data is not valid UTF-8 text", ErrInvalidAppend, ev.ID)
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
