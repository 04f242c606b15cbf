package commands

import (
	"context"
	"sync"
)

// lanes queues, per stream, this process's retries of commands that
// conflicted on it. Without them a herd of writers on one hot stream (50
// users creating tasks in one project) keeps colliding: each attempt reloads
// while the others commit, and most attempts are wasted. In a lane, retries
// on a stream run one at a time and normally succeed at once.
//
// Lanes are only a throughput measure: correctness still rests on the exact
// expected versions of the append, since first attempts, other processes
// and other streams of a multi-stream append are not queued.
type lanes struct {
	mu sync.Mutex
	m  map[string]*lane
}

type lane struct {
	token chan struct{} // holds one token: the right to run
	users int           // goroutines holding or waiting for the lane
}

// enter waits for the stream's lane (or ctx) and returns the function that
// leaves it.
func (l *lanes) enter(ctx context.Context, stream string) (leave func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*lane)
	}
	ln := l.m[stream]
	if ln == nil {
		ln = &lane{token: make(chan struct{}, 1)}
		ln.token <- struct{}{}
		l.m[stream] = ln
	}
	ln.users++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		if ln.users--; ln.users == 0 {
			delete(l.m, stream)
		}
		l.mu.Unlock()
	}
	select {
	case <-ln.token:
		return func() { ln.token <- struct{}{}; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
