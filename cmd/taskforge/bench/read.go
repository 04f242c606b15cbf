package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/internal/config"
)

// ReadOptions configure `taskforge bench read`.
type ReadOptions struct {
	DatabaseURL string
	Seeded      string        // a database made by bench seed --database-name: read its data, on a copy (seeded.go)
	Tasks       int           // tasks on the board
	Clients     int           // concurrent HTTP clients
	Duration    time.Duration // per measurement
	JSON        bool
	// BoardOnly measures the board lines only (the cache's figures; shorter runs).
	BoardOnly bool
	// CacheMB bounds the response cache of the cached lines (default 64).
	CacheMB int
	Out     io.Writer
}

func (o *ReadOptions) validate() error {
	switch {
	case o.DatabaseURL == "":
		return errors.New("bench read: a database url is required")
	case o.Tasks < 1 || o.Tasks > 5000:
		return errors.New("bench read: --tasks must be between 1 and 5000")
	case o.Clients < 1 || o.Clients > 256:
		return errors.New("bench read: --clients must be between 1 and 256")
	case o.Duration <= 0:
		return errors.New("bench read: --duration must be positive")
	case o.CacheMB < 0:
		return errors.New("bench read: --cache-mb must be positive")
	case o.Out == nil:
		return errors.New("bench read: no output")
	}
	return nil
}

