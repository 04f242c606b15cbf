// Package bench owns the workloads of `taskforge bench`: each runs against a scratch database, is
// compared with a baseline measured in the same run, and prints a table or JSON lines. Workloads
// take option structs (the command line, cmd/taskforge/cli, parses the flags); those that drive
// the API build the service through package app, as `taskforge serve` does.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/observability"
)

// Options are shared by every benchmark.
type Options struct {
	DatabaseURL string        // server to create the scratch database on
	Duration    time.Duration // length of one measurement
	Rounds      int           // measurements per case; the median is reported
	Writers     []int         // concurrency levels
	JSON        bool          // one JSON object per line instead of a table
	Out         io.Writer
}

// Validate checks the options and fills defaults.
func (o *Options) Validate() error {
	if o.DatabaseURL == "" {
		return errors.New("bench: a database url is required")
	}
	if o.Duration <= 0 {
		return errors.New("bench: --duration must be positive")
	}
	if o.Rounds <= 0 {
		return errors.New("bench: --rounds must be positive")
	}
	if len(o.Writers) == 0 {
		return errors.New("bench: at least one writer count is required")
	}
	for _, w := range o.Writers {
		if w <= 0 || w > 256 {
			return fmt.Errorf("bench: writer count %d out of range 1..256", w)
		}
	}
	if o.Out == nil {
		return errors.New("bench: no output")
	}
	return nil
}

// Result is one line of output.
type Result struct {
	Name                 string   `json:"name"`
	Writers              int      `json:"writers"`
	Events               int64    `json:"events"`
	Seconds              float64  `json:"seconds"`
	EventsPerSec         float64  `json:"events_per_sec"`
	P50ms                float64  `json:"p50_ms"`
	P99ms                float64  `json:"p99_ms"`
	BaselineEventsPerSec *float64 `json:"baseline_events_per_sec,omitempty"`
	Ratio                *float64 `json:"ratio,omitempty"`
	BaselineName         string   `json:"baseline,omitempty"`
	// GroupMean is bench append's appends per group commit statement.
	GroupMean *float64 `json:"group_mean,omitempty"`
	// EventsPerFlush is bench append's events per WAL flush of the server.
	EventsPerFlush *float64 `json:"events_per_flush,omitempty"`
	// CPUPerEventUs is bench append's busy CPU of the whole machine per event, in µs.
	CPUPerEventUs *float64 `json:"machine_cpu_us_per_event,omitempty"`
}

// compareWithPaired sets the ratio to the median of rs[i]/base[i], rounds measured side by side,
// and the baseline figure to the baselines' median.
func (r *Result) compareWithPaired(rs, base []Result) {
	ratios := make([]float64, 0, len(rs))
	for i := range min(len(rs), len(base)) {
		ratios = append(ratios, rs[i].EventsPerSec/base[i].EventsPerSec)
	}
	slices.Sort(ratios)
	b, ratio := median(slices.Clone(base)), ratios[len(ratios)/2]
	r.BaselineEventsPerSec, r.Ratio, r.BaselineName = &b.EventsPerSec, &ratio, b.Name
}

// op performs one call for writer w (its i-th) and returns how many events it wrote.
type op func(ctx context.Context, w, i int) (int, error)

// measure runs op from writers goroutines for d and reports throughput and call latency.
func measure(ctx context.Context, name string, writers int, d time.Duration, fn op) (Result, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lats  []time.Duration
		total int64
		first error
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range writers {
		wg.Go(func() {
			var mine []time.Duration
			var n int64
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				k, err := fn(ctx, w, i)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s writer %d: %w", name, w, err)
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				n += int64(k)
			}
			mu.Lock()
			lats = append(lats, mine...)
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return Result{}, first
	}
	slices.Sort(lats)
	return Result{
		Name:         name,
		Writers:      writers,
		Events:       total,
		Seconds:      elapsed.Seconds(),
		EventsPerSec: float64(total) / elapsed.Seconds(),
		P50ms:        percentileMS(lats, 0.50),
		P99ms:        percentileMS(lats, 0.99),
	}, nil
}

func percentileMS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Microseconds()) / 1000
}

// median returns the result with the median throughput.
func median(rs []Result) Result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].EventsPerSec < rs[j].EventsPerSec })
	return rs[len(rs)/2]
}

