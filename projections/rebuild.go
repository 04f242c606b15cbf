package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
)

// ErrRebuildRunning: another process is rebuilding the projection.
var ErrRebuildRunning = errors.New("a rebuild is already running")

// RebuildOptions configures Rebuild. The zero value is usable.
type RebuildOptions struct {
	// BatchEvents is the number of events applied per transaction (default 5000). A batch's
	// transaction holds an xid, which holds back every reader of the global log until it
	// commits: keep batches well under a second.
	BatchEvents int
	// BulkEvents is the number of events a fresh build's load phase folds in memory before it
	// writes them, with its checkpoint, in one transaction (default 50,000, at least
	// BatchEvents). The transaction only writes (COPY and set-based statements, about 0.1 s per
	// 10,000 events here); the folding of the next batch goes on meanwhile.
	BulkEvents int
	// Statements loads with Apply's statements (as a resumed build does) instead of folding in
	// memory and writing in bulk: several times slower, the live path, to check a bulk rebuild
	// against it (CompareVersions; `taskforge bench rebuild --verify`).
	Statements bool
	// KeepOld keeps the previous version's tables after the swap (default: dropped).
	KeepOld  bool
	Registry *domain.Registry
	Logger   *slog.Logger
	// Progress, when set, is called about every 200ms and once at the end, one call at a time.
	Progress func(Progress)
	// LockPool holds the rebuild's session advisory lock: a direct pool when the store's leads
	// through a transaction pooler (PgBouncer), which would lose the lock with the session. nil:
	// the store's pool.
	LockPool *pgxpool.Pool
	// afterBatch is a test hook: an error stops the rebuild after a committed batch.
	afterBatch func(name string, done int64) error
}

// Progress is how far a rebuild is.
type Progress struct {
	Phase   string // "load", "index", "catch-up", "swap", "done"
	Done    int64  // events applied by the slowest projection
	Total   int64  // events to apply as counted at the start (more may arrive); 0 until counted
	Rate    float64
	ETA     time.Duration
	Elapsed time.Duration
}

// TotalText is Total for a progress line: "?" while the events are being counted.
func (p Progress) TotalText() string {
	if p.Total == 0 && p.Phase != "done" {
		return "?"
	}
	return strconv.FormatInt(p.Total, 10)
}

// RebuildResult describes one projection's finished rebuild.
type RebuildResult struct {
	Name        string
	FromVersion int
	Version     int
	Events      int64
	Resumed     bool
}

