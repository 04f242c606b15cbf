package sideeffects

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// queue is one outbox as the dispatcher sees it.
type queue[J any] interface {
	// claim takes up to n due jobs and commits the claim before returning, so that no transaction
	// is open during the network calls that follow. quota holds, for keys that have jobs in
	// flight, how many more may start; other keys may start perKey.
	claim(ctx context.Context, n int, quota map[string]int) ([]J, error)
	// key groups jobs for the per-key concurrency limit (a webhook endpoint).
	key(j J) string
	// deliver makes one attempt and records its outcome. It reports errors itself.
	deliver(ctx context.Context, j J)
}

// dispatcher runs a queue's due jobs on a bounded pool of goroutines, with at most perKey in flight
// per key. It claims only as many jobs as it has free workers, so a claimed job starts at once and
// its lease measures one attempt.
type dispatcher[J any] struct {
	name    string
	q       queue[J]
	workers int
	perKey  int
	poll    time.Duration
	wake    <-chan struct{} // the enqueue stage committed new rows
	log     *slog.Logger
}

func (d *dispatcher[J]) run(ctx context.Context) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight = map[string]int{}
		total    int
		freed    = make(chan struct{}, 1)
	)
	defer wg.Wait() // in-flight attempts see ctx cancelled and release their claims
	for {
		if ctx.Err() != nil {
			return nil
		}
		mu.Lock()
		free := d.workers - total
		quota := make(map[string]int, len(inflight))
		for k, n := range inflight {
			quota[k] = max(d.perKey-n, 0)
		}
		mu.Unlock()

		full := false
		if free > 0 {
			jobs, err := d.q.claim(ctx, free, quota)
			if err != nil && ctx.Err() == nil {
				d.log.Warn("side effects: claim failed", "queue", d.name, "err", err)
			}
			full = len(jobs) == free
			for _, j := range jobs {
				k := d.q.key(j)
				mu.Lock()
				inflight[k]++
				total++
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.q.deliver(ctx, j)
					mu.Lock()
					if inflight[k]--; inflight[k] == 0 {
						delete(inflight, k)
					}
					total--
					mu.Unlock()
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
			}
		}
		if full {
			continue // perhaps more are due; claim again once workers free up
		}
		timer := time.NewTimer(d.poll)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-freed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// backoff is the wait before the attempt after attempt number n (1-based): exponential with full
// jitter, uniform in [0, min(max, base*2^(n-1))], which spreads retries of a burst of failures
// instead of sending them back in lockstep.
func (p RetryPolicy) backoff(n int) time.Duration {
	ceiling := p.BackoffMax
	if n < 1 {
		n = 1
	}
	if n <= 40 {
		if d := p.BackoffBase << (n - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// notify does a non-blocking send: a pending wake-up already covers this one.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
