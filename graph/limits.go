package graph

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/projections"
)

// The limits of one request's work, checked in this order:
//
//	cost     before any resolver runs: the most objects the operation may return. An object
//	         field costs 1 and its selection; a list multiplies its items' cost by its page size
//	         or bound (listCosts), so `tasks(first: 200) { … project { board { tasks { … } } } }`
//	         costs what it could return, not the dozen fields it spells (COMPLEXITY_LIMIT_EXCEEDED).
//	         Scalars cost nothing (GitHub's node limit counts the same way): what a frontend
//	         shows of an object barely changes the work, the number of objects does — the board
//	         of 200 tasks costs ~650, a workspace's 200 projects' boards ~130000, and the ten
//	         aliases of the query 510000
//	rows     while resolving: every list resolver charges the rows it serves (ROW_LIMIT_EXCEEDED);
//	         a cached board served 200 times costs 200 boards of rows, as it costs memory
//	bytes    when writing: a response larger than MaxResponseBytes is replaced by an error
//	         (RESPONSE_TOO_LARGE)
//	time     OperationTimeout cancels the request's context, which pgx honours (TIMEOUT)
//
// Per-principal and per-address rate limits are in ratelimit.go.

// Error codes of the limits, in extensions.code.
const (
	CodeComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
	CodeRowLimit        = "ROW_LIMIT_EXCEEDED"
	CodeResponseTooBig  = "RESPONSE_TOO_LARGE"
)

// CostLimitError refuses an operation whose computed cost exceeds the limit.
type CostLimitError struct{ Cost, Limit int }

func (e *CostLimitError) Error() string {
	return fmt.Sprintf("operation cost %d exceeds the limit of %d (lists count once per item they may return: lower `first` or select fewer nested lists)", e.Cost, e.Limit)
}

// RowLimitError stops an operation that has served more rows than its budget.
type RowLimitError struct{ Limit int64 }

func (e *RowLimitError) Error() string {
	return fmt.Sprintf("operation served more than %d rows; ask for smaller pages", e.Limit)
}

// listCost says what a list field's items multiply.
type listCost struct {
	// values: the items are scalars (labels, mentions): the list is one value, as a scalar
	// string is, its size bounded by the domain (and by the response cap).
	values bool
	// bound is the most items the field returns; 0 with pageArg set: the page size argument
	// (its schema default when omitted), at most projections.MaxPage; with paged: first or last
	// (defaultPage when neither is given), at most projections.MaxPage: a client lowers a
	// nested list's cost by asking for smaller pages; with countArg: the length of that list
	// argument (nodes' ids), at most bound.
	bound    int
	pageArg  string
	paged    bool
	countArg string
	// perParent: the items are counted by the field above (a connection's edges: the
	// connection's page; a board's columns: the board's tasks, which the columns partition).
	// extra is added once for the items' own fields (a board's columns).
	perParent bool
	extra     int
}

