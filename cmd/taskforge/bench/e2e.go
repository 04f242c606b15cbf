package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/config"
)

// E2EOptions configure `taskforge bench e2e`.
type E2EOptions struct {
	DatabaseURL string
	Seeded      string        // a database made by bench seed --database-name: run on a copy of it (seeded.go)
	Duration    time.Duration // how long mutations are sent
	Subscribers int           // websocket subscribers of taskChanged on the project
	Rate        int           // mutations per second, in total
	Clients     int           // concurrent mutation clients (each edits its own task)
	JSON        bool
	Out         io.Writer
}

func (o *E2EOptions) validate() error {
	switch {
	case o.DatabaseURL == "":
		return errors.New("bench: a database url is required")
	case o.Duration <= 0:
		return errors.New("bench: --duration must be positive")
	case o.Subscribers < 1 || o.Subscribers > 1000:
		return errors.New("bench: --subscribers must be in 1..1000")
	case o.Rate < 1 || o.Rate > 10000:
		return errors.New("bench: --rate must be in 1..10000")
	case o.Clients < 1 || o.Clients > 256:
		return errors.New("bench: --clients must be in 1..256")
	case o.Out == nil:
		return errors.New("bench: no output")
	}
	return nil
}

// E2EResult is the line `bench e2e` prints.
type E2EResult struct {
	Name        string  `json:"name"`
	Subscribers int     `json:"subscribers"`
	Clients     int     `json:"clients"`
	TargetRate  int     `json:"target_rate"`
	Mutations   int     `json:"mutations"`
	Rate        float64 `json:"mutations_per_sec"`
	Deliveries  int     `json:"deliveries"` // (mutation, subscriber) pairs seen
	Missing     int     `json:"missing"`    // pairs never seen within the drain time
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	MutationP50 float64 `json:"mutation_p50_ms"` // the HTTP round trip of the mutation itself
	MutationP99 float64 `json:"mutation_p99_ms"`
	Dropped     int64   `json:"dropped_subscriptions"`
}

