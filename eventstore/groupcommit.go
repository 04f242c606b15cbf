package eventstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// groupLeaders is how many groups may run at once, and groupStartAt how many appends must queue
	// before a second one starts: one group keeps groups large (while it commits, the next one
	// fills), a second one keeps the database busy while the first waits for its commit. With 8,
	// 8 closed-loop writers never started a second group (at most 7 queue behind a running one):
	// one statement in flight, 0.93–0.98× a plain INSERT. Measured alternately in one session
	// (bench append, 2 cores, ratio to the plain INSERT of the same run): 4 gave 1.18–1.34× at 8
	// writers and 2.73–2.74× at 64 (8: 2.52–3.02×); 3 gave 0.90–0.95× and 2 0.79× at 8 writers
	// (groups too small to pay for their statement).
	groupLeaders = 2
	groupStartAt = 4
	// groupSoloMax appends run alone at once before the next one queues for a group: a lone
	// writer pays nothing for group commit. Measured here (bench append, 2 cores, ratios to a
	// plain INSERT in the same run): with 1, 8 writers 0.84–0.85× (0.75–0.77× without groups) and
	// 64 writers 4.1× (0.85–1.0× without); with 8, 64 writers reached only about 2.5×. A leader
	// that waited up to 1 ms for a group as large as the last one did no better.
	groupSoloMax = 1
	// groupFillWait bounds how long a leader yields to appends still being prepared (see fill).
	groupFillWait = 50 * time.Microsecond
	// groupMaxAppends bounds one group's statement.
	groupMaxAppends = 64
	// groupTimeout bounds a group's statement, which runs without its leader's cancellation (the
	// other members depend on it). A group never waits on a stream lock, so it takes milliseconds.
	groupTimeout = 30 * time.Second
)

var (
	// errRunAlone sends an append back to run on its own: its group failed as a whole.
	errRunAlone = errors.New("eventstore: append alone")
	// errGroupConflict is an append its group left out (its stream locked by another transaction,
	// past its expected version, or its event id stored already): Append re-runs it on the general
	// path, which waits for the lock, reports the conflict or replays the original result.
	errGroupConflict = fmt.Errorf("eventstore: left out of its group: %w", ErrConcurrency)
)

// groupCommitter combines concurrent one-event fast appends (see fastAppend) into one statement
// and one commit: "whoever holds the connection takes what is queued", without a batching window.
//
//	Append ─▶ fewer than groupSoloMax running and no group? run alone (fastAppendOneSQL)
//	       └▶ queue ─▶ no group running? lead: take the queue, run it, hand the lead to the
//	                   next queued append (or stop when none is left)
//	                   else wait: for a result, or to lead the next group
//
// An append alone, or among few, runs the plain fast path, so an idle or lightly loaded store is
// not slower; a group of one does the same. A larger group is one INSERT (groupAppendSQL) in which
// every append keeps its own contract:
//
//   - Its stream is try-locked with the advisory lock every writer of it takes. An append whose
//     stream another transaction holds is left out, so a group never waits on a lock: it cannot
//     deadlock, nor keep its members behind one slow transaction.
//   - An append whose stream is past its expected version (events_stream_version_key) or whose
//     event id is stored (events_event_id_key) writes nothing and the others are written: the
//     group's INSERT is tried as is and, when a unique index refuses it (the whole statement
//     fails), again with ON CONFLICT DO NOTHING. A left-out append re-runs on the general path,
//     which waits for the lock, reports the conflict with the current version or replays the
//     original result. Being one row, an append is written whole or not at all.
//   - Members never share a stream (a later append of a stream waits for the next group), so each
//     hash chain extends its stream's committed head exactly as alone.
//   - Positions come from one INSERT in the members' order, in one transaction: the global order
//     (transaction id, position) is gap-free as for any transaction, and readers see the whole
//     group at once.
//
// Appends of several events or streams run alone: one INSERT with ON CONFLICT DO NOTHING could
// write part of them.
//
// A member whose context ends while queued withdraws. Once its group is taken it waits for the
// outcome, which the group's statement delivers in milliseconds (it never waits on a lock). The
// leader runs the statement without its own cancellation, which the other members do not share.
type groupCommitter struct {
	s       *Store
	startAt int // groupStartAt; tests that fill one group behind a held leader raise it
	mu      sync.Mutex
	queue   []*pendingAppend
	leaders int // groups in flight (their leaders)
	solo    int // appends running alone, outside groups
	// preparing counts one-event appends between Append's start and the queue (validating,
	// encoding, hashing): the ones a leader can expect within microseconds.
	preparing atomic.Int64
}