// listCosts is the cost model: every list-returning field of the schema, with what bounds it.
// TestEveryListFieldHasACost walks the schema and fails on a list field missing here. Bounds come
// from the read side: projections.MaxPage bounds every page and every per-parent list query
// (boards), a workflow's statuses are bounded by the domain.
var listCosts = map[string]listCost{
	// Pages: the connection field multiplies by its page size; its edges are counted there.
	"Query.tasks":               {pageArg: "first"},
	"Query.activity":            {paged: true},
	"Query.notifications":       {paged: true},
	"Query.history":             {pageArg: "first"},
	"Query.webhookDeliveries":   {paged: true},
	"Query.deadLetters":         {paged: true},
	"Query.workspaces":          {paged: true},
	"Workspace.members":         {paged: true},
	"Workspace.projects":        {paged: true},
	"Task.comments":             {paged: true},
	"WorkspaceConnection.edges": {perParent: true},
	"MemberConnection.edges":    {perParent: true},
	"ProjectConnection.edges":   {perParent: true},
	"CommentConnection.edges":   {perParent: true},
	"WorkspaceConnection.nodes": {perParent: true},
	"MemberConnection.nodes":    {perParent: true},
	"ProjectConnection.nodes":   {perParent: true},
	"CommentConnection.nodes":   {perParent: true},
	"Query.nodes":               {bound: maxNodes, countArg: "ids"},
	"Query.clusterNodes":        {bound: cluster.MaxListed},
	// the leases a process holds: at most every consumer (the projections and the side effects')
	"ClusterNode.consumers": {bound: len(projections.All()) + 1},
	// a page of sync records: at most MaxPage, whatever first says (it has no edges)
	"ChangePage.changes":              {bound: projections.MaxPage},
	"TaskConnection.edges":            {perParent: true},
	"ActivityConnection.edges":        {perParent: true},
	"NotificationConnection.edges":    {perParent: true},
	"HistoryConnection.edges":         {perParent: true},
	"WebhookDeliveryConnection.edges": {perParent: true},
	"DeadLetterConnection.edges":      {perParent: true},
	// nodes: the same page as edges, without the cursors; it costs what edges cost.
	"TaskConnection.nodes":            {perParent: true},
	"ActivityConnection.nodes":        {perParent: true},
	"NotificationConnection.nodes":    {perParent: true},
	"HistoryConnection.nodes":         {perParent: true},
	"WebhookDeliveryConnection.nodes": {perParent: true},
	"DeadLetterConnection.nodes":      {perParent: true},
	"Query.projections":               {bound: len(projections.All())},
	"Query.webhooks":                  {bound: domain.MaxWebhooks},
	"Project.taskCounts":              {bound: domain.MaxStatuses},
	"Project.board":                   {perParent: true, extra: domain.MaxStatuses},
	"BoardColumn.tasks":               {bound: projections.MaxPage}, // a board: LIMIT MaxPage over all its columns
	"Task.labels":                     {values: true},               // domain.MaxLabels of MaxLabelLen
	"TaskState.labels":                {values: true},
	"Comment.mentions":                {values: true}, // parsed from a body of MaxCommentLen
	"Webhook.eventTypes":              {values: true},

	// The inbox (issue 11).
	"Query.myInvitations":                    {pageArg: "first"},                           // at most MaxInvitations
	"Query.invitations":                      {bound: projections.MaxWorkspaceInvitations}, // a plan's seats
	"Query.notificationPreferences":          {bound: len(domain.NotificationKinds())},     // one per kind
	"Mutation.updateNotificationPreferences": {bound: len(domain.NotificationKinds())},
}

// maxCost saturates the arithmetic: an operation can never cost less by overflowing.
const maxCost = math.MaxInt

func addCost(a, b int) int {
	if a > maxCost-b {
		return maxCost
	}
	return a + b
}

func mulCost(a, b int) int {
	if a != 0 && b > maxCost/a {
		return maxCost
	}
	return a * b
}

// argInt reads an integer argument as gqlgen hands it over (a literal, a JSON variable, a GET
// query string's text); ok false when it is none.
func argInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// costPageSize reads a page-size argument at its worst: absent (explicit null), out of range
// (refused by the resolver) or unreadable means projections.MaxPage. 0 (an empty page) reads one
// item, and costs it.
func costPageSize(v any) int {
	n, _ := argInt(v)
	if n == 0 {
		return 1
	}
	if n < 0 || n > projections.MaxPage {
		return projections.MaxPage
	}
	return int(n)
}

// costWalker computes an operation's cost. A fragment's cost is computed once and reused at each
// of its spreads, so the walk is linear in the document (gqlgen's complexity.Calculate re-walks a
// fragment at every spread: fragments spreading fragments twice are exponential in the nesting).
type costWalker struct {
	costs         map[string]listCost
	vars          map[string]any
	fragments     map[string]fragmentCost
	introspection int // the cost of the introspection fields walked so far
}

// fragmentCost is a fragment's cost: its data's, and its introspection fields'.
type fragmentCost struct{ data, introspection int }

// operationCost is an operation's cost: of its data, and of its introspection fields (__schema
// and __type, whose work the schema bounds, measured against their own limit).
func operationCost(costs map[string]listCost, op *ast.OperationDefinition, vars map[string]any) (data, introspection int) {
	w := costWalker{costs: costs, vars: vars, fragments: map[string]fragmentCost{}}
	data = w.selectionSet(op.SelectionSet)
	return data, w.introspection
}

