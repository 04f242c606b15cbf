package projections

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

// TestCopyEncodingIsPgx: every value the load phase's COPY encodes itself must have the bytes
// pgx's CopyFrom gives it (its type map), and a row must be framed as binary COPY frames it.
func TestCopyEncodingIsPgx(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	due := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		oid uint32
		v   any
	}{
		{pgtype.UUIDOID, pgUUID(uuid.MustParse("6f1c0f4e-1d2b-4c53-9a3e-0b8a1e2f3c4d"))},
		{pgtype.UUIDOID, optUUID(uuid.Nil)},
		{pgtype.TextOID, ""},
		{pgtype.TextOID, "Zoë “quoted” ✓"},
		{pgtype.TextOID, optString(nil)},
		{pgtype.TextOID, optText("")},
		{pgtype.Int8OID, int64(0)},
		{pgtype.Int8OID, int64(math.MinInt64)},
		{pgtype.Int8OID, int64(math.MaxInt64)},
		{pgtype.Int4OID, int32(-7)},
		{pgtype.Int4OID, int32(math.MaxInt32)},
		{pgtype.Int2OID, int16(-3)},
		{pgtype.Int2OID, int16(math.MaxInt16)},
		{pgtype.BoolOID, true},
		{pgtype.BoolOID, false},
		{pgtype.TimestamptzOID, time.Date(2026, 12, 2, 16, 11, 19, 825459637, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(1970, 1, 1, 0, 0, 0, 1, berlin)},
		{pgtype.TimestamptzOID, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{pgtype.TimestamptzOID, optTime(&due)},
		{pgtype.TimestamptzOID, optTime(nil)},
		{pgtype.TextArrayOID, []string(nil)},
		{pgtype.TextArrayOID, []string{}},
		{pgtype.TextArrayOID, []string{"backend"}},
		{pgtype.TextArrayOID, []string{"", "a b", "ü"}},
		{pgtype.Int4OID, int64(12)}, // not a fast path: through the map
		{pgtype.Int8OID, int32(12)},
		{pgtype.DateOID, due},
		{pgtype.JSONBOID, `{"a":1}`},
	}
	for _, c := range cases {
		want := binary.BigEndian.AppendUint32(nil, math.MaxUint32)
		out, err := m.Encode(c.oid, pgtype.BinaryFormatCode, c.v, want)
		require.NoError(t, err, "%T %v", c.v, c.v)
		if out != nil {
			want = out
			binary.BigEndian.PutUint32(want, uint32(len(want)-4))
		}
		got, err := encodeCopyRow(m, nil, []uint32{c.oid}, []any{c.v})
		require.NoError(t, err, "%T %v", c.v, c.v)
		require.Equal(t, []byte{0, 1}, got[:2], "field count")
		require.Equal(t, want, got[2:], "%T %v as type %d", c.v, c.v, c.oid)
	}
	_, err = encodeCopyRow(m, nil, []uint32{pgtype.TextOID}, []any{"a", "b"})
	require.Error(t, err)
}