// arriving counts appends as preparing when they may come to the committer (one stream, one
// event); the caller then hands them over with append or calls left. It is nil-safe.
func (g *groupCommitter) arriving(appends []StreamAppend) bool {
	if g == nil || len(appends) != 1 || len(appends[0].Events) != 1 {
		return false
	}
	g.preparing.Add(1)
	return true
}

// left uncounts an arriving append that did not come to the committer.
func (g *groupCommitter) left() { g.preparing.Add(-1) }

// pendingAppend is one Append waiting in, or running in, a group.
type pendingAppend struct {
	ctx  context.Context
	f    *fastAppend
	wake chan struct{} // one signal: the result is set, or lead is
	// Guarded by groupCommitter.mu.
	taken, lead bool
	// Set by the group's leader before wake.
	res  AppendResult
	err  error
	done bool
}

// append runs f (counted by arriving) in a group and returns its result, errRunAlone or
// errGroupConflict.
func (g *groupCommitter) append(ctx context.Context, f *fastAppend) (AppendResult, error) {
	g.mu.Lock()
	g.left()
	if g.leaders == 0 && g.solo < groupSoloMax {
		g.solo++
		g.mu.Unlock()
		res, err := g.s.appendFast(ctx, f)
		g.mu.Lock()
		g.solo--
		g.mu.Unlock()
		return res, err
	}
	p := &pendingAppend{ctx: ctx, f: f, wake: make(chan struct{}, 1)}
	g.queue = append(g.queue, p)
	if g.leaders == 0 || (g.leaders < groupLeaders && len(g.queue) >= g.startAt) {
		g.leaders++
		p.lead = true
		g.mu.Unlock()
		return g.lead(p)
	}
	g.mu.Unlock()
	select {
	case <-p.wake:
	case <-ctx.Done():
		g.mu.Lock()
		if !p.taken && !p.lead {
			g.queue = slices.DeleteFunc(g.queue, func(q *pendingAppend) bool { return q == p })
			g.mu.Unlock()
			return AppendResult{}, fmt.Errorf("append: %w", ctx.Err())
		}
		g.mu.Unlock()
		<-p.wake
	}
	if p.lead {
		return g.lead(p)
	}
	return p.res, p.err
}

// lead runs groups from the queue until p's own append has run (in its first group, unless an
// earlier queued append of its stream goes first), then hands the lead to the first append still
// queued (which takes what queued meanwhile), or ends the run. A leader that went on running
// groups while appends were queued (up to 4 in a row: it was running already, where a new one
// has to be woken) kept its own caller waiting for the others' statements. Measured here (bench
// append --rounds 3, builds alternated), handing the lead on at once: at 8 writers, 7 pairs, p99
// median 3.48 → 2.47 ms (lower in 6 pairs), ratio median 1.06 → 1.09×, groups of 3.7–3.8 →
// 3.9–4.0; at 64 writers, 10 pairs, ratio median 2.00 → 2.18× (higher in 8), p99 median 8.3 →
// 7.8 ms (lower in 7).
func (g *groupCommitter) lead(p *pendingAppend) (AppendResult, error) {
	for {
		g.mu.Lock()
		if p.done {
			break
		}
		g.mu.Unlock()
		g.fill()
		g.mu.Lock()
		batch := g.take(p)
		g.mu.Unlock()
		g.run(p, batch)
	}
	if next := g.next(); next != nil {
		next.lead = true
		g.mu.Unlock()
		next.wake <- struct{}{}
	} else {
		g.leaders--
		g.mu.Unlock()
	}
	return p.res, p.err
}

