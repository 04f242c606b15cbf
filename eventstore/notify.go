package eventstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Notifier turns the NOTIFYs that appends send at commit into wake-ups for in-process readers. It
// holds one connection in LISTEN for the whole process, however many readers there are.
//
// A wake-up is only a hint to read again from one's checkpoint: wake-ups coalesce, and after a lost
// connection every reader is woken once because notifications may have been missed meanwhile.
// Readers still poll on a slow timer as a fallback (an event appended by a writer that does not
// notify, or a notification lost with a connection).
type Notifier struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	seq  atomic.Uint64
}

// NewNotifier returns a notifier; start it with Run.
func NewNotifier(pool *pgxpool.Pool, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{pool: pool, log: log, subs: map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives a value after events commit, and a function that
// unsubscribes. The channel has room for one pending wake-up; more coalesce into it.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

// Wake wakes this process's readers at once. Pass it as Options.OnCommit so that in-process readers
// do not wait for the NOTIFY round trip.
func (n *Notifier) Wake() { n.wakeAll() }

// Seq counts wake-ups. It moves before any channel is signalled, so a reader that loaded Seq, then
// read nothing new, and still sees the same Seq knows that no commit was announced since: readers
// sharing a position can share that empty read instead of each repeating it.
func (n *Notifier) Seq() uint64 { return n.seq.Load() }

func (n *Notifier) wakeAll() {
	n.seq.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run listens until ctx is done, reconnecting with backoff when the connection fails.
func (n *Notifier) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := n.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		n.log.Warn("event notifier connection lost; reconnecting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (n *Notifier) listen(ctx context.Context) error {
	pooled, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection's session state (LISTEN) must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	n.wakeAll() // anything committed while we were not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		n.wakeAll()
	}
}

// commitNotifier sends NOTIFY after Append's own transactions commit, at most one per interval.
//
// Why not NOTIFY inside the append: PostgreSQL serialises the commits of all transactions that
// notify (a database-wide lock is held from pre-commit until the commit record is flushed), which
// measured here cut 8-writer append throughput to that of a single writer. Why at most one per
// interval: a NOTIFY is a transaction of its own (it takes an xid and writes a commit record), and
// one per append measured here at a third of single-writer append throughput. So the first commit
// after a quiet spell is announced at once, and commits during the next interval share one NOTIFY:
// readers in other processes learn of an append within about interval; readers in this process are
// woken directly (Options.OnCommit). The NOTIFY commits with synchronous_commit off: nothing durable
// depends on it.
type commitNotifier struct {
	pool     *pgxpool.Pool
	interval time.Duration
	state    atomic.Int32 // notifierIdle, notifierRunning or notifierPending
}

// notifyInterval bounds NOTIFYs to 200 a second under load.
const notifyInterval = 5 * time.Millisecond

const (
	notifierIdle int32 = iota
	notifierRunning
	notifierPending // running, and another NOTIFY is due at the end of the interval
)

// notifySQL runs as one implicit transaction; set_config(..., true) lasts until its commit, which
// is when synchronous_commit is read.
const notifySQL = `SELECT set_config('synchronous_commit', 'off', true), pg_notify('` + NotifyChannel + `', '')`

func (n *commitNotifier) signal() {
	for {
		switch n.state.Load() {
		case notifierIdle:
			if n.state.CompareAndSwap(notifierIdle, notifierRunning) {
				go n.run()
				return
			}
		case notifierRunning:
			if n.state.CompareAndSwap(notifierRunning, notifierPending) {
				return
			}
		default:
			return
		}
	}
}

// run sends NOTIFYs until none is due, then exits: an idle store keeps no goroutine. It is bounded
// by its own timeout, so it needs no context from the append that started it.
func (n *commitNotifier) run() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// A lost NOTIFY only delays other processes' readers until their next poll.
		_, _ = n.pool.Exec(ctx, notifySQL)
		cancel()
		time.Sleep(n.interval)
		if n.state.CompareAndSwap(notifierPending, notifierRunning) {
			continue
		}
		if n.state.CompareAndSwap(notifierRunning, notifierIdle) {
			return
		}
	}
}
