package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/readcache"
	"github.com/taskforge/taskforge/projections"
)

// Reads keyed by position: a response cache in front of gqlgen (issue 13).
//
// The read tables change only when a projection applies an event, and each projection records,
// in that event's transaction, the event's position for the event's workspace
// (read_positions; projections/runner.go). A query's answer is therefore a function of
//
//	the request   method, URL query, body (document, operation name, variables), Accept and
//	              Content-Type headers, the caller's user id and token roles  → request key
//	the state     projections.ReadState: each projection's active version (rebuilds swap tables),
//	              the caller's memberships and roles (what they may see), each projection's applied
//	              position for each of those workspaces and for events of no workspace, and for an
//	              operation that selects overdueCount the latest due date passed (the clock);
//	              only the projections the query reads (baseProjections, cacheableRoots);
//	              and only the workspaces the query reads when each of its root fields reads
//	              one given by its arguments (scopeRead: learned from the first answer, kept in
//	              the request key's plan), so that a hit costs the same for a member of one
//	              workspace or of hundreds, and changes elsewhere do not move the key
//
// and the cache holds the encoded response under sha256(request key, state). A request whose
// request key is known to be a cacheable query first waits for its consistency tokens (header
// and consistentWith arguments, exactly as the resolvers would: Resolver.consistent), then reads
// the state (one indexed statement; correct on every API node, as it is all in PostgreSQL) and
// serves the stored bytes on a hit: no parse, no resolver, no marshalling. The state read after
// the wait includes every write the tokens name, so a read with a write's token sees the write.
//
// On a miss gqlgen runs as always; the response is stored only if it is a 200 without errors and
// the state read again afterwards is unchanged, so an entry holds exactly the data of its state
// (the miss's statements run outside one snapshot; an event applied meanwhile changes the state
// and the response is not kept). A miss costs two statements more than without the cache.
// Concurrent misses of one key are computed once: the others wait for the first (join).
// A projection records a position only for events that write its tables (runner.go), so a
// task's edit moves the board's state once or twice (tasks; projects when a count changes).
//
// What is cached: queries whose root fields are all in cacheableRoots, the reads of the
// workspaces, projects, tasks and activity read models. Not: mutations and subscriptions; the
// caller's notifications and inbox (their read marks are written outside the projections);
// invitations (they expire with the clock); the audit and time-travel reads (history, taskAt,
// verifyStream: they read the event store, not the read tables, and are rare); operator reads
// (projections, clusterNodes, dead letters, webhook deliveries: operational state outside the
// read tables); node/nodes (any type); sync pages (they have their own positions); me.
// A user's profile events (no workspace) move the nil workspace's row, part of every key: they
// invalidate everyone's entries, and are rare.

// cacheableRoots are the root query fields whose whole answer comes from the read tables of the
// caller's workspaces (and the clock, through overdueCount), with the projections they read
// besides baseProjections.
var cacheableRoots = map[string][]string{
	"project": nil, "task": nil, "taskByKey": nil, "tasks": nil, "workspace": nil, "workspaces": nil,
	"activity": {projections.Activity},
}

// baseProjections hold what every cacheable root may reach: memberships (workspaces), projects
// with their counts and boards, tasks with their comments and assignees.
var baseProjections = []string{projections.Workspaces, projections.Projects, projections.Tasks}

// uncacheableFields, selected anywhere, make a query uncacheable: they read what no projection
// writes (the caller's notification read marks).
var uncacheableFields = []string{"unreadNotificationCount"}

// readCache is the API's response cache; nil when disabled.
type readCache struct {
	r         *Resolver
	rate      *rateLimits
	responses *readcache.Cache[cachedResponse]
	plans     *readcache.Cache[readPlan]
	maxEntry  int64

	mu       sync.Mutex
	inflight map[readcache.Key]chan struct{} // responses being computed
}

// cachedResponse is an encoded response and its Content-Type.
type cachedResponse struct {
	contentType string
	body        []byte
}

