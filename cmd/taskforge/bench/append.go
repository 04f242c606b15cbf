package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/eventstore"
)

// BatchSize is the number of events per call in the batch cases.
const BatchSize = 100

// AppendOptions are the options of `taskforge bench append`.
type AppendOptions struct {
	Options
	// GroupCommit is how the store under test appends: "on" (concurrent appends share a
	// transaction and a commit), "off" (one transaction per append) or "both" (append is with group
	// commit, append_no_group without, each next to the same baseline).
	GroupCommit string
}

// Append measures event store appends against a plain INSERT into a table of the same shape
// (same columns, defaults, identity and indexes). Each round measures a case next to its baseline,
// and the ratio reported is the median of the rounds' ratios: pairs taken a few seconds apart see
// the same machine, where a ratio of two medians would compare moments up to a minute apart.
//
//	baseline_insert        one INSERT of one row, autocommit
//	append                 one event, exact expected version, own stream per writer (with group
//	                       commit, "group" is its appends per group statement, groups of one included)
//	append_no_group        the same without group commit (--group-commit both)
//	baseline_insert_batch  one INSERT of 100 rows, autocommit
//	append_batch           100 events in one append, exact expected version
//
// "ev/flush" is the case's events per WAL flush of the server (pg_stat_wal's wal_sync). A commit
// returns once its WAL is flushed, and PostgreSQL flushes for every commit waiting at that moment:
// one-row transactions from 8 sessions share a flush among about 3, a group commit statement
// brings its whole group to one. Where the disk's flushes are what bounds the rate (on this
// machine's 8 writers, a flush costs more than the statements it commits), the ratio follows the
// events per flush. "cpu µs/ev" is the machine's busy CPU per event (every process, PostgreSQL's
// too when it runs here; Linux only): where it times the rate comes near the machine's cores, the
// CPU is what bounds the rate, and a case that commits several events at once spends less of it.
func Append(ctx context.Context, o AppendOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.GroupCommit != "on" && o.GroupCommit != "off" && o.GroupCommit != "both" {
		return fmt.Errorf("bench: --group-commit: want on, off or both, got %q", o.GroupCommit)
	}
	pool, drop, err := scratch(ctx, o.DatabaseURL, int32(slices.Max(o.Writers)+2))
	if err != nil {
		return err
	}
	defer drop()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_baseline (LIKE events INCLUDING ALL)`); err != nil {
		return fmt.Errorf("baseline table: %w", err)
	}
	// The store's own metrics, as a server has them, also give each case's appends per group.
	reg := prometheus.NewRegistry()
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(),
		DisableGroupCommit: o.GroupCommit == "off", Metrics: eventstore.NewMetrics(reg)})
	if err != nil {
		return err
	}
	solo, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), DisableGroupCommit: true})
	if err != nil {
		return err
	}
	w := newAppendWorkload(pool, es)

	type bcase struct {
		name, baseline string
		fn             func(run string) op
	}
	cases := []bcase{
		{name: "baseline_insert", fn: w.baselineInsert},
		{name: "append", baseline: "baseline_insert", fn: w.append},
	}
	if o.GroupCommit == "both" {
		cases = append(cases, bcase{name: "append_no_group", baseline: "baseline_insert",
			fn: newAppendWorkload(pool, solo).append})
	}
	cases = append(cases,
		bcase{name: "baseline_insert_batch", fn: w.baselineBatch},
		bcase{name: "append_batch", baseline: "baseline_insert_batch", fn: w.appendBatch})
	var out []Result
	for _, writers := range o.Writers {
		rounds := map[string][]Result{}
		for round := range o.Rounds {
			// Each case right next to its baseline, in alternating order, so that neither always
			// runs in the wake (checkpoint, autovacuum) of the batch cases.
			order := cases
			if round%2 == 1 {
				order = slices.Clone(cases)
				slices.Reverse(order)
			}
			for _, c := range order {
				run := fmt.Sprintf("%s-%d-%d", c.name, writers, round)
				groupCase := c.name == "append" && o.GroupCommit != "off"
				var groups, grouped float64
				if groupCase {
					if groups, grouped, err = histogramTotals(reg, groupAppendsMetric); err != nil {
						return err
					}
				}
				syncs, counted := walSyncs(ctx, pool)
				cpu, _, cpuOK := machineCPU()
				r, err := measure(ctx, c.name, writers, o.Duration, c.fn(run))
				if err != nil {
					return err
				}
				if cpuAfter, _, ok := machineCPU(); cpuOK && ok && r.Events > 0 {
					perEvent := float64((cpuAfter - cpu).Nanoseconds()) / 1e3 / float64(r.Events)
					r.CPUPerEventUs = &perEvent
				}
				if syncsAfter, ok := walSyncs(ctx, pool); counted && ok && syncsAfter > syncs {
					perFlush := float64(r.Events) / float64(syncsAfter-syncs)
					r.EventsPerFlush = &perFlush
				}
				if groupCase {
					groupsAfter, groupedAfter, err := histogramTotals(reg, groupAppendsMetric)
					if err != nil {
						return err
					}
					if n := groupsAfter - groups; n > 0 {
						mean := (groupedAfter - grouped) / n
						r.GroupMean = &mean
					}
				}
				rounds[c.name] = append(rounds[c.name], r)
			}
		}
		for _, c := range cases {
			r := median(slices.Clone(rounds[c.name]))
			if c.baseline != "" {
				r.compareWithPaired(rounds[c.name], rounds[c.baseline])
			}
			out = append(out, r)
		}
	}
	return print(o.Options, out)
}

// walSyncs returns how many times the server has flushed its WAL to disk (pg_stat_wal), with the
// pending counts of pool's connections included, or false where the server cannot tell
// (PostgreSQL before 15). A backend adds its counts to pg_stat_wal at most once a second while
// busy and within 10 s when idle: each idle connection is asked to add them now
// (pg_stat_force_next_flush, carried out before the statement's reply). Between measurements
// every connection is idle. The WAL writer's own flushes, and any other session's, count too.
func walSyncs(ctx context.Context, pool *pgxpool.Pool) (int64, bool) {
	conns := pool.AcquireAllIdle(ctx)
	ok := true
	for _, c := range conns {
		if _, err := c.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			ok = false
		}
		c.Release()
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT wal_sync FROM pg_stat_wal`).Scan(&n); err != nil {
		return 0, false
	}
	return n, ok
}