// E2E measures live updates end to end, in one process as `taskforge serve` runs them (API, live
// hub, projection runner) over a scratch database: o.Subscribers websocket clients subscribe to
// taskChanged on a project while o.Clients HTTP clients edit tasks at o.Rate mutations/s in
// total. The latency of a (mutation, subscriber) pair runs from just before the mutation's
// request is sent to the arrival at that subscriber of the first message whose task version
// includes the mutation (a message may cover several edits: the hub sends read-model state).
func E2E(ctx context.Context, o E2EOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, drop, err := benchDatabase(ctx, o.DatabaseURL, int32(o.Clients+24), o.Seeded)
	if err != nil {
		return err
	}
	defer drop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	env, err := startAPI(ctx, pool, o.Clients, config.Limits{}, noRateLimits)
	if err != nil {
		return err
	}
	defer env.close()
	hub, srv, c, tok := env.hub, env.srv, env.client, env.token

	// A workspace, a project and one task per client (edits of one task are sequential).
	var ws, p struct{ ID, ConsistencyToken string }
	if err := c.do(ctx, `mutation { createWorkspace(input: {name: "Bench"}) { id } }`, nil, &ws); err != nil {
		return err
	}
	if err := c.do(ctx, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Bench", key: "BE"}) { id consistencyToken } }`,
		map[string]any{"ws": ws.ID}, &p); err != nil {
		return err
	}
	tasks := make([]string, o.Clients)
	for i := range tasks {
		var t struct{ ID, ConsistencyToken string }
		if err := c.do(ctx, `mutation($p: ID!, $title: String!) { createTask(input: {projectId: $p, title: $title}) { id consistencyToken } }`,
			map[string]any{"p": p.ID, "title": fmt.Sprintf("task %d", i)}, &t); err != nil {
			return err
		}
		tasks[i] = t.ID
		p.ConsistencyToken = t.ConsistencyToken
	}
	// Subscribing checks membership on the read models: wait for them.
	if err := c.do(ctx, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { id } }`,
		map[string]any{"p": p.ID, "tok": p.ConsistencyToken}, &struct{}{}); err != nil {
		return err
	}

	subs := make([]*benchSubscriber, o.Subscribers)
	for i := range subs {
		s, err := dialSubscriber(ctx, srv.URL+"/graphql", tok, p.ID)
		if err != nil {
			return err
		}
		defer s.close()
		subs[i] = s
	}
	deadline := time.Now().Add(10 * time.Second)
	for hub.Subscriptions() < o.Subscribers {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d of %d subscriptions registered", hub.Subscriptions(), o.Subscribers)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Mutations at a steady rate: a ticker hands out slots; a client that is still busy makes
	// its slot wait (the latency still counts from when the request is sent).
	type mutation struct {
		task    string
		version int64
		sent    time.Time
		took    time.Duration
	}
	var (
		mu    sync.Mutex
		muts  []mutation
		first error
	)
	slots := make(chan int, o.Rate)
	var cw sync.WaitGroup
	for w := range o.Clients {
		cw.Go(func() {
			for n := range slots {
				var r struct{ Version int64 }
				sent := time.Now()
				err := c.do(ctx, `mutation($t: ID!, $title: String!) { editTask(input: {taskId: $t, title: $title}) { version } }`,
					map[string]any{"t": tasks[w], "title": fmt.Sprintf("edit %d", n)}, &r)
				took := time.Since(sent)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					muts = append(muts, mutation{task: tasks[w], version: r.Version, sent: sent, took: took})
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(o.Rate))
	for n := 0; time.Since(start) < o.Duration; n++ {
		<-tick.C
		slots <- n
	}
	tick.Stop()
	close(slots)
	cw.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return fmt.Errorf("bench e2e: mutation: %w", first)
	}

	// Drain: until every subscriber has seen every task's last version, or 5 s.
	last := map[string]int64{}
	for _, m := range muts {
		last[m.task] = max(last[m.task], m.version)
	}
	drain := time.Now().Add(5 * time.Second)
	for time.Now().Before(drain) && !allSeen(subs, last) {
		time.Sleep(10 * time.Millisecond)
	}

	res := E2EResult{Name: "e2e_task_changed", Subscribers: o.Subscribers, Clients: o.Clients, TargetRate: o.Rate,
		Mutations: len(muts), Rate: float64(len(muts)) / elapsed.Seconds(), Dropped: hub.Dropped()}
	var lats, took []time.Duration
	for _, m := range muts {
		took = append(took, m.took)
		for _, s := range subs {
			if at, ok := s.firstWith(m.task, m.version); ok {
				lats = append(lats, at.Sub(m.sent))
				res.Deliveries++
			} else {
				res.Missing++
			}
		}
	}
	slices.Sort(lats)
	slices.Sort(took)
	res.P50ms, res.P99ms = percentileMS(lats, 0.50), percentileMS(lats, 0.99)
	if len(lats) > 0 {
		res.MaxMs = float64(lats[len(lats)-1].Microseconds()) / 1000
	}
	res.MutationP50, res.MutationP99 = percentileMS(took, 0.50), percentileMS(took, 0.99)
	return printE2E(o, res)
}

func printE2E(o E2EOptions, r E2EResult) error {
	if o.JSON {
		return json.NewEncoder(o.Out).Encode(r)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tsubscribers\tclients\tmutations/s\tdeliveries\tmissing\tp50 ms\tp99 ms\tmax ms\tmutation p50 ms\tmutation p99 ms\t")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", r.Name, r.Subscribers, r.Clients, r.Rate,
		r.Deliveries, r.Missing, r.P50ms, r.P99ms, r.MaxMs, r.MutationP50, r.MutationP99)
	return tw.Flush()
}

func allSeen(subs []*benchSubscriber, last map[string]int64) bool {
	for _, s := range subs {
		for task, v := range last {
			if _, ok := s.firstWith(task, v); !ok {
				return false
			}
		}
	}
	return true
}

// gqlClient posts GraphQL requests with a bearer token.
type gqlClient struct {
	url, tok string
	http     *http.Client
}

func (c *gqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	_, err := c.doStatements(ctx, query, vars, out)
	return err
}

// doStatements runs a request and also returns the SQL statements it cost (X-Sql-Statements,
// present when the server counts them).
func (c *gqlClient) doStatements(ctx context.Context, query string, vars map[string]any, out any) (int, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() {
		// Read to the end (the encoder's newline after the JSON), or the transport closes the
		// connection instead of reusing it: a new connection per request, and the server sees
		// each client leave (its request context canceled) right after the answer.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	statements, _ := strconv.Atoi(resp.Header.Get("X-Sql-Statements"))
	var r struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []struct{ Message string } `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return statements, fmt.Errorf("decode response (HTTP %d): %w", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return statements, fmt.Errorf("graphql: %s", r.Errors[0].Message)
	}
	if out == nil {
		return statements, nil
	}
	for _, v := range r.Data {
		return statements, json.Unmarshal(v, out)
	}
	return statements, nil
}

// benchSubscriber is one websocket client subscribed to taskChanged; it records when each
// (task, version) arrived.
type benchSubscriber struct {
	conn *websocket.Conn
	mu   sync.Mutex
	seen map[string][]arrival // by task, in arrival (= version) order
	done chan struct{}
}

type arrival struct {
	version int64
	at      time.Time
}