// readPlan is what an execution learned about a request key: whether it is a cacheable query, the
// consistency tokens of its fields, whether its answer depends on the clock, and the cost charged
// to the caller's budget (charged again on every hit: a hit must not bypass the rate limits).
type readPlan struct {
	cacheable   bool
	tokens      []string
	clock       bool
	projections []string // whose state the answer depends on
	cost        int
	roots       int // root fields, but __typename
	// scoped: every root field reads one workspace given by its arguments (see scopeRead), the
	// workspaces learned by a first answer: the state is theirs alone (ReadState's workspaces).
	scoped     bool
	workspaces []uuid.UUID
}

func newReadCache(r *Resolver, rate *rateLimits, maxBytes int64, reg prometheus.Registerer) (*readCache, error) {
	if maxBytes <= 0 {
		return nil, nil
	}
	responses, err := readcache.New[cachedResponse]("graphql_response", maxBytes, reg)
	if err != nil {
		return nil, err
	}
	// Plans are small (a few tokens): a sixteenth of the bound holds hundreds of thousands.
	plans, err := readcache.New[readPlan]("graphql_read_plan", max(maxBytes/16, 1<<20), reg)
	if err != nil {
		return nil, err
	}
	return &readCache{r: r, rate: rate, responses: responses, plans: plans, maxEntry: maxBytes / 4,
		inflight: map[readcache.Key]chan struct{}{}}, nil
}

// cacheState is a request's progress through the cache, in its context.
type cacheState struct {
	user     string
	request  readcache.Key
	plan     readPlan
	planned  bool   // plan was found or learned
	state    string // projections.ReadState, read once the tokens were waited for
	prepared bool   // state is set: the response may be stored under key
	charged  bool   // the plan's cost was charged to the caller's budget
	key      readcache.Key

	mu     sync.Mutex
	scopes map[string][]uuid.UUID // root field alias → the workspaces it read (scopeRead)
}

type cacheStateKey struct{}

func cacheStateFrom(ctx context.Context) *cacheState {
	st, _ := ctx.Value(cacheStateKey{}).(*cacheState)
	return st
}

// middleware serves hits and stores what a miss answered. It runs after authentication and the
// request budget (rateLimits.middleware), in front of gqlgen.
func (c *readCache) middleware(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok || r.Header.Get("Upgrade") != "" || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body) // bounded by withRequest's MaxBytesReader
		if err != nil {
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
			next.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		st := &cacheState{user: p.UserID, request: requestKey(r, p, body)}
		ctx := context.WithValue(r.Context(), cacheStateKey{}, st)
		if plan, ok := c.plans.Get(st.request); ok {
			st.plan, st.planned = plan, true
			if plan.cacheable {
				// Charged as gqlgen's cost limit would (which then does not charge again): a
				// refusal comes before any statement, a hit is not free of the budget.
				if err := c.rate.chargeCost(ctx, plan.cost); err != nil {
					var limited *RateLimitError
					if errors.As(err, &limited) {
						writeRateLimited(w, limited.RetryAfter)
						return
					}
				}
				st.charged = true
			}
			// One request computes a missing response at a time; the others wait for it rather
			// than all building the same board at once. When it could not be kept (the state
			// moved meanwhile), they read the state again and elect another.
			for attempt := 0; plan.cacheable && attempt < maxFollows; attempt++ {
				if c.prepare(ctx, st) != nil {
					break
				}
				if c.serve(w, st.key) {
					return
				}
				done, leader := c.join(st.key)
				if leader {
					defer c.leave(st.key, done)
					break
				}
				select {
				case <-done:
				case <-ctx.Done():
				}
				if c.serve(w, st.key) {
					return
				}
				st.prepared = false // computed by this request itself unless prepared again
			}
		}
		cw := &captureWriter{ResponseWriter: w, max: c.maxEntry}
		next.ServeHTTP(cw, r.WithContext(ctx))
		c.store(ctx, st, cw)
	})
}

// maxFollows bounds how many computations of others a request waits for before computing its
// own response: each wait ends with an entry unless the state moved during it.
const maxFollows = 3

// serve writes the response stored under k, if any.
func (c *readCache) serve(w http.ResponseWriter, k readcache.Key) bool {
	e, ok := c.responses.Get(k)
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", e.contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.body)
	return true
}

// join makes the caller the one computing k's response (leader), or returns the channel closed
// when the one computing it is done.
func (c *readCache) join(k readcache.Key) (done chan struct{}, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.inflight[k]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	c.inflight[k] = ch
	return ch, true
}

