package live

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/eventstore"
)

// EndReason is why a subscription ended; the client is told (the caller's onEnd), so that it can
// tell "resume from End.LastPosition" from "you may no longer read this".
type EndReason int

const (
	EndDone    EndReason = iota // the client stopped or its connection closed: nothing to tell
	EndSlow                     // its client took no message for HubOptions.SlowAfter, or MaxQueue were pending (CodeSlowConsumer)
	EndRevoked                  // the user was removed from the workspace (domain.CodeForbidden)
	EndStopped                  // the hub stopped (the process is shutting down)
	EndFailed                   // the read-model state of a change could not be loaded (HubOptions.LoadRetry)
)

func (r EndReason) String() string {
	switch r {
	case EndDone:
		return "done"
	case EndSlow:
		return "slow"
	case EndRevoked:
		return "revoked"
	case EndStopped:
		return "stopped"
	case EndFailed:
		return "failed"
	}
	return "unknown"
}

// End is why and where the hub ended a subscription.
type End struct {
	Reason EndReason
	// LastPosition is the position of the last message the subscription's channel delivered, or
	// the position the subscription started at when it delivered none. Every change the
	// subscription would have sent after it is in the log: a client resumes from it (`since`)
	// and misses nothing.
	LastPosition eventstore.GlobalPosition
}

// envelope is a queued message with the position of the event it comes from.
type envelope struct {
	pos eventstore.GlobalPosition
	v   any
}

type subKind int

const (
	subTask subKind = iota
	subBoard
	subNotification
)

// hubSub is one subscription: a queue the deliverer appends to and a pump goroutine that hands
// the queue, one message at a time, to the channel its caller (gqlgen) reads.
type hubSub struct {
	kind      subKind
	workspace uuid.UUID
	project   uuid.UUID // subTask, subBoard
	user      string
	start     eventstore.GlobalPosition  // Hub.cursor when registered: everything it wants after is sent
	started   *eventstore.GlobalPosition // Target.Started: receives start

	closed bool // removed from the hub's maps; under Hub.mu

	mu     sync.Mutex
	queue  []envelope
	why    EndReason
	ending bool // why is set
	drain  bool // deliver what is queued before ending (a revocation, the hub stopping, a failure)

	wake  chan struct{} // one pending signal: a message was queued
	ended chan struct{} // closed when why is set
}

func newHubSub(kind subKind, t Target) *hubSub {
	s := &hubSub{kind: kind, workspace: t.Workspace, user: t.User, started: t.Started,
		wake: make(chan struct{}, 1), ended: make(chan struct{})}
	if kind != subNotification {
		s.project = t.Project
	}
	return s
}

// push queues e; full when the subscription already holds max messages (nothing is queued
// then, nor once it is ending).
func (s *hubSub) push(e envelope, max int) (queued, full bool) {
	s.mu.Lock()
	switch {
	case s.ending:
		s.mu.Unlock()
		return false, false
	case len(s.queue) >= max:
		s.mu.Unlock()
		return false, true
	}
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true, false
}

// end sets why once; drain lets the pump deliver what is queued first.
func (s *hubSub) end(why EndReason, drain bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending {
		return
	}
	s.why, s.ending, s.drain = why, true, drain
	close(s.ended)
}

// hurry makes a draining subscription end without delivering the rest.
func (s *hubSub) hurry() {
	s.mu.Lock()
	s.drain = false
	s.mu.Unlock()
}

// state is what the pump does next: end (why), wait (nothing queued) or offer head.
func (s *hubSub) state() (head envelope, queued bool, why EndReason, end bool, draining bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending && (!s.drain || len(s.queue) == 0) {
		return envelope{}, false, s.why, true, false
	}
	if len(s.queue) == 0 {
		return envelope{}, false, 0, false, false
	}
	return s.queue[0], true, 0, false, s.ending
}

// taken removes the head the pump delivered.
func (s *hubSub) taken() {
	s.mu.Lock()
	s.queue[0] = envelope{}
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // let a burst's backing array go
	}
	s.mu.Unlock()
}

// discard drops what is queued and returns how many there were.
func (s *hubSub) discard() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.queue)
	s.queue = nil
	return n
}

// pump hands s's queue to ch in order until the subscription ends, then calls onEnd with the
// position of the last message ch delivered and closes ch. It is ch's only sender, so that
// position is exact. A message offered for SlowAfter without the client taking it ends the
// subscription as slow: the clock runs only while a message waits, from the later of its
// arrival and the client's last take, so an idle subscription or a server-side burst read
// promptly is never slow.
func pump[T any](ctx context.Context, h *Hub, s *hubSub, ch chan<- T, onEnd func(End)) {
	last := s.start
	var since time.Time // when the head was first offered; zero: not yet
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	finish := func(why EndReason) {
		h.pending.Add(-int64(s.discard()))
		if ctx.Err() != nil {
			// The client is gone (it stopped, or its connection closed): there is nobody to tell,
			// and its transport no longer reads what onEnd would leave for it.
			why = EndDone
		}
		if onEnd != nil {
			onEnd(End{Reason: why, LastPosition: last})
		}
		close(ch)
	}
	for {
		head, queued, why, end, draining := s.state()
		if end {
			finish(why)
			return
		}
		if !queued {
			select {
			case <-s.wake:
			case <-s.ended:
			case <-ctx.Done():
				finish(EndDone)
				return
			}
			continue
		}
		if since.IsZero() {
			since = time.Now()
		}
		ended := s.ended
		if draining {
			ended = nil // already ending: deliver the rest
		}
		timer.Reset(time.Until(since.Add(h.opts.SlowAfter)))
		select {
		case ch <- head.v.(T):
			timer.Stop()
			s.taken()
			h.pending.Add(-1)
			last, since = head.pos, time.Time{}
		case <-ended:
			timer.Stop()
		case <-timer.C:
			h.slow(s)
		case <-ctx.Done():
			timer.Stop()
			finish(EndDone)
			return
		}
	}
}
