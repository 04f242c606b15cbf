package loaders

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vikstrous/dataloadgen"
)

// countingFetch doubles keys and records each fetch's keys.
type countingFetch struct {
	mu      sync.Mutex
	fetches [][]int
	block   chan struct{} // when set, a fetch waits for it
}

func (c *countingFetch) fetch(_ context.Context, keys []int) ([]int, []error) {
	if c.block != nil {
		<-c.block
	}
	c.mu.Lock()
	c.fetches = append(c.fetches, append([]int(nil), keys...))
	c.mu.Unlock()
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = 2 * k
	}
	return out, nil
}

// TestLoadAllIsOneFetch: with no wait at all, dataloadgen's LoadAll would fire a batch as soon as
// its timer goroutine runs, mid-loop; ours fetches a list's keys in one call, whatever the
// scheduling, and not again.
func TestLoadAllIsOneFetch(t *testing.T) {
	for range 50 {
		c := &countingFetch{}
		l := newLoader(c.fetch, dataloadgen.WithWait(0))
		keys := make([]int, 2000)
		for i := range keys {
			keys[i] = i
		}
		got, err := l.LoadAll(context.Background(), keys)
		require.NoError(t, err)
		for i, v := range got {
			require.Equal(t, 2*i, v)
		}
		require.Equal(t, 1, len(c.fetches), "one fetch for the list")
		_, err = l.LoadAll(context.Background(), keys[:10])
		require.NoError(t, err)
		v, err := l.Load(context.Background(), 7)
		require.NoError(t, err)
		require.Equal(t, 14, v)
		require.Equal(t, 1, len(c.fetches), "loaded keys are not fetched again")
	}
}

// TestLoadWaitsForLoadAll: a Load of a key that a LoadAll is fetching takes the LoadAll's value
// instead of fetching the key again; a key that is new loads in a batch of its own.
func TestLoadWaitsForLoadAll(t *testing.T) {
	c := &countingFetch{block: make(chan struct{})}
	l := newLoader(c.fetch, dataloadgen.WithWait(Wait))
	done := make(chan []int)
	go func() {
		v, err := l.LoadAll(context.Background(), []int{1, 2, 3})
		require.NoError(t, err)
		done <- v
	}()
	// Wait until the LoadAll has marked its keys (its fetch is blocked).
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.fetching) == 3
	}, 5*time.Second, time.Millisecond)
	loaded := make(chan int)
	go func() {
		v, err := l.Load(context.Background(), 2)
		require.NoError(t, err)
		loaded <- v
	}()
	close(c.block)
	require.Equal(t, []int{2, 4, 6}, <-done)
	require.Equal(t, 4, <-loaded)
	v, err := l.Load(context.Background(), 9)
	require.NoError(t, err)
	require.Equal(t, 18, v)
	require.Equal(t, [][]int{{1, 2, 3}, {9}}, c.fetches)

	l.ClearAll()
	_, err = l.LoadAll(context.Background(), []int{1})
	require.NoError(t, err)
	require.Equal(t, [][]int{{1, 2, 3}, {9}, {1}}, c.fetches, "cleared keys are fetched afresh")
}
