package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/projections"
)

// lagCluster is a scaled-out deployment in one process: a writer (the API's appends) and workers,
// each with pools of its own through PgBouncer and a direct pool for LISTEN and its lease session,
// each worker owning its share of the projections through a Leaser.
type lagCluster struct {
	writer  *eventstore.Store
	workers []*lagWorker
	pools   []*database.Pools
}

type lagWorker struct {
	store    *eventstore.Store
	notifier *eventstore.Notifier
	pools    *database.Pools
}

func startLagCluster(ctx context.Context, o ProjectionOptions, dbName string, workers int) (*lagCluster, error) {
	bouncer, err := database.WithDatabaseName(o.PgBouncerURL, dbName)
	if err != nil {
		return nil, err
	}
	direct, err := database.WithDatabaseName(o.DatabaseURL, dbName)
	if err != nil {
		return nil, err
	}
	c := &lagCluster{}
	open := func(maxConns int32) (*database.Pools, error) {
		p, err := database.OpenPools(ctx, database.PoolsOptions{URL: bouncer, DirectURL: direct, ExecMode: "auto",
			MaxConns: maxConns, DirectMaxConns: 4})
		if err != nil {
			c.close()
			return nil, fmt.Errorf("bench lag through PgBouncer: %w", err)
		}
		c.pools = append(c.pools, p)
		return p, nil
	}
	wp, err := open(24)
	if err != nil {
		return nil, err
	}
	// The writer's NOTIFYs after commit wake the workers' LISTEN connections: no in-process shortcut.
	if c.writer, err = eventstore.New(wp.Pool, eventstore.Options{Upcasters: commands.Upcasters(), NotifyPool: wp.Direct}); err != nil {
		c.close()
		return nil, err
	}
	for range workers {
		p, err := open(10)
		if err != nil {
			return nil, err
		}
		n := eventstore.NewNotifier(p.Direct, nil)
		es, err := eventstore.New(p.Pool, eventstore.Options{Upcasters: commands.Upcasters(), OnCommit: n.Wake})
		if err != nil {
			c.close()
			return nil, err
		}
		c.workers = append(c.workers, &lagWorker{store: es, notifier: n, pools: p})
	}
	return c, nil
}

func (c *lagCluster) close() {
	for _, p := range c.pools {
		p.Close()
	}
}

// start runs every worker (registration, leaser, runner) and waits until the projections' leases
// are spread over them.
func (c *lagCluster) start(onApplied func(string, eventstore.RecordedEvent)) (func() int64, func(), error) {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runners []*projections.Runner
	for _, w := range c.workers {
		r, err := projections.NewRunner(w.store, projections.RunnerOptions{Notifier: w.notifier, OnApplied: onApplied})
		if err != nil {
			stop()
			wg.Wait()
			return nil, nil, err
		}
		runners = append(runners, r)
		var consumers []cluster.Consumer
		for _, name := range r.Consumers() {
			consumers = append(consumers, cluster.Consumer{Name: name, Run: func(ctx context.Context, token int64) error {
				return r.RunConsumer(ctx, name, token)
			}})
		}
		id := uuid.New()
		l, err := cluster.NewLeaser(cluster.LeaserOptions{Node: id, Pool: w.pools.Direct}, consumers)
		if err != nil {
			stop()
			wg.Wait()
			return nil, nil, err
		}
		reg := cluster.New(w.pools.Pool, id, "workers", 0, nil)
		wg.Go(func() { _ = w.notifier.Run(ctx) })
		wg.Go(func() { _ = reg.Run(ctx) })
		wg.Go(func() { _ = l.Run(ctx) })
	}
	queries := func() int64 {
		var n int64
		for _, r := range runners {
			n += r.Queries()
		}
		return n
	}
	halt := func() { stop(); wg.Wait() }
	// Spread: every lease owned, by both workers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var owned, owners int
		err := c.workers[0].pools.Direct.QueryRow(ctx, `SELECT count(*), count(DISTINCT node_id) FROM consumer_leases l
			WHERE l.node_id IS NOT NULL AND l.expires_at >= now()`).Scan(&owned, &owners)
		if err != nil {
			halt()
			return nil, nil, err
		}
		if owned == len(projections.All()) && owners == len(c.workers) {
			break
		}
		if time.Now().After(deadline) {
			halt()
			return nil, nil, errors.New("bench lag: the workers did not share the projections' leases within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return queries, halt, nil
}
