package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// ProjectionOptions configure `bench rebuild` and `bench lag`.
type ProjectionOptions struct {
	DatabaseURL string
	Seeded      string // lag: a database made by bench seed --database-name: run on a copy of it (seeded.go)
	Events      int    // rebuild: events to generate (default 1,000,000)
	Writers     int    // rebuild: generator concurrency (default 8)
	Batch       int    // rebuild: events per rebuild transaction (default 5000)
	// Verify (rebuild): after the measured rebuild, rebuild again with the live statements
	// (projections.RebuildOptions.Statements) and compare both versions row for row.
	Verify bool
	// Runs (rebuild): rebuilds over the same generated log, each timed; with more than one, a
	// rebuild_all_median line follows. This machine's speed swings from run to run.
	Runs int
	// LogDatabase (rebuild): generate the log into this database and keep it; when it holds a log
	// already, rebuild from that one without generating (runs in separate processes compare
	// settings on one log).
	LogDatabase string
	// Phases (rebuild): log each projection's phase and load timings (debug) to Progress.
	Phases   bool
	Rate     int           // lag: events per second (default 500)
	Duration time.Duration // lag: how long to append (default 30s)
	// PgBouncerURL (lag): a PgBouncer in transaction mode in front of DatabaseURL's server; when
	// set, the load is measured again through it with two leased workers.
	PgBouncerURL string
	JSON         bool
	Out          io.Writer
	Progress     io.Writer // progress lines; nil for none
}

