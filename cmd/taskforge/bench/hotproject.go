package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// HotProjectOptions configure `taskforge bench hotproject`.
type HotProjectOptions struct {
	DatabaseURL string
	Clients     int           // concurrent creators, all in one project
	Duration    time.Duration // how long creations are started
	// Runtimes is the number of command runtimes (what each API process has) sharing the
	// database; clients are spread over them.
	Runtimes int
	// Timeout bounds each creation, as the API's GRAPHQL_TIMEOUT (default 15s) bounds a mutation.
	Timeout time.Duration
	JSON    bool
	Out     io.Writer
}

func (o *HotProjectOptions) validate() error {
	switch {
	case o.DatabaseURL == "":
		return errors.New("bench hotproject: a database url is required")
	case o.Clients < 1 || o.Clients > 1000:
		return errors.New("bench hotproject: --clients must be in 1..1000")
	case o.Duration <= 0:
		return errors.New("bench hotproject: --duration must be positive")
	case o.Runtimes < 1 || o.Runtimes > 8:
		return errors.New("bench hotproject: --runtimes must be in 1..8")
	case o.Timeout <= 0:
		return errors.New("bench hotproject: --timeout must be positive")
	case o.Out == nil:
		return errors.New("bench hotproject: no output")
	}
	return nil
}

