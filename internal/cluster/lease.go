package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Lease defaults. A killed owner is replaced within one Interval (its session disappears from
// pg_stat_activity at once); an owner cut off with its connection still open, within TTL.
const (
	DefaultLeaseTTL      = 5 * time.Second
	DefaultLeaseInterval = 200 * time.Millisecond
)

// Consumer is a consumer group that must run in one process of the cluster at a time.
type Consumer struct {
	Name string
	// Run consumes until ctx is done. token is the lease's fencing token: every commit of the
	// consumer must check it (taskforge_projection_try_advance, the side-effect checkpoint) so
	// that it cannot commit once another process took the lease. Run may return early (an error,
	// a stale token): the Leaser then checks whether it still holds the lease and starts it again
	// after a pause, or lets it go.
	Run func(ctx context.Context, token int64) error
}

// LeaserOptions configure a Leaser.
type LeaserOptions struct {
	Node uuid.UUID // this process's node (Registration.ID)
	// Pool reaches PostgreSQL directly (DATABASE_DIRECT_URL): the lease session is one of its
	// connections, held for as long as it works. Behind a transaction pooler the session's pid
	// would not be the backend's.
	Pool     *pgxpool.Pool
	TTL      time.Duration // DefaultLeaseTTL
	Interval time.Duration // how often leases are checked; DefaultLeaseInterval
	// Pinned, when not empty, is the only consumers this process may own.
	Pinned []string
	// OnMembers is called with the live lease holders' nodes whenever that set changes (and
	// first): claims of the nodes that left can be released at once.
	OnMembers func(ctx context.Context, live []uuid.UUID)
	Logger    *slog.Logger
	Metrics   *LeaseMetrics // nil: none
}

// Leaser owns this process's share of the consumers: it keeps a lease session on the direct
// pool, takes the consumers the shared assignment gives it, renews their leases, runs them while
// it holds them, and gives back those the assignment moves elsewhere. See doc.go.
type Leaser struct {
	opts      LeaserOptions
	log       *slog.Logger
	consumers map[string]Consumer
	names     []string

	mu      sync.Mutex
	running map[string]*run
	// unownedSince is when this process first saw each consumer without a live owner.
	unownedSince map[string]time.Time
	members      []uuid.UUID
}

type run struct {
	token    int64
	cancel   context.CancelFunc
	done     chan struct{}
	stopping bool // cancelled, maybe still returning
	release  bool // give the lease back once stopped
}

// NewLeaser checks the consumers and the pins.
func NewLeaser(opts LeaserOptions, consumers []Consumer) (*Leaser, error) {
	if opts.Pool == nil || opts.Node == uuid.Nil {
		return nil, errors.New("cluster: a leaser needs a pool and a node id")
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultLeaseInterval
	}
	if opts.TTL < 4*opts.Interval {
		return nil, fmt.Errorf("cluster: lease TTL %s must be at least 4 check intervals (%s)", opts.TTL, opts.Interval)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Leaser{opts: opts, log: opts.Logger, consumers: map[string]Consumer{}, running: map[string]*run{},
		unownedSince: map[string]time.Time{}}
	for _, c := range consumers {
		if c.Name == "" || c.Run == nil {
			return nil, errors.New("cluster: a consumer needs a name and a Run")
		}
		if _, dup := l.consumers[c.Name]; dup {
			return nil, fmt.Errorf("cluster: consumer %q twice", c.Name)
		}
		l.consumers[c.Name] = c
		l.names = append(l.names, c.Name)
	}
	slices.Sort(l.names)
	for _, p := range opts.Pinned {
		if _, ok := l.consumers[p]; !ok {
			return nil, fmt.Errorf("cluster: pinned consumer %q does not exist (consumers: %v)", p, l.names)
		}
	}
	return l, nil
}

// Held lists the consumers this process runs now, sorted.
func (l *Leaser) Held() []string {
	out := make([]string, 0, len(l.names))
	for n := range l.activeTokens() {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Run keeps leases until ctx is done, then stops its consumers and releases their leases, so
// that others take them within one interval. A lost lease session stops every consumer at once
// (others may take them now) and is opened again.
func (l *Leaser) Run(ctx context.Context) error {
	defer l.stopAll()
	backoff := l.opts.Interval
	for ctx.Err() == nil {
		err := l.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		l.stopAll()
		l.log.Warn("lease session lost; consumers stopped, reconnecting", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// session holds one lease session until it fails or ctx is done.
func (l *Leaser) session(ctx context.Context) error {
	conn, err := l.opts.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// The session's identity is in the lease rows: never hand it to someone else.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
	}()
	s := &leaseSession{l: l, conn: conn.Conn()}
	if err := s.open(ctx); err != nil {
		return err
	}
	t := time.NewTicker(l.opts.Interval)
	defer t.Stop()
	for {
		if err := s.tick(ctx); err != nil {
			if ctx.Err() != nil {
				s.releaseAll(context.WithoutCancel(ctx))
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			s.releaseAll(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
		}
	}
}

// leaseSession is one connection's life as the lease session.
type leaseSession struct {
	l       *Leaser
	conn    *pgx.Conn
	pid     int
	start   time.Time
	renewed time.Time // last successful renewal
}

func (s *leaseSession) open(ctx context.Context) error {
	l := s.l
	// lock_timeout: a takeover must not wait behind a paused owner's open commit (it retries next
	// tick; the owner's transaction is ended by idle_in_transaction_session_timeout).
	if _, err := s.conn.Exec(ctx, `SET lock_timeout = '100ms'`); err != nil {
		return err
	}
	err := s.conn.QueryRow(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&s.pid, &s.start)
	if err != nil {
		return fmt.Errorf("lease session: %w", err)
	}
	if _, err := s.conn.Exec(ctx, `INSERT INTO consumer_leases (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, l.names); err != nil {
		return fmt.Errorf("lease rows: %w", err)
	}
	return s.renew(ctx)
}

// leaseRow is a lease as one tick sees it.
type leaseRow struct {
	name  string
	token int64
	owner uuid.UUID // uuid.Nil: no live owner (free, expired, or its session is gone)
	mine  bool      // owned by this session
}

// tick reads the leases and the members, then releases, acquires and renews. Stopping a
// consumer only cancels it: its lease is released on a later tick, once it returned, so that a
// slow stop never delays renewals.
func (s *leaseSession) tick(ctx context.Context) error {
	l := s.l
	now := time.Now()
	for _, name := range l.reap() {
		if err := s.release(ctx, name); err != nil {
			return err
		}
	}
	if now.Sub(s.renewed) >= l.opts.TTL/4 {
		if err := s.renew(ctx); err != nil {
			return err
		}
	}
	leases, members, err := s.read(ctx)
	if err != nil {
		return err
	}
	l.observe(ctx, leases, members, now)

	want := assign(l.names, leases, members, s.l.opts.Node)
	for _, r := range leases {
		active, present := l.state(r.name)
		switch {
		case active && !r.mine:
			l.cancel(r.name, false)
			l.lost(r.name, "taken")
		case active && want[r.name] != l.opts.Node:
			l.cancel(r.name, true) // rebalance: released once stopped
		case r.mine && !present:
			// Held by this session but not run (a consumer that lost its lease while stopping, then
			// had it renewed): give it back; the assignment hands it out again.
			if err := s.release(ctx, r.name); err != nil {
				return err
			}
		}
	}
	// Take what the assignment gives this process and nobody live owns.
	for _, r := range leases {
		if _, present := l.state(r.name); want[r.name] != l.opts.Node || r.owner != uuid.Nil || present {
			continue
		}
		token, ok, err := s.acquire(ctx, r.name)
		if err != nil {
			return err
		}
		if ok {
			l.acquired(r.name, now)
			l.start(ctx, r.name, token)
		}
	}
	return nil
}

// read returns every consumer's lease, and the members: nodes whose lease session is alive and
// that renewed within the TTL, with their pins (nil: any consumer).
func (s *leaseSession) read(ctx context.Context) ([]leaseRow, map[uuid.UUID][]string, error) {
	l := s.l
	b := &pgx.Batch{}
	var leases []leaseRow
	// served by consumer_leases_pkey; pg_stat_activity is shared memory
	b.Queue(`SELECT l.name, l.token,
			CASE WHEN l.node_id IS NOT NULL AND l.expires_at >= now() AND taskforge_session_alive(l.session_pid, l.session_start)
			THEN l.node_id END,
			l.node_id = $2 AND l.session_pid = pg_backend_pid() AND l.expires_at >= now()
		FROM consumer_leases l WHERE l.name = ANY($1) ORDER BY l.name`, l.names, l.opts.Node).Query(func(rows pgx.Rows) error {
		var err error
		leases, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (leaseRow, error) {
			var r leaseRow
			var owner *uuid.UUID
			var mine *bool
			err := row.Scan(&r.name, &r.token, &owner, &mine)
			if owner != nil {
				r.owner = *owner
			}
			r.mine = mine != nil && *mine
			return r, err
		})
		return err
	})
	members := map[uuid.UUID][]string{}
	// a handful of rows (one per process)
	b.Queue(`SELECT n.id, n.consumers FROM cluster_nodes n
		WHERE n.lease_pid IS NOT NULL AND n.heartbeat_at >= now() - $1::interval
		  AND taskforge_session_alive(n.lease_pid, n.lease_session_start)`,
		l.opts.TTL.String()).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id uuid.UUID
			var pins []string
			if err := rows.Scan(&id, &pins); err != nil {
				return err
			}
			members[id] = pins
		}
		return rows.Err()
	})
	if err := s.conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("read leases: %w", err)
	}
	return leases, members, nil
}

// renew extends this session's leases and says the process is a live member. Leases it thought
// it held and no longer does (taken while it was paused) are stopped at once.
func (s *leaseSession) renew(ctx context.Context) error {
	l := s.l
	held := map[string]int64{}
	b := &pgx.Batch{}
	var pins []string
	if len(l.opts.Pinned) > 0 {
		pins = l.opts.Pinned
	}
	// served by cluster_nodes_pkey
	listed := false
	b.Queue(`UPDATE cluster_nodes SET heartbeat_at = now(), lease_pid = $2, lease_session_start = $3, consumers = $4
		WHERE id = $1`, l.opts.Node, s.pid, s.start, pins).Exec(func(tag pgconn.CommandTag) error {
		listed = tag.RowsAffected() == 1
		return nil
	})
	// a handful of rows: a sequential scan of consumer_leases is its cheapest plan
	b.Queue(`UPDATE consumer_leases SET expires_at = now() + $3::interval
		WHERE node_id = $1 AND session_pid = $2 AND expires_at >= now() RETURNING name, token`,
		l.opts.Node, s.pid, l.opts.TTL.String()).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var n string
			var t int64
			if err := rows.Scan(&n, &t); err != nil {
				return err
			}
			held[n] = t
		}
		return rows.Err()
	})
	if err := s.conn.SendBatch(ctx, b).Close(); err != nil {
		var pgErr interface{ SQLState() string }
		if errors.As(err, &pgErr) && pgErr.SQLState() == "55P03" {
			return nil // a row locked by a commit in flight: renew next tick, well within the TTL
		}
		return fmt.Errorf("renew leases: %w", err)
	}
	if listed {
		s.renewed = time.Now()
	} // else the registration's first heartbeat is not in yet: again next tick
	for n, token := range l.activeTokens() {
		if t, ok := held[n]; !ok || t != token {
			l.cancel(n, false)
			l.lost(n, "expired")
		}
	}
	return nil
}

// acquire takes name if it still has no live owner, with a new token.
func (s *leaseSession) acquire(ctx context.Context, name string) (int64, bool, error) {
	l := s.l
	var token int64
	// served by consumer_leases_pkey
	err := s.conn.QueryRow(ctx, `UPDATE consumer_leases l SET token = l.token + 1, node_id = $2, session_pid = $3,
			session_start = $4, expires_at = now() + $5::interval, acquired_at = now()
		WHERE l.name = $1 AND (l.node_id IS NULL OR l.expires_at < now() OR NOT taskforge_session_alive(l.session_pid, l.session_start))
		RETURNING l.token`, name, l.opts.Node, s.pid, s.start, l.opts.TTL.String()).Scan(&token)
	var pgErr interface{ SQLState() string }
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil // someone was faster
	case errors.As(err, &pgErr) && pgErr.SQLState() == "55P03":
		return 0, false, nil // the previous owner's commit is in flight: next tick
	case err != nil:
		return 0, false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return token, true, nil
}

// release gives name back (after its consumer stopped), if this session still holds it.
func (s *leaseSession) release(ctx context.Context, name string) error {
	l := s.l
	// served by consumer_leases_pkey
	tag, err := s.conn.Exec(ctx, `UPDATE consumer_leases SET node_id = NULL, session_pid = NULL, session_start = NULL,
		expires_at = NULL, released_at = now() WHERE name = $1 AND node_id = $2 AND session_pid = $3`, name, l.opts.Node, s.pid)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	if tag.RowsAffected() == 1 {
		l.opts.Metrics.change(name, "released")
		l.log.Info("lease released", "consumer", name)
	}
	return nil
}

// releaseAll stops every consumer and gives their leases back (a clean stop).
func (s *leaseSession) releaseAll(ctx context.Context) {
	l := s.l
	l.stopAll()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, n := range l.reap() {
		if err := s.release(ctx, n); err != nil {
			l.log.Warn("release lease at stop", "consumer", n, "err", err)
		}
	}
}

// assign is the assignment every member computes from the same rows. A consumer that members
// are pinned to goes to one of them (its owner if it is one, else the one with the fewest). The
// others are shared by the unpinned members: each stays with its live owner while that owner has
// fewer than its share, ceil(consumers / members), and the rest go one by one to the member with
// the fewest (ties: the smaller id). No member gets more than its share plus one; a join, a leave
// or a death moves only what it must.
func assign(names []string, leases []leaseRow, members map[uuid.UUID][]string, self uuid.UUID) map[string]uuid.UUID {
	out := map[string]uuid.UUID{}
	if _, ok := members[self]; !ok {
		// Not yet listed (its first renewal is in flight): it takes nothing until it is, so that
		// every member computes the same assignment.
		return out
	}
	owner := map[string]uuid.UUID{}
	for _, r := range leases {
		owner[r.name] = r.owner
	}
	count := map[uuid.UUID]int{}
	// fewest picks among candidates (sorted by id) the one with the fewest consumers so far.
	fewest := func(candidates []uuid.UUID) uuid.UUID {
		best := candidates[0]
		for _, id := range candidates[1:] {
			if count[id] < count[best] {
				best = id
			}
		}
		return best
	}
	var free []uuid.UUID // members without pins
	pinned := map[string][]uuid.UUID{}
	for _, id := range sortedIDs(members) {
		if len(members[id]) == 0 {
			free = append(free, id)
		}
		for _, n := range members[id] {
			pinned[n] = append(pinned[n], id)
		}
	}
	var rest []string
	for _, n := range names {
		c := pinned[n]
		switch {
		case len(c) == 0:
			rest = append(rest, n)
		case slices.Contains(c, owner[n]):
			out[n] = owner[n]
			count[owner[n]]++
		default:
			out[n] = fewest(c)
			count[out[n]]++
		}
	}
	if len(free) == 0 {
		return out // nobody may run the rest
	}
	share := (len(rest) + len(free) - 1) / len(free)
	for _, n := range rest {
		if o := owner[n]; slices.Contains(free, o) && count[o] < share {
			out[n] = o
			count[o]++
		}
	}
	for _, n := range rest {
		if _, done := out[n]; !done {
			out[n] = fewest(free)
			count[out[n]]++
		}
	}
	return out
}

func sortedIDs(m map[uuid.UUID][]string) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

// state says whether name runs and was not asked to stop (active), and whether it has an entry
// at all (present: running or still stopping).
func (l *Leaser) state(name string) (active, present bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.running[name]
	return ok && !r.stopping, ok
}

// activeTokens are the tokens of the consumers running and not asked to stop.
func (l *Leaser) activeTokens() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	for n, r := range l.running {
		if !r.stopping {
			out[n] = r.token
		}
	}
	return out
}

// start runs a consumer with token until cancelled. When it returns on its own (an error, a
// stale token) it runs again after a pause: renewals and ticks cancel it if the lease is gone.
func (l *Leaser) start(ctx context.Context, name string, token int64) {
	c := l.consumers[name]
	rctx, cancel := context.WithCancel(ctx)
	r := &run{token: token, cancel: cancel, done: make(chan struct{})}
	l.mu.Lock()
	l.running[name] = r
	l.mu.Unlock()
	l.opts.Metrics.held(name, true)
	l.log.Info("consumer started", "consumer", name, "token", token)
	go func() {
		defer close(r.done)
		pause := time.Second
		for {
			err := c.Run(rctx, token)
			if rctx.Err() != nil {
				return
			}
			l.log.Warn("consumer ended; starting it again unless its lease is gone", "consumer", name, "err", err, "in", pause)
			select {
			case <-rctx.Done():
				return
			case <-time.After(pause + rand.N(pause/4)):
			}
			pause = min(2*pause, 30*time.Second)
		}
	}()
}

// cancel asks a consumer to stop; reap collects it once it has (release: give its lease back).
func (l *Leaser) cancel(name string, release bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.running[name]; ok && !r.stopping {
		r.stopping, r.release = true, release
		r.cancel()
		l.opts.Metrics.held(name, false)
		l.log.Info("consumer stopping", "consumer", name, "release", release)
	}
}

// reap forgets the consumers that stopped, and returns those whose lease is to be released.
func (l *Leaser) reap() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n, r := range l.running {
		if !r.stopping {
			continue
		}
		select {
		case <-r.done:
			delete(l.running, n)
			if r.release {
				out = append(out, n)
			}
		default:
		}
	}
	return out
}

// stopAll cancels every consumer and waits until all returned; their leases are to be released
// (reap), if the session still holds them.
func (l *Leaser) stopAll() {
	l.mu.Lock()
	var dones []chan struct{}
	for n, r := range l.running {
		if !r.stopping {
			r.stopping, r.release = true, true
			r.cancel()
			l.opts.Metrics.held(n, false)
		}
		dones = append(dones, r.done)
	}
	l.mu.Unlock()
	for _, d := range dones {
		<-d
	}
}

func (l *Leaser) lost(name, why string) {
	l.opts.Metrics.change(name, "lost")
	l.log.Warn("lease lost; consumer stopped", "consumer", name, "why", why)
}

// acquired counts a lease taken and how long its consumer had no owner, as far as this process
// saw (a release, an expiry or a death it noticed).
func (l *Leaser) acquired(name string, now time.Time) {
	l.mu.Lock()
	since, ok := l.unownedSince[name]
	delete(l.unownedSince, name)
	l.mu.Unlock()
	l.opts.Metrics.change(name, "acquired")
	if ok {
		l.opts.Metrics.gap(now.Sub(since))
	}
	l.log.Info("lease acquired", "consumer", name)
}

// observe keeps the without-owner clocks and the member list, and tells OnMembers of a change.
func (l *Leaser) observe(ctx context.Context, leases []leaseRow, members map[uuid.UUID][]string, now time.Time) {
	ids := sortedIDs(members)
	l.mu.Lock()
	for _, r := range leases {
		if r.owner == uuid.Nil {
			if _, ok := l.unownedSince[r.name]; !ok {
				l.unownedSince[r.name] = now
			}
		} else {
			delete(l.unownedSince, r.name)
		}
	}
	unowned := map[string]time.Duration{}
	for _, n := range l.names {
		if since, ok := l.unownedSince[n]; ok {
			unowned[n] = now.Sub(since)
		} else {
			unowned[n] = 0
		}
	}
	changed := l.members == nil || !slices.Equal(l.members, ids)
	l.members = ids
	l.mu.Unlock()
	l.opts.Metrics.unowned(unowned)
	if changed && l.opts.OnMembers != nil {
		l.opts.OnMembers(ctx, ids)
	}
}

// LeaseMetrics are the leases' Prometheus metrics.
type LeaseMetrics struct {
	changes *prometheus.CounterVec
	holding *prometheus.GaugeVec
	without *prometheus.GaugeVec
	gaps    prometheus.Histogram
}

// NewLeaseMetrics registers the lease metrics on reg.
func NewLeaseMetrics(reg prometheus.Registerer) *LeaseMetrics {
	m := &LeaseMetrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_lease_changes_total",
			Help: "Consumer leases this process acquired, released (rebalance, stop) or lost (taken while it was cut off).",
		}, []string{"consumer", "change"}),
		holding: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskforge_lease_held",
			Help: "1 while this process owns the consumer's lease.",
		}, []string{"consumer"}),
		without: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskforge_consumer_unowned_seconds",
			Help: "How long the consumer has been without a live owner, as this process sees it (0: owned).",
		}, []string{"consumer"}),
		gaps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskforge_lease_unowned_gap_seconds",
			Help:    "Time a consumer spent without an owner before this process took its lease.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}),
	}
	reg.MustRegister(m.changes, m.holding, m.without, m.gaps)
	return m
}

func (m *LeaseMetrics) change(name, what string) {
	if m != nil {
		m.changes.WithLabelValues(name, what).Inc()
	}
}

func (m *LeaseMetrics) held(name string, on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.holding.WithLabelValues(name).Set(v)
}

func (m *LeaseMetrics) unowned(d map[string]time.Duration) {
	if m == nil {
		return
	}
	for n, v := range d {
		m.without.WithLabelValues(n).Set(v.Seconds())
	}
}

func (m *LeaseMetrics) gap(d time.Duration) {
	if m != nil {
		m.gaps.Observe(d.Seconds())
	}
}