// standardIntrospection is graphql-js's standard introspection query (getIntrospectionQuery with
// inputValueDeprecation, which every current client sends).
//
//go:embed introspection.graphql
var standardIntrospection string

// introspectionAllowance is the default bound of an operation's introspection fields (Options.
// MaxIntrospectionCost 0), as a multiple of the standard introspection query's cost on this
// schema under the worst-case model (every type with the most fields, each with the most
// arguments): one copy is served, two aliased copies are refused. Derived from the schema, it
// grows with it (a fixed bound broke the standard query each time the schema grew).
const introspectionAllowance = 1.5

// standardIntrospectionCost is what the standard introspection query costs on schema.
func standardIntrospectionCost(schema *ast.Schema, costs map[string]listCost) (int, error) {
	doc, errs := gqlparser.LoadQuery(schema, standardIntrospection)
	if errs != nil {
		return 0, fmt.Errorf("graph: the standard introspection query: %w", errs)
	}
	_, cost := operationCost(costs, doc.Operations[0], nil)
	return cost, nil
}

// withIntrospection adds to listCosts the introspection lists, bounded by the schema's own sizes
// (its types, the most fields of a type, ...): aliases of __schema { types { fields { … } } }
// are as much an amplification as the read side's lists.
func withIntrospection(s *ast.Schema) map[string]listCost {
	var fields, args, enums, interfaces, possible, directiveArgs int
	for _, t := range s.Types {
		fields, enums = max(fields, len(t.Fields)), max(enums, len(t.EnumValues))
		interfaces, possible = max(interfaces, len(t.Interfaces)), max(possible, len(s.GetPossibleTypes(t)))
		for _, f := range t.Fields {
			args = max(args, len(f.Arguments))
		}
	}
	for _, d := range s.Directives {
		directiveArgs = max(directiveArgs, len(d.Arguments))
	}
	costs := map[string]listCost{
		"__Schema.types":        {bound: len(s.Types)},
		"__Schema.directives":   {bound: len(s.Directives)},
		"__Type.fields":         {bound: fields},
		"__Type.inputFields":    {bound: fields},
		"__Type.interfaces":     {bound: interfaces},
		"__Type.possibleTypes":  {bound: possible},
		"__Type.enumValues":     {bound: enums},
		"__Field.args":          {bound: args},
		"__Directive.args":      {bound: directiveArgs},
		"__Directive.locations": {values: true},
	}
	for k, v := range listCosts {
		costs[k] = v
	}
	return costs
}

func (w *costWalker) selectionSet(set ast.SelectionSet) int {
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			total = addCost(total, w.field(s))
		case *ast.InlineFragment:
			total = addCost(total, w.selectionSet(s.SelectionSet))
		case *ast.FragmentSpread:
			c, ok := w.fragments[s.Name]
			if !ok {
				// Validation refuses fragment cycles; were one to get here, it saturates.
				w.fragments[s.Name] = fragmentCost{maxCost, maxCost}
				c = fragmentCost{}
				if s.Definition != nil {
					before := w.introspection
					w.introspection = 0
					c.data = w.selectionSet(s.Definition.SelectionSet)
					c.introspection = w.introspection
					w.introspection = before
				}
				w.fragments[s.Name] = c
			}
			total = addCost(total, c.data)
			w.introspection = addCost(w.introspection, c.introspection)
		}
	}
	return total
}

func (w *costWalker) field(f *ast.Field) int {
	if f.Name == "__schema" || f.Name == "__type" {
		w.introspection = addCost(w.introspection, w.fieldCost(f))
		return 0
	}
	return w.fieldCost(f)
}