// HotProjectResult is the line `bench hotproject` prints.
type HotProjectResult struct {
	Name            string  `json:"name"`
	Clients         int     `json:"clients"`
	Runtimes        int     `json:"runtimes"`
	Seconds         float64 `json:"seconds"`
	Creations       int     `json:"creations"` // tasks created
	CreationsPerSec float64 `json:"creations_per_sec"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	Over5s          int     `json:"over_5s"`  // creations (successful or not) that took more than 5 s
	Timeouts        int     `json:"timeouts"` // creations that ran out of the timeout
	Failed          int     `json:"failed"`   // other errors (CONFLICT after the retries, ...)
	FirstError      string  `json:"first_error,omitempty"`
	// ConflictsRetried counts the creations decided again after a version conflict
	// (taskforge_command_retries_total{command="create_task"}, summed over the runtimes).
	ConflictsRetried int `json:"conflicts_retried"`
	// NumbersDense: the reservations on the project's task numbers stream are exactly 1..N,
	// without a gap or a duplicate, and every creation that succeeded got one of them, its own.
	NumbersDense bool  `json:"numbers_dense"`
	LastNumber   int64 `json:"last_number"`
}

// HotProject has o.Clients creators create tasks in one project, back to back, for o.Duration,
// through the command handlers of o.Runtimes runtimes on one scratch database, and reports
// creations/s, latency, timeouts, conflicts retried, and whether the numbers came out dense:
// 1..N, no gap, no duplicate, in what the callers got and in what the log holds.
func HotProject(ctx context.Context, o HotProjectOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	// A process's pool is 16 connections by default (DB_MAX_CONNS).
	pool, drop, err := scratch(ctx, o.DatabaseURL, int32(16*o.Runtimes))
	if err != nil {
		return err
	}
	defer drop()
	type runtime struct {
		h       *commands.Handlers
		metrics *prometheus.Registry
	}
	runtimes := make([]runtime, o.Runtimes)
	var store *eventstore.Store
	for i := range runtimes {
		// One store and runtime per simulated process: each has its own caches.
		es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), Redact: domain.RedactStored})
		if err != nil {
			return err
		}
		store = es
		reg := prometheus.NewRegistry()
		m, err := commands.NewMetrics(reg)
		if err != nil {
			return err
		}
		rt, err := commands.NewRuntime(es, domain.NewRegistry(), commands.Options{Metrics: m})
		if err != nil {
			return err
		}
		h, err := commands.NewHandlers(rt, slog.New(slog.DiscardHandler), m)
		if err != nil {
			return err
		}
		runtimes[i] = runtime{h: h, metrics: reg}
	}
	owner := domain.Actor{UserID: "bench-owner", Email: "owner@bench.test", EmailVerified: true, DisplayName: "Owner"}
	h := runtimes[0].h
	ws, err := h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: owner, Name: "Hot"})
	if err != nil {
		return err
	}
	project, err := h.CreateProject.Handle(ctx, commands.CreateProject{Actor: owner, WorkspaceID: ws.ID, Name: "Hot", Key: "HOT"})
	if err != nil {
		return err
	}

	r := HotProjectResult{Name: "hotproject", Clients: o.Clients, Runtimes: o.Runtimes}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		lats    []time.Duration
		numbers []int64
	)
	start := time.Now()
	deadline := start.Add(o.Duration)
	for c := range o.Clients {
		h := runtimes[c%o.Runtimes].h
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				cctx, cancel := context.WithTimeout(ctx, o.Timeout)
				t0 := time.Now()
				res, err := h.CreateTask.Handle(cctx, commands.CreateTask{Actor: owner, ProjectID: project.ID,
					Title: fmt.Sprintf("client %d task %d", c, i), Labels: []string{"hot"}})
				took := time.Since(t0)
				cancel()
				mu.Lock()
				lats = append(lats, took)
				if took > 5*time.Second {
					r.Over5s++
				}
				switch {
				case err == nil:
					numbers = append(numbers, res.Number)
				case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					r.Timeouts++
				default:
					r.Failed++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	slices.Sort(lats)
	r.Seconds = elapsed.Seconds()
	r.Creations = len(numbers)
	r.CreationsPerSec = float64(len(numbers)) / elapsed.Seconds()
	r.P50ms, r.P99ms = percentileMS(lats, 0.50), percentileMS(lats, 0.99)
	if len(lats) > 0 {
		r.MaxMs = float64(lats[len(lats)-1].Microseconds()) / 1000
	}
	for _, rt := range runtimes {
		n, err := counterSum(rt.metrics, "taskforge_command_retries_total", "command", "create_task")
		if err != nil {
			return err
		}
		r.ConflictsRetried += int(n)
	}
	reserved, err := reservedNumbers(ctx, store, project.ID)
	if err != nil {
		return err
	}
	slices.Sort(numbers)
	slices.Sort(reserved)
	// A creation that timed out may still have committed: the log is the reference, and what the
	// callers got must be distinct numbers of it.
	r.NumbersDense = isOneToN(reserved) && len(slices.Compact(slices.Clone(numbers))) == len(numbers) &&
		(len(numbers) == 0 || numbers[len(numbers)-1] <= int64(len(reserved)) && numbers[0] >= 1)
	if len(reserved) > 0 {
		r.LastNumber = reserved[len(reserved)-1]
	}

	if o.JSON {
		return jsonLines(o.Out, []HotProjectResult{r})
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tclients\truntimes\tcreations\tcreations/s\tp50 ms\tp99 ms\tmax ms\t>5s\ttimeouts\tfailed\tconflicts retried\tnumbers dense\t")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%d\t%d\t%t\t\n", r.Name, r.Clients, r.Runtimes, r.Creations,
		r.CreationsPerSec, r.P50ms, r.P99ms, r.MaxMs, r.Over5s, r.Timeouts, r.Failed, r.ConflictsRetried, r.NumbersDense)
	if r.FirstError != "" {
		fmt.Fprintf(tw, "first error: %s\n", r.FirstError)
	}
	return tw.Flush()
}

// reservedNumbers returns the numbers reserved on the project's task numbers stream.
func reservedNumbers(ctx context.Context, es *eventstore.Store, projectID uuid.UUID) ([]int64, error) {
	reg := domain.NewRegistry()
	var out []int64
	for from := int64(1); ; {
		page, err := es.ReadStream(ctx, domain.TaskNumbersStream(projectID), from, eventstore.MaxBatch)
		if err != nil {
			return nil, err
		}
		for _, rec := range page {
			e, err := reg.Decode(rec.Type, rec.SchemaVersion, rec.Data)
			if err != nil {
				return nil, err
			}
			if reserved, ok := e.(domain.ProjectTaskNumberReserved); ok {
				out = append(out, reserved.Number)
			}
		}
		if len(page) < eventstore.MaxBatch {
			return out, nil
		}
		from = page[len(page)-1].StreamVersion + 1
	}
}

// isOneToN reports whether sorted is exactly 1, 2, …, len(sorted).
func isOneToN(sorted []int64) bool {
	for i, n := range sorted {
		if n != int64(i+1) {
			return false
		}
	}
	return true
}

// counterSum sums the series of the counter name whose label has the value given.
func counterSum(g prometheus.Gatherer, name, label, value string) (float64, error) {
	families, err := g.Gather()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total, nil
}
