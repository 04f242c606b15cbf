package sideeffects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/eventstore/feed"
	"github.com/taskforge/taskforge/internal/database"
)

// Retry policy of the consumer for an event whose enqueue fails. After the last retry the message
// is nacked and the subscriber delivers the same event again, so a poison event is retried for
// ever (about every 25 s), never skipped: the consumer stops at it, loudly (error logs, the
// consumer's last_error, the consumer error metric), until a fix is deployed.
const (
	consumerMaxRetries    = 8
	consumerRetryInterval = 100 * time.Millisecond
	consumerRetryMax      = 30 * time.Second
)

// errReposition makes the subscription re-read from the stored checkpoint: another process moved
// it past the position this subscription delivered from.
var errReposition = errors.New("side effects: checkpoint moved; repositioning")

// watermillSource is the side effects' feed of the global log: a Watermill router with one handler, the consumer group
// ConsumerName, subscribed to the global log through feed.Subscriber (NOTIFY wake-ups,
// commit-safe order, one event at a time). Each event is enqueued in its own short transaction
// that also advances the checkpoint in side_effect_consumers from the message's previous position
// to the event's, so enqueueing is exactly once even with several processes consuming.
type watermillSource struct {
	pool     *pgxpool.Pool
	store    *eventstore.Store
	notifier *eventstore.Notifier
	batch    int
	poll     time.Duration
	log      *slog.Logger
	metrics  *Metrics
	token    int64 // the consumer lease's fencing token; 0: none
}