func (w *costWalker) fieldCost(f *ast.Field) int {
	if len(f.SelectionSet) == 0 {
		// A scalar or enum (objects must select fields); a list of them is one value.
		if f.ObjectDefinition != nil && w.costs[f.ObjectDefinition.Name+"."+f.Name].values {
			return 1
		}
		return 0
	}
	child := w.selectionSet(f.SelectionSet)
	if f.ObjectDefinition == nil {
		return addCost(1, child)
	}
	lc, ok := w.costs[f.ObjectDefinition.Name+"."+f.Name]
	if !ok {
		return addCost(1, child)
	}
	if lc.perParent {
		return addCost(addCost(1, lc.extra), child)
	}
	n := lc.bound
	switch {
	case lc.pageArg != "":
		args := f.ArgumentMap(w.vars)
		n = costPageSize(args[lc.pageArg])
		// A backward page (tasks' last, which takes precedence over first) may be the larger.
		if last, ok := args["last"]; ok && last != nil {
			n = max(n, costPageSize(last))
		}
	case lc.paged:
		args := f.ArgumentMap(w.vars)
		first, last := args["first"], args["last"]
		switch {
		case first == nil && last == nil:
			n = defaultPage
		case first == nil:
			n = costPageSize(last)
		case last == nil:
			n = costPageSize(first)
		default: // refused by the resolver; at its worst meanwhile
			n = max(costPageSize(first), costPageSize(last))
		}
	case lc.countArg != "":
		if ids, ok := f.ArgumentMap(w.vars)[lc.countArg].([]any); ok && len(ids) <= lc.bound {
			n = len(ids)
		}
	}
	// Every item costs at least 1 (an object selecting only scalars is still an object).
	return addCost(1, mulCost(n, max(child, 1)))
}

// costLimit is the extension that refuses an operation costing more than limit before any
// resolver runs, and charges the caller's cost budget (rate limits) for what it lets through.
type costLimit struct {
	limit         int
	introspection int // the limit of the introspection fields' cost
	rate          *rateLimits
	costs         map[string]listCost // set by Validate
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &costLimit{}

func (*costLimit) ExtensionName() string { return "CostLimit" }

func (c *costLimit) Validate(es graphql.ExecutableSchema) error {
	c.costs = withIntrospection(es.Schema())
	if c.introspection == 0 {
		std, err := standardIntrospectionCost(es.Schema(), c.costs)
		if err != nil {
			return err
		}
		c.introspection = int(float64(std) * introspectionAllowance)
	}
	return nil
}

func (c *costLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	cost, introspection := operationCost(c.costs, oc.Operation, oc.Variables)
	for _, over := range []CostLimitError{{Cost: cost, Limit: c.limit}, {Cost: introspection, Limit: c.introspection}} {
		if over.Cost > over.Limit {
			if w := writerFrom(ctx); w != nil {
				w.refused.Store(http.StatusUnprocessableEntity)
			}
			return limitError(&over)
		}
	}
	// The caller's budget is charged for both, up to the most one operation may cost (the
	// budget's burst holds at least that much).
	charged := min(addCost(cost, introspection), c.limit)
	st := cacheStateFrom(ctx)
	if st != nil && st.charged {
		return nil // the response cache charged this request's known cost (readcache.go)
	}
	if err := c.rate.chargeCost(ctx, charged); err != nil {
		return limitError(err)
	}
	if st != nil {
		st.plan.cost = charged // a cached answer is charged the same (readcache.go)
	}
	return nil
}

// limitError wraps a limit's typed error for gqlgen; the error presenter gives it its code.
func limitError(err error) *gqlerror.Error {
	return &gqlerror.Error{Message: err.Error(), Err: err}
}

// rowBudget counts the rows one response serves.
type rowBudget struct {
	limit int64
	used  atomic.Int64
}

type rowBudgetKey struct{}

// chargeRows charges n rows served by a list resolver to the response's budget: past it, the
// resolver returns RowLimitError instead of its rows (and the response is replaced by that one
// error, see limitResponses), so the work below the list never starts.
func chargeRows(ctx context.Context, n int) error {
	b, _ := ctx.Value(rowBudgetKey{}).(*rowBudget)
	if b == nil || b.limit <= 0 {
		return nil
	}
	if b.used.Add(int64(n)) > b.limit {
		return &RowLimitError{Limit: b.limit}
	}
	return nil
}

// stopWhenOver is a field middleware: once an operation is over — its timeout passed, or its
// row budget ran out — its remaining resolvers are not called. gqlgen goes on through every
// field of what was already resolved, and work that runs no SQL (objects from loaders' caches)
// never looks at the context: measured by bench abuse, the nested query without the cost
// limit ran 57 s past its 15 s timeout, refusing one board at a time after its budget ran out.
// Fields without a resolver of ours are struct reads: passed through, unchecked.
func stopWhenOver(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b, _ := ctx.Value(rowBudgetKey{}).(*rowBudget); b != nil && b.limit > 0 && b.used.Load() > b.limit {
		return nil, &RowLimitError{Limit: b.limit}
	}
	return next(ctx)
}

// limitResponses gives each response (a query's, or each event of a subscription) its row
// budget. A query's response that ran out of rows is replaced by the one error saying so: its
// partial data is arbitrary (whichever resolvers ran first) and may hold thousands of per-item
// errors. A mutation's is kept: its payloads' ids and versions say what was written.
func limitResponses(maxRows int, present graphql.ErrorPresenterFunc) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		b := &rowBudget{limit: int64(maxRows)}
		resp := next(context.WithValue(ctx, rowBudgetKey{}, b))
		if resp != nil && b.limit > 0 && b.used.Load() > b.limit && !isMutation(ctx) {
			return &graphql.Response{Errors: gqlerror.List{present(ctx, &RowLimitError{Limit: b.limit})}}
		}
		return resp
	}
}

