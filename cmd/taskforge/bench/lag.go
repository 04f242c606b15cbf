package bench

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// Lag appends one event at a time at o.Rate events/s for o.Duration while a projections.Runner
// (every projection, in this process, woken like `taskforge serve` wakes it) consumes, and reports
// the latency until the commit of the last projection's transaction that applied it: from then on
// every read table shows the event. Two lines:
//
//	lag               from the moment Append returned, i.e. just after the event's commit: the
//	                  commit → read-table-visible latency the issue asks for. (An event visible
//	                  before Append returned counts as 0: it was visible no later than that.)
//	lag_from_append   from the start of the Append call: also includes the append itself
//	                  (hash chain, insert, commit), which is the event store's latency, not the
//	                  projections'. It was the only figure before.
//	lag_<projection>  from the commit to that projection's commit, to see which one lags.
func Lag(ctx context.Context, o ProjectionOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, drop, err := benchDatabase(ctx, o.DatabaseURL, 24, o.Seeded)
	if err != nil {
		return err
	}
	defer drop()
	dbName := pool.Config().ConnConfig.Database
	notifier := eventstore.NewNotifier(pool, nil)
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), OnCommit: notifier.Wake})
	if err != nil {
		return err
	}
	ps := projections.All()
	if err := projections.Ensure(ctx, pool, ps); err != nil {
		return err
	}
	g := &generator{es: es, reg: domain.NewRegistry(), rng: rand.New(rand.NewPCG(1, 2)), ws: uuid.New()}
	if err := g.setup(ctx); err != nil {
		return err
	}
	for range 20 {
		if err := g.tasks(ctx, 5); err != nil {
			return err
		}
	}

	single := func(onApplied func(string, eventstore.RecordedEvent)) (func() int64, func(), error) {
		runner, err := projections.NewRunner(es, projections.RunnerOptions{Notifier: notifier, OnApplied: onApplied})
		if err != nil {
			return nil, nil, err
		}
		rctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = notifier.Run(rctx) })
		wg.Go(func() { _ = runner.Run(rctx) })
		return runner.Subscriber().Queries, func() { stop(); wg.Wait() }, nil
	}
	out, err := lagRun(ctx, o, es, pool, g, "lag", single)
	if err != nil {
		return err
	}
	if o.PgBouncerURL != "" {
		// The same load through PgBouncer in transaction mode with two leased workers, each with its
		// own pools: what a scaled-out deployment's lag is.
		cl, err := startLagCluster(ctx, o, dbName, 2)
		if err != nil {
			return err
		}
		defer cl.close()
		res, err := lagRun(ctx, o, cl.writer, pool, g, "lag_pgbouncer_2workers", cl.start)
		if err != nil {
			return err
		}
		out = append(out, res...)
	}
	return printProjectionResults(o, out)
}