// Run delivers the log in commit-safe order from the consumer's checkpoint until ctx is done. For
// each batch it calls apply inside a transaction that also stores the checkpoint past the batch,
// and commits them together; apply's writes are idempotent, so redelivering a batch after a crash
// is harmless. After each commit it calls committed (which wakes the workers).
func (s *watermillSource) Run(ctx context.Context, apply func(context.Context, pgx.Tx, []eventstore.RecordedEvent) error, committed func()) error {
	// With wake-ups, polling is only a fallback for lost notifications: poll rarely.
	poll := s.poll
	if s.notifier != nil {
		poll *= 5
	}
	sub, err := feed.NewSubscriber(s.store, s.notifier, consumerCheckpoints{pool: s.pool}, feed.SubscriberConfig{
		PollInterval: poll, BatchSize: s.batch, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("side effects: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, watermill.NewSlogLogger(s.log))
	if err != nil {
		return fmt.Errorf("side effects: router: %w", err)
	}
	c := &consumer{pool: s.pool, apply: apply, committed: committed, log: s.log, metrics: s.metrics, token: s.token}
	h := router.AddConsumerHandler(ConsumerName, ConsumerName, sub, c.handle)
	c.handler = h
	retry := middleware.Retry{
		MaxRetries:      consumerMaxRetries,
		InitialInterval: consumerRetryInterval,
		MaxInterval:     consumerRetryMax,
		Multiplier:      2,
		ShouldRetry: func(p middleware.RetryParams) bool {
			return !errors.Is(p.Err, errReposition) && !errors.Is(p.Err, ErrFenced) && !errors.Is(p.Err, context.Canceled)
		},
	}
	// Outermost first: Retry, then the failure recorder (each failed attempt is visible), then
	// Recoverer (a panic is an attempt that failed like any other).
	h.AddMiddleware(retry.Middleware, c.recordFailures, middleware.Recoverer)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = router.Close() // closes the subscriber too
	}()
	// Run returns after Close, once the event in flight is finished (or CloseTimeout), or when the
	// handler stopped itself (fenced).
	if err := router.Run(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("side effects: router: %w", err)
	}
	if c.fenced.Load() {
		return ErrFenced
	}
	return nil
}

// ErrFenced is returned by the consumer once another process took its lease: its checkpoint
// advance found a newer fencing token, and nothing of that event committed.
var ErrFenced = errors.New("side effects: consumer lease lost (fenced)")

// consumer is the handler of the ConsumerName group.
type consumer struct {
	pool      *pgxpool.Pool
	apply     func(context.Context, pgx.Tx, []eventstore.RecordedEvent) error
	committed func()
	log       *slog.Logger
	metrics   *Metrics
	token     int64 // lease's fencing token; 0: none
	handler   *message.Handler
	fenced    atomic.Bool
}

// handle enqueues one event's side effects. The transaction only runs apply's statements and the
// checkpoint's: no network I/O, so the xid it holds (which pins every global reader's horizon)
// lives for a few milliseconds.
//
//	BEGIN; SET LOCAL synchronous_commit = off
//	UPDATE checkpoint prev → ev           row-locked: serialises processes consuming the group
//	  advanced   → apply                  (the common case)
//	  else, checkpoint >= ev → nothing: already enqueued (another process, or a lost ack); ack
//	  else       → errReposition: nack, the subscriber re-reads from the checkpoint
//	COMMIT, then wake the workers
//
// An asynchronous commit is safe: a crash loses only whole transactions, outbox rows and
// checkpoint together, and the events are then read and enqueued again (a row a worker already
// delivered may then be delivered again, with the same Idempotency-Key: at least once).
func (c *consumer) handle(msg *message.Message) error {
	ev, prev, err := feed.EventFromMessage(msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	at := ev.GlobalPosition()
	applied := false
	err = database.WithTx(ctx, c.pool, func(tx pgx.Tx) error {
		// Advance the checkpoint first, only from where this message says the previous event
		// was: the row lock it takes serialises processes consuming the same group.
		b := &pgx.Batch{}
		b.Queue(`SET LOCAL synchronous_commit = off`)
		// A paused process must not hold the rows below past a lease's time.
		b.Queue(`SET LOCAL idle_in_transaction_session_timeout = '5s'`)
		leased := true
		if c.token != 0 {
			// The fencing check, first: the lease row stays locked FOR SHARE until COMMIT, so a
			// takeover cannot slip in between (served by consumer_leases_pkey).
			b.Queue(`SELECT 1 FROM consumer_leases WHERE name = $1 AND token = $2 FOR SHARE`, ConsumerName, c.token).
				Query(func(rows pgx.Rows) error {
					leased = rows.Next()
					rows.Close()
					return rows.Err()
				})
		}
		// served by side_effect_consumers_pkey
		advance := b.Queue(`UPDATE side_effect_consumers
			SET transaction_id = $4, position = $5, last_error = NULL, updated_at = now()
			WHERE name = $1 AND transaction_id = $2 AND position = $3`,
			ConsumerName, int64(prev.TransactionID), prev.Position, int64(at.TransactionID), at.Position)
		var moved int64
		advance.Exec(func(tag pgconn.CommandTag) error {
			moved = tag.RowsAffected()
			return nil
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("advance checkpoint: %w", err)
		}
		if !leased {
			return ErrFenced // rolled back: the advance above never commits
		}
		if moved != 1 {
			var cp eventstore.GlobalPosition
			var txID int64
			// served by side_effect_consumers_pkey
			err := tx.QueryRow(ctx, `SELECT transaction_id, position FROM side_effect_consumers WHERE name = $1`,
				ConsumerName).Scan(&txID, &cp.Position)
			if err != nil {
				return fmt.Errorf("read checkpoint: %w", err)
			}
			cp.TransactionID = uint64(txID)
			if !cp.Less(at) {
				return nil // already enqueued
			}
			return errReposition
		}
		if err := c.apply(ctx, tx, []eventstore.RecordedEvent{ev}); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if errors.Is(err, ErrFenced) {
		c.fenced.Store(true)
		c.log.Warn("side effects: consumer lease taken by another process; stopping", "token", c.token)
		c.handler.Stop()
		return err
	}
	if err != nil {
		return err
	}
	if applied {
		c.metrics.consumed(1)
		c.committed()
	}
	return nil
}

// recordFailures makes every failed attempt loud: an error log, the consumer error metric, and
// the error on the consumer's row (shown by the Inspector), cleared by the next event enqueued.
func (c *consumer) recordFailures(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || errors.Is(err, errReposition) || msg.Context().Err() != nil {
			return out, err
		}
		c.metrics.consumerFailed()
		c.log.Error("side effects: consumer failed on an event; retrying", "event_id", msg.UUID,
			"event_type", msg.Metadata.Get(feed.MetaEventType), "err", err)
		_, _ = c.pool.Exec(msg.Context(), `UPDATE side_effect_consumers SET last_error = $2 WHERE name = $1`,
			ConsumerName, truncate(err.Error(), 2000))
		return out, err
	}
}

// consumerCheckpoints is the subscriber's CheckpointStore for the group: the checkpoint row in
// side_effect_consumers. The handler advances it in the transaction that enqueues, so Save (called
// after the ack) has nothing left to do.
type consumerCheckpoints struct{ pool *pgxpool.Pool }

func (c consumerCheckpoints) Load(ctx context.Context, group string) (eventstore.GlobalPosition, error) {
	var pos eventstore.GlobalPosition
	var txID int64
	// served by side_effect_consumers_pkey
	err := c.pool.QueryRow(ctx, `SELECT transaction_id, position FROM side_effect_consumers WHERE name = $1`,
		group).Scan(&txID, &pos.Position)
	if err != nil {
		return pos, fmt.Errorf("side effects: checkpoint of %s: %w", group, err)
	}
	pos.TransactionID = uint64(txID)
	return pos, nil
}

func (consumerCheckpoints) Save(context.Context, string, eventstore.GlobalPosition) error { return nil }
