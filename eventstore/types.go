package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ExpectedVersion is what an append expects of a stream before it writes.
type ExpectedVersion struct {
	mode    expectMode
	version int64
}

type expectMode int16

// The values are the p_modes codes of taskforge_append.
const (
	modeAny expectMode = iota
	modeNoStream
	modeStreamExists
	modeExact
)

// Any appends whatever the stream's version is (and creates the stream if needed).
func Any() ExpectedVersion { return ExpectedVersion{mode: modeAny} }

// NoStream requires that the stream has no events yet.
func NoStream() ExpectedVersion { return ExpectedVersion{mode: modeNoStream} }

// StreamExists requires that the stream has at least one event.
func StreamExists() ExpectedVersion { return ExpectedVersion{mode: modeStreamExists} }

// Exact requires the stream to be at version v (its number of events; 0 means no events).
func Exact(v int64) ExpectedVersion { return ExpectedVersion{mode: modeExact, version: v} }

func (e ExpectedVersion) String() string {
	switch e.mode {
	case modeNoStream:
		return "no stream"
	case modeStreamExists:
		return "stream exists"
	case modeExact:
		return fmt.Sprintf("version %d", e.version)
	default:
		return "any"
	}
}

// Metadata travels with every event: who, why and in which tenant.
type Metadata struct {
	Actor         string    `json:"actor,omitempty"`
	CorrelationID uuid.UUID `json:"correlation_id"`
	CausationID   uuid.UUID `json:"causation_id"`
	WorkspaceID   uuid.UUID `json:"workspace_id"`
	RequestID     string    `json:"request_id,omitempty"`
	// InputHash is the hash of a keyed command's input (hex sha256), so that a key reused with
	// other input is refused instead of answered with the first call's result.
	InputHash string `json:"input_hash,omitempty"`
	// ClientMutationID is the id a client gave the mutation that caused the event, echoed to it in
	// sync records and live messages so that it can drop its optimistic state exactly then.
	ClientMutationID string `json:"client_mutation_id,omitempty"`
}

// EventData is an event to append. ID must be unique across the store; appending the same ids again
// returns the original result (idempotency).
type EventData struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// StreamAppend is the part of an append that concerns one stream. A StreamAppend without events
// only checks the stream's version and holds it (share-locked) until the transaction ends: a command
// uses it to assert the version of a stream it decided on but does not write.
type StreamAppend struct {
	StreamID   string
	StreamType string
	Expected   ExpectedVersion
	Events     []EventData
}

// RecordedEvent is an event as stored. Data is upcast to the latest schema version on read.
type RecordedEvent struct {
	Position      int64
	TransactionID uint64
	StreamID      string
	StreamType    string
	StreamVersion int64
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
	PrevHash      []byte
	Hash          []byte
}

// GlobalPosition is a point in the commit-safe global order. The zero value is the beginning.
type GlobalPosition struct {
	TransactionID uint64 `json:"transaction_id"`
	Position      int64  `json:"position"`
}

// Less reports whether p comes before q in the global order.
func (p GlobalPosition) Less(q GlobalPosition) bool {
	if p.TransactionID != q.TransactionID {
		return p.TransactionID < q.TransactionID
	}
	return p.Position < q.Position
}

// String prints p as "<transactionId>.<position>" (e.g. "73428.51"): the one spelling of a position,
// in the API's consistency tokens and cursors and in the CLI. ParsePosition reads it back.
func (p GlobalPosition) String() string {
	return strconv.FormatUint(p.TransactionID, 10) + "." + strconv.FormatInt(p.Position, 10)
}

// ErrInvalidPosition is returned by ParsePosition for anything String does not print.
var ErrInvalidPosition = errors.New("eventstore: not a position")

// ParsePosition reads what GlobalPosition.String prints, and only that: two decimal numbers without
// signs or leading zeros, so that each position has exactly one spelling.
func ParsePosition(s string) (GlobalPosition, error) {
	tx, pos, ok := strings.Cut(s, ".")
	if ok {
		t, err1 := strconv.ParseUint(tx, 10, 64)
		n, err2 := strconv.ParseInt(pos, 10, 64)
		p := GlobalPosition{TransactionID: t, Position: n}
		if err1 == nil && err2 == nil && n >= 0 && p.String() == s {
			return p, nil
		}
	}
	return GlobalPosition{}, fmt.Errorf("%w: %q", ErrInvalidPosition, s)
}

// GlobalPosition returns where the event stands in the global order.
func (e RecordedEvent) GlobalPosition() GlobalPosition {
	return GlobalPosition{TransactionID: e.TransactionID, Position: e.Position}
}

// AppendResult describes a committed (or replayed) append.
type AppendResult struct {
	// Streams holds each stream's version after the append, keyed by stream id.
	Streams map[string]int64
	// Events holds the appended events' positions in the order they were given.
	Events []AppendedEvent
	// TransactionID is the committing transaction; with LastPosition it is the global position
	// a reader must reach to have seen this append.
	TransactionID uint64
	// LastPosition is the highest position written (0 when no event was written).
	LastPosition int64
	// Replayed is true when every event id was already stored: nothing was written, and the
	// result is the original append's.
	Replayed bool
}

// AppendedEvent is one event's place in the store.
type AppendedEvent struct {
	ID            uuid.UUID
	StreamID      string
	StreamVersion int64
	Position      int64
	RecordedAt    time.Time
}

// Head is the global position a reader must reach to have seen the whole append.
func (r AppendResult) Head() GlobalPosition {
	return GlobalPosition{TransactionID: r.TransactionID, Position: r.LastPosition}
}

var (
	// ErrConcurrency matches every *ConflictError.
	ErrConcurrency = errors.New("eventstore: version conflict")
	// ErrNotFound is returned when a stream or snapshot does not exist.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrInvalidAppend is returned for an append that can never succeed as written (no streams,
	// reused event ids, a stream of another type, an event without type or data).
	ErrInvalidAppend = errors.New("eventstore: invalid append")
	// ErrImmutable is returned when something tries to update or delete an event.
	ErrImmutable = errors.New("eventstore: events are immutable")
)

// ConflictError says that a stream was not at the expected version.
type ConflictError struct {
	StreamID string
	Expected ExpectedVersion
	Current  int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: stream %s expected %s, current version %d", e.StreamID, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrConcurrency) true for every conflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConcurrency }
