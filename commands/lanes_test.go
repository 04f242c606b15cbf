package commands

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLanes(t *testing.T) {
	t.Parallel()
	var l lanes
	ctx := context.Background()

	// One goroutine at a time per stream.
	var inside, most, failed atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leave, err := l.enter(ctx, "s")
			if err != nil {
				failed.Add(1)
				return
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			inside.Add(-1)
			leave()
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	require.Equal(t, int32(1), most.Load())

	// Other streams are not held up; a waiter gives up with its context.
	leave, err := l.enter(ctx, "a")
	require.NoError(t, err)
	other, err := l.enter(ctx, "b")
	require.NoError(t, err)
	other()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = l.enter(short, "a")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	leave()

	// Lanes are dropped once nobody uses them.
	l.mu.Lock()
	require.Empty(t, l.m)
	l.mu.Unlock()
}