// ReadResult is one line of `bench read`.
type ReadResult struct {
	Name           string  `json:"name"`
	Clients        int     `json:"clients"`
	Tasks          int     `json:"tasks"`
	Requests       int64   `json:"requests"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	SQLStatements  int     `json:"sql_statements"`
	// CPUPerRequestUs is this process's CPU time (user + system: the API, the projections and
	// the HTTP clients; PostgreSQL is another process) over the measurement, per request.
	CPUPerRequestUs        float64  `json:"cpu_us_per_request"`
	BaselineRequestsPerSec *float64 `json:"baseline_requests_per_sec,omitempty"`
	Ratio                  *float64 `json:"ratio,omitempty"`
}

const boardQuery = `query($p: ID!) { project(id: $p) { key name openCount overdueCount
	board { status name tasks { key title priority labels dueDate commentCount
		assignee { displayName role } } } } }`

// workspaceQuery is the shape of the peer figure in DESIGN.md: a workspace's 5 projects with their
// 10 tasks each, in one request.
const workspaceQuery = `query($ws: ID!) { workspace(id: $ws) { name projects { nodes { key name openCount
	board { status tasks { key title priority labels assignee { displayName } } } } } } }`

const listQuery = `query($ws: ID!) { tasks(workspaceId: $ws, first: 50) { edges { node { key title status
	assignee { displayName } project { key } } } pageInfo { hasNextPage endCursor } } }`

// Read measures GraphQL read throughput over HTTP with concurrent clients: the board query and a
// task list page, against a baseline of `{ me { id } }` (the API's fixed cost: HTTP, auth, parse,
// validate, no SQL) measured in the same run; and the board through the response cache (a second
// API node with it on), with nothing changing and with a change every 100 ms, against the board
// with the cache off. Each line gives the process's CPU time per request (the Go side: API,
// projections and the bench's clients; PostgreSQL runs apart). Each line also gives the SQL statements one request
// ran, which must not grow with the number of tasks (dataloaders; see TestStatementBudget).
func Read(ctx context.Context, o ReadOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, drop, err := benchDatabase(ctx, o.DatabaseURL, int32(o.Clients+24), o.Seeded)
	if err != nil {
		return err
	}
	defer drop()
	env, err := startAPI(ctx, pool, o.Clients, config.Limits{}, noRateLimits)
	if err != nil {
		return err
	}
	defer env.close()
	// the board, list and workspace read: created here, or picked from a seeded database (seeded.go)
	subj, err := readSubjectsFor(ctx, o, pool, env)
	if err != nil {
		return err
	}
	c := subj.owner

	// A second API node over the same database with the response cache on (the first, which
	// also runs the projections, has it off: the baseline).
	cacheMB := o.CacheMB
	if cacheMB == 0 {
		cacheMB = config.DefaultReadCacheMB
	}
	cachedSrv, err := env.serve(func(g *graph.Options) { noRateLimits(g); g.ReadCacheBytes = int64(cacheMB) << 20 })
	if err != nil {
		return err
	}
	defer cachedSrv.Close()
	cached := &gqlClient{url: cachedSrv.URL + "/graphql", tok: c.tok, http: c.http}

	run := func(name string, c *gqlClient, query string, vars map[string]any) (ReadResult, error) {
		statements, err := c.doStatements(ctx, query, vars, nil) // warm-up, and the SQL cost
		if err != nil {
			return ReadResult{}, fmt.Errorf("%s: %w", name, err)
		}
		cpu0 := processCPU()
		r, err := measure(ctx, name, o.Clients, o.Duration, func(ctx context.Context, _, _ int) (int, error) {
			_, err := c.doStatements(ctx, query, vars, nil)
			return 1, err
		})
		if err != nil {
			return ReadResult{}, err
		}
		res := ReadResult{Name: name, Clients: o.Clients, Tasks: o.Tasks, Requests: r.Events,
			RequestsPerSec: r.EventsPerSec, P50ms: r.P50ms, P99ms: r.P99ms, SQLStatements: statements}
		if r.Events > 0 {
			res.CPUPerRequestUs = float64((processCPU() - cpu0).Microseconds()) / float64(r.Events)
		}
		return res, nil
	}
	base, err := run("read_baseline_me", c, `{ me { id } }`, nil)
	if err != nil {
		return err
	}
	results := []ReadResult{base}

	// The board three ways: cache off (its baseline), cache on with nothing changing, and cache
	// on while a writer changes the board every 100 ms (each change moves the workspace's
	// position: the next read of each request key misses once).
	boardVars := map[string]any{"p": subj.board}
	off, err := run("read_board_cache_off", c, boardQuery, boardVars)
	if err != nil {
		return err
	}
	results = append(results, off)
	on, err := run("read_board_cache_on", cached, boardQuery, boardVars)
	if err != nil {
		return err
	}
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	changes := 0
	go func() { writerDone <- changeEvery(wctx, c, subj.board, subj.boardTask, 100*time.Millisecond, &changes) }()
	changing, err := run("read_board_cache_on_change_100ms", cached, boardQuery, boardVars)
	stopWriter()
	if werr := <-writerDone; err == nil && werr != nil && !errors.Is(werr, context.Canceled) {
		err = werr
	}
	if err != nil {
		return err
	}
	for _, r := range []*ReadResult{&on, &changing} {
		b, ratio := off.RequestsPerSec, r.RequestsPerSec/off.RequestsPerSec
		r.BaselineRequestsPerSec, r.Ratio = &b, &ratio
	}
	results = append(results, on, changing)
	if o.BoardOnly {
		return printRead(o, results, changes)
	}
	for _, q := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"read_board", boardQuery, map[string]any{"p": subj.board}},
		{"read_task_list", listQuery, map[string]any{"ws": subj.list}},
		{"read_workspace_5x10", workspaceQuery, map[string]any{"ws": subj.five}},
	} {
		cl := c
		if q.name == "read_workspace_5x10" {
			cl = subj.fiveOwner
		}
		r, err := run(q.name, cl, q.query, q.vars)
		if err != nil {
			return err
		}
		b, ratio := base.RequestsPerSec, r.RequestsPerSec/base.RequestsPerSec
		r.BaselineRequestsPerSec, r.Ratio = &b, &ratio
		results = append(results, r)
	}
	return printRead(o, results, changes)
}

func printRead(o ReadOptions, results []ReadResult, changes int) error {
	if o.JSON {
		return jsonLines(o.Out, results)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tclients\ttasks\treq/s\tp50 ms\tp99 ms\tSQL/request\tCPU µs/req\tratio\t")
	for _, r := range results {
		ratio := "-"
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%d\t%.0f\t%s\t\n", r.Name, r.Clients, r.Tasks, r.RequestsPerSec, r.P50ms,
			r.P99ms, r.SQLStatements, r.CPUPerRequestUs, ratio)
	}
	fmt.Fprintf(tw, "ratios: the cached board lines to read_board_cache_off, the others to read_baseline_me; %d board changes during the 100 ms line\n", changes)
	return tw.Flush()
}

// changeEvery renames the task every interval until ctx ends, counting the changes.
func changeEvery(ctx context.Context, c *gqlClient, project, task string, every time.Duration, n *int) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		err := c.do(ctx, `mutation($t: ID!, $title: String!) { editTask(input: {taskId: $t, title: $title}) { id } }`,
			map[string]any{"t": task, "title": fmt.Sprintf("Task 0 (change %d)", i)}, &struct{}{})
		if err != nil {
			return err
		}
		*n = i + 1
	}
}
