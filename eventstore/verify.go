package eventstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Break is the first link of a stream's hash chain that does not hold.
type Break struct {
	StreamID string `json:"stream_id"`
	Version  int64  `json:"version"`
	Position int64  `json:"position,omitempty"`
	Reason   string `json:"reason"`
}

func (b Break) String() string {
	return fmt.Sprintf("%s@%d: %s", b.StreamID, b.Version, b.Reason)
}

// StreamReport is the verification of one stream.
type StreamReport struct {
	StreamID string
	Events   int64
	Head     []byte // hash of the last event, as recomputed
	Break    *Break // nil when the chain holds
}

// Report is the verification of the whole store.
type Report struct {
	Streams int64
	Events  int64
	Breaks  []Break // the first break of each broken stream, in stream id order
	// Redacted counts export lines whose content could not be checked (redacted secrets): their
	// links still are.
	Redacted int64
	// Digest is sha256 over every stream's id and recomputed head hash, in stream id order. Kept
	// outside the database (printed, signed, sent elsewhere), it lets an auditor later prove that
	// nobody, not even a superuser rewriting whole chains, changed history before that point.
	Digest []byte
}

// EventHash is the chain link of one event: sha256(prev || content), content being each field as
// "<byte length>:<text>". It mirrors the SQL function taskforge_event_hash; data and metadata are
// the json text exactly as appended (the columns are json, stored verbatim).
func EventHash(prev []byte, streamID string, version int64, id uuid.UUID, eventType string,
	schemaVersion int, recordedAt time.Time, data, metadata []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	field := func(b []byte) {
		h.Write([]byte(strconv.Itoa(len(b))))
		h.Write([]byte{':'})
		h.Write(b)
	}
	field([]byte(streamID))
	field([]byte(strconv.FormatInt(version, 10)))
	field([]byte(id.String()))
	field([]byte(eventType))
	field([]byte(strconv.Itoa(schemaVersion)))
	field([]byte(strconv.FormatInt(recordedAt.UnixMicro(), 10)))
	field(data)
	field(metadata)
	return h.Sum(nil)
}

// rawColumns are read as stored (no upcasting): the hash covers what was written.
const rawColumns = `stream_id, stream_version, position, event_id, event_type, schema_version, recorded_at,
	data::text, metadata::text, prev_hash, hash`

// chain checks one stream's events as they arrive in version order.
type chain struct {
	redacted int64 // events whose content was not checked (redacted in an export)
	streamID string
	version  int64
	head     []byte
	brk      *Break
}

func (c *chain) add(version, position int64, id uuid.UUID, eventType string, schemaVersion int,
	recordedAt time.Time, data, metadata string, prevHash, hash []byte) {
	if c.brk != nil {
		return
	}
	fail := func(reason string) {
		c.brk = &Break{StreamID: c.streamID, Version: version, Position: position, Reason: reason}
	}
	switch {
	case version != c.version+1:
		fail(fmt.Sprintf("version %d follows %d: events missing", version, c.version))
	case !bytes.Equal(prevHash, c.head):
		fail("prev_hash does not match the previous event's hash")
	case data == redactedData:
		// An export line whose payload was redacted: its link holds, its content cannot be checked.
		c.redacted++
	default:
		want := EventHash(c.head, c.streamID, version, id, eventType, schemaVersion, recordedAt, []byte(data), []byte(metadata))
		if !bytes.Equal(want, hash) {
			fail("content does not match its hash (recomputed " + hex.EncodeToString(want[:8]) + "…)")
		}
	}
	c.version = version
	c.head = hash
}

// Verify recomputes one stream's hash chain and reports the first link that does not hold. A stream
// that does not exist verifies as empty.
func (s *Store) Verify(ctx context.Context, streamID string) (StreamReport, error) {
	// served by events_stream_version_key
	rows, err := s.pool.Query(ctx, `SELECT `+rawColumns+` FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return StreamReport{}, fmt.Errorf("verify %s: %w", streamID, err)
	}
	c := &chain{streamID: streamID}
	if err := scanChain(rows, func(string) *chain { return c }); err != nil {
		return StreamReport{}, fmt.Errorf("verify %s: %w", streamID, err)
	}
	return StreamReport{StreamID: streamID, Events: c.version, Head: c.head, Break: c.brk}, nil
}

// VerifyAll verifies every stream in one pass over the events, in stream order.
//
// Deleting a stream's last events leaves a shorter chain that still holds: only a Digest kept
// outside the database reveals it (the digest of a later run no longer matches).
func (s *Store) VerifyAll(ctx context.Context) (Report, error) {
	var rep Report
	digest := sha256.New()
	var cur *chain
	done := func() {
		if cur == nil {
			return
		}
		rep.Streams++
		rep.Events += cur.version
		if cur.brk != nil {
			rep.Breaks = append(rep.Breaks, *cur.brk)
		}
		digest.Write([]byte(strconv.Itoa(len(cur.streamID)) + ":" + cur.streamID))
		digest.Write(cur.head)
	}
	// served by events_stream_version_key (full index scan in stream order)
	rows, err := s.pool.Query(ctx, `SELECT `+rawColumns+` FROM events ORDER BY stream_id, stream_version`)
	if err != nil {
		return Report{}, fmt.Errorf("verify all: %w", err)
	}
	err = scanChain(rows, func(id string) *chain {
		if cur == nil || cur.streamID != id {
			done()
			cur = &chain{streamID: id}
		}
		return cur
	})
	if err != nil {
		return Report{}, fmt.Errorf("verify all: %w", err)
	}
	done()
	rep.Digest = digest.Sum(nil)
	return rep, nil
}

type rowsLike interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

func scanChain(rows rowsLike, chainFor func(streamID string) *chain) error {
	defer rows.Close()
	for rows.Next() {
		var (
			streamID, eventType, data, meta string
			version, position               int64
			id                              uuid.UUID
			sv                              int32
			recordedAt                      time.Time
			prevHash, hash                  []byte
		)
		if err := rows.Scan(&streamID, &version, &position, &id, &eventType, &sv, &recordedAt, &data, &meta, &prevHash, &hash); err != nil {
			return err
		}
		chainFor(streamID).add(version, position, id, eventType, int(sv), recordedAt, data, meta, prevHash, hash)
	}
	return rows.Err()
}
