package projections

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The load phase's COPY.
//
// pgx's CopyFrom encodes each value through its type map (a plan looked up per value, the
// value boxed once more), in a goroutine of its own: for the 2.4M rows a 1M-event rebuild
// writes, that was the largest single cost on the Go side after decoding the log (1M events:
// 3.2 s of 21). copyIn writes the same binary COPY stream, encoding the types the folders use
// (uuid, text, integers, bool, timestamptz, text[]) directly and anything else through the
// connection's type map as pgx does, so each value's bytes are pgx's (TestCopyEncodingIsPgx's);
// rows are encoded while PostgreSQL reads the previous chunk.

// copyColumns are the type OIDs of a table's columns, looked up once (a version's tables keep
// their types; a staging table has its table's).
type copyColumns struct {
	once sync.Once
	oids []uint32
	err  error
}

func (c *copyColumns) get(ctx context.Context, tx pgx.Tx, table string, cols []string) ([]uint32, error) {
	c.once.Do(func() {
		quoted := make([]string, len(cols))
		for i, col := range cols {
			quoted[i] = pgx.Identifier{col}.Sanitize()
		}
		rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s LIMIT 0`, strings.Join(quoted, ", "), pgx.Identifier{table}.Sanitize()))
		if err != nil {
			c.err = fmt.Errorf("column types of %s: %w", table, err)
			return
		}
		fds := rows.FieldDescriptions()
		c.oids = make([]uint32, len(fds))
		for i, fd := range fds {
			c.oids[i] = fd.DataTypeOID
		}
		rows.Close()
		c.err = rows.Err()
	})
	return c.oids, c.err
}

// copyIn COPYs rows into table's cols (their types oids) in the binary format.
func copyIn(ctx context.Context, tx pgx.Tx, table string, cols []string, oids []uint32, rows [][]any) error {
	quoted := make([]string, len(cols))
	for i, col := range cols {
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	r := &copyReader{m: tx.Conn().TypeMap(), oids: oids, rows: rows}
	r.buf = append(r.buf, "PGCOPY\n\377\r\n\000"...)
	r.buf = binary.BigEndian.AppendUint32(r.buf, 0) // flags
	r.buf = binary.BigEndian.AppendUint32(r.buf, 0) // header extension
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, fmt.Sprintf("COPY %s (%s) FROM STDIN BINARY", pgx.Identifier{table}.Sanitize(),
		strings.Join(quoted, ", ")))
	return err
}

// copyReader is the COPY stream of its rows, encoded as they are read.
type copyReader struct {
	m    *pgtype.Map
	oids []uint32
	rows [][]any
	next int
	buf  []byte
	off  int
	done bool
}

func (r *copyReader) Read(p []byte) (int, error) {
	for len(r.buf)-r.off < len(p) && !r.done {
		if r.off > 0 {
			r.buf = r.buf[:copy(r.buf, r.buf[r.off:])]
			r.off = 0
		}
		if r.next == len(r.rows) {
			r.buf = binary.BigEndian.AppendUint16(r.buf, 0xffff) // the trailer, -1
			r.done = true
			break
		}
		var err error
		if r.buf, err = encodeCopyRow(r.m, r.buf, r.oids, r.rows[r.next]); err != nil {
			return 0, err
		}
		r.next++
	}
	if r.off == len(r.buf) {
		return 0, io.EOF
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// y2kMicros is 2000-01-01 UTC in microseconds since the Unix epoch, PostgreSQL's timestamp epoch.
const y2kMicros = 946_684_800 * 1_000_000

// encodeCopyRow appends one row in the binary COPY format.
func encodeCopyRow(m *pgtype.Map, buf []byte, oids []uint32, vals []any) ([]byte, error) {
	if len(vals) != len(oids) {
		return nil, fmt.Errorf("copy: %d values for %d columns", len(vals), len(oids))
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(vals)))
	for i, v := range vals {
		oid := oids[i]
		switch x := v.(type) {
		case nil:
			buf = appendNull(buf)
			continue
		case pgtype.UUID:
			if oid == pgtype.UUIDOID {
				if !x.Valid {
					buf = appendNull(buf)
				} else {
					buf = binary.BigEndian.AppendUint32(buf, 16)
					buf = append(buf, x.Bytes[:]...)
				}
				continue
			}
		case string:
			if oid == pgtype.TextOID {
				buf = binary.BigEndian.AppendUint32(buf, uint32(len(x)))
				buf = append(buf, x...)
				continue
			}
		case int64:
			if oid == pgtype.Int8OID {
				buf = binary.BigEndian.AppendUint32(buf, 8)
				buf = binary.BigEndian.AppendUint64(buf, uint64(x))
				continue
			}
		case int32:
			if oid == pgtype.Int4OID {
				buf = binary.BigEndian.AppendUint32(buf, 4)
				buf = binary.BigEndian.AppendUint32(buf, uint32(x))
				continue
			}
		case int16:
			if oid == pgtype.Int2OID {
				buf = binary.BigEndian.AppendUint32(buf, 2)
				buf = binary.BigEndian.AppendUint16(buf, uint16(x))
				continue
			}
		case bool:
			if oid == pgtype.BoolOID {
				buf = binary.BigEndian.AppendUint32(buf, 1)
				if x {
					buf = append(buf, 1)
				} else {
					buf = append(buf, 0)
				}
				continue
			}
		case time.Time:
			if oid == pgtype.TimestamptzOID {
				buf = binary.BigEndian.AppendUint32(buf, 8)
				buf = binary.BigEndian.AppendUint64(buf, uint64(x.Unix()*1_000_000+int64(x.Nanosecond())/1000-y2kMicros))
				continue
			}
		case []string:
			if oid == pgtype.TextArrayOID {
				if x == nil {
					buf = appendNull(buf)
					continue
				}
				sp := len(buf)
				buf = binary.BigEndian.AppendUint32(buf, 0) // the length, set below
				buf = binary.BigEndian.AppendUint32(buf, 1) // dimensions
				buf = binary.BigEndian.AppendUint32(buf, 0) // no nulls
				buf = binary.BigEndian.AppendUint32(buf, pgtype.TextOID)
				buf = binary.BigEndian.AppendUint32(buf, uint32(len(x)))
				buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
				for _, s := range x {
					buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
					buf = append(buf, s...)
				}
				binary.BigEndian.PutUint32(buf[sp:], uint32(len(buf)-sp-4))
				continue
			}
		}
		// Anything else as pgx's CopyFrom encodes it.
		sp := len(buf)
		buf = appendNull(buf)
		out, err := m.Encode(oid, pgtype.BinaryFormatCode, v, buf)
		if err != nil {
			return nil, fmt.Errorf("copy: encode %T as type %d: %w", v, oid, err)
		}
		if out != nil {
			buf = out
			binary.BigEndian.PutUint32(buf[sp:], uint32(len(buf)-sp-4))
		}
	}
	return buf, nil
}

func appendNull(buf []byte) []byte { return binary.BigEndian.AppendUint32(buf, 0xffffffff) }