// lagRun appends at o.Rate for o.Duration through es while the consumers that start runs apply
// (start returns their subscribers' query count and a stop), and returns the lag figures named
// after label. Seeded events are applied already.
func lagRun(ctx context.Context, o ProjectionOptions, es *eventstore.Store, pool *pgxpool.Pool, g *generator, label string,
	start func(onApplied func(string, eventstore.RecordedEvent)) (func() int64, func(), error)) ([]ProjectionResult, error) {
	ps := projections.All()
	type pendingEvent struct {
		start    time.Time // Append called
		returned time.Time // Append returned (committed); zero until then
		applied  int
		last     time.Time            // the last projection's commit
		at       map[string]time.Time // each projection's commit
	}
	var (
		mu         sync.Mutex
		events     = map[uuid.UUID]*pendingEvent{}
		lats       []time.Duration // from the commit (Append returned)
		appendLats []time.Duration // from the start of Append
		perLats    = map[string][]time.Duration{}
	)
	// record takes the figures of an event applied everywhere whose Append returned; mu held.
	record := func(id uuid.UUID, pe *pendingEvent) {
		lats = append(lats, max(0, pe.last.Sub(pe.returned)))
		appendLats = append(appendLats, pe.last.Sub(pe.start))
		for name, at := range pe.at {
			perLats[name] = append(perLats[name], max(0, at.Sub(pe.returned)))
		}
		delete(events, id)
	}
	onApplied := func(projection string, ev eventstore.RecordedEvent) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		pe, ok := events[ev.ID]
		if !ok {
			return // seed events
		}
		pe.applied++
		pe.last = now
		pe.at[projection] = now
		if pe.applied == len(ps) && !pe.returned.IsZero() {
			record(ev.ID, pe)
		}
	}
	// Each measurement starts from vacuumed, analyzed tables, so that the second one does not
	// meet the autovacuum that the first one's writes made due.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return nil, fmt.Errorf("bench %s: vacuum: %w", label, err)
	}
	queries, stop, err := start(onApplied)
	if err != nil {
		return nil, err
	}
	defer stop()

	// Wait for the seed to be applied everywhere.
	head, err := es.Head(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = projections.NewQueries(pool).WaitFor(wctx, head)
	cancel()
	if err != nil {
		return nil, err
	}

	// One task stream per event, round robin, so that appends never conflict.
	type taskState struct {
		mu      sync.Mutex // one append at a time per stream
		id      uuid.UUID
		project uuid.UUID
		version int64
		status  string
	}
	var tasks []*taskState
	rows, err := pool.Query(ctx, `SELECT id, project_id, version, status FROM rm_tasks`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		t := &taskState{}
		if err := rows.Scan(&t.id, &t.project, &t.version, &t.status); err != nil {
			rows.Close()
			return nil, err
		}
		tasks = append(tasks, t)
	}
	rows.Close()
	if len(tasks) == 0 {
		return nil, fmt.Errorf("bench lag: no tasks seeded")
	}
	reg := domain.NewRegistry()
	interval := time.Second / time.Duration(o.Rate)
	begin := time.Now()
	n := int(o.Duration / interval)
	// Appends are started on schedule, each in its own goroutine (at most 32 in flight), so that a
	// slow commit does not hold back the next: the rate stays o.Rate.
	var (
		inflight = make(chan struct{}, 32)
		appends  sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for i := range n {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		inflight <- struct{}{}
		appends.Go(func() {
			defer func() { <-inflight }()
			t := tasks[i%len(tasks)]
			t.mu.Lock()
			defer t.mu.Unlock()
			by := g.members[i%len(g.members)]
			now := time.Now().UTC()
			var e domain.Event
			switch i % 3 {
			case 0:
				to := genStatuses[(slices.Index(genStatuses, t.status)+1)%len(genStatuses)]
				e = domain.TaskStatusChanged{TaskID: t.id, ProjectID: t.project, From: t.status, To: to, By: by, At: now}
				t.status = to
			case 1:
				e = domain.TaskCommentAdded{TaskID: t.id, ProjectID: t.project, CommentID: uuid.New(), Body: "On it @" + string(g.members[0]),
					Mentions: []domain.UserID{g.members[0]}, By: by, At: now}
			default:
				e = domain.TaskTitleChanged{TaskID: t.id, ProjectID: t.project, Title: fmt.Sprintf("Renamed %d", i), By: by, At: now}
			}
			typ, v, data, err := reg.Encode(e)
			if err == nil {
				id := uuid.New()
				mu.Lock()
				events[id] = &pendingEvent{start: time.Now(), at: make(map[string]time.Time, len(ps))}
				mu.Unlock()
				_, err = es.Append(ctx, eventstore.StreamAppend{StreamID: domain.TaskStream(t.id), StreamType: domain.StreamTypeTask,
					Expected: eventstore.Exact(t.version), Events: []eventstore.EventData{{ID: id, Type: typ, SchemaVersion: v, Data: data,
						Metadata: eventstore.Metadata{Actor: string(by), CorrelationID: id, CausationID: id, WorkspaceID: g.ws}}}})
				returned := time.Now()
				mu.Lock()
				switch pe := events[id]; {
				case err != nil:
					delete(events, id)
				case pe.applied == len(ps): // visible before Append returned
					pe.returned = returned
					record(id, pe)
				default:
					pe.returned = returned
				}
				mu.Unlock()
			}
			if err != nil {
				errMu.Lock()
				firstErr = cmp.Or(firstErr, fmt.Errorf("bench lag: append: %w", err))
				errMu.Unlock()
				return
			}
			t.version++
		})
		if i%o.Rate == 0 {
			fmt.Fprintf(o.Progress, "\r%s: %d/%d events appended", label, i, n)
		}
	}
	appends.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	elapsed := time.Since(begin)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		left := len(events)
		mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench %s: %d events not applied by every projection after 30s", label, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(o.Progress, "\n%s: the subscribers issued %d queries (reads, horizon checks, polls)\n", label, queries())
	stop()
	mu.Lock()
	defer mu.Unlock()
	result := func(name string, lats []time.Duration) ProjectionResult {
		slices.Sort(lats)
		return ProjectionResult{
			Name: name, Events: int64(len(lats)), Seconds: elapsed.Seconds(), EventsPerSec: float64(len(lats)) / elapsed.Seconds(),
			P50ms: percentileMS(lats, 0.5), P99ms: percentileMS(lats, 0.99), MaxMS: percentileMS(lats, 1),
		}
	}
	out := []ProjectionResult{result(label, lats), result(label+"_from_append", appendLats)}
	for _, p := range ps { // where the time goes: each projection's own commit → visible
		out = append(out, result(label+"_"+p.Name, perLats[p.Name]))
	}
	return out, nil
}
