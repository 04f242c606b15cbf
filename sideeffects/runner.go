package sideeffects

import (
	"context"
	"errors"

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
// claims and returns nil. It returns an error only if it cannot start.
func (r *Runner) Run(ctx context.Context) error {
	deliverFrom, err := ensureConsumer(ctx, r.pool, r.opts.DeliverHistory)
	if err != nil {
		return err
	}
	source := &watermillSource{
		pool: r.pool, store: r.store, notifier: r.opts.Notifier, batch: r.opts.BatchSize,
		poll: r.opts.PollInterval, log: r.opts.Log, metrics: r.metrics,
	}
	enq := newEnqueuer(r.reg, deliverFrom, r.opts.Email.Enabled(), r.opts.Email.links(), r.metrics)
	committed := func() {
		notify(r.webhookWake)
		notify(r.emailWake)
	}
	webhooks := &dispatcher[webhookJob]{
		name: kindWebhook, workers: r.opts.Webhooks.Workers, perKey: r.opts.Webhooks.PerEndpoint,
		poll: r.opts.PollInterval, wake: r.webhookWake, log: r.opts.Log,
		q: &webhookQueue{pool: r.pool, opts: r.opts.Webhooks, log: r.opts.Log, metrics: r.metrics},
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return source.Run(gctx, enq.apply, committed) })
	g.Go(func() error { return webhooks.run(gctx) })
	if r.opts.Email.Enabled() {
		emails := &dispatcher[emailJob]{
			name: kindEmail, workers: r.opts.Email.Workers, perKey: r.opts.Email.Workers,
			poll: r.opts.PollInterval, wake: r.emailWake, log: r.opts.Log,
			q: &emailQueue{pool: r.pool, opts: r.opts.Email, log: r.opts.Log, metrics: r.metrics},
		}
		g.Go(func() error { return emails.run(gctx) })
	}
	return g.Wait()
}