func (c *readCache) leave(k readcache.Key, done chan struct{}) {
	c.mu.Lock()
	delete(c.inflight, k)
	c.mu.Unlock()
	close(done)
}

// prepare waits for the plan's consistency tokens and the header's (what the resolvers would
// wait for; they then find it done), then reads the state and makes the response key.
func (c *readCache) prepare(ctx context.Context, st *cacheState) error {
	for _, tok := range st.plan.tokens {
		if err := c.r.consistent(ctx, &tok); err != nil {
			return err
		}
	}
	if err := c.r.consistent(ctx, nil); err != nil {
		return err
	}
	state, err := c.r.Queries.ReadState(ctx, st.user, st.plan.clock, st.plan.projections, st.plan.scope())
	if err != nil {
		return err
	}
	st.state, st.prepared = state, true
	st.key = responseKey(st.request, state)
	return nil
}

// responseKey is where the response of request in state is kept.
func responseKey(request readcache.Key, state string) readcache.Key {
	var k readcache.Key
	h := sha256.New()
	h.Write(request[:])
	h.Write([]byte(state))
	h.Sum(k[:0])
	return k
}

// scope is the workspaces whose state the plan's answer depends on: nil for all the caller's.
func (p readPlan) scope() []uuid.UUID {
	if !p.scoped {
		return nil
	}
	return p.workspaces
}

// scopeRead records that the root field being resolved reads workspace ws, given by its
// arguments (a workspace id, or a project or task id, which never changes workspace), and the
// caller is a member of it: its answer depends on that workspace's state alone. Called by the
// root resolvers of one workspace (enter; project and task by id), never by a list of the
// caller's workspaces. A plan whose every root field recorded its workspace is scoped once an
// answer succeeded (store).
func scopeRead(ctx context.Context, ws uuid.UUID) {
	st := cacheStateFrom(ctx)
	if st == nil || !st.plan.cacheable || st.plan.scoped {
		return
	}
	fc := graphql.GetFieldContext(ctx)
	for fc != nil && fc.Object != "Query" {
		fc = fc.Parent
	}
	if fc == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scopes == nil {
		st.scopes = map[string][]uuid.UUID{}
	}
	if !slices.Contains(st.scopes[fc.Field.Alias], ws) {
		st.scopes[fc.Field.Alias] = append(st.scopes[fc.Field.Alias], ws)
	}
}

// learnedScope is the plan scoped to what the answer's root fields recorded, when every one of
// them recorded its workspace.
func (st *cacheState) learnedScope() (readPlan, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.plan.scoped || st.plan.roots == 0 || len(st.scopes) != st.plan.roots {
		return readPlan{}, false
	}
	plan := st.plan
	plan.scoped, plan.workspaces = true, nil
	for _, wss := range st.scopes {
		for _, ws := range wss {
			if !slices.Contains(plan.workspaces, ws) {
				plan.workspaces = append(plan.workspaces, ws)
			}
		}
	}
	slices.SortFunc(plan.workspaces, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return plan, true
}

// store keeps a miss's response when it is a complete, error-free answer of a cacheable query and
// the state has not moved while it was computed.
func (c *readCache) store(ctx context.Context, st *cacheState, cw *captureWriter) {
	if !st.prepared || !st.plan.cacheable || cw.overflow || cw.status != http.StatusOK ||
		!bytes.HasPrefix(cw.body.Bytes(), []byte(`{"data":`)) { // gqlgen writes errors first
		return
	}
	ct := cw.Header().Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/graphql-response+json") {
		return
	}
	// The answer is complete: its client may go away now (a connection closed once the body is
	// read cancels the request), and the answer is worth keeping for the next reader all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	key := st.key
	if scoped, ok := st.learnedScope(); ok {
		// From now on the request key is read in its workspaces' state. This answer is kept
		// under that state, read before the whole state is read again: the whole state unchanged
		// since before the answer means the scoped one was too (both only move forward).
		state, err := c.r.Queries.ReadState(ctx, st.user, scoped.clock, scoped.projections, scoped.workspaces)
		if err != nil {
			return
		}
		c.plans.Add(st.request, scoped, planSize(scoped))
		key = responseKey(st.request, state)
	}
	after, err := c.r.Queries.ReadState(ctx, st.user, st.plan.clock, st.plan.projections, st.plan.scope())
	if err != nil || after != st.state {
		return
	}
	body := bytes.Clone(cw.body.Bytes())
	c.responses.Add(key, cachedResponse{contentType: ct, body: body}, int64(len(body)+len(ct)))
}

