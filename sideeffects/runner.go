package sideeffects

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// Runner runs the side-effect pipeline: the consumer that enqueues, and the webhook and email
// workers. Start it once per process with Run; several processes may run it at once.
type Runner struct {
	pool    *pgxpool.Pool
	store   *eventstore.Store
	reg     *domain.Registry
	opts    Options
	metrics *Metrics

	webhookWake chan struct{}
	emailWake   chan struct{}
}

// NewRunner checks its dependencies and options. store is the event store the consumer group
// subscribes to.
func NewRunner(pool *pgxpool.Pool, store *eventstore.Store, reg *domain.Registry, opts Options) (*Runner, error) {
	if pool == nil || reg == nil || store == nil {
		return nil, errors.New("sideeffects: nil pool, registry or event store")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Metrics, pool)
	if err != nil {
		return nil, err
	}
	return &Runner{
		pool: pool, store: store, reg: reg, opts: opts, metrics: m,
		webhookWake: make(chan struct{}, 1), emailWake: make(chan struct{}, 1),
	}, nil
}

// Run enqueues and delivers until ctx is done, then waits for attempts in flight to release their
// claims and returns nil. It returns an error only if it cannot start. It runs the consumer
// without a lease: for a single process, or tests; a cluster runs RunConsumer under a lease and
// RunDelivery everywhere.
func (r *Runner) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.RunConsumer(gctx, 0) })
	g.Go(func() error { return r.RunDelivery(gctx) })
	return g.Wait()
}

// RunConsumer runs the consumer group that enqueues (ConsumerName) until ctx is done. token is its
// lease's fencing token, checked by every checkpoint advance (0: no lease); it returns ErrFenced
// once another process took the lease.
func (r *Runner) RunConsumer(ctx context.Context, token int64) error {
	deliverFrom, err := ensureConsumer(ctx, r.pool, r.opts.DeliverHistory)
	if err != nil {
		return err
	}
	source := &watermillSource{
		pool: r.pool, store: r.store, notifier: r.opts.Notifier, batch: r.opts.BatchSize,
		poll: r.opts.PollInterval, log: r.opts.Log, metrics: r.metrics, token: token,
	}
	enq := newEnqueuer(r.reg, deliverFrom, r.opts.Email.Enabled(), r.opts.Email.links(), r.metrics)
	return source.Run(ctx, enq.apply, r.wake)
}

// RunDelivery runs the webhook and email workers until ctx is done: in every worker process, since
// they compete for deliveries with SKIP LOCKED.
func (r *Runner) RunDelivery(ctx context.Context) error {
	webhooks := &dispatcher[webhookJob]{
		name: kindWebhook, workers: r.opts.Webhooks.Workers, perKey: r.opts.Webhooks.PerEndpoint,
		poll: r.opts.PollInterval, wake: r.webhookWake, log: r.opts.Log,
		q: &webhookQueue{pool: r.pool, opts: r.opts.Webhooks, log: r.opts.Log, metrics: r.metrics, node: r.opts.Node},
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return webhooks.run(gctx) })
	if r.opts.Email.Enabled() {
		emails := &dispatcher[emailJob]{
			name: kindEmail, workers: r.opts.Email.Workers, perKey: r.opts.Email.Workers,
			poll: r.opts.PollInterval, wake: r.emailWake, log: r.opts.Log,
			q: &emailQueue{pool: r.pool, opts: r.opts.Email, log: r.opts.Log, metrics: r.metrics, node: r.opts.Node},
		}
		g.Go(func() error { return emails.run(gctx) })
	}
	return g.Wait()
}

// wake tells this process's workers that rows may be due.
func (r *Runner) wake() {
	notify(r.webhookWake)
	notify(r.emailWake)
}

// ReleaseClaims makes the deliveries claimed by departed nodes due again at once: a node that
// was killed or whose lease session was terminated will not record their outcome, and waiting for
// the claims' lease would hold them up to a minute. A node has departed when its row is gone or
// its lease session (cluster_nodes.lease_pid) is gone from pg_stat_activity; a late heartbeat
// alone is not enough: a live node that merely fell behind (a loaded machine) would then deliver
// what another repeats. A node cut off with its session open keeps its claims until their lease.
// The attempt in flight at a kill is repeated, with the same Idempotency-Key (at least once).
// Rows claimed without a node are left to their lease. Call it when the cluster's members change.
func (r *Runner) ReleaseClaims(ctx context.Context) error {
	const departed = `claimed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.id = claimed_by
		AND (n.lease_pid IS NULL OR taskforge_session_alive(n.lease_pid, n.lease_session_start)))`
	b := &pgx.Batch{}
	// served by webhook_deliveries_leased_idx / email_outbox_leased_idx (the rows in flight);
	// cluster_nodes has a row per process, pg_stat_activity is shared memory
	b.Queue(`UPDATE webhook_deliveries SET claimed_until = now() - interval '1 microsecond'
		WHERE status = 'delivering' AND claimed_until >= now() AND ` + departed)
	b.Queue(`UPDATE email_outbox SET claimed_until = now() - interval '1 microsecond'
		WHERE status = 'sending' AND claimed_until >= now() AND ` + departed)
	if err := r.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("side effects: release claims of departed nodes: %w", err)
	}
	r.wake()
	return nil
}