func (o *ProjectionOptions) validate() error {
	if o.DatabaseURL == "" {
		return errors.New("bench: a database url is required")
	}
	if o.Out == nil {
		return errors.New("bench: no output")
	}
	if o.Events <= 0 {
		o.Events = 1_000_000
	}
	if o.Writers <= 0 {
		o.Writers = 8
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.Rate <= 0 {
		o.Rate = 500
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// ProjectionResult is one line of `bench rebuild` or `bench lag`.
type ProjectionResult struct {
	Name         string  `json:"name"`
	Events       int64   `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	P50ms        float64 `json:"p50_ms,omitempty"`
	P99ms        float64 `json:"p99_ms,omitempty"`
	MaxMS        float64 `json:"max_ms,omitempty"`
	// Identical (rebuild --verify): whether the bulk-built and the statement-built versions hold
	// the same rows in every table.
	Identical *bool `json:"identical,omitempty"`
	Run       int   `json:"run,omitempty"` // rebuild --runs: which run
	// Rebuild: the CPU time this process used, and the machine's busy CPU time (every process,
	// PostgreSQL's too when it runs here; Linux only). CPUBoundRate is the rate at which this
	// run's CPU per event would keep every core busy: no parallelism on this machine can rebuild
	// faster, only spending less CPU per event can.
	ProcessCPUSeconds float64 `json:"process_cpu_s,omitempty"`
	MachineCPUSeconds float64 `json:"machine_cpu_s,omitempty"`
	CPUBoundRate      float64 `json:"cpu_bound_events_per_sec,omitempty"`
}

func printProjectionResults(o ProjectionOptions, rs []ProjectionResult) error {
	if o.JSON {
		return jsonLines(o.Out, rs)
	}
	cpu := slices.ContainsFunc(rs, func(r ProjectionResult) bool { return r.ProcessCPUSeconds > 0 })
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "name\tevents\tseconds\tevents/s\tp50 ms\tp99 ms\tmax ms\t")
	if cpu {
		fmt.Fprint(tw, "process cpu s\tmachine cpu s\tcpu-bound events/s\t")
	}
	fmt.Fprintln(tw)
	for _, r := range rs {
		name := r.Name
		if r.Run > 0 {
			name = fmt.Sprintf("%s #%d", name, r.Run)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t", name, r.Events, r.Seconds, r.EventsPerSec, r.P50ms, r.P99ms, r.MaxMS)
		if cpu {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", orDash(r.ProcessCPUSeconds, "%.1f"), orDash(r.MachineCPUSeconds, "%.1f"),
				orDash(r.CPUBoundRate, "%.0f"))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// Rebuild generates a log of realistic events in a scratch database, then times a full rebuild
// of every projection from it.
//
//	generate            o.Events events appended by o.Writers writers, ~50 events per append
//	rebuild_all         projections.Rebuild of every projection, version 1 → 2 (load, index, swap)
//	rebuild_statements  (--verify) the same with the live statements, version 2 → 3, then both
//	                    versions compared row for row
func Rebuild(ctx context.Context, o ProjectionOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, drop, err := rebuildDatabase(ctx, o)
	if err != nil {
		return err
	}
	defer drop()
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters()})
	if err != nil {
		return err
	}
	ps := projections.All()
	if err := projections.Ensure(ctx, pool, ps); err != nil {
		return err
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return err
	}
	var results []ProjectionResult
	if n == 0 {
		start := time.Now()
		n, err = generate(ctx, es, o.Events, o.Writers, o.Progress)
		if err != nil {
			return err
		}
		gen := time.Since(start)
		fmt.Fprintln(o.Progress)
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
			return err
		}
		results = append(results, ProjectionResult{Name: "generate", Events: n, Seconds: gen.Seconds(), EventsPerSec: float64(n) / gen.Seconds()})
	} else {
		fmt.Fprintf(o.Progress, "rebuilding the log kept in %s: %d events (--events does not apply)\n", o.LogDatabase, n)
	}
	logger := slog.New(slog.DiscardHandler)
	if o.Phases {
		// The progress line and the phases' log are written from different goroutines.
		o.Progress = &lockedWriter{w: o.Progress}
		logger = slog.New(slog.NewTextHandler(o.Progress, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var runs []ProjectionResult
	for run := 1; run <= o.Runs; run++ {
		start, proc0 := time.Now(), processCPU()
		machine0, _, machineOK := machineCPU()
		_, err = projections.Rebuild(ctx, es, ps, projections.RebuildOptions{BatchEvents: o.Batch, Logger: logger,
			Progress: rebuildProgress(o.Progress, "rebuild")})
		if err != nil {
			return err
		}
		took := time.Since(start)
		r := ProjectionResult{Name: "rebuild_all", Events: n, Seconds: took.Seconds(), EventsPerSec: float64(n) / took.Seconds(),
			ProcessCPUSeconds: (processCPU() - proc0).Seconds()}
		if machine1, cores, ok := machineCPU(); ok && machineOK && machine1 > machine0 {
			r.MachineCPUSeconds = (machine1 - machine0).Seconds()
			r.CPUBoundRate = float64(n) / (r.MachineCPUSeconds / float64(cores))
		}
		fmt.Fprintln(o.Progress)
		if o.Runs > 1 {
			r.Run = run
		}
		results = append(results, r)
		runs = append(runs, r)
	}
	if o.Runs > 1 {
		results = append(results, medianRun(runs))
	}
	if o.Verify {
		r, err := verifyRebuild(ctx, es, ps, o, n)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	return printProjectionResults(o, results)
}

// orDash prints v, or "-" for a figure not measured (zero).
func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// medianRun is the rebuild_all_median line: the median of each figure over the runs.
func medianRun(runs []ProjectionResult) ProjectionResult {
	median := func(f func(ProjectionResult) float64) float64 {
		vs := make([]float64, len(runs))
		for i, r := range runs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	rate := median(func(r ProjectionResult) float64 { return r.EventsPerSec })
	return ProjectionResult{Name: "rebuild_all_median", Events: runs[0].Events, Seconds: float64(runs[0].Events) / rate, EventsPerSec: rate,
		ProcessCPUSeconds: median(func(r ProjectionResult) float64 { return r.ProcessCPUSeconds }),
		MachineCPUSeconds: median(func(r ProjectionResult) float64 { return r.MachineCPUSeconds }),
		CPUBoundRate:      median(func(r ProjectionResult) float64 { return r.CPUBoundRate })}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// rebuildDatabase is a new scratch database, or o.LogDatabase, created if missing and kept.
func rebuildDatabase(ctx context.Context, o ProjectionOptions) (*pgxpool.Pool, func(), error) {
	maxConns := int32(o.Writers + 8)
	if o.LogDatabase == "" {
		return scratch(ctx, o.DatabaseURL, maxConns)
	}
	pool, _, err := keptDatabase(ctx, o.DatabaseURL, o.LogDatabase, maxConns, true)
	if err != nil {
		return nil, nil, err
	}
	return pool, pool.Close, nil
}

// rebuildProgress prints a rebuild's progress on one line of w, labelled.
func rebuildProgress(w io.Writer, label string) func(projections.Progress) {
	return func(p projections.Progress) {
		fmt.Fprintf(w, "\r%-7s %-8s %d/%s events %6.0f/s ETA %s   ", label, p.Phase, p.Done, p.TotalText(), p.Rate, p.ETA.Round(time.Second))
	}
}

// verifyRebuild rebuilds every projection again with the live statements, keeping the version
// the measured rebuild built, and compares the two row for row: the bulk load must write exactly
// what the live path writes.
func verifyRebuild(ctx context.Context, es *eventstore.Store, ps []*projections.Projection, o ProjectionOptions, n int64) (ProjectionResult, error) {
	start := time.Now()
	res, err := projections.Rebuild(ctx, es, ps, projections.RebuildOptions{BatchEvents: o.Batch, Statements: true, KeepOld: true,
		Progress: rebuildProgress(o.Progress, "verify")})
	if err != nil {
		return ProjectionResult{}, err
	}
	took := time.Since(start)
	fmt.Fprintln(o.Progress)
	var diffs []string
	for i, r := range res {
		ds, err := projections.CompareVersions(ctx, es.Pool(), ps[i], r.FromVersion, r.Version)
		if err != nil {
			return ProjectionResult{}, err
		}
		for _, d := range ds {
			fmt.Fprintf(o.Progress, "verify %-24s bulk %8d rows, statements %8d rows, only in bulk %d, only in statements %d\n",
				d.Table, d.RowsA, d.RowsB, d.OnlyA, d.OnlyB)
			if !d.Equal() {
				diffs = append(diffs, d.Table)
			}
		}
	}
	if len(diffs) > 0 {
		return ProjectionResult{}, fmt.Errorf("bench rebuild: the bulk rebuild differs from the live statements in %v", diffs)
	}
	identical := true
	return ProjectionResult{Name: "rebuild_statements", Events: n, Seconds: took.Seconds(), EventsPerSec: float64(n) / took.Seconds(),
		Identical: &identical}, nil
}

// generate appends about total events: each writer owns a workspace (10 members, 4 projects) and
// appends tasks five at a time with their whole lives (status changes, comments with mentions,
// assignments, edits, reorders, archives), their number reservations on the project's task numbers
// stream in the same append, asserting the project stream, as commands would.
func generate(ctx context.Context, es *eventstore.Store, total, writers int, progress io.Writer) (int64, error) {
	reg := domain.NewRegistry()
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(progress, "\rgenerate %d/%d events", done.Load(), total)
			}
		}
	})
	for w := range writers {
		g.Go(func() error {
			gw := &generator{es: es, reg: reg, rng: rand.New(rand.NewPCG(uint64(w), 42)), ws: uuid.New()}
			if err := gw.setup(gctx); err != nil {
				return err
			}
			done.Add(gw.n)
			for done.Load() < int64(total) {
				before := gw.n
				if err := gw.tasks(gctx, 5); err != nil {
					return err
				}
				done.Add(gw.n - before)
			}
			return nil
		})
	}
	err := g.Wait()
	close(stop)
	wg.Wait()
	return done.Load(), err
}

type generator struct {
	es       *eventstore.Store
	reg      *domain.Registry
	rng      *rand.Rand
	ws       uuid.UUID
	wsV      int64
	members  []domain.UserID
	projects []genProject
	n        int64
}

type genProject struct {
	id      uuid.UUID
	key     string
	version int64 // of the project stream
	number  int64 // the last reserved, and the task numbers stream's version
}

type pending struct {
	stream, typ string
	expected    eventstore.ExpectedVersion
	events      []domain.Event
}

func (g *generator) append(ctx context.Context, actor domain.UserID, streams ...pending) error {
	meta := eventstore.Metadata{Actor: string(actor), CorrelationID: uuid.New(), CausationID: uuid.New(), WorkspaceID: g.ws}
	var apps []eventstore.StreamAppend
	for _, s := range streams {
		app := eventstore.StreamAppend{StreamID: s.stream, StreamType: s.typ, Expected: s.expected}
		for _, e := range s.events {
			typ, v, data, err := g.reg.Encode(e)
			if err != nil {
				return err
			}
			app.Events = append(app.Events, eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, Metadata: meta})
		}
		g.n += int64(len(app.Events))
		apps = append(apps, app)
	}
	_, err := g.es.Append(ctx, apps...)
	return err
}

func (g *generator) setup(ctx context.Context) error {
	now := time.Now().UTC()
	owner := domain.UserID("owner-" + g.ws.String()[:8])
	evs := []domain.Event{domain.WorkspaceCreated{WorkspaceID: g.ws, Name: "Workspace " + g.ws.String()[:8], Plan: domain.PlanPro, By: owner, At: now}}
	for i := range 10 {
		u := owner
		role := domain.RoleOwner
		if i > 0 {
			u, role = domain.UserID(fmt.Sprintf("user%d-%s", i, g.ws.String()[:8])), domain.RoleMember
		}
		g.members = append(g.members, u)
		evs = append(evs, domain.WorkspaceMemberJoined{WorkspaceID: g.ws, UserID: u, Email: string(u) + "@example.com",
			DisplayName: fmt.Sprintf("Member %d", i), Role: role, By: u, At: now})
	}
	if err := g.append(ctx, owner, pending{domain.WorkspaceStream(g.ws), domain.StreamTypeWorkspace, eventstore.NoStream(), evs}); err != nil {
		return err
	}
	g.wsV = int64(len(evs))
	for i := range 4 {
		p := genProject{id: uuid.New(), key: fmt.Sprintf("P%c", 'A'+i), version: 1}
		err := g.append(ctx, owner,
			pending{domain.WorkspaceStream(g.ws), domain.StreamTypeWorkspace, eventstore.Exact(g.wsV), []domain.Event{
				domain.WorkspaceProjectKeyReserved{WorkspaceID: g.ws, ProjectID: p.id, Key: p.key, By: owner, At: now}}},
			pending{domain.ProjectStream(p.id), domain.StreamTypeProject, eventstore.NoStream(), []domain.Event{
				domain.ProjectCreated{ProjectID: p.id, WorkspaceID: g.ws, Key: p.key, Name: "Project " + p.key, Workflow: domain.DefaultWorkflow(), By: owner, At: now}}})
		if err != nil {
			return err
		}
		g.wsV++
		g.projects = append(g.projects, p)
	}
	return nil
}

var genStatuses = []string{"todo", "in_progress", "in_review", "done"}

// tasks appends k new tasks of one project with their lives, in one append.
func (g *generator) tasks(ctx context.Context, k int) error {
	pi := g.rng.IntN(len(g.projects))
	p := &g.projects[pi]
	now := time.Now().UTC()
	by := g.members[g.rng.IntN(len(g.members))]
	numbers := pending{domain.TaskNumbersStream(p.id), domain.StreamTypeTaskNumbers, eventstore.Exact(p.number), nil}
	streams := []pending{{domain.ProjectStream(p.id), domain.StreamTypeProject, eventstore.Exact(p.version), nil}}
	for range k {
		p.number++
		id := uuid.New()
		key := domain.TaskKey(p.key, p.number)
		numbers.events = append(numbers.events, domain.ProjectTaskNumberReserved{ProjectID: p.id, TaskID: id, Number: p.number, By: by, At: now})
		evs := []domain.Event{domain.TaskCreated{TaskID: id, ProjectID: p.id, WorkspaceID: g.ws, Number: p.number, Key: key,
			Title: fmt.Sprintf("Implement feature %d of the %s module", p.number, p.key), Description: "As a user I want the board to load fast.",
			Priority: domain.PriorityMedium, Labels: []string{"backend"}, Status: "todo", Rank: fmt.Sprintf("%06d", p.number), By: by, At: now}}
		status := "todo"
		for range 4 + g.rng.IntN(11) {
			actor := g.members[g.rng.IntN(len(g.members))]
			switch g.rng.IntN(10) {
			case 0, 1, 2:
				to := genStatuses[g.rng.IntN(len(genStatuses))]
				if to != status {
					evs = append(evs, domain.TaskStatusChanged{TaskID: id, ProjectID: p.id, From: status, To: to, By: actor, At: now})
					status = to
				}
			case 3, 4, 5:
				mention := g.members[g.rng.IntN(len(g.members))]
				evs = append(evs, domain.TaskCommentAdded{TaskID: id, ProjectID: p.id, CommentID: uuid.New(),
					Body: "I looked into this, @" + string(mention) + " can you review?", Mentions: []domain.UserID{mention}, By: actor, At: now})
			case 6:
				evs = append(evs, domain.TaskAssigned{TaskID: id, ProjectID: p.id, Assignee: g.members[g.rng.IntN(len(g.members))], By: actor, At: now})
			case 7:
				evs = append(evs, domain.TaskTitleChanged{TaskID: id, ProjectID: p.id, Title: fmt.Sprintf("Implement feature %d (revised)", p.number), By: actor, At: now})
			case 8:
				due := now.Add(time.Duration(g.rng.IntN(60)-30) * 24 * time.Hour)
				evs = append(evs, domain.TaskDueDateChanged{TaskID: id, ProjectID: p.id, DueDate: &due, By: actor, At: now})
			case 9:
				evs = append(evs, domain.TaskReordered{TaskID: id, ProjectID: p.id, Rank: fmt.Sprintf("%06dV", p.number), By: actor, At: now})
			}
		}
		if g.rng.IntN(10) == 0 {
			evs = append(evs, domain.TaskArchived{TaskID: id, ProjectID: p.id, By: by, At: now})
		}
		streams = append(streams, pending{domain.TaskStream(id), domain.StreamTypeTask, eventstore.NoStream(), evs})
	}
	return g.append(ctx, by, append([]pending{numbers}, streams...)...)
}
