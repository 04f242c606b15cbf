package eventstore

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ExportFilter selects the events to export. Zero values select everything.
type ExportFilter struct {
	StreamID string
	Types    []string
	Since    time.Time // recorded at or after
	Until    time.Time // recorded before
}

// ExportedEvent is one line of an NDJSON export. Data and Metadata are the stored json verbatim, so
// an export can be verified offline (VerifyExport) byte for byte.
type ExportedEvent struct {
	Position      int64           `json:"position"`
	TransactionID uint64          `json:"transaction_id"`
	StreamID      string          `json:"stream_id"`
	StreamType    string          `json:"stream_type"`
	StreamVersion int64           `json:"stream_version"`
	EventID       uuid.UUID       `json:"event_id"`
	EventType     string          `json:"event_type"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	PrevHash      string          `json:"prev_hash"`
	Hash          string          `json:"hash"`
	// Redacted marks a line whose Data is not the stored payload (see Options.Redact): it hid a
	// secret. VerifyExport checks such a line's place in its chain, not its content, and counts
	// it (Report.Redacted): an auditor who must prove those payloads verifies against the
	// database (`taskforge events verify`), which checks every byte.
	Redacted bool `json:"redacted,omitempty"`
}

// redactedData stands, inside the verifier, for a redacted line's payload, which no stored
// payload equals (a stored payload is a JSON document).
const redactedData = "\x00redacted"

// Export writes the selected events to w as NDJSON, in the commit-safe global order, streaming rows
// from one query (memory does not grow with the store). It returns how many events it wrote.
//
// Only committed events below the oldest running transaction are exported, as ReadAll sees them.
func (s *Store) Export(ctx context.Context, w io.Writer, f ExportFilter) (int64, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where = append(where, "transaction_id < pg_snapshot_xmin(pg_current_snapshot())")
	if f.StreamID != "" {
		where = append(where, "stream_id = "+arg(f.StreamID))
	}
	if len(f.Types) > 0 {
		where = append(where, "event_type = ANY ("+arg(f.Types)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "recorded_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "recorded_at < "+arg(f.Until))
	}
	// A stream export is served by events_stream_version_key; the others scan the log in
	// events_global_order_idx order. No index on type or time: an export reads much of the log
	// anyway, and every index taxes every append.
	rows, err := s.pool.Query(ctx, `SELECT position, transaction_id::text::bigint, stream_id, stream_type,
		stream_version, event_id, event_type, schema_version, recorded_at, data::text, metadata::text,
		prev_hash, hash FROM events WHERE `+strings.Join(where, " AND ")+`
		ORDER BY events.transaction_id, events.position`, args...)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	// Appends store payloads compacted (see buildAppendArgs) and Encode compacts RawMessage
	// again, which leaves compact JSON unchanged; without HTML escaping the bytes are the stored
	// bytes, so the hashes verify from the export alone.
	enc.SetEscapeHTML(false)
	var n int64
	for rows.Next() {
		var (
			e              ExportedEvent
			tx             int64
			sv             int32
			data, meta     string
			prevHash, hash []byte
		)
		if err := rows.Scan(&e.Position, &tx, &e.StreamID, &e.StreamType, &e.StreamVersion, &e.EventID,
			&e.EventType, &sv, &e.RecordedAt, &data, &meta, &prevHash, &hash); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		e.TransactionID, e.SchemaVersion = uint64(tx), int(sv)
		e.RecordedAt = e.RecordedAt.UTC()
		e.Data, e.Metadata = json.RawMessage(data), json.RawMessage(meta)
		if s.redact != nil {
			out, changed, err := s.redact(e.EventType, e.Data)
			if err != nil {
				return n, fmt.Errorf("export: event %s: %w", e.EventID, err)
			}
			if changed {
				e.Data, e.Redacted = out, true
			}
		}
		e.PrevHash, e.Hash = hex.EncodeToString(prevHash), hex.EncodeToString(hash)
		if err := enc.Encode(e); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, bw.Flush()
}

// VerifyExport checks the hash chains in an NDJSON export without a database: every stream in it
// must start at version 1 (export whole streams) and chain without a break.
func VerifyExport(r io.Reader) (Report, error) {
	dec := json.NewDecoder(r)
	chains := map[string]*chain{}
	var order []string
	for {
		var e ExportedEvent
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			return Report{}, fmt.Errorf("verify export: %w", err)
		}
		prev, err1 := hex.DecodeString(e.PrevHash)
		hash, err2 := hex.DecodeString(e.Hash)
		if err1 != nil || err2 != nil {
			return Report{}, fmt.Errorf("verify export: event %s: bad hash encoding", e.EventID)
		}
		c, ok := chains[e.StreamID]
		if !ok {
			c = &chain{streamID: e.StreamID}
			chains[e.StreamID] = c
			order = append(order, e.StreamID)
		}
		data := string(e.Data)
		if e.Redacted {
			data = redactedData
		}
		c.add(e.StreamVersion, e.Position, e.EventID, e.EventType, e.SchemaVersion, e.RecordedAt,
			data, string(e.Metadata), prev, hash)
	}
	var rep Report
	for _, id := range order {
		c := chains[id]
		rep.Streams++
		rep.Events += c.version
		rep.Redacted += c.redacted
		if c.brk != nil {
			rep.Breaks = append(rep.Breaks, *c.brk)
		}
	}
	return rep, nil
}