// scratch creates, migrates and opens a throwaway database, returning a function that drops it.
func scratch(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, func(), error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "taskforge_bench_" + hex.EncodeToString(b)
	admin, err := adminURL(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	if err := database.CreateDatabase(ctx, admin, name, ""); err != nil {
		return nil, nil, err
	}
	pool, drop, err := openDropping(ctx, url, admin, name, maxConns)
	if err != nil {
		return nil, nil, err
	}
	if _, err := database.Migrate(ctx, pool, nil); err != nil {
		pool.Close()
		drop()
		return nil, nil, err
	}
	return pool, func() { pool.Close(); drop() }, nil
}

// keptDatabase creates database name on url's server (or, with reuse, takes the existing one),
// migrates and opens it; it is never dropped. It returns the pool and the database's URL.
func keptDatabase(ctx context.Context, url, name string, maxConns int32, reuse bool) (*pgxpool.Pool, string, error) {
	admin, err := adminURL(ctx, url)
	if err != nil {
		return nil, "", err
	}
	if err := database.CreateDatabase(ctx, admin, name, ""); err != nil {
		if pgErr := (*pgconn.PgError)(nil); !reuse || !errors.As(err, &pgErr) || pgErr.Code != "42P04" { // duplicate_database
			return nil, "", err
		}
	}
	dbURL, err := database.WithDatabaseName(url, name)
	if err != nil {
		return nil, "", err
	}
	pool, err := database.Open(ctx, dbURL, database.PoolOptions{MaxConns: maxConns})
	if err != nil {
		return nil, "", err
	}
	if _, err := database.Migrate(ctx, pool, nil); err != nil {
		pool.Close()
		return nil, "", err
	}
	return pool, dbURL, nil
}

// openDropping opens a pool on database name of url's server, made by the caller through admin,
// returning a function that drops it; the database is dropped if the pool cannot be opened.
func openDropping(ctx context.Context, url, admin, name string, maxConns int32) (*pgxpool.Pool, func(), error) {
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = database.DropDatabase(dctx, admin, name)
	}
	dbURL, err := database.WithDatabaseName(url, name)
	if err != nil {
		drop()
		return nil, nil, err
	}
	// The statement tracer lets the API benchmarks report SQL statements per request; it costs a
	// context lookup per query, the same for a baseline and the case measured against it.
	pool, err := database.Open(ctx, dbURL, database.PoolOptions{MaxConns: maxConns, Tracer: observability.StatementTracer{}})
	if err != nil {
		drop()
		return nil, nil, err
	}
	return pool, drop, nil
}

// adminURL returns url if its database accepts connections, else the same server's "postgres"
// database (the configured one may not be created yet).
func adminURL(ctx context.Context, url string) (string, error) {
	p, err := database.Open(ctx, url, database.PoolOptions{MaxConns: 1})
	if err == nil {
		p.Close()
		return url, nil
	}
	return database.WithDatabaseName(url, "postgres")
}

func print(o Options, results []Result) error {
	if o.JSON {
		return jsonLines(o.Out, results)
	}
	grouped := slices.ContainsFunc(results, func(r Result) bool { return r.GroupMean != nil })
	flushed := slices.ContainsFunc(results, func(r Result) bool { return r.EventsPerFlush != nil })
	cpu := slices.ContainsFunc(results, func(r Result) bool { return r.CPUPerEventUs != nil })
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "name\twriters\tevents/s\tp50 ms\tp99 ms\tbaseline events/s\tratio\t"
	if grouped {
		header += "group\t"
	}
	if flushed {
		header += "ev/flush\t"
	}
	if cpu {
		header += "cpu µs/ev\t"
	}
	fmt.Fprintln(tw, header)
	for _, r := range results {
		base, ratio := "-", "-"
		if r.Ratio != nil {
			base, ratio = fmt.Sprintf("%.0f", *r.BaselineEventsPerSec), fmt.Sprintf("%.2f", *r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%s\t%s\t", r.Name, r.Writers, r.EventsPerSec, r.P50ms, r.P99ms, base, ratio)
		if grouped {
			fmt.Fprintf(tw, "%s\t", optFigure(r.GroupMean))
		}
		if flushed {
			fmt.Fprintf(tw, "%s\t", optFigure(r.EventsPerFlush))
		}
		if cpu {
			fmt.Fprintf(tw, "%s\t", optFigure(r.CPUPerEventUs))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// optFigure prints a figure that a case may lack.
func optFigure(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *f)
}

// jsonLines writes each result as one JSON line (--json).
func jsonLines[T any](w io.Writer, rs []T) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