// storeTimeout bounds the state reads that decide whether a miss's answer is kept, once its
// client need not wait for them.
const storeTimeout = 5 * time.Second

// planSize is what a plan weighs in the plans cache.
func planSize(p readPlan) int64 {
	n := 128 + 16*len(p.workspaces)
	for _, t := range p.tokens {
		n += len(t)
	}
	return int64(n)
}

// requestKey digests everything of the request that its answer depends on besides the state.
// The consistency header is not part of it: it is waited for before the state is read.
func requestKey(r *http.Request, p auth.Principal, body []byte) readcache.Key {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.RawQuery, r.Header.Get("Accept"), r.Header.Get("Content-Type"),
		p.UserID, strings.Join(p.Roles, ",")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	var k readcache.Key
	h.Sum(k[:0])
	return k
}

// readCacheExtension learns a request's plan once gqlgen has parsed and validated its operation
// (after the limits: the cost it charged is in the plan), and prepares the key for storing when
// the cache had not seen the request key yet.
type readCacheExtension struct{ c *readCache }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = readCacheExtension{}

func (readCacheExtension) ExtensionName() string                   { return "ReadCache" }
func (readCacheExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (e readCacheExtension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	st := cacheStateFrom(ctx)
	if st == nil || st.planned {
		return nil
	}
	cost := st.plan.cost // set by costLimit
	st.plan, st.planned = planOf(oc), true
	st.plan.cost = cost
	e.c.plans.Add(st.request, st.plan, planSize(st.plan))
	if st.plan.cacheable && e.c.prepare(ctx, st) != nil {
		st.prepared = false // not stored; the resolvers report the wait's error themselves
	}
	return nil
}

// planOf decides whether an operation is a cacheable query, and collects what its key needs.
func planOf(oc *graphql.OperationContext) readPlan {
	op := oc.Operation
	if op == nil || op.Operation != ast.Query {
		return readPlan{}
	}
	plan := readPlan{projections: slices.Clone(baseProjections)}
	for _, sel := range op.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok { // a fragment on Query: not worth following
			return readPlan{}
		}
		if f.Name == "__typename" {
			continue
		}
		more, ok := cacheableRoots[f.Name]
		if !ok {
			return readPlan{}
		}
		plan.roots++
		for _, p := range more {
			if !slices.Contains(plan.projections, p) {
				plan.projections = append(plan.projections, p)
			}
		}
		if tok, ok := f.ArgumentMap(oc.Variables)["consistentWith"].(string); ok && tok != "" {
			plan.tokens = append(plan.tokens, tok)
		}
	}
	for _, f := range uncacheableFields {
		if selectsField(op.SelectionSet, f, 0) {
			return readPlan{}
		}
	}
	plan.cacheable = true
	plan.clock = selectsField(op.SelectionSet, "overdueCount", 0)
	return plan
}

// selectsField reports whether name is selected anywhere below set, through fragments (depth
// bounded as the depth limit bounds documents).
func selectsField(set ast.SelectionSet, name string, depth int) bool {
	if depth > maxIntrospectionDepth {
		return true // deeper than any valid operation: assume it does
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == name || selectsField(s.SelectionSet, name, depth+1) {
				return true
			}
		case *ast.InlineFragment:
			if selectsField(s.SelectionSet, name, depth+1) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || selectsField(s.Definition.SelectionSet, name, depth+1) {
				return true
			}
		}
	}
	return false
}

// captureWriter passes a response through and keeps a copy of up to max bytes of it.
type captureWriter struct {
	http.ResponseWriter
	max      int64
	status   int
	body     bytes.Buffer
	overflow bool
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if !c.overflow {
		if int64(c.body.Len()+len(b)) > c.max {
			c.overflow = true
			c.body = bytes.Buffer{}
		} else {
			c.body.Write(b)
		}
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer beneath.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// errReader returns err once the body read before it is consumed.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
