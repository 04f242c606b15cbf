package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// FailoverOptions configure `taskforge bench failover`.
type FailoverOptions struct {
	DatabaseURL string
	// PgBouncerURL, when set, is where the children's transactions go (DATABASE_URL; the scratch
	// database's name replaces its database, so the pooler must serve any database, e.g.
	// `* = host=127.0.0.1`); sessions (LISTEN, leases) still go to DatabaseURL's server directly.
	PgBouncerURL string
	Workers      int           // worker processes kept running (default 3)
	Kills        int           // workers SIGKILLed, one per Interval
	Interval     time.Duration // between kills
	Rate         int           // mutations per second, in total
	Clients      int           // concurrent mutation clients
	// Drain bounds the wait, after the kills, for the consumers to reach the log's head and the
	// deliveries to finish; FailoverTimeout bounds one failover.
	Drain           time.Duration
	FailoverTimeout time.Duration
	// Executable is the taskforge binary the processes run (default: this process's own).
	Executable string
	JSON       bool
	Out        io.Writer
	Progress   io.Writer // one line per kill, and where the children's logs are on a failure
}

func (o *FailoverOptions) validate() error {
	if o.Workers == 0 {
		o.Workers = 3
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	switch {
	case o.DatabaseURL == "":
		return errors.New("bench failover: a database url is required")
	case o.Workers < 2 || o.Workers > 16:
		return errors.New("bench failover: --workers must be in 2..16 (a failover needs a survivor)")
	case o.Kills < 1 || o.Kills > 1000:
		return errors.New("bench failover: --kills must be in 1..1000")
	case o.Interval < 100*time.Millisecond:
		return errors.New("bench failover: --interval must be at least 100ms")
	case o.Rate < 1 || o.Rate > 10000:
		return errors.New("bench failover: --rate must be in 1..10000")
	case o.Clients < 1 || o.Clients > 256:
		return errors.New("bench failover: --clients must be in 1..256")
	case o.Drain <= 0:
		return errors.New("bench failover: --drain must be positive")
	case o.Out == nil:
		return errors.New("bench failover: no output")
	}
	return nil
}

// FailoverResult is the line `bench failover` prints. The targets: failover_ms_p99 ≤ 2000,
// lost = 0, lost_deliveries = 0, duplicate_deliveries ≤ in_flight_at_kills,
// applied_per_event ≤ 1.01, read_tables_equal_rebuild.
type FailoverResult struct {
	Name     string  `json:"name"`
	Workers  int     `json:"workers"`
	Kills    int     `json:"kills"`
	P50ms    float64 `json:"failover_ms_p50"`
	P99ms    float64 `json:"failover_ms_p99"`
	MaxMs    float64 `json:"failover_ms_max"`
	Timeouts int     `json:"failover_timeouts"` // failovers not seen within the timeout (counted at it)
	// Failovers lists each kill's failover, in order.
	Failovers []float64 `json:"failover_ms"`

	Acknowledged   int `json:"acknowledged"`
	MutationErrors int `json:"mutation_errors"` // sent and not acknowledged (never counted as lost)
	// AcknowledgedEvents is the distinct events the acknowledgements name: fewer than
	// Acknowledged if two acknowledgements named one event (each mutation appends one task event).
	AcknowledgedEvents int `json:"acknowledged_events"`
	Lost               int `json:"lost"`
	LostInLog          int `json:"lost_in_log"`        // of lost: the event is not in the log
	LostInRead         int `json:"lost_in_read_table"` // of lost: rm_tasks lacks the task at that version

	Events          int64   `json:"events"`
	AppliedPerEvent float64 `json:"applied_per_event"`

	ExpectedDeliveries  int `json:"expected_deliveries"`
	Received            int `json:"received_deliveries"` // requests, repeats included
	LostDeliveries      int `json:"lost_deliveries"`
	DuplicateDeliveries int `json:"duplicate_deliveries"` // keys received more than once
	InFlightAtKills     int `json:"in_flight_at_kills"`
	DeadDeliveries      int `json:"dead_deliveries"`

	ReadTablesEqualRebuild bool     `json:"read_tables_equal_rebuild"`
	TablesDiffering        []string `json:"tables_differing,omitempty"`
	// DrainMissing says what had not caught up when the drain's bound ran out.
	DrainMissing []string `json:"drain_missing,omitempty"`

	DurationS       float64 `json:"duration_s"` // mutations' length
	MutationsPerSec float64 `json:"mutations_per_sec"`
}

// Failover runs the service as a cluster of OS processes of this binary (o.Workers `serve --role
// workers` and one `serve --role api`) over a scratch database, drives mutations through the API
// while a local receiver takes a webhook per task event, and SIGKILLs the owner of one consumer
// every o.Interval, starting a replacement at once. It measures each failover (until every
// consumer the victim owned has another live owner and has moved past its checkpoint at the kill),
// then, with the cluster drained and stopped, checks that nothing was lost or applied twice:
// acknowledged mutations against the log and rm_tasks, events_handled against the log, webhooks
// received against the events, and the live read tables against a rebuild from the log.
func Failover(ctx context.Context, o FailoverOptions) (err error) {
	if err := o.validate(); err != nil {
		return err
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("bench failover: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pool, drop, err := scratch(ctx, o.DatabaseURL, 8)
	if err != nil {
		return err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "taskforge-failover-")
	if err != nil {
		return err
	}
	keepLogs := true
	defer func() {
		if keepLogs {
			fmt.Fprintf(o.Progress, "bench failover: the processes' logs are in %s\n", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	secret, key := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(key)
	jwtSecret := hex.EncodeToString(secret)
	dbURL := pool.Config().ConnString()
	txURL := dbURL
	if o.PgBouncerURL != "" {
		if txURL, err = database.WithDatabaseName(o.PgBouncerURL, pool.Config().ConnConfig.Database); err != nil {
			return err
		}
	}
	cl := &processes{exe: exe, dir: dir, env: []string{
		"DATABASE_URL=" + txURL,
		"DATABASE_DIRECT_URL=" + dbURL,
		"DB_MAX_CONNS=10", // five processes within PostgreSQL's default 100 connections
		"JWT_SECRET=" + jwtSecret,
		"WEBHOOK_SECRET_KEY=" + hex.EncodeToString(key),
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS=true", // the receiver is on loopback
		"WEBHOOK_TIMEOUT=2s",
		"RATE_LIMIT=false", // one principal sends every mutation
		"METRICS_ADDR=",    // several processes on one host: no metrics listeners to collide
		"SHUTDOWN_TIMEOUT=5s",
		"LOG_LEVEL=warn",
		"WORKER_CONSUMERS=", // no pins: the leases spread the consumers
		"LOG_FORMAT=text",
	}}
	// The children die with the bench, however it ends (a panic unwinds through here too; a
	// SIGKILL of the bench itself reaches them through Pdeathsig on Linux).
	defer cl.killAll()

	recv := newReceiver()
	defer recv.srv.Close()

	api, err := cl.start("api")
	if err != nil {
		return err
	}
	workers := make([]*child, 0, o.Workers)
	for range o.Workers {
		w, err := cl.start("workers")
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}
	if err := waitHealthy(ctx, api, 30*time.Second); err != nil {
		return err
	}
	if err := waitRegistered(ctx, pool, workers, 30*time.Second); err != nil {
		return err
	}

	tok, err := auth.MintHS256([]byte(jwtSecret), auth.Principal{UserID: "bench-owner", Email: "owner@bench.test", Name: "Owner"},
		2*time.Hour, time.Now(), "", "")
	if err != nil {
		return err
	}
	c := &gqlClient{url: "http://" + api.addr + "/graphql", tok: tok, http: &http.Client{
		Timeout: 30 * time.Second, Transport: acknowledged{&http.Transport{MaxIdleConnsPerHost: o.Clients + 4}}}}
	var ws, p, hook struct{ ID, WebhookID string }
	if err := c.do(ctx, `mutation { createWorkspace(input: {name: "Failover"}) { id } }`, nil, &ws); err != nil {
		return fmt.Errorf("create workspace: %w", err)
	}
	if err := c.do(ctx, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Failover", key: "FO"}) { id } }`,
		map[string]any{"ws": ws.ID}, &p); err != nil {
		return fmt.Errorf("create project: %w", err)
	}
	var taskTypes []string
	for _, t := range domain.WebhookEventTypes() {
		if strings.HasPrefix(t, domain.StreamTypeTask+".") {
			taskTypes = append(taskTypes, t)
		}
	}
	if err := c.do(ctx, `mutation($ws: ID!, $url: String!, $types: [String!]) {
		registerWebhook(input: {workspaceId: $ws, url: $url, eventTypes: $types}) { id webhookId } }`,
		map[string]any{"ws": ws.ID, "url": recv.srv.URL + "/hook", "types": taskTypes}, &hook); err != nil {
		return fmt.Errorf("register webhook: %w", err)
	}

	if err := waitOwners(ctx, pool, 10*time.Second); err != nil {
		return err
	}
	res := FailoverResult{Name: "failover", Workers: o.Workers}

	// Mutations at a steady rate from o.Clients clients, each creating tasks and editing its own.
	drive := startMutations(ctx, c, p.ID, o.Rate, o.Clients)
	defer drive.stop() // on an early return; stopping twice is stopping once

	// The kills, on a connection of their own so that the polls never wait for a pool slot.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	names := consumerNames()
	var fails []time.Duration
	next := time.Now().Add(o.Interval)
	for k := range o.Kills {
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return ctx.Err()
		}
		kr, err := killOne(ctx, conn.Conn(), cl, names[k%len(names)], o.FailoverTimeout)
		if err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		fails = append(fails, kr.failover)
		res.InFlightAtKills += kr.inFlight
		note := ""
		if kr.timedOut {
			res.Timeouts++
			note = " (timed out)"
		}
		fmt.Fprintf(o.Progress, "kill %d/%d: pid %d owned %s, %d deliveries in flight: failover %.0f ms%s (%s)\n", k+1, o.Kills,
			kr.pid, strings.Join(kr.consumers, ","), kr.inFlight, ms(kr.failover), note, strings.Join(kr.steps, "; "))
		// The next kill an interval after this one, or at once if this failover took longer.
		if next = next.Add(o.Interval); next.Before(time.Now()) {
			next = time.Now()
		}
	}
	acks, mutErrs, elapsed := drive.stop()
	res.Kills = len(fails)
	res.Acknowledged, res.MutationErrors = len(acks), mutErrs
	res.DurationS = elapsed.Seconds()
	res.MutationsPerSec = float64(len(acks)) / elapsed.Seconds()
	res.Failovers = make([]float64, len(fails))
	for i, f := range fails {
		res.Failovers[i] = ms(f)
	}
	slices.Sort(fails)
	res.P50ms, res.P99ms, res.MaxMs = ms(nearestRank(fails, 0.50)), ms(nearestRank(fails, 0.99)), ms(fails[len(fails)-1])

	// Drain, then stop the cluster: the rebuild below compares against tables nobody writes.
	res.DrainMissing, err = drain(ctx, pool, hook.WebhookID, o.Drain)
	if err != nil {
		return err
	}
	cl.stopAll(10 * time.Second)

	if err := checkLost(ctx, pool, acks, &res); err != nil {
		return err
	}
	if err := checkApplied(ctx, pool, &res); err != nil {
		return err
	}
	if err := checkDeliveries(ctx, pool, hook.WebhookID, taskTypes, recv, &res); err != nil {
		return err
	}
	if err := checkRebuild(ctx, pool, &res); err != nil {
		return err
	}
	keepLogs = !res.met()
	return printFailover(o, res)
}

// met reports whether the run met the correctness targets (not the timing one).
func (r FailoverResult) met() bool {
	return r.Lost == 0 && r.LostDeliveries == 0 && r.DuplicateDeliveries <= r.InFlightAtKills &&
		r.AppliedPerEvent <= 1.01 && r.ReadTablesEqualRebuild && len(r.DrainMissing) == 0 && r.Timeouts == 0
}

func printFailover(o FailoverOptions, r FailoverResult) error {
	if o.JSON {
		return json.NewEncoder(o.Out).Encode(r)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kills\tfailover p50 ms\tp99 ms\tmax ms\tacknowledged\tlost\tapplied/event\tlost deliveries\tduplicates\tin flight at kills\ttables = rebuild\tmutations/s\t")
	fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.0f\t%d\t%d\t%.3f\t%d\t%d\t%d\t%t\t%.0f\t\n", r.Kills, r.P50ms, r.P99ms, r.MaxMs,
		r.Acknowledged, r.Lost, r.AppliedPerEvent, r.LostDeliveries, r.DuplicateDeliveries, r.InFlightAtKills,
		r.ReadTablesEqualRebuild, r.MutationsPerSec)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range r.DrainMissing {
		fmt.Fprintln(o.Out, "not drained:", m)
	}
	for _, t := range r.TablesDiffering {
		fmt.Fprintln(o.Out, "differs from its rebuild:", t)
	}
	return nil
}

// nearestRank is the p-th percentile of sorted by the nearest-rank method: with the ten kills of
// a run, p99 is the slowest failover, not the second slowest (percentileMS rounds the rank
// below, fine for thousands of samples, not for ten).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms is d in milliseconds, to a tenth.
func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

// consumerNames are the consumers a worker runs, by their lease names: each projection's and the
// side-effect consumer's.
func consumerNames() []string {
	return append(projections.Names(), sideeffects.ConsumerName)
}

// processes are the bench's child processes.
type processes struct {
	exe, dir string
	env      []string
	mu       sync.Mutex
	seq      int
	children []*child
}

// child is one `taskforge serve` process; done closes once it has exited and been reaped.
type child struct {
	role, addr string
	cmd        *exec.Cmd
	done       chan struct{}
	killed     bool // by the bench, on purpose
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// start runs `taskforge serve --role role` with the cluster's environment, its own loopback
// HTTP_ADDR, and its output in its own log file.
func (cl *processes) start(role string) (*child, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	cl.seq++
	n := cl.seq
	cl.mu.Unlock()
	f, err := os.Create(filepath.Join(cl.dir, fmt.Sprintf("%02d-%s.log", n, role)))
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(cl.exe, "serve", "--role", role, "--skip-migrate")
	// Later entries win: the cluster's settings over whatever the bench's environment holds.
	cmd.Env = append(append(os.Environ(), cl.env...), "HTTP_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	ch := &child{role: role, addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(ch.done)
	}()
	cl.mu.Lock()
	cl.children = append(cl.children, ch)
	cl.mu.Unlock()
	return ch, nil
}

// byPID returns the live child with OS pid pid.
func (cl *processes) byPID(pid int) *child {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, c := range cl.children {
		if c.pid() == pid && !c.killed && c.alive() {
			return c
		}
	}
	return nil
}

// kill SIGKILLs c: no shutdown, no lease given back, connections cut by the kernel.
func (cl *processes) kill(c *child) error {
	cl.mu.Lock()
	c.killed = true
	cl.mu.Unlock()
	return c.cmd.Process.Kill()
}

// stopAll asks every child to stop (SIGTERM: a graceful shutdown) and SIGKILLs those still
// running after grace.
func (cl *processes) stopAll(grace time.Duration) {
	cl.mu.Lock()
	children := slices.Clone(cl.children)
	cl.mu.Unlock()
	for _, c := range children {
		if c.alive() {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(grace)
	for _, c := range children {
		select {
		case <-c.done:
		case <-deadline:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// killAll SIGKILLs every child still running and reaps it.
func (cl *processes) killAll() {
	cl.mu.Lock()
	children := slices.Clone(cl.children)
	cl.mu.Unlock()
	for _, c := range children {
		if c.alive() {
			_ = c.cmd.Process.Kill()
		}
	}
	for _, c := range children {
		<-c.done
	}
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1 (free when asked: another
// process could take it before the child binds it, which the child then reports and exits).
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// waitHealthy waits for the API process to answer /healthz.
func waitHealthy(ctx context.Context, c *child, within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/healthz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !c.alive() {
			return fmt.Errorf("bench failover: the %s process exited at start: %s", c.role, c.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench failover: the %s process did not answer /healthz within %s", c.role, within)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitRegistered waits until each worker process has registered its node.
func waitRegistered(ctx context.Context, pool *pgxpool.Pool, ws []*child, within time.Duration) error {
	pids := make([]int32, len(ws))
	for i, w := range ws {
		pids[i] = int32(w.pid())
	}
	deadline := time.Now().Add(within)
	for {
		var n int
		// cluster_nodes holds a row per live process: a scan of a handful of rows
		if err := pool.QueryRow(ctx, `SELECT count(DISTINCT pid) FROM cluster_nodes WHERE role = 'workers' AND pid = ANY ($1)`,
			pids).Scan(&n); err != nil {
			return err
		}
		if n == len(ws) {
			return nil
		}
		for _, w := range ws {
			if !w.alive() {
				return fmt.Errorf("bench failover: a worker process exited at start: %s", w.cmd.ProcessState)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench failover: %d of %d workers registered within %s", n, len(ws), within)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitOwners waits until every consumer has an owner in consumer_leases.
func waitOwners(ctx context.Context, pool *pgxpool.Pool, within time.Duration) error {
	names := consumerNames()
	deadline := time.Now().Add(within)
	for {
		var owned int
		// consumer_leases has a row per consumer
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM consumer_leases WHERE node_id IS NOT NULL AND name = ANY ($1)`,
			names).Scan(&owned); err != nil {
			return err
		}
		if owned == len(names) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench failover: %d of %d consumers have an owner after %s", owned, len(names), within)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acknowledged makes any HTTP status but 200 an error: a mutation counts as acknowledged only
// when the API answered 200 without errors.
type acknowledged struct{ next http.RoundTripper }

func (a acknowledged) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(r)
	if err == nil && resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp, err
}

// receiver is the webhook endpoint: it counts the requests per Idempotency-Key and answers 200.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]int
	n    int
}

func newReceiver() *receiver {
	r := &receiver{keys: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		k := req.Header.Get(sideeffects.HeaderIdempotencyKey)
		r.mu.Lock()
		r.keys[k]++
		r.n++
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	return r
}

// ack is an acknowledged mutation: the task it wrote and the task's version after it.
type ack struct {
	task    string
	version int64
}

// mutations drives createTask and editTask through the API at a steady rate.
type mutations struct {
	stop func() (acks []ack, errs int, elapsed time.Duration)
}

// startMutations sends rate mutations a second from clients goroutines: a ticker hands out slots
// (a busy client makes its slot wait); each client creates a task every fifth slot (and on its
// first) and otherwise renames one of its own tasks, so that no two clients race on a task.
func startMutations(ctx context.Context, c *gqlClient, project string, rate, clients int) mutations {
	var (
		mu   sync.Mutex
		acks []ack
		errs int
		wg   sync.WaitGroup
	)
	slots := make(chan int, rate)
	for range clients {
		wg.Go(func() {
			var mine []string
			for n := range slots {
				var r struct {
					ID      string
					Version int64
				}
				var err error
				if len(mine) == 0 || n%5 == 0 {
					err = c.do(ctx, `mutation($p: ID!, $title: String!) { createTask(input: {projectId: $p, title: $title}) { id version } }`,
						map[string]any{"p": project, "title": fmt.Sprintf("task %d", n)}, &r)
					if err == nil {
						mine = append(mine, r.ID)
					}
				} else {
					err = c.do(ctx, `mutation($t: ID!, $title: String!) { editTask(input: {taskId: $t, title: $title}) { id version } }`,
						map[string]any{"t": mine[n%len(mine)], "title": fmt.Sprintf("edit %d", n)}, &r)
				}
				mu.Lock()
				if err != nil {
					errs++
				} else {
					acks = append(acks, ack{task: r.ID, version: r.Version})
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer close(slots)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-tick.C:
			case <-done:
				return
			case <-ctx.Done():
				return
			}
			select {
			case slots <- n:
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	var elapsed time.Duration
	return mutations{stop: func() ([]ack, int, time.Duration) {
		once.Do(func() {
			close(done)
			<-stopped
			elapsed = time.Since(start)
			wg.Wait()
		})
		mu.Lock()
		defer mu.Unlock()
		return acks, errs, elapsed
	}}
}

// killed is what one kill measured.
type killed struct {
	pid       int
	consumers []string
	inFlight  int
	failover  time.Duration
	timedOut  bool
	// steps says, per consumer, when a live owner other than the victim held it and when its
	// checkpoint moved on (where a slow failover spent its time).
	steps []string
}

// position is a consumer's checkpoint, (transaction id, position) in the log's order.
type position struct{ tx, pos int64 }

func (p position) after(q position) bool { return p.tx > q.tx || (p.tx == q.tx && p.pos > q.pos) }

// consumerState is a consumer's checkpoint and its owner's OS pid (0: no owner, or an owner not
// registered as a node).
type consumerState struct {
	cp       position
	ownerPID int
}

// consumerStates reads every consumer's checkpoint (a projection's active version's; the
// side-effect consumer's) and its lease's owner. Each table holds a row per consumer.
func consumerStates(ctx context.Context, conn *pgx.Conn) (map[string]consumerState, error) {
	rows, err := conn.Query(ctx, `WITH cp AS (
			SELECT c.name, c.transaction_id, c.position FROM projection_versions v
			JOIN projection_checkpoints c ON c.name = v.name AND c.version = v.active_version
			UNION ALL
			SELECT name, transaction_id, position FROM side_effect_consumers WHERE name = $1)
		SELECT cp.name, cp.transaction_id, cp.position, coalesce(n.pid, 0)
		FROM cp LEFT JOIN consumer_leases l ON l.name = cp.name LEFT JOIN cluster_nodes n ON n.id = l.node_id`,
		sideeffects.ConsumerName)
	if err != nil {
		return nil, err
	}
	out := map[string]consumerState{}
	for rows.Next() {
		var name string
		var s consumerState
		if err := rows.Scan(&name, &s.cp.tx, &s.cp.pos, &s.ownerPID); err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, rows.Err()
}

// killOne SIGKILLs the owner of consumer, starts a
// replacement, and measures the failover: until every consumer the victim owned has another live
// owner among the bench's processes and a checkpoint past the one read just after the kill. (A
// commit the victim sent just before dying may still land after that read; the fencing token
// makes it the victim's last, and the next event moves the checkpoint a few milliseconds later
// at the bench's rates.)
func killOne(ctx context.Context, conn *pgx.Conn, cl *processes, consumer string, timeout time.Duration) (killed, error) {
	var kr killed
	var victim *child
	var node string
	// The owner, once there is one (it may still be changing hands after the last kill).
	ownerBy := time.Now().Add(timeout)
	for victim == nil {
		var pid int32
		// consumer_leases by its primary key, cluster_nodes by its
		err := conn.QueryRow(ctx, `SELECT n.pid, n.id::text FROM consumer_leases l JOIN cluster_nodes n ON n.id = l.node_id
			WHERE l.name = $1`, consumer).Scan(&pid, &node)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return kr, err
		}
		if err == nil {
			if victim = cl.byPID(int(pid)); victim == nil || victim.role != "workers" {
				return kr, fmt.Errorf("consumer %s is owned by pid %d, not one of the bench's workers", consumer, pid)
			}
			break
		}
		if time.Now().After(ownerBy) {
			return kr, fmt.Errorf("consumer %s has no owner", consumer)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return kr, err
		}
	}
	kr.pid = victim.pid()
	// consumer_leases is a row per consumer
	rows, err := conn.Query(ctx, `SELECT name FROM consumer_leases WHERE node_id = $1::uuid ORDER BY name`, node)
	if err != nil {
		return kr, err
	}
	if kr.consumers, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return kr, err
	}

	// The deliveries the victim is in the middle of: read just before the kill and again just
	// after it (before its claims can have been released), so that one claimed in between counts.
	inFlight := map[int64]bool{}
	claimed := func() error {
		// status 'delivering' rows: webhook_deliveries_leased_idx
		rows, err := conn.Query(ctx, `SELECT id FROM webhook_deliveries WHERE status = 'delivering' AND claimed_by = $1::uuid`, node)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		for _, id := range ids {
			inFlight[id] = true
		}
		return err
	}
	if err := claimed(); err != nil {
		return kr, err
	}
	if err := cl.kill(victim); err != nil {
		return kr, fmt.Errorf("kill pid %d: %w", kr.pid, err)
	}
	killedAt := time.Now()
	if err := claimed(); err != nil {
		return kr, err
	}
	kr.inFlight = len(inFlight)
	at, err := consumerStates(ctx, conn)
	if err != nil {
		return kr, err
	}
	if _, err := cl.start("workers"); err != nil {
		return kr, err
	}

	pending := slices.Clone(kr.consumers)
	owned := map[string]time.Duration{} // when a live owner other than the victim was first seen
	deadline := killedAt.Add(timeout)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			kr.failover, kr.timedOut = timeout, true
			for _, name := range pending {
				kr.steps = append(kr.steps, name+" pending")
			}
			return kr, nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return kr, err
		}
		now, err := consumerStates(ctx, conn)
		if err != nil {
			return kr, err
		}
		since := time.Since(killedAt)
		pending = slices.DeleteFunc(pending, func(name string) bool {
			s := now[name]
			if s.ownerPID == kr.pid || s.ownerPID == 0 || cl.byPID(s.ownerPID) == nil {
				return false
			}
			if _, ok := owned[name]; !ok {
				owned[name] = since
			}
			if !s.cp.after(at[name].cp) {
				return false
			}
			kr.steps = append(kr.steps, fmt.Sprintf("%s owned %.0f ms, moved %.0f ms", name, ms(owned[name]), ms(since)))
			return true
		})
	}
	kr.failover = time.Since(killedAt)
	return kr, nil
}

// drain waits, at most within, until every consumer has reached the log's head and no delivery
// of the webhook is pending or in flight; it returns what had not when the time ran out.
func drain(ctx context.Context, pool *pgxpool.Pool, webhook string, within time.Duration) ([]string, error) {
	deadline := time.Now().Add(within)
	for {
		var missing []string
		var head position
		// the last event by events_global_order_idx
		err := pool.QueryRow(ctx, `SELECT transaction_id::text::bigint, position FROM events
			ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&head.tx, &head.pos)
		if err != nil {
			return nil, err
		}
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		states, err := consumerStates(ctx, conn.Conn())
		conn.Release()
		if err != nil {
			return nil, err
		}
		for _, name := range consumerNames() {
			if s := states[name]; head.after(s.cp) {
				missing = append(missing, fmt.Sprintf("consumer %s at %d.%d, head %d.%d", name, s.cp.tx, s.cp.pos, head.tx, head.pos))
			}
		}
		var open int
		// webhook_deliveries_due_idx and webhook_deliveries_leased_idx cover both statuses
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'delivering') AND webhook_id = $1::uuid`,
			webhook).Scan(&open); err != nil {
			return nil, err
		}
		if open > 0 {
			missing = append(missing, fmt.Sprintf("%d deliveries pending or in flight", open))
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// checkLost counts the acknowledged mutations whose effect is missing: the event (the task's
// stream at the acknowledged version) is not in the log, or rm_tasks does not show the task at
// that version or later.
func checkLost(ctx context.Context, pool *pgxpool.Pool, acks []ack, res *FailoverResult) error {
	tasks, versions := make([]string, len(acks)), make([]int64, len(acks))
	for i, a := range acks {
		tasks[i], versions[i] = a.task, a.version
	}
	// events by events_stream_version_key, rm_tasks by its primary key
	return pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE e.event_id IS NULL OR NOT r.in_read),
			count(*) FILTER (WHERE e.event_id IS NULL),
			count(*) FILTER (WHERE NOT r.in_read),
			count(DISTINCT e.event_id)
		FROM unnest($1::text[], $2::bigint[]) AS a(task, version)
		LEFT JOIN events e ON e.stream_id = $3 || a.task AND e.stream_version = a.version
		CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM rm_tasks t WHERE t.id = a.task::uuid AND t.version >= a.version) AS in_read) r`,
		tasks, versions, domain.StreamTypeTask+"-").Scan(&res.Lost, &res.LostInLog, &res.LostInRead, &res.AcknowledgedEvents)
}

// checkApplied compares the events the projections' active versions counted with the log:
// taskforge_projection_try_advance adds one per event it moves a checkpoint over, so an event
// applied twice would count twice.
func checkApplied(ctx context.Context, pool *pgxpool.Pool, res *FailoverResult) error {
	var handled int64
	var nproj int
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(c.events_handled), 0), count(*) FROM projection_versions v
		JOIN projection_checkpoints c ON c.name = v.name AND c.version = v.active_version`).Scan(&handled, &nproj); err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&res.Events); err != nil {
		return err
	}
	if nproj != len(projections.All()) {
		return fmt.Errorf("bench failover: %d projections have an active version, want %d", nproj, len(projections.All()))
	}
	if res.Events > 0 {
		res.AppliedPerEvent = float64(handled) / float64(res.Events*int64(nproj))
	}
	return nil
}

// checkDeliveries compares the webhooks received with the ones due: one per event of a
// subscribed type in the workspace, recorded after the webhook's registration (in the log's
// order) and not before the side-effect consumer's first start (older events are not delivered).
func checkDeliveries(ctx context.Context, pool *pgxpool.Pool, webhook string, types []string, recv *receiver, res *FailoverResult) error {
	// The registration event, then the events after it: events_global_order_idx; json metadata is
	// read per row (a bench's log, not a production query).
	rows, err := pool.Query(ctx, `WITH reg AS (
			SELECT e.transaction_id, e.position, e.metadata->>'workspace_id' AS ws FROM events e
			WHERE e.event_type = $1 AND e.data->>'webhook_id' = $2)
		SELECT e.event_id::text FROM events e, reg, side_effect_consumers s
		WHERE s.name = $4 AND (e.transaction_id, e.position) > (reg.transaction_id, reg.position)
		  AND e.event_type = ANY ($3) AND e.metadata->>'workspace_id' = reg.ws AND e.recorded_at >= s.deliver_from`,
		domain.EventWebhookRegistered, webhook, types, sideeffects.ConsumerName)
	if err != nil {
		return err
	}
	expected, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(expected) == 0 {
		return errors.New("bench failover: no webhook delivery was due (is the registration event's webhook_id field named so?)")
	}
	res.ExpectedDeliveries = len(expected)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	res.Received = recv.n
	for _, id := range expected {
		if recv.keys[id] == 0 {
			res.LostDeliveries++
		}
	}
	for _, n := range recv.keys {
		if n > 1 {
			res.DuplicateDeliveries++
		}
	}
	return pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'dead' AND webhook_id = $1::uuid`,
		webhook).Scan(&res.DeadDeliveries)
}

// checkRebuild rebuilds every projection from the log into a new version, keeping the live one,
// and compares their tables row by row.
func checkRebuild(ctx context.Context, pool *pgxpool.Pool, res *FailoverResult) error {
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters()})
	if err != nil {
		return err
	}
	rebuilt, err := projections.Rebuild(ctx, es, projections.All(), projections.RebuildOptions{KeepOld: true})
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	res.ReadTablesEqualRebuild = true
	for _, r := range rebuilt {
		ps, err := projections.ByName(r.Name)
		if err != nil {
			return err
		}
		diffs, err := projections.CompareVersions(ctx, pool, ps[0], r.FromVersion, r.Version)
		if err != nil {
			return err
		}
		for _, d := range diffs {
			if !d.Equal() {
				res.ReadTablesEqualRebuild = false
				res.TablesDiffering = append(res.TablesDiffering, fmt.Sprintf("%s: %d rows live, %d rebuilt, %d only live, %d only rebuilt",
					d.Table, d.RowsA, d.RowsB, d.OnlyA, d.OnlyB))
			}
		}
	}
	return nil
}
