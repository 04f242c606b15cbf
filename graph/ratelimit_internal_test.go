package graph

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBucketTableIsBounded: however many callers, the table holds at most maxKeys; idle keys
// (their bucket refilled) go first, and dropping them changes no one's budget.
func TestBucketTableIsBounded(t *testing.T) {
	t.Parallel()
	b := newBuckets(1, 2, 100) // refills in 2 s
	now := time.Unix(1_000_000, 0)
	for i := range 10_000 {
		b.take("k"+strconv.Itoa(i), 1, now)
		require.LessOrEqual(t, len(b.keys), 100)
	}
	// A busy caller spends its burst, and a second later has one token back.
	require.True(t, b.take("busy", 2, now).ok)
	require.False(t, b.take("busy", 1, now).ok)
	res := b.take("busy", 1, now.Add(time.Second))
	require.True(t, res.ok, "one token refilled after a second")
	require.Equal(t, 0, res.remaining)
	require.Equal(t, 2, res.limit)
	require.Equal(t, 2*time.Second, res.reset, "an empty bucket refills in 2 s")
	// A new caller two seconds on sweeps the keys idle for a whole refill (full buckets, the
	// same as new ones), not the busy one.
	b.take("new", 1, now.Add(2*time.Second))
	require.Len(t, b.keys, 2)
	require.Contains(t, b.keys, "busy")
}