// Rebuild builds the next version of each projection from the whole log while the current
// version keeps serving (and the runner keeps feeding it), then swaps each atomically:
//
//	prepare   create <table>_v<N+1> (or resume the one being built) and its checkpoint; a new
//	          version's insert-only tables lose their keys until the index phase (rebuild_keys.go)
//	load      one reader streams the log once (its own query, rebuild_read.go), decoded once on
//	          every core, fanned out to every projection. A build that started empty folds its
//	          events in memory and writes each BulkEvents of them with its checkpoint in one
//	          transaction (COPY and set-based statements, bulk.go) while it folds the next; else
//	          Apply's statements, BatchEvents per transaction, pipelined
//	index     the deferred keys, then the query indexes on several connections (sorting in memory:
//	          indexMemory), then ANALYZE
//	catch-up  apply what arrived meanwhile (Apply)
//	swap      in one transaction: apply the last events, mark version N+1 active, repoint the views
//
// An interrupted rebuild resumes from its checkpoint when run again. Side effects are separate
// consumers and are never involved. The old version's tables are dropped after the swap unless
// KeepOld.
func Rebuild(ctx context.Context, store *eventstore.Store, ps []*Projection, opts RebuildOptions) ([]RebuildResult, error) {
	if opts.BatchEvents <= 0 {
		opts.BatchEvents = 5000
	}
	if opts.BulkEvents <= 0 {
		opts.BulkEvents = 50_000
	}
	opts.BulkEvents = max(opts.BulkEvents, opts.BatchEvents)
	if opts.Registry == nil {
		opts.Registry = domain.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pool := store.Pool()
	if err := Ensure(ctx, pool, ps); err != nil {
		return nil, err
	}
	builds := make([]*build, len(ps))
	for i, p := range ps {
		b, err := prepare(ctx, pool, opts.LockPool, p, !opts.Statements)
		if err != nil {
			for _, b := range builds[:i] {
				b.release()
			}
			return nil, err
		}
		builds[i] = b
	}
	defer func() {
		for _, b := range builds {
			b.release()
		}
	}()

	start := time.Now()
	from := builds[0].cp
	for _, b := range builds[1:] {
		if b.cp.Less(from) {
			from = b.cp
		}
	}
	// The progress total is counted beside the load rather than before it: a count reads the whole
	// log's index (0.4 s of a 1M-event rebuild here, and it grows with the log), and the load need
	// not wait for a figure only the progress line shows. Until it is known, Total is 0.
	var total atomic.Int64
	total.Store(-1)
	countCtx, stopCount := context.WithCancel(ctx)
	var countWG sync.WaitGroup
	countWG.Go(func() {
		var n int64
		// served by events_global_order_idx
		err := pool.QueryRow(countCtx, `SELECT count(*) FROM events WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2)`,
			int64(from.TransactionID), from.Position).Scan(&n)
		if err != nil {
			if countCtx.Err() == nil {
				opts.Logger.Warn("rebuild: counting the events to apply for the progress total", "err", err)
			}
			return
		}
		total.Store(n)
	})
	defer func() {
		stopCount()
		countWG.Wait()
	}()
	var phase atomic.Value
	phase.Store("load")
	// The ticker's report and the last one may overlap: Progress is never called concurrently.
	var reportMu sync.Mutex
	report := func() {
		if opts.Progress == nil {
			return
		}
		reportMu.Lock()
		defer reportMu.Unlock()
		done := builds[0].applied.Load()
		for _, b := range builds[1:] {
			done = min(done, b.applied.Load())
		}
		el := time.Since(start)
		p := Progress{Phase: phase.Load().(string), Done: done, Elapsed: el}
		if t := total.Load(); t >= 0 {
			p.Total = max(t, done)
		} else if p.Phase == "done" {
			p.Total = done // every event is applied, counted or not
		}
		if el > 0 {
			p.Rate = float64(done) / el.Seconds()
		}
		if p.Rate > 0 && p.Total > done {
			p.ETA = time.Duration(float64(p.Total-done) / p.Rate * float64(time.Second))
		}
		opts.Progress(p)
	}
	stopProgress := make(chan struct{})
	var progressWG sync.WaitGroup
	progressWG.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				report()
			}
		}
	})
	defer func() {
		close(stopProgress)
		progressWG.Wait()
	}()

	// load: one reader, one applier per projection. A build that starts from empty tables folds
	// its batches in memory and writes them with bulk statements; a resumed one replays Apply.
	for _, b := range builds {
		if b.p.bulk != nil && b.cp == (eventstore.GlobalPosition{}) && !opts.Statements {
			b.bulk = b.p.bulk(b.version)
		}
	}
	// Then each projection goes on on its own (index, catch-up, swap) as soon as its load is
	// written, while the others write their last batch or build their indexes.
	g, gctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, runtime.GOMAXPROCS(0)+1) // index builds and ANALYZEs at once, over all projections
	chans := make([]chan []*Event, len(builds))
	for i, b := range builds {
		chans[i] = make(chan []*Event, 4)
		g.Go(func() error {
			if b.bulk != nil {
				if err := b.load(gctx, pool, chans[i], opts); err != nil {
					return err
				}
				b.bulk = nil // the tables are exact: catch-up and swap replay Apply on them
			} else {
				for chunk := range chans[i] {
					if err := b.applyChunk(gctx, pool, chunk, opts); err != nil {
						return err
					}
				}
			}
			loaded := time.Now()
			phase.Store("index")
			if err := b.index(gctx, pool, slots, opts.Logger); err != nil {
				return err
			}
			indexed := time.Now()
			phase.Store("catch-up")
			for {
				n, err := b.catchUp(gctx, pool, store, opts)
				if err != nil {
					return err
				}
				if n < opts.BatchEvents {
					break
				}
			}
			caught := time.Now()
			phase.Store("swap")
			if err := b.swap(gctx, pool, store, opts); err != nil {
				return err
			}
			opts.Logger.Debug("rebuild phases", "projection", b.p.Name, "load", loaded.Sub(start), "index", indexed.Sub(loaded),
				"catch_up", caught.Sub(indexed), "swap", time.Since(caught))
			return nil
		})
	}
	// The reader and the decoder are separate goroutines (a pipeline): with bulk writes, reading
	// and decoding the log is most of the load phase's work on the Go side.
	raw := make(chan []eventstore.RecordedEvent, 4)
	g.Go(func() error {
		defer close(raw)
		pos := from
		for {
			evs, err := readLoad(gctx, pool, store, opts.Registry, pos, opts.BatchEvents, false)
			if err != nil {
				return err
			}
			if len(evs) > 0 {
				select {
				case raw <- evs:
				case <-gctx.Done():
					return gctx.Err()
				}
				pos = evs[len(evs)-1].GlobalPosition()
			}
			if len(evs) < opts.BatchEvents {
				return nil
			}
		}
	})
	g.Go(func() error {
		defer func() {
			for _, ch := range chans {
				close(ch)
			}
		}()
		for evs := range raw {
			chunk, err := decodeWorkers(opts.Registry, evs, runtime.GOMAXPROCS(0))
			if err != nil {
				return err
			}
			for _, ch := range chans {
				select {
				case ch <- chunk:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	phase.Store("done")
	report()

	var out []RebuildResult
	for _, b := range builds {
		if !opts.KeepOld {
			if err := dropVersion(ctx, pool, b.p, b.from); err != nil {
				return nil, err
			}
		}
		out = append(out, RebuildResult{Name: b.p.Name, FromVersion: b.from, Version: b.version, Events: b.applied.Load(), Resumed: b.resumed})
	}
	return out, nil
}

// build is one projection's rebuild in progress.
type build struct {
	p       *Projection
	from    int // the active version when the rebuild started
	version int
	resumed bool
	cp      eventstore.GlobalPosition
	applied atomic.Int64
	lock    *pgxpool.Conn // holds the rebuild's session advisory lock
	w       *Writer
	// bulk folds the load phase's batches in memory (bulk.go) when the build started from empty
	// tables in this run; nil otherwise, and after the load phase.
	bulk bulkFolder
	// keys are the indexes of insert-only tables deferred to the index phase (rebuild_keys.go).
	keys []keyDef
}

func (b *build) release() {
	if b == nil || b.lock == nil {
		return
	}
	_, _ = b.lock.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtextextended('taskforge:rebuild:' || $1, 0))`, b.p.Name)
	b.lock.Release()
	b.lock = nil
}

// prepare takes the projection's rebuild lock on a connection of lockPool (nil: pool) and creates
// (or resumes) the version to build; a new version defers the keys of insert-only tables if its
// load will be in bulk.
func prepare(ctx context.Context, pool, lockPool *pgxpool.Pool, p *Projection, bulk bool) (*build, error) {
	if lockPool == nil {
		lockPool = pool
	}
	conn, err := lockPool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('taskforge:rebuild:' || $1, 0))`, p.Name).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("rebuild lock of %s: %w", p.Name, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("%w: %s", ErrRebuildRunning, p.Name)
	}
	b := &build{p: p, lock: conn}
	err = database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLock); err != nil {
			return err
		}
		var building, buildingRev *int
		if err := tx.QueryRow(ctx, `SELECT active_version, building_version, building_revision FROM projection_versions WHERE name = $1`,
			p.Name).Scan(&b.from, &building, &buildingRev); err != nil {
			return fmt.Errorf("registry of %s: %w", p.Name, err)
		}
		var bases []string
		if p.bulk != nil {
			if f, ok := p.bulk(0).(insertOnlyTables); ok {
				bases = f.insertOnly()
			}
		}
		// A build interrupted under another revision has tables of another shape: start over.
		if building != nil && (buildingRev == nil || *buildingRev == p.revision()) {
			b.version, b.resumed = *building, true
			keys, err := keyDefs(ctx, tx, p, b.version, bases)
			if err != nil {
				return err
			}
			// Apply's statements need them (the interrupted load had deferred them).
			if err := restoreKeys(ctx, tx, keys); err != nil {
				return err
			}
		} else {
			b.version = b.from + 1
			for _, t := range p.Tables { // leftovers of a version never registered
				if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+t+suffix(b.version)); err != nil {
					return err
				}
			}
			if err := createVersion(ctx, tx, p, b.version, false); err != nil {
				return err
			}
			if bulk {
				keys, err := keyDefs(ctx, tx, p, b.version, bases)
				if err != nil {
					return err
				}
				b.keys = keys
				if err := dropKeys(ctx, tx, b.keys); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE name = $1 AND version = $2`, p.Name, b.version); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, version, state) VALUES ($1, $2, 'building')`,
				p.Name, b.version); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE projection_versions SET building_version = $2, building_revision = $3 WHERE name = $1`,
				p.Name, b.version, p.revision()); err != nil {
				return err
			}
		}
		var txid int64
		if err := tx.QueryRow(ctx, `SELECT transaction_id, position, events_handled FROM projection_checkpoints WHERE name = $1 AND version = $2`,
			p.Name, b.version).Scan(&txid, &b.cp.Position, new(int64)); err != nil {
			return fmt.Errorf("checkpoint of %s version %d: %w", p.Name, b.version, err)
		}
		b.cp.TransactionID = uint64(txid)
		return nil
	})
	if err != nil {
		b.release()
		return nil, fmt.Errorf("prepare rebuild of %s: %w", p.Name, err)
	}
	b.w = newWriter(b.version)
	return b, nil
}

// applyChunk applies the events after the build's checkpoint in one transaction.
func (b *build) applyChunk(ctx context.Context, pool *pgxpool.Pool, chunk []*Event, opts RebuildOptions) error {
	return b.applyOn(ctx, pool, chunk, opts, nil)
}

// checkpointSQL advances a build's checkpoint by a batch.
const checkpointSQL = `UPDATE projection_checkpoints SET transaction_id = $3, position = $4, events_handled = events_handled + $5,
	event_time = $6, updated_at = now() WHERE name = $1 AND version = $2`

// bulkBatch is a folded batch's writes and where it ends.
type bulkBatch struct {
	job  bulkJob
	last *Event
	n    int
}

// load folds the load phase's events in memory (bulk.go) and writes each BulkEvents of them with
// the checkpoint in one transaction, on a goroutine of its own: the next batch is folded while
// the last one is written. One batch waits at most, so memory stays bounded.
func (b *build) load(ctx context.Context, pool *pgxpool.Pool, in <-chan []*Event, opts RebuildOptions) error {
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan bulkBatch, 1)
	var folding, writing, waiting time.Duration
	g.Go(func() error {
		for batch := range batches {
			t := time.Now()
			if err := b.writeBulk(gctx, pool, batch, opts); err != nil {
				return err
			}
			writing += time.Since(t)
		}
		return nil
	})
	g.Go(func() error {
		defer close(batches)
		after := b.cp
		var batch bulkBatch
		send := func() error {
			batch.job = b.bulk.take()
			select {
			case batches <- batch:
				batch = bulkBatch{}
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		for {
			t := time.Now()
			chunk, ok := <-in
			waiting += time.Since(t)
			if !ok {
				break
			}
			t = time.Now()
			for _, ev := range chunk {
				if !after.Less(ev.GlobalPosition()) {
					continue
				}
				if err := b.bulk.apply(ev); err != nil {
					return fmt.Errorf("rebuild %s: event %s (%s at position %d): %w", b.p.Name, ev.ID, ev.Type, ev.Position, err)
				}
				batch.last = ev
				batch.n++
			}
			folding += time.Since(t)
			if batch.n >= opts.BulkEvents {
				if err := send(); err != nil {
					return err
				}
			}
		}
		if batch.n > 0 {
			return send()
		}
		return nil
	})
	err := g.Wait()
	opts.Logger.Debug("rebuild load", "projection", b.p.Name, "folding", folding, "waiting_for_events", waiting, "writing", writing)
	return err
}

// writeBulk writes a folded batch with the checkpoint in one transaction.
func (b *build) writeBulk(ctx context.Context, pool *pgxpool.Pool, batch bulkBatch, opts RebuildOptions) error {
	err := database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		// A crash loses at most the last batches, which the checkpoint then says to redo.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		if err := batch.job.run(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, checkpointSQL, b.p.Name, b.version, int64(batch.last.TransactionID), batch.last.Position, batch.n,
			batch.last.RecordedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild %s: batch ending at event %s: %w", b.p.Name, batch.last.ID, err)
	}
	b.cp = batch.last.GlobalPosition()
	done := b.applied.Add(int64(batch.n))
	if opts.afterBatch != nil {
		return opts.afterBatch(b.p.Name, done)
	}
	return nil
}

// applyOn applies events in tx, or in a transaction of its own when tx is nil.
func (b *build) applyOn(ctx context.Context, pool *pgxpool.Pool, chunk []*Event, opts RebuildOptions, tx pgx.Tx) error {
	b.w.reset()
	var last *Event
	n := 0
	for _, ev := range chunk {
		if !b.cp.Less(ev.GlobalPosition()) {
			continue
		}
		if err := b.p.Apply(b.w, ev); err != nil {
			return fmt.Errorf("rebuild %s: event %s (%s at position %d): %w", b.p.Name, ev.ID, ev.Type, ev.Position, err)
		}
		last = ev
		n++
	}
	if last == nil {
		return nil
	}
	run := func(tx pgx.Tx) error {
		// A crash loses at most the last batches, which the checkpoint then says to redo.
		batch := &pgx.Batch{}
		batch.Queue(`SET LOCAL synchronous_commit = off`)
		b.w.queue(batch)
		batch.Queue(checkpointSQL, b.p.Name, b.version, int64(last.TransactionID), last.Position, n, last.RecordedAt)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("rebuild %s: batch ending at event %s: %w", b.p.Name, last.ID, err)
		}
		return nil
	}
	var err error
	if tx != nil {
		err = run(tx)
	} else {
		err = database.WithTx(ctx, pool, run)
	}
	if err != nil {
		return err
	}
	b.cp = last.GlobalPosition()
	done := b.applied.Add(int64(n))
	if opts.afterBatch != nil && tx == nil {
		return opts.afterBatch(b.p.Name, done)
	}
	return nil
}

// catchUp applies one read's worth of events after the checkpoint and returns how many it read.
func (b *build) catchUp(ctx context.Context, pool *pgxpool.Pool, store *eventstore.Store, opts RebuildOptions) (int, error) {
	evs, err := store.ReadAllOn(ctx, pool, b.cp, opts.BatchEvents)
	if err != nil {
		return 0, err
	}
	chunk, err := decodeAll(opts.Registry, evs)
	if err != nil {
		return 0, err
	}
	return len(evs), b.applyOn(ctx, pool, chunk, opts, nil)
}

// swap applies the last events and makes the version active, in one transaction.
func (b *build) swap(ctx context.Context, pool *pgxpool.Pool, store *eventstore.Store, opts RebuildOptions) error {
	return database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLock); err != nil {
			return err
		}
		var building *int
		if err := tx.QueryRow(ctx, `SELECT building_version FROM projection_versions WHERE name = $1 FOR UPDATE`, b.p.Name).Scan(&building); err != nil {
			return err
		}
		if building == nil || *building != b.version {
			return fmt.Errorf("rebuild %s: version %d is no longer being built", b.p.Name, b.version)
		}
		for {
			evs, err := store.ReadAllOn(ctx, tx, b.cp, opts.BatchEvents)
			if err != nil {
				return err
			}
			chunk, err := decodeAll(opts.Registry, evs)
			if err != nil {
				return err
			}
			if err := b.applyOn(ctx, pool, chunk, opts, tx); err != nil {
				return err
			}
			if len(evs) < opts.BatchEvents {
				break
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET state = 'running', updated_at = now() WHERE name = $1 AND version = $2`,
			b.p.Name, b.version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE projection_versions SET active_version = $2, building_version = NULL,
			active_revision = $3, building_revision = NULL, swapped_at = now()
			WHERE name = $1`, b.p.Name, b.version, b.p.revision()); err != nil {
			return err
		}
		return pointViews(ctx, tx, b.p, b.version)
	})
}

func decodeAll(reg *domain.Registry, evs []eventstore.RecordedEvent) ([]*Event, error) {
	out := make([]*Event, len(evs))
	for i, re := range evs {
		ev, err := Decode(reg, re)
		if err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		out[i] = ev
	}
	return out, nil
}