// cappedWriter holds back the status until the body is written, so that a response larger than
// max bytes is replaced by an error (gqlgen writes a response in one Write, after building it),
// and so that an operation refused by a limit inside gqlgen gets the limit's status (gqlgen
// answers 200 to errors it does not know).
type cappedWriter struct {
	http.ResponseWriter
	max     int64
	status  int
	written int64
	started bool
	// refused is the status of a limit's refusal: 422 over cost, 429 over a rate.
	refused atomic.Int32
}

func (c *cappedWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *cappedWriter) start() {
	if c.started {
		return
	}
	c.started = true
	code := c.status
	if code == 0 {
		code = http.StatusOK
	}
	if s := c.refused.Load(); s != 0 {
		code = int(s)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cappedWriter) Write(b []byte) (int, error) {
	if c.max > 0 && c.written+int64(len(b)) > c.max {
		if !c.started {
			c.Header().Del("Content-Length")
			c.status = http.StatusUnprocessableEntity
			c.start()
			body, _ := json.Marshal(map[string]any{"errors": []*gqlerror.Error{{
				Message:    fmt.Sprintf("the response is larger than %d bytes; ask for less (smaller pages, fewer fields)", c.max),
				Extensions: map[string]any{"code": CodeResponseTooBig, "limit": c.max},
			}}})
			_, _ = c.ResponseWriter.Write(body)
		}
		c.written = c.max + 1
		return 0, errResponseTooLarge
	}
	c.start()
	n, err := c.ResponseWriter.Write(b)
	c.written += int64(n)
	return n, err
}

// Flush passes through, for streaming transports.
func (c *cappedWriter) Flush() {
	c.start()
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var errResponseTooLarge = errors.New("response too large")

type cappedWriterKey struct{}

func writerFrom(ctx context.Context) *cappedWriter {
	w, _ := ctx.Value(cappedWriterKey{}).(*cappedWriter)
	return w
}

// presentLimit fills in a limit's refusal for the error presenter; false if err is none.
func presentLimit(err error, out *gqlerror.Error, ext map[string]any) bool {
	var cost *CostLimitError
	var rows *RowLimitError
	var rl *RateLimitError
	switch {
	case errors.As(err, &cost):
		out.Message = cost.Error()
		ext["code"], ext["cost"], ext["limit"] = CodeComplexityLimit, cost.Cost, cost.Limit
	case errors.As(err, &rows):
		out.Message = rows.Error()
		ext["code"], ext["limit"] = CodeRowLimit, rows.Limit
	case errors.As(err, &rl):
		out.Message = rl.Error()
		ext["code"], ext["retryAfter"] = CodeRateLimited, retrySeconds(rl.RetryAfter)
	default:
		return false
	}
	return true
}

func isMutation(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation == ast.Mutation
}
