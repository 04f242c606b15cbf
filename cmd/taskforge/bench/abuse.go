package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/internal/config"
)

// AbuseOptions configure `taskforge bench abuse`.
type AbuseOptions struct {
	DatabaseURL string
	// Limits are the production limits under test: the service's configuration (internal/config).
	Limits  config.Limits
	Tasks   int // tasks on the board (the amplification's multiplier)
	Clients int // concurrent clients of the bursts
	JSON    bool
	Out     io.Writer
}

func (o *AbuseOptions) validate() error {
	switch {
	case o.DatabaseURL == "":
		return errors.New("bench abuse: a database url is required")
	case o.Tasks < 1 || o.Tasks > 200:
		return errors.New("bench abuse: --tasks must be between 1 and 200 (a board's page)")
	case o.Clients < 1 || o.Clients > 1000:
		return errors.New("bench abuse: --clients must be between 1 and 1000")
	case o.Out == nil:
		return errors.New("bench abuse: no output")
	}
	return nil
}

// AbuseResult is one line of `bench abuse`: how the API with its production limits answered a
// case (one request, or a burst of concurrent ones).
type AbuseResult struct {
	Name     string `json:"name"`
	Requests int    `json:"requests"`
	// Served requests were answered by the API (UNAUTHENTICATED included: an anonymous
	// request's answer); Refused ones by a limit.
	Served  int `json:"served"`
	Refused int `json:"refused"`
	// Codes counts the answers' error codes (COMPLEXITY_LIMIT_EXCEEDED, RATE_LIMITED, ...).
	Codes map[string]int `json:"codes,omitempty"`
	// MS is the time to the last answer.
	MS            float64 `json:"ms"`
	ResponseBytes int64   `json:"response_bytes"`
	// PeakHeapBytes is the Go heap's peak during the case (runtime/metrics, sampled every
	// millisecond), and HeapBeforeBytes its size when the case started, after a GC.
	PeakHeapBytes   uint64 `json:"peak_heap_bytes"`
	HeapBeforeBytes uint64 `json:"heap_before_bytes"`
}

// The amplification family of issue 9: lists nested through project → board → tasks, multiplied
// by aliases and fragments (each within the depth limit).
const (
	amplificationNested = `query($w: ID!) { a0: tasks(workspaceId: $w, first: 200) { edges { node { project { board { tasks {
		project { board { tasks { id } } } } } } } } } }`
	amplificationFragments = `query($w: ID!) { ...Page } fragment Page on Query { tasks(workspaceId: $w, first: 200) {
		edges { node { ...Deep } } } } fragment Deep on Task { project { board { tasks { project { board { tasks { id } } } } } } }`
	amplificationInline = `query($w: ID!) { ... on Query { tasks(workspaceId: $w, first: 200) { edges { node { ... on Task {
		project { ... on Project { board { tasks { ... on Task { project { board { tasks { id } } } } } } } } } } } } } }`
)

func amplificationAliases(n int) string {
	var b strings.Builder
	b.WriteString(`query($w: ID!) {`)
	for i := range n {
		fmt.Fprintf(&b, ` a%d: tasks(workspaceId: $w, first: 200) { edges { node { project { board { tasks { id } } } } } }`, i)
	}
	b.WriteString(` }`)
	return b.String()
}