// fill lets the appends on their way join the group about to be taken. Closed-loop writers come
// back together, woken by the group that has just committed (often the one the leader was in),
// and take microseconds to prepare their next append: a leader that took the queue at once took
// a fragment, and the rest formed groups of one or two behind it. So the leader first yields once
// (the writers woken with it run), then while appends are preparing, up to groupFillWait. Measured here
// (bench append, 2 cores, builds alternated): mean group size 3.0–3.1 → 3.8 at 8 writers and
// 18.3 → 24 at 64; at 8 writers p99 lower in each of five pairs (2.8–9.4 → 1.7–2.9 ms) while the ratio
// to the plain INSERT stayed within the run-to-run noise (median 1.18× both); at 64 writers 2.58,
// 2.76× → 2.80, 2.82×. A yield delays the group by whatever else is runnable: microseconds
// in a server whose goroutines mostly wait on I/O, and bounded by the scheduler's preemption.
func (g *groupCommitter) fill() {
	runtime.Gosched()
	for start := time.Now(); g.preparing.Load() > 0 && time.Since(start) < groupFillWait; {
		runtime.Gosched()
	}
}

// next returns the first queued append that no leader runs (the other leader's own append waits
// in the queue until that leader takes it), or nil. g.mu must be held.
func (g *groupCommitter) next() *pendingAppend {
	for _, q := range g.queue {
		if !q.lead {
			return q
		}
	}
	return nil
}

