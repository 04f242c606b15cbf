package sideeffects

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ConsumerName is the persistent identity of the side-effect consumer of the global log: its
// Watermill handler and consumer group, and its checkpoint row in side_effect_consumers. Never
// rename it: a new name starts a new consumer.
const ConsumerName = "sideeffects"

// ensureConsumer creates the consumer's row on its first start and returns from when events are
// delivered (older ones only feed the module's state).
func ensureConsumer(ctx context.Context, pool *pgxpool.Pool, deliverHistory bool) (time.Time, error) {
	var from time.Time
	err := pool.QueryRow(ctx, `INSERT INTO side_effect_consumers (name, deliver_from)
		VALUES ($1, CASE WHEN $2 THEN 'epoch'::timestamptz ELSE now() END)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
		RETURNING deliver_from`, ConsumerName, deliverHistory).Scan(&from)
	if err != nil {
		return time.Time{}, fmt.Errorf("side effects: consumer checkpoint: %w", err)
	}
	return from, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]>>6 == 2 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}

// nullNode is a claiming node for SQL: NULL when the process has none.
func nullNode(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