// Abuse sends the amplification queries and bursts of concurrent clients at an in-process API
// with the production limits (cost, rows, response size, rate limits), after a legitimate board
// read as the baseline, and reports per case whether it was served or refused, how fast, and the
// Go heap's peak meanwhile. Two more servers of the same API show the other lines of defense:
// rows_only_* without the cost limit (the row budget stops the work while it runs), and
// unlimited_* with no limit at all, the "before" (only the ten aliases one level less:
// the nested query itself would take gigabytes).
func Abuse(ctx context.Context, o AbuseOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, drop, err := scratch(ctx, o.DatabaseURL, 24)
	if err != nil {
		return err
	}
	defer drop()
	env, err := startAPI(ctx, pool, o.Clients, o.Limits, nil) // production limits
	if err != nil {
		return err
	}
	defer env.close()
	c := env.client
	ws, project, err := seedBoard(ctx, c, o.Tasks)
	if err != nil {
		return err
	}
	vars := map[string]any{"w": ws, "p": project}
	oneAt := func(url, name, query string) func() (AbuseResult, error) {
		return func() (AbuseResult, error) {
			at := *c
			at.url = url
			return burst(ctx, name, 1, func(int) (int, string, int64, error) { return at.post(ctx, c.tok, query, vars) })
		}
	}
	one := func(name, query string) func() (AbuseResult, error) { return oneAt(c.url, name, query) }
	rowsOnly, err := env.serve(func(o *graph.Options) { o.MaxComplexity, o.MaxDepth = math.MaxInt, 100 })
	if err != nil {
		return err
	}
	defer rowsOnly.Close()
	unlimited, err := env.serve(func(o *graph.Options) {
		o.MaxComplexity, o.MaxDepth, o.MaxRows, o.MaxResponseBytes = math.MaxInt, 100, -1, -1
		o.RateLimits.Disabled = true
	})
	if err != nil {
		return err
	}
	defer unlimited.Close()
	cases := []func() (AbuseResult, error){
		one("baseline_board_read", boardQuery),
		one("amplification_nested", amplificationNested),
		one("amplification_aliases_x10", amplificationAliases(10)),
		one("amplification_fragments", amplificationFragments),
		one("amplification_inline_fragments", amplificationInline),
		func() (AbuseResult, error) {
			return burst(ctx, fmt.Sprintf("burst_%d_clients_one_principal_board", o.Clients), o.Clients,
				func(int) (int, string, int64, error) { return c.post(ctx, c.tok, boardQuery, vars) })
		},
		func() (AbuseResult, error) {
			return burst(ctx, fmt.Sprintf("burst_%d_clients_anonymous", o.Clients), o.Clients,
				func(int) (int, string, int64, error) { return c.post(ctx, "", `{ me { id } }`, nil) })
		},
		oneAt(rowsOnly.URL+"/graphql", "rows_only_amplification_nested", amplificationNested),
		oneAt(rowsOnly.URL+"/graphql", "rows_only_amplification_aliases_x10", amplificationAliases(10)),
		oneAt(unlimited.URL+"/graphql", "unlimited_amplification_aliases_x10", amplificationAliases(10)),
	}
	var results []AbuseResult
	for _, run := range cases {
		r, err := run()
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if o.JSON {
		return jsonLines(o.Out, results)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\trequests\tserved\trefused\tcodes\tms\tresponse bytes\theap before MB\tpeak heap MB\t")
	for _, r := range results {
		codes := make([]string, 0, len(r.Codes))
		for c, n := range r.Codes {
			codes = append(codes, fmt.Sprintf("%s×%d", c, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%.1f\t%d\t%.1f\t%.1f\t\n", r.Name, r.Requests, r.Served, r.Refused, strings.Join(codes, " "), r.MS,
			r.ResponseBytes, float64(r.HeapBeforeBytes)/(1<<20), float64(r.PeakHeapBytes)/(1<<20))
	}
	return tw.Flush()
}

// seedBoard creates a workspace with a project of n tasks in one mutation document (one request,
// well within the rate limits), and waits until the read models hold them.
func seedBoard(ctx context.Context, c *gqlClient, n int) (ws, project string, err error) {
	var w, p struct{ ID string }
	if err := c.do(ctx, `mutation { registerUser { id } }`, nil, &struct{}{}); err != nil {
		return "", "", err
	}
	if err := c.do(ctx, `mutation { createWorkspace(input: {name: "Abuse"}) { id } }`, nil, &w); err != nil {
		return "", "", err
	}
	if err := c.do(ctx, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Abuse", key: "AB"}) { id } }`,
		map[string]any{"ws": w.ID}, &p); err != nil {
		return "", "", err
	}
	var doc strings.Builder
	doc.WriteString(`mutation($p: ID!) {`)
	for i := range n {
		fmt.Fprintf(&doc, ` t%d: createTask(input: {projectId: $p, title: "Task %d", labels: ["abuse"], assigneeId: "bench-owner"}) { consistencyToken }`, i, i)
	}
	doc.WriteString(` }`)
	var created map[string]struct{ ConsistencyToken string }
	if err := c.doAll(ctx, doc.String(), map[string]any{"p": p.ID}, &created); err != nil {
		return "", "", err
	}
	last := created[fmt.Sprintf("t%d", n-1)].ConsistencyToken
	if err := c.do(ctx, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { id } }`,
		map[string]any{"p": p.ID, "tok": last}, &struct{}{}); err != nil {
		return "", "", err
	}
	return w.ID, p.ID, nil
}

// limitCodes are the refusals of the API's limits.
var limitCodes = map[string]bool{"COMPLEXITY_LIMIT_EXCEEDED": true, "ROW_LIMIT_EXCEEDED": true, "RESPONSE_TOO_LARGE": true,
	"RATE_LIMITED": true, "TIMEOUT": true, "DEPTH_LIMIT_EXCEEDED": true}

// burst sends n requests at once and measures them, with the heap's peak meanwhile.
func burst(ctx context.Context, name string, n int, send func(i int) (status int, code string, bytes int64, err error)) (AbuseResult, error) {
	runtime.GC()
	r := AbuseResult{Name: name, Requests: n, HeapBeforeBytes: heapBytes()}
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		m := r.HeapBeforeBytes
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				peak <- max(m, heapBytes())
				return
			case <-t.C:
				m = max(m, heapBytes())
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			status, code, size, err := send(i)
			if code == "" && status != http.StatusOK {
				code = fmt.Sprintf("HTTP_%d", status)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case limitCodes[code]:
				r.Refused++
			default:
				r.Served++
			}
			if code != "" {
				if r.Codes == nil {
					r.Codes = map[string]int{}
				}
				r.Codes[code]++
			}
			r.ResponseBytes += size
		})
	}
	wg.Wait()
	r.MS = float64(time.Since(start).Microseconds()) / 1000
	close(stop)
	r.PeakHeapBytes = <-peak
	if firstErr != nil {
		return r, fmt.Errorf("%s: %w", name, firstErr)
	}
	return r, ctx.Err()
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
var heapSampleMu sync.Mutex

func heapBytes() uint64 {
	heapSampleMu.Lock()
	defer heapSampleMu.Unlock()
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}

// post sends a query as tok ("" for none) and returns the status, the first error's code and
// the response's size; a refusal is an answer, not an error.
func (c *gqlClient) post(ctx context.Context, tok, query string, vars map[string]any) (int, string, int64, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", 0, err
	}
	var r struct {
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, "", 0, fmt.Errorf("decode response (HTTP %d): %w", resp.StatusCode, err)
	}
	code := ""
	if len(r.Errors) > 0 {
		code = r.Errors[0].Extensions.Code
		if code == "" {
			code = "ERROR"
		}
	}
	return resp.StatusCode, code, int64(len(b)), nil
}

// doAll runs a request and decodes its whole data object (a document of several fields).
func (c *gqlClient) doAll(ctx context.Context, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage            `json:"data"`
		Errors []struct{ Message string } `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("decode response (HTTP %d): %w", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s", r.Errors[0].Message)
	}
	return json.Unmarshal(r.Data, out)
}
