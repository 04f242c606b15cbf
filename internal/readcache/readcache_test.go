package readcache

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/promtest"
)

func key(b byte) Key { return Key{b} }

func TestEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := New[[]byte]("test", 4*(1000+entryOverhead), reg)
	require.NoError(t, err)
	for i := range 4 {
		c.Add(key(byte(i)), make([]byte, 1000), 1000)
	}
	require.Equal(t, 4, c.Len())
	_, ok := c.Get(key(0)) // 0 is now the most recent: 1 goes first
	require.True(t, ok)
	c.Add(key(9), make([]byte, 1000), 1000)
	_, ok = c.Get(key(1))
	require.False(t, ok)
	for _, k := range []byte{0, 2, 3, 9} {
		_, ok := c.Get(key(k))
		require.True(t, ok, "key %d", k)
	}
	require.Equal(t, 1.0, promtest.CounterSum(t, reg, "taskforge_test_cache_evictions_total", nil))
	require.Equal(t, 5.0, promtest.CounterSum(t, reg, "taskforge_test_cache_hits_total", nil))
	require.Equal(t, 1.0, promtest.CounterSum(t, reg, "taskforge_test_cache_misses_total", nil))
	require.Equal(t, int64(4*(1000+entryOverhead)), c.used)

	// Replacing an entry counts its new size only; one over a quarter of the bound is refused.
	c.Add(key(9), nil, 10)
	require.Equal(t, int64(3*(1000+entryOverhead)+10+entryOverhead), c.used)
	c.Add(key(7), nil, 1500)
	_, ok = c.Get(key(7))
	require.False(t, ok)
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	c, err := New[int]("off", 0, nil)
	require.NoError(t, err)
	require.Nil(t, c)
	c.Add(key(1), 1, 8)
	_, ok := c.Get(key(1))
	require.False(t, ok)
	require.Zero(t, c.Len())
}
