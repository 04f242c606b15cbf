package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/taskforge/taskforge/internal/pgtest"
)

// BenchmarkGroupCommitCeiling measures how far the group committer is from an ideal Go client of
// the same statement, next to the plain INSERT + commit baseline of `bench append`, in rounds that
// alternate the shapes (rows/s over 3 s each; medians of four rounds' ratios to their plain):
//
//	plain        8 connections, one row per INSERT, autocommit (the baseline)
//	ideal_g4x2   2 goroutines, each sending groupAppendSQL with 4 prepared rows, back to back
//	ideal_g8x1   1 goroutine with 8 rows
//	store        8 writers calling Append (one event on its own stream), group commit on
//
// The ideal shapes pay PostgreSQL's side of a group and pgx's, and none of the committer's: no
// writer prepares an append, waits for a leader or is woken. What separates store from ideal_g4x2
// is that. Each round logs ideal_g4x2's mean statement time and the store's appends per group.
//
//	go test -run '^$' -bench GroupCommitCeiling -benchtime 1x ./eventstore
func BenchmarkGroupCommitCeiling(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Open(b, pgtest.NewDatabase(b))
	if _, err := pool.Exec(ctx, `CREATE TABLE ceiling_baseline (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store, err := New(pool, Options{Metrics: NewMetrics(reg)})
	if err != nil {
		b.Fatal(err)
	}
	// bench append's payload: a task.created-sized event and its metadata.
	data := `{"task_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a11","project_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a12",` +
		`"number":42,"key":"TF-42","title":"Ship the read-your-writes consistency token","priority":"high",` +
		`"labels":["backend","api"],"status":"todo"}`
	meta := Metadata{Actor: "user-bench", CorrelationID: uuid.New(), CausationID: uuid.New(), WorkspaceID: uuid.New(), RequestID: "bench"}
	// The metadata's bytes as Append writes them, for the plain INSERT and the ideal client too.
	metaBytes, err := json.Marshal(meta)
	if err != nil {
		b.Fatal(err)
	}
	metaJSON := string(metaBytes)
	hash := sha256.Sum256([]byte("ceiling"))

	var round int
	var stmtTime, stmts atomic.Int64
	// measure runs fn from workers goroutines for the window and returns rows a second.
	measure := func(workers int, fn func(w, i int) (int, error)) float64 {
		var rows atomic.Int64
		stop := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; time.Now().Before(stop); i++ {
					n, err := fn(w, i)
					if err != nil {
						b.Error(err)
						return
					}
					rows.Add(int64(n))
				}
			})
		}
		wg.Wait()
		return float64(rows.Load()) / 3
	}
	plain := func(w, i int) (int, error) {
		_, err := pool.Exec(ctx, `INSERT INTO ceiling_baseline (stream_id, stream_type, stream_version, event_id, event_type,
			schema_version, data, metadata, prev_hash, hash, recorded_at)
			VALUES ($1, 'task', $2, $3, 'task.created', 1, $4::json, $5::json, $6, $6, now())`,
			fmt.Sprintf("p%d-%d", round, w), int64(i+1), uuid.New(), data, metaJSON, hash[:])
		return 1, err
	}
	ideal := func(size int) func(w, i int) (int, error) {
		return func(w, i int) (int, error) {
			streams, types, evTypes, ds, ms := make([]string, size), make([]string, size), make([]string, size), make([]string, size), make([]string, size)
			versions, ids, svs, recorded, hashes := make([]int64, size), make([]uuid.UUID, size), make([]int32, size), make([]time.Time, size), make([][]byte, size)
			now := time.Now().UTC().Truncate(time.Microsecond)
			for k := range size {
				streams[k], types[k], evTypes[k], ds[k], ms[k] = fmt.Sprintf("g%d-%d-%d-%d", round, size, w, k), "task", "task.created", data, metaJSON
				versions[k], ids[k], svs[k], recorded[k], hashes[k] = int64(i+1), uuid.New(), 1, now, hash[:]
			}
			start := time.Now()
			at, _, err := store.runGroup(ctx, groupAppendSQL, size, []any{streams, types, versions, ids, evTypes, svs, ds, ms, recorded, hashes, hashes})
			stmtTime.Add(int64(time.Since(start)))
			stmts.Add(1)
			return len(at), err
		}
	}
	appendOne := func(w, i int) (int, error) {
		_, err := store.Append(ctx, StreamAppend{StreamID: fmt.Sprintf("a%d-%d", round, w), StreamType: "task", Expected: Exact(int64(i)),
			Events: []EventData{{ID: uuid.New(), Type: "task.created", SchemaVersion: 1, Data: []byte(data), Metadata: meta}}})
		return 1, err
	}
	groups := func() (count, sum float64) { // the store's groups so far, and their appends
		h := &dto.Metric{}
		if err := store.metrics.groupAppends.Write(h); err != nil {
			b.Fatal(err)
		}
		return float64(h.GetHistogram().GetSampleCount()), h.GetHistogram().GetSampleSum()
	}

	var g4, g8, st []float64
	var idealStmt []time.Duration
	for round = range 4 {
		// Every other round runs the shapes in reverse order, so that none is always first
		// after the machine's last quiet or busy spell.
		var p, ideal4, ideal8, stored float64
		var c0, s0, c1, s1 float64
		shapes := []func(){
			func() { p = measure(8, plain) },
			func() {
				stmtTime.Store(0)
				stmts.Store(0)
				ideal4 = measure(2, ideal(4))
				idealStmt = append(idealStmt, time.Duration(stmtTime.Load()/max(stmts.Load(), 1)))
			},
			func() { ideal8 = measure(1, ideal(8)) },
			func() {
				c0, s0 = groups()
				stored = measure(8, appendOne)
				c1, s1 = groups()
			},
		}
		if round%2 == 1 {
			slices.Reverse(shapes)
		}
		for _, f := range shapes {
			f()
		}
		g4, g8, st = append(g4, ideal4/p), append(g8, ideal8/p), append(st, stored/p)
		b.Logf("round %d: plain %.0f rows/s; ideal_g4x2 %.2f× (statement %v), ideal_g8x1 %.2f×, store %.2f× (appends per group %.1f)",
			round+1, p, g4[round], idealStmt[round].Round(time.Microsecond), g8[round], st[round], (s1-s0)/max(c1-c0, 1))
	}
	median := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(median(g4), "ideal_g4x2/plain")
	b.ReportMetric(median(g8), "ideal_g8x1/plain")
	b.ReportMetric(median(st), "store/plain")
}
