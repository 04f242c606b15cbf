package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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

// readLoad reads up to limit events after pos in the global order, for the load phase. scan
// decodes every row with scanEvent instead of from the raw values (tests compare both ways).
func readLoad(ctx context.Context, pool *pgxpool.Pool, store *eventstore.Store, reg *domain.Registry, after eventstore.GlobalPosition,
	limit int, scan bool) ([]eventstore.RecordedEvent, error) {
	if after.TransactionID > math.MaxInt64 {
		return nil, fmt.Errorf("read log: transaction id %d out of range", after.TransactionID)
	}
	rows, err := pool.Query(ctx, loadReadSQL, int64(after.TransactionID), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, limit)
	raw := rawFormats(rows.FieldDescriptions()) && !scan
	var rd rowDecoder
	for rows.Next() {
		var (
			e    eventstore.RecordedEvent
			meta []byte
		)
		if raw {
			meta, err = rd.decode(rows.RawValues(), &e)
		} else {
			meta, err = scanEvent(rows, &e)
		}
		if err != nil {
			return nil, fmt.Errorf("read log: scan: %w", err)
		}
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

// scanEvent scans a row of loadReadSQL with pgx; it returns the metadata's bytes.
func scanEvent(rows pgx.Rows, e *eventstore.RecordedEvent) ([]byte, error) {
	var (
		txID int64
		sv   int32
		data []byte // not into e.Data: pgx would json.Unmarshal into a json.RawMessage, validating it
		meta []byte
	)
	if err := rows.Scan(&e.Position, &txID, &e.StreamID, &e.StreamType, &e.StreamVersion, &e.ID, &e.Type, &sv, &data, &meta,
		&e.RecordedAt); err != nil {
		return nil, err
	}
	e.Data, e.TransactionID, e.SchemaVersion = data, uint64(txID), int(sv)
	return meta, nil
}

// loadColumns are loadReadSQL's column types: the fixed-size ones are decoded from PostgreSQL's
// binary format, the texts (and json) are their bytes in either format.
var loadColumns = [...]uint32{pgtype.Int8OID, pgtype.Int8OID, pgtype.TextOID, pgtype.TextOID, pgtype.Int8OID, pgtype.UUIDOID,
	pgtype.TextOID, pgtype.Int4OID, pgtype.JSONOID, pgtype.JSONOID, pgtype.TimestamptzOID}

// rawFormats reports whether rowDecoder can read the rows: the expected types, fixed-size ones
// in binary. Otherwise (another driver configuration) scanEvent does.
func rawFormats(fds []pgconn.FieldDescription) bool {
	if len(fds) != len(loadColumns) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != loadColumns[i] {
			return false
		}
		switch fd.DataTypeOID {
		case pgtype.Int8OID, pgtype.Int4OID, pgtype.UUIDOID, pgtype.TimestamptzOID:
			if fd.Format != pgx.BinaryFormatCode {
				return false
			}
		}
	}
	return true
}

// rowDecoder decodes loadReadSQL's rows from their raw values, which pgx's Scan did at a
// quarter of the reader's time (a plan per value, an allocation per value): payloads are copied
// into shared blocks, the few stream and event type names are shared strings, and the metadata
// is parsed where it lies.
type rowDecoder struct {
	block []byte
	names map[string]string
}

func (d *rowDecoder) decode(vals [][]byte, e *eventstore.RecordedEvent) (meta []byte, err error) {
	for i, v := range vals {
		if v == nil {
			return nil, fmt.Errorf("column %d is null", i)
		}
	}
	i8 := func(b []byte) (int64, error) {
		if len(b) != 8 {
			return 0, fmt.Errorf("int8 of %d bytes", len(b))
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	if e.Position, err = i8(vals[0]); err != nil {
		return nil, err
	}
	tx, err := i8(vals[1])
	if err != nil {
		return nil, err
	}
	e.TransactionID = uint64(tx)
	e.StreamID = string(vals[2])
	e.StreamType = d.name(vals[3])
	if e.StreamVersion, err = i8(vals[4]); err != nil {
		return nil, err
	}
	if len(vals[5]) != 16 {
		return nil, fmt.Errorf("uuid of %d bytes", len(vals[5]))
	}
	e.ID = uuid.UUID(vals[5])
	e.Type = d.name(vals[6])
	if len(vals[7]) != 4 {
		return nil, fmt.Errorf("int4 of %d bytes", len(vals[7]))
	}
	e.SchemaVersion = int(int32(binary.BigEndian.Uint32(vals[7])))
	e.Data = d.copy(vals[8])
	us, err := i8(vals[10])
	if err != nil {
		return nil, err
	}
	if us == math.MaxInt64 || us == math.MinInt64 {
		return nil, errors.New("infinite recorded_at")
	}
	// microseconds since 2000-01-01 UTC, as pgx decodes them
	const y2k = 946_684_800
	e.RecordedAt = time.Unix(y2k+us/1_000_000, (us%1_000_000)*1000)
	return vals[9], nil
}

// name returns b as a string shared by every event with the same one.
func (d *rowDecoder) name(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	if d.names == nil {
		d.names = map[string]string{}
	}
	s := string(b)
	d.names[s] = s
	return s
}

// copy returns a copy of b in the current block (capacity capped, so that no append reaches a
// neighbour).
func (d *rowDecoder) copy(b []byte) []byte {
	if len(d.block)+len(b) > cap(d.block) {
		d.block = make([]byte, 0, max(1<<20, len(b)))
	}
	n := len(d.block)
	d.block = append(d.block, b...)
	return d.block[n : n+len(b) : n+len(b)]
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
	// The events of a chunk in one allocation rather than one each: a million small objects
	// less for the allocator and the garbage collector per million events.
	slab := make([]Event, len(evs))
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
				re := &evs[i]
				de, err := reg.Decode(re.Type, re.SchemaVersion, re.Data)
				if err != nil { // as Decode says it
					errs[w] = fmt.Errorf("rebuild: event %s (%s at %s v%d): %w", re.ID, re.Type, re.StreamID, re.StreamVersion, err)
					return
				}
				slab[i] = Event{RecordedEvent: *re, Payload: de}
				out[i] = &slab[i]
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
