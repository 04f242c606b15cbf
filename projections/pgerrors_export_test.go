package projections

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PGErrorCounter is a pgx tracer counting the statements PostgreSQL answered with an error: each
// is an ERROR line in the server's log.
type PGErrorCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

func (c *PGErrorCounter) observe(err error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && c.n.Add(1) == 1 {
		c.mu.Lock()
		c.first = err
		c.mu.Unlock()
	}
}

// Count is how many errors PostgreSQL returned (a failed statement of a batch may count twice:
// for the statement and for the batch).
func (c *PGErrorCounter) Count() int64 { return c.n.Load() }

// First is the first of them.
func (c *PGErrorCounter) First() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *PGErrorCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (c *PGErrorCounter) TraceQueryEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	c.observe(d.Err)
}

func (c *PGErrorCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *PGErrorCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.observe(d.Err)
}

func (c *PGErrorCounter) TraceBatchEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	c.observe(d.Err)
}

func itoa(v int) string { return strconv.Itoa(v) }