// groupAppendsMetric is the store's histogram of appends per group commit.
const groupAppendsMetric = "taskforge_eventstore_group_appends"

// histogramTotals returns the count and sum of the histogram name.
func histogramTotals(g prometheus.Gatherer, name string) (count, sum float64, err error) {
	families, err := g.Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			count += float64(m.GetHistogram().GetSampleCount())
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return count, sum, nil
}

type appendWorkload struct {
	pool *pgxpool.Pool
	es   *eventstore.Store
	data json.RawMessage
	meta eventstore.Metadata
}

func newAppendWorkload(pool *pgxpool.Pool, es *eventstore.Store) *appendWorkload {
	// A task.created-sized payload.
	data, _ := json.Marshal(map[string]any{
		"task_id": uuid.New(), "project_id": uuid.New(), "number": 42, "key": "TF-42",
		"title": "Ship the read-your-writes consistency token", "priority": "high",
		"labels": []string{"backend", "api"}, "status": "todo",
	})
	return &appendWorkload{pool: pool, es: es, data: data, meta: eventstore.Metadata{
		Actor: "user-bench", CorrelationID: uuid.New(), CausationID: uuid.New(), WorkspaceID: uuid.New(), RequestID: "bench",
	}}
}

func (a *appendWorkload) event() eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "task.created", SchemaVersion: 1, Data: a.data, Metadata: a.meta}
}

const baselineSQL = `INSERT INTO bench_baseline (stream_id, stream_type, stream_version, event_id, event_type,
	schema_version, data, metadata, prev_hash, hash, recorded_at)
	SELECT *, now() FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[],
	                     $7::json[], $8::json[], $9::bytea[], $10::bytea[])`

const baselineOneSQL = `INSERT INTO bench_baseline (stream_id, stream_type, stream_version, event_id, event_type,
	schema_version, data, metadata, prev_hash, hash, recorded_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::json, $9, $10, now())`

func (a *appendWorkload) baselineInsert(run string) op {
	meta, _ := json.Marshal(a.meta)
	return func(ctx context.Context, w, i int) (int, error) {
		stream := fmt.Sprintf("%s-%d", run, w)
		h := sha256.Sum256([]byte(stream))
		_, err := a.pool.Exec(ctx, baselineOneSQL, stream, "task", int64(i+1), uuid.New(), "task.created", 1,
			string(a.data), string(meta), h[:], h[:])
		return 1, err
	}
}

func (a *appendWorkload) baselineBatch(run string) op {
	meta, _ := json.Marshal(a.meta)
	return func(ctx context.Context, w, i int) (int, error) {
		stream := fmt.Sprintf("%s-%d", run, w)
		h := sha256.Sum256([]byte(stream))
		var (
			types, datas, metas []string
			streams, stypes     []string
			versions            []int64
			eids                []uuid.UUID
			svs                 []int32
			hashes              [][]byte
		)
		for k := range BatchSize {
			streams, stypes = append(streams, stream), append(stypes, "task")
			versions = append(versions, int64(i*BatchSize+k+1))
			eids = append(eids, uuid.New())
			types, svs = append(types, "task.created"), append(svs, 1)
			datas, metas = append(datas, string(a.data)), append(metas, string(meta))
			hashes = append(hashes, h[:])
		}
		_, err := a.pool.Exec(ctx, baselineSQL, streams, stypes, versions, eids, types, svs, datas, metas, hashes, hashes)
		return BatchSize, err
	}
}

func (a *appendWorkload) append(run string) op {
	return func(ctx context.Context, w, i int) (int, error) {
		_, err := a.es.Append(ctx, eventstore.StreamAppend{
			StreamID: fmt.Sprintf("%s-%d", run, w), StreamType: "task",
			Expected: eventstore.Exact(int64(i)), Events: []eventstore.EventData{a.event()},
		})
		return 1, err
	}
}

func (a *appendWorkload) appendBatch(run string) op {
	return func(ctx context.Context, w, i int) (int, error) {
		evs := make([]eventstore.EventData, BatchSize)
		for k := range evs {
			evs[k] = a.event()
		}
		_, err := a.es.Append(ctx, eventstore.StreamAppend{
			StreamID: fmt.Sprintf("%s-%d", run, w), StreamType: "task",
			Expected: eventstore.Exact(int64(i * BatchSize)), Events: evs,
		})
		return BatchSize, err
	}
}
