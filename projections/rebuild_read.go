package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// The load phase's reader.
//
// eventstore.ReadAllOn is the general read of the log: it checks each payload is valid JSON while
// scanning it (json.RawMessage), decodes the metadata with encoding/json and returns the hash
// chain. A rebuild's load phase reads the whole log once and decodes every payload anyway (the
// registry's json.Unmarshal validates it), uses a few metadata fields and never the hashes: that
// general work was a third of its Go time (1M events: 6.1 s of 20). logReader reads the same rows
// in the same commit-safe order (readAllSQL's WHERE and ORDER BY, events_global_order_idx),
// without the hashes, takes the payload as bytes, and parses the metadata (a flat object of
// strings) directly, falling back to encoding/json for anything else. An event of an older schema
// version than the registry's is read again through the store, which upcasts it: only the store
// knows its upcasters.

// loadReadSQL is eventstore's readAllSQL without prev_hash and hash; served by
// events_global_order_idx (the ORDER BY names the table's columns, as there).
const loadReadSQL = `SELECT position, transaction_id::text::bigint, stream_id, stream_type, stream_version, event_id,
	event_type, schema_version, data, metadata, recorded_at FROM events
	WHERE (events.transaction_id, events.position) > ($1::bigint::text::xid8, $2)
	  AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY events.transaction_id, events.position LIMIT $3`

// readLoad reads up to limit events after pos in the global order, for the load phase.
func readLoad(ctx context.Context, pool *pgxpool.Pool, store *eventstore.Store, reg *domain.Registry, after eventstore.GlobalPosition,
	limit int) ([]eventstore.RecordedEvent, error) {
	if after.TransactionID > math.MaxInt64 {
		return nil, fmt.Errorf("read log: transaction id %d out of range", after.TransactionID)
	}
	rows, err := pool.Query(ctx, loadReadSQL, int64(after.TransactionID), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, limit)
	for rows.Next() {
		var (
			e    eventstore.RecordedEvent
			txID int64
			sv   int32
			data []byte // not into e.Data: pgx would json.Unmarshal into a json.RawMessage, validating it
			meta []byte
		)
		if err := rows.Scan(&e.Position, &txID, &e.StreamID, &e.StreamType, &e.StreamVersion, &e.ID, &e.Type, &sv, &data, &meta,
			&e.RecordedAt); err != nil {
			return nil, fmt.Errorf("read log: scan: %w", err)
		}
		e.Data = data
		e.TransactionID = uint64(txID)
		e.SchemaVersion = int(sv)
		e.RecordedAt = e.RecordedAt.UTC()
		if err := parseMetadata(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("read event %s: metadata: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	rows.Close()
	// Older payloads: through the store, which upcasts them (the event before is the position to
	// read after).
	for i := range out {
		if v, ok := reg.SchemaVersion(out[i].Type); ok && v == out[i].SchemaVersion {
			continue
		}
		prev := after
		if i > 0 {
			prev = out[i-1].GlobalPosition()
		}
		evs, err := store.ReadAllOn(ctx, pool, prev, 1)
		if err != nil {
			return nil, err
		}
		if len(evs) != 1 || evs[0].ID != out[i].ID {
			return nil, fmt.Errorf("read log: event %s not found again for upcasting", out[i].ID)
		}
		out[i] = evs[0]
	}
	return out, nil
}

// metadataKeys are eventstore.Metadata's JSON keys, each with where parseMetadata puts it.
var metadataKeys = map[string]func(m *eventstore.Metadata, v []byte) error{
	"actor":              func(m *eventstore.Metadata, v []byte) error { m.Actor = string(v); return nil },
	"request_id":         func(m *eventstore.Metadata, v []byte) error { m.RequestID = string(v); return nil },
	"input_hash":         func(m *eventstore.Metadata, v []byte) error { m.InputHash = string(v); return nil },
	"client_mutation_id": func(m *eventstore.Metadata, v []byte) error { m.ClientMutationID = string(v); return nil },
	"correlation_id":     func(m *eventstore.Metadata, v []byte) error { return parseUUID(&m.CorrelationID, v) },
	"causation_id":       func(m *eventstore.Metadata, v []byte) error { return parseUUID(&m.CausationID, v) },
	"workspace_id":       func(m *eventstore.Metadata, v []byte) error { return parseUUID(&m.WorkspaceID, v) },
}

func parseUUID(dst *uuid.UUID, v []byte) error {
	id, err := uuid.ParseBytes(v)
	if err != nil {
		return err
	}
	*dst = id
	return nil
}

// parseMetadata decodes the metadata as json.Unmarshal into eventstore.Metadata does. Its fast
// path takes the shape the store writes (one flat object, each value a string without escapes,
// each key exactly one of Metadata's); anything else (escapes, nulls, other keys, which
// encoding/json matches case-insensitively, malformed input) is left to json.Unmarshal, so the
// result is always json.Unmarshal's.
func parseMetadata(raw []byte, m *eventstore.Metadata) error {
	if fastMetadata(raw, m) {
		return nil
	}
	*m = eventstore.Metadata{}
	return json.Unmarshal(raw, m)
}

func fastMetadata(b []byte, m *eventstore.Metadata) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' || bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	b = bytes.TrimSpace(b[1 : len(b)-1])
	for len(b) > 0 {
		key, rest, ok := jsonString(b)
		if !ok {
			return false
		}
		rest = bytes.TrimSpace(rest)
		if len(rest) == 0 || rest[0] != ':' {
			return false
		}
		val, rest, ok := jsonString(bytes.TrimSpace(rest[1:]))
		if !ok {
			return false
		}
		set, known := metadataKeys[string(key)]
		if !known || set(m, val) != nil {
			return false
		}
		rest = bytes.TrimSpace(rest)
		if len(rest) == 0 {
			break
		}
		if rest[0] != ',' {
			return false
		}
		b = bytes.TrimSpace(rest[1:])
		if len(b) == 0 {
			return false // a trailing comma
		}
	}
	return true
}

// jsonString splits a leading JSON string without escapes (the caller checked there are none)
// off b: its contents and the rest. Control characters are invalid JSON: not ok.
func jsonString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	s = b[1 : 1+end]
	for _, c := range s {
		if c < 0x20 {
			return nil, nil, false
		}
	}
	if !utf8.Valid(s) { // json.Unmarshal would replace the invalid bytes
		return nil, nil, false
	}
	return s, b[2+end:], true
}

// decodeWorkers decodes evs on n goroutines (one per core), in order.
func decodeWorkers(reg *domain.Registry, evs []eventstore.RecordedEvent, n int) ([]*Event, error) {
	if n < 2 || len(evs) < 100 {
		return decodeAll(reg, evs)
	}
	out := make([]*Event, len(evs))
	errs := make([]error, n)
	var wg sync.WaitGroup
	per := (len(evs) + n - 1) / n
	for w := range n {
		lo, hi := w*per, min((w+1)*per, len(evs))
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				ev, err := Decode(reg, evs[i])
				if err != nil {
					errs[w] = fmt.Errorf("rebuild: %w", err)
					return
				}
				out[i] = ev
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