// take removes the next group from the queue, in arrival order: at most groupMaxAppends appends,
// no two on one stream, none that another leader runs. g.mu must be held.
func (g *groupCommitter) take(self *pendingAppend) []*pendingAppend {
	var (
		batch   []*pendingAppend
		streams = make(map[string]struct{})
	)
	rest := g.queue[:0]
	for _, q := range g.queue {
		// Another leader's own append is its to run.
		fits := (q == self || !q.lead) && len(batch) < groupMaxAppends
		for _, id := range q.f.a.streamIDs {
			if _, dup := streams[id]; dup {
				fits = false
			}
		}
		if !fits {
			rest = append(rest, q)
			continue
		}
		q.taken = true
		batch = append(batch, q)
		for _, id := range q.f.a.streamIDs {
			streams[id] = struct{}{}
		}
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return batch
}

// run appends batch and wakes its members (but leader, whose goroutine this is).
func (g *groupCommitter) run(leader *pendingAppend, batch []*pendingAppend) {
	if len(batch) > 0 {
		g.s.metrics.observeGroup(len(batch))
	}
	switch len(batch) {
	case 0:
		return
	case 1:
		q := batch[0]
		q.res, q.err = g.s.appendFast(q.ctx, q.f)
	default:
		ctx, cancel := context.WithTimeout(context.WithoutCancel(leader.ctx), groupTimeout)
		g.s.appendGroup(ctx, batch)
		cancel()
	}
	for _, q := range batch {
		q.done = true
		if q != leader {
			q.wake <- struct{}{}
		}
	}
}

// groupAppendSQL writes a group of one-event appends on distinct streams in one statement; see
// groupCommitter. Each parameter holds one value per append, in the group's order. It returns one
// row per event written: its id, position and transaction id.
//
// This is the optimistic form: a conflict on a unique index fails the statement as a whole, and the
// group runs again with groupAppendCarefulSQL. Skipping ON CONFLICT's pre-check of both unique
// indexes saves two index descents per row. Rows are found only through the unique indexes, never
// by a probe the planner could turn into a scan: the plan is cached per connection, and one made
// while the table was small (a hashed subplan over a sequential scan) would be kept as it grows.
// (SELECT $1) hides the group's size from the planner, so that PostgreSQL settles on that cached
// plan instead of planning every group anew, which cost as much as running it. The rows come back
// as they are, not aggregated into arrays: 3–5% more rows a second in pgbench (groups of 4 from 2
// sessions, alternated three times), with no sort nor aggregate in the statement.
const groupAppendSQL = `INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type, schema_version,
                    data, metadata, recorded_at, prev_hash, hash)
SELECT x.sid, x.stype, x.v, x.id, x.t, x.sv, x.d, x.m, x.r, x.ph, x.h
FROM unnest((SELECT $1::text[]), $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[],
            $7::json[], $8::json[], $9::timestamptz[], $10::bytea[], $11::bytea[])
            WITH ORDINALITY AS x(sid, stype, v, id, t, sv, d, m, r, ph, h, ord)
WHERE pg_try_advisory_xact_lock(taskforge_stream_lock(x.sid))
ORDER BY x.ord
RETURNING event_id, position, transaction_id::text::bigint`

// groupAppendCarefulSQL is groupAppendSQL for a group in which some append conflicts: ON CONFLICT
// DO NOTHING leaves out the rows of appends whose stream is past their expected version
// (events_stream_version_key) or whose event id is stored (events_event_id_key).
var groupAppendCarefulSQL = strings.Replace(groupAppendSQL, "\nRETURNING event_id", "\nON CONFLICT DO NOTHING\nRETURNING event_id", 1)

// appendGroup runs batch (one-event appends on distinct streams) with groupAppendSQL and sets
// each member's result or error.
func (s *Store) appendGroup(ctx context.Context, batch []*pendingAppend) {
	n := len(batch)
	var (
		streams, streamTypes, types, data, meta = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions                                = make([]int64, n)
		ids                                     = make([]uuid.UUID, n)
		schemaVersions                          = make([]int32, n)
		recorded                                = make([]time.Time, n)
		prev, hash                              = make([][]byte, n), make([][]byte, n)
	)
	for k, q := range batch {
		f := q.f
		streams[k], streamTypes[k], versions[k] = f.evStreamIDs[0], f.evStreamTypes[0], f.evVersions[0]
		ids[k], types[k], schemaVersions[k] = f.a.eventIDs[0], f.a.eventTypes[0], f.a.schemaVersions[0]
		data[k], meta[k], recorded[k] = f.a.data[0], f.a.metadata[0], f.a.recordedAt
		prev[k], hash[k] = f.evPrev[0], f.evHash[0]
	}
	args := []any{streams, streamTypes, versions, ids, types, schemaVersions, data, meta, recorded, prev, hash}
	at, txID, err := s.runGroup(ctx, groupAppendSQL, n, args)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" {
		at, txID, err = s.runGroup(ctx, groupAppendCarefulSQL, n, args)
	}
	if err != nil {
		// Nothing was written (or, for an error while reading the result, each member's own run
		// replays what was, by its event id): each member runs alone.
		for _, q := range batch {
			q.err = errRunAlone
		}
		return
	}
	for _, q := range batch {
		pos, ok := at[q.f.a.eventIDs[0]]
		if !ok {
			// Its stream was locked by another transaction, past its expected version, or its
			// event id is stored already: the general path waits for the lock and tells which.
			q.err = errGroupConflict
			continue
		}
		q.res = s.finishFast(q.f, []int64{pos}, txID)
	}
}

// runGroup runs a group's statement and returns the position of each event written, by id, and
// the transaction id. Any error means that nothing was written: the statement is its own
// transaction, and an error after some rows (a unique index refusing a later one) rolls it back.
func (s *Store) runGroup(ctx context.Context, sql string, n int, args []any) (map[uuid.UUID]int64, uint64, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		at            = make(map[uuid.UUID]int64, n)
		id            uuid.UUID
		pos, tx, txID int64
	)
	for rows.Next() {
		if err := rows.Scan(&id, &pos, &tx); err != nil {
			return nil, 0, err
		}
		if len(at) > 0 && tx != txID {
			return nil, 0, fmt.Errorf("append: one group in transactions %d and %d", txID, tx)
		}
		at[id], txID = pos, tx
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return at, uint64(txID), nil
}
