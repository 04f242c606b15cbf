package sideeffects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
)

// ConsumerName is the persistent identity of the side-effect consumer of the global log: its
// checkpoint row in side_effect_consumers. Never rename it: a new name starts a new consumer.
const ConsumerName = "sideeffects"

// Source is the seam to the global log, the one thing to replace to feed side effects from another
// subscriber (for example the projections' Watermill subscriber).
//
// Run delivers the log in commit-safe order from the source's own checkpoint until ctx is done. For
// each batch it calls apply inside a transaction that also stores the checkpoint past the batch,
// and commits them together; apply's writes are idempotent, so redelivering a batch after a crash
// is harmless. After each commit it calls committed (which wakes the workers).
type Source interface {
	Run(ctx context.Context, apply func(ctx context.Context, tx pgx.Tx, events []eventstore.RecordedEvent) error, committed func()) error
}

// LogReader is what logSource needs of the event store; *eventstore.Store has it.
type LogReader interface {
	ReadAllOn(ctx context.Context, q eventstore.Querier, after eventstore.GlobalPosition, limit int) ([]eventstore.RecordedEvent, error)
}

// logSource is the built-in Source: it reads the global log with ReadAllOn from the checkpoint in
// side_effect_consumers, woken by the Notifier, polling slowly as a fallback.
type logSource struct {
	pool     *pgxpool.Pool
	reader   LogReader
	notifier *eventstore.Notifier
	batch    int
	poll     time.Duration
	log      *slog.Logger
	metrics  *Metrics
}

// errMoved says another process advanced the checkpoint between our read and our write.
var errMoved = errors.New("checkpoint moved")

func (s *logSource) Run(ctx context.Context, apply func(context.Context, pgx.Tx, []eventstore.RecordedEvent) error, committed func()) error {
	var wake <-chan struct{}
	if s.notifier != nil {
		ch, unsubscribe := s.notifier.Subscribe()
		defer unsubscribe()
		wake = ch
	}
	// With wake-ups, polling is only a fallback for lost notifications: poll rarely.
	poll := s.poll
	if wake != nil {
		poll *= 5
	}
	failures := 0
	for {
		n, err := s.step(ctx, apply)
		if ctx.Err() != nil {
			return nil
		}
		wait := poll
		switch {
		case errors.Is(err, errMoved):
			continue
		case err != nil:
			// A poison event must stop the consumer loudly, never be skipped: retry with backoff
			// and leave the error on the checkpoint row for `deadletters list` and the logs.
			failures++
			wait = min(time.Duration(failures)*time.Second, time.Minute)
			s.log.Error("side effects: consumer batch failed; retrying", "err", err, "retry_in", wait)
			s.metrics.consumerFailed()
			s.recordError(ctx, err)
		default:
			if failures > 0 {
				failures = 0
				s.recordError(ctx, nil)
			}
			if n > 0 {
				committed()
			}
			if n == s.batch {
				continue
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// step enqueues one batch. The events are read before the transaction writes anything, so the
// transaction takes its xid (which holds back every global reader in the cluster) only for the
// short write phase; the checkpoint update is conditional, so two processes never both advance it.
func (s *logSource) step(ctx context.Context, apply func(context.Context, pgx.Tx, []eventstore.RecordedEvent) error) (int, error) {
	n := 0
	err := database.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		var from eventstore.GlobalPosition
		var txID int64
		// served by side_effect_consumers_pkey
		err := tx.QueryRow(ctx, `SELECT transaction_id, position FROM side_effect_consumers WHERE name = $1`,
			ConsumerName).Scan(&txID, &from.Position)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		from.TransactionID = uint64(txID)
		events, err := s.reader.ReadAllOn(ctx, tx, from, s.batch)
		if err != nil || len(events) == 0 {
			return err
		}
		if err := apply(ctx, tx, events); err != nil {
			return err
		}
		to := events[len(events)-1].GlobalPosition()
		tag, err := tx.Exec(ctx, `UPDATE side_effect_consumers
			SET transaction_id = $2, position = $3, updated_at = now()
			WHERE name = $1 AND transaction_id = $4 AND position = $5`,
			ConsumerName, int64(to.TransactionID), to.Position, txID, from.Position)
		if err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errMoved
		}
		n = len(events)
		return nil
	})
	if err == nil {
		s.metrics.consumed(n)
	}
	return n, err
}

func (s *logSource) recordError(ctx context.Context, cause error) {
	var msg *string
	if cause != nil {
		m := truncate(cause.Error(), 2000)
		msg = &m
	}
	_, _ = s.pool.Exec(ctx, `UPDATE side_effect_consumers SET last_error = $2 WHERE name = $1`, ConsumerName, msg)
}

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