func dialSubscriber(ctx context.Context, url, tok, project string) (*benchSubscriber, error) {
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
	})
	if err != nil {
		return nil, fmt.Errorf("dial websocket: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	s := &benchSubscriber{conn: conn, seen: map[string][]arrival{}, done: make(chan struct{})}
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + tok}}); err != nil {
		return nil, err
	}
	_, b, err := conn.Read(ctx)
	if err != nil || !bytes.Contains(b, []byte(`"connection_ack"`)) {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("websocket init: %s %v", b, err)
	}
	if err := write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($p: ID!) { taskChanged(projectId: $p) { id version } }`,
		"variables": map[string]any{"p": project},
	}}); err != nil {
		return nil, err
	}
	go func() {
		defer close(s.done)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			now := time.Now()
			var m struct {
				Type    string `json:"type"`
				Payload struct {
					Data struct {
						TaskChanged struct {
							ID      string
							Version int64
						}
					}
				}
			}
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "ping":
				_ = write(map[string]any{"type": "pong"})
			case "next":
				t := m.Payload.Data.TaskChanged
				s.mu.Lock()
				s.seen[t.ID] = append(s.seen[t.ID], arrival{version: t.Version, at: now})
				s.mu.Unlock()
			}
		}
	}()
	return s, nil
}

// firstWith returns when the first message with task at version v or later arrived.
func (s *benchSubscriber) firstWith(task string, v int64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.seen[task] {
		if a.version >= v {
			return a.at, true
		}
	}
	return time.Time{}, false
}

func (s *benchSubscriber) close() {
	_ = s.conn.CloseNow()
	<-s.done
}

// apiEnv is the service as `taskforge serve` builds it (package app), minus side effects, on an
// httptest server: the bench drives it over real HTTP and websockets.
type apiEnv struct {
	hub    *live.Hub
	srv    *httptest.Server
	client *gqlClient
	token  string
	close  func()
	// serve starts another API-only instance of the service over the same database with other
	// options (bench abuse compares limits); the caller closes its server.
	serve func(options func(*graph.Options)) (*httptest.Server, error)
	// mint signs a token for another user (the members of a seeded database: apiEnv.as)
	mint func(user string) (string, error)
	// commands are the instance's command handlers, for subjects the API's mutations cannot
	// make (a Pro workspace of many members: bench read)
	commands *commands.Handlers
}

// startAPI builds the service over pool with limits (the configuration's; zero: the API's
// defaults) adjusted by options, and runs its API and projections.
func startAPI(ctx context.Context, pool *pgxpool.Pool, clients int, limits config.Limits, options func(*graph.Options)) (*apiEnv, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop := func() {
		cancel()
		wg.Wait()
	}
	secret, key := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(key)
	cfg := config.Config{
		JWTSecret:        hex.EncodeToString(secret),
		WebhookSecretKey: key,
		Operations:       config.Operations{DebugSQLHeader: true}, // statements per request; no metrics listener
		Limits:           limits,
	}
	// start builds and runs one instance; its HTTP server closes with the bench.
	start := func(role app.Role, options func(*graph.Options)) (*app.App, *httptest.Server, error) {
		a, err := app.New(ctx, cfg, app.Overrides{Pool: pool, Logger: slog.New(slog.DiscardHandler),
			WithoutSideEffects: true, Graph: options})
		if err != nil {
			return nil, nil, err
		}
		wg.Go(func() { _ = a.Run(ctx, role) })
		return a, httptest.NewServer(a.Handler()), nil
	}
	a, srv, err := start(app.RoleAll, options)
	if err != nil {
		stop()
		return nil, err
	}
	tok, err := auth.MintHS256([]byte(cfg.JWTSecret), auth.Principal{UserID: "bench-owner", Email: "owner@bench.test", Name: "Owner"},
		time.Hour, time.Now(), "", "")
	if err != nil {
		srv.Close()
		stop()
		return nil, err
	}
	serve := func(options func(*graph.Options)) (*httptest.Server, error) {
		_, srv, err := start(app.RoleAPI, options)
		return srv, err
	}
	c := &gqlClient{url: srv.URL + "/graphql", tok: tok, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 4}}}
	mint := func(user string) (string, error) {
		return auth.MintHS256([]byte(cfg.JWTSecret), auth.Principal{UserID: user, Email: user + "@bench.test", Name: user},
			time.Hour, time.Now(), "", "")
	}
	return &apiEnv{hub: a.Hub(), srv: srv, client: c, token: tok, serve: serve, mint: mint, commands: a.Commands(), close: func() {
		srv.Close()
		stop()
	}}, nil
}

// noRateLimits is for the throughput benchmarks: one principal sends as fast as it can, which
// the production budgets exist to refuse (bench abuse measures them).
func noRateLimits(o *graph.Options) { o.RateLimits.Disabled = true }
