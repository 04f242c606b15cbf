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

// The batch form checks the cached hash of the expected version: a wrong one inserts nothing and
// the general path chains from what is stored.
func TestBatchAppendChecksTheCachedHash(t *testing.T) {
	t.Parallel()
	s, err := New(pgtest.Pool(t), Options{})
	require.NoError(t, err)
	ctx := context.Background()
	id := "cache-" + uuid.NewString()
	_, err = s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: NoStream(), Events: []EventData{ev(1), ev(2)}})
	require.NoError(t, err)

	s.heads.forget(id)
	s.heads.put(id, 2, make([]byte, 32), "test") // a hash nothing has
	res, err := s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: Exact(2), Events: []EventData{ev(3), ev(4)}})
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Streams[id])

	r, err := s.Verify(ctx, id)
	require.NoError(t, err)
	require.Nil(t, r.Break)
	require.EqualValues(t, 4, r.Events)
}

// The one-event form trusts the head cache (no probe), so the cache must only ever hold hashes of
// committed rows: not those of a caller's transaction that rolled back, nor of an append that
// failed. Appends after each of those chain correctly.
func TestHeadCacheHoldsOnlyCommittedHashes(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s, err := New(pool, Options{})
	require.NoError(t, err)
	ctx := context.Background()
	id := "cache-" + uuid.NewString()

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = s.AppendTx(ctx, tx, StreamAppend{StreamID: id, StreamType: "test", Expected: NoStream(), Events: []EventData{ev(1)}})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	_, ok := s.heads.get(id, 1, "test")
	require.False(t, ok, "a rolled-back append must not reach the cache")

	for v := range int64(3) {
		_, err = s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: Exact(v), Events: []EventData{ev(int(v))}})
		require.NoError(t, err)
	}
	// A stale expected version fails and leaves the cache at the committed head.
	_, err = s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: Exact(1), Events: []EventData{ev(9)}})
	require.ErrorIs(t, err, ErrConcurrency)
	_, ok = s.heads.get(id, 3, "test")
	require.True(t, ok)
	_, err = s.Append(ctx, StreamAppend{StreamID: id, StreamType: "test", Expected: Exact(3), Events: []EventData{ev(4)}})
	require.NoError(t, err)

	r, err := s.Verify(ctx, id)
	require.NoError(t, err)
	require.Nil(t, r.Break)
	require.EqualValues(t, 4, r.Events)
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
