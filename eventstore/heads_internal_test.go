package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestMain is in main_test.go (package eventstore_test): one per test binary.

func ev(n int) EventData {
	return EventData{ID: uuid.New(), Type: "test.happened", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// A wrong cached hash must never enter the chain: the fast path inserts nothing and the general
// path chains from what is stored.
func TestWrongCachedHashFallsBackToTheGeneralPath(t *testing.T) {
	t.Parallel()
	s, err := New(pgtest.Pool(t), Options{})
	require.NoError(t, err)
	ctx := context.Background()
	id := "cache-" + uuid.NewString()
	_, err = s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: NoStream(), Events: []EventData{ev(1), ev(2)}})
	require.NoError(t, err)

	s.heads.forget(id)
	s.heads.put(id, 2, make([]byte, 32), "test") // a hash nothing has
	res, err := s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: Exact(2), Events: []EventData{ev(3)}})
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Streams[id])

	s.heads.put(id, 3, make([]byte, 32), "test")
	_, err = s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: Exact(3), Events: []EventData{ev(4), ev(5)}})
	require.NoError(t, err)

	r, err := s.Verify(ctx, id)
	require.NoError(t, err)
	require.Nil(t, r.Break)
	require.EqualValues(t, 5, r.Events)
}

func TestHeadCacheKeepsTheLatestVersionAndStaysBounded(t *testing.T) {
	t.Parallel()
	c := newHeadCache(100)
	c.put("s", 3, []byte{3}, "t")
	c.put("s", 2, []byte{2}, "t") // older: ignored
	h, ok := c.get("s", 3, "t")
	require.True(t, ok)
	require.Equal(t, []byte{3}, h)
	_, ok = c.get("s", 2, "t")
	require.False(t, ok)
	_, ok = c.get("s", 3, "other")
	require.False(t, ok, "a stream type mismatch goes to the general path, which reports it")
	for i := range 1000 {
		c.put(uuid.NewString(), int64(i+1), []byte{1}, "t")
	}
	require.LessOrEqual(t, len(c.entries), 100)
}
