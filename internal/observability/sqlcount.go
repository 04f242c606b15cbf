package observability

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// StatementTracer is a pgx tracer that counts the SQL statements run on behalf of a context. The
// API puts a StatementCount in each request's context; every query, batch and copy that pgx runs
// with that context (or one derived from it) adds to it. This is how a request's SQL budget is
// measured and tested: a list query must cost the same number of statements for 10 rows as for
// 200 (no N+1).
type StatementTracer struct{}

var (
	_ pgx.QueryTracer    = StatementTracer{}
	_ pgx.BatchTracer    = StatementTracer{}
	_ pgx.CopyFromTracer = StatementTracer{}
)

// StatementCount is a request's counter.
type StatementCount struct{ n atomic.Int64 }

// Load returns the number of statements counted so far.
func (c *StatementCount) Load() int64 { return c.n.Load() }

type countKey struct{}

// WithStatementCount returns a context whose statements are counted in the returned counter.
func WithStatementCount(ctx context.Context) (context.Context, *StatementCount) {
	c := &StatementCount{}
	return context.WithValue(ctx, countKey{}, c), c
}

func count(ctx context.Context, n int64) {
	if c, ok := ctx.Value(countKey{}).(*StatementCount); ok {
		c.n.Add(n)
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (StatementTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	count(ctx, 1)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (StatementTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer: a batch counts its statements, not its round trips.
func (StatementTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if data.Batch != nil {
		count(ctx, int64(data.Batch.Len()))
	}
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (StatementTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (StatementTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (StatementTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	count(ctx, 1)
	return ctx
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (StatementTracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}
