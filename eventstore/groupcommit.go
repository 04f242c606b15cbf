package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

const (
	// groupLeaders is how many groups may be in flight at once. One keeps groups large: while it
	// commits, the next one fills.
	groupLeaders = 2
	// groupMaxAppends and groupMaxEvents bound one group's statement.
	groupMaxAppends = 64
	groupMaxEvents  = 4096
	// groupTimeout bounds a group's statement, which runs without its leader's cancellation (the
	// other members depend on it). A group never waits on a stream lock, so it takes milliseconds.
	groupTimeout = 30 * time.Second
)

var (
	// errRunAlone sends an append back to run on its own: its group could not take it (a stream
	// locked by another transaction) or failed as a whole.
	errRunAlone = errors.New("eventstore: append alone")
	// errGroupConflict is an append its group left out because a stream is past its expected
	// version or an event id is stored already: Append re-runs it on the general path, which
	// reports the conflict with the current version or replays the original result.
	errGroupConflict = fmt.Errorf("eventstore: left out of its group: %w", ErrConcurrency)
)

// groupCommitter combines concurrent fast appends (see fastAppend) into one statement and one
// commit: "whoever holds the connection takes what is queued", without any batching window.
//
//	Append ─▶ queue ─▶ no group in flight? lead: take the queue, run it, hand over to the next
//	                   else wait: for a result, or to lead the next group
//
// An append alone is a group of one and runs the plain fast path (fastAppendOneSQL), so an idle
// store is not slower. A larger group is one INSERT (groupAppendSQL) in which every append keeps
// its own contract:
//
//   - Each stream is try-locked with the advisory lock writers of it take; an append whose stream
//     another transaction holds is left out and runs alone (waiting for the lock), so a group never
//     waits on a lock: it cannot deadlock, nor hold its members behind one slow transaction.
//   - An append whose stream is past its expected version, or whose event ids are stored already,
//     is left out (a set-based check); Append re-runs it on the general path, which reports the
//     conflict or replays the original result. The others are written.
//   - An append that passes the check but is beaten by a writer that committed after the
//     statement's snapshot hits events_stream_version_key: the statement fails as a whole, nothing
//     is written, and every member runs alone.
//   - Members never share a stream, so each one's hash chain extends its stream's committed head
//     exactly as alone; appends of a stream already in the group wait for the next one.
//   - Positions come from one INSERT in the members' order, in one transaction: the global order
//     (transaction id, position) stays gap-free as for any transaction.
//
// A member whose context ends while queued withdraws; once its group has been taken it waits for
// the outcome, which the group's statement delivers in milliseconds.
type groupCommitter struct {
	s       *Store
	mu      sync.Mutex
	queue   []*pendingAppend
	leaders int // groups in flight (their leaders)
}

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

// append runs f in a group and returns its result, errRunAlone or errGroupConflict.
func (g *groupCommitter) append(ctx context.Context, f *fastAppend) (AppendResult, error) {
	p := &pendingAppend{ctx: ctx, f: f, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	if g.leaders == 0 || (g.leaders < dbgMaxLeaders && len(g.queue) >= dbgTarget) {
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

// lead runs groups from the queue until p's own append has run, then hands the lead to the first
// append still queued (which takes what queued meanwhile), or ends the run.
func (g *groupCommitter) lead(p *pendingAppend) (AppendResult, error) {
	for !p.done {
		g.mu.Lock()
		batch := g.take(p)
		g.mu.Unlock()
		g.run(p, batch)
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		g.mu.Unlock()
		next.wake <- struct{}{}
	} else {
		g.leaders--
		g.mu.Unlock()
	}
	return p.res, p.err
}

// take removes the next group from the queue, in arrival order: at most groupMaxAppends appends
// and about groupMaxEvents events, no two on one stream. g.mu must be held.
func (g *groupCommitter) take(self *pendingAppend) []*pendingAppend {
	var (
		batch   []*pendingAppend
		events  int
		streams = make(map[string]struct{})
	)
	rest := g.queue[:0]
	for _, q := range g.queue {
		// Another leader's own append is its to run.
		fits := (q == self || !q.lead) &&
			(len(batch) == 0 || (len(batch) < groupMaxAppends && events+len(q.f.a.eventIDs) <= groupMaxEvents))
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
		events += len(q.f.a.eventIDs)
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
	dbgGroups.Add(1)
	dbgSizes.Add(int64(len(batch)))
	if len(batch) == 1 {
		dbgAlone.Add(1)
		q := batch[0]
		q.res, q.err = g.s.appendFast(q.ctx, q.f)
	} else {
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

// groupAppendSQL writes a group's appends in one statement; see groupCommitter. Parameters: $1 the
// group's stream ids; per stream of each append $2 the append's index, $3 the stream id, $4 its
// version before the append; per event $5 its append's index and $6–$17 its row. It returns the
// positions written (in parameter order), the transaction id, the indexes of the appends left out,
// and the streams another transaction held.
const groupAppendSQL = `WITH busy AS (
	SELECT coalesce(array_agg(id) FILTER (WHERE NOT pg_try_advisory_xact_lock(taskforge_stream_lock(id))), '{}') AS ids
	FROM unnest((SELECT $1::text[])) AS id
), excluded AS (
	SELECT c.a FROM busy, unnest((SELECT $2::int[]), $3::text[], $4::bigint[]) AS c(a, id, v)
	WHERE c.id = ANY (busy.ids)
	   -- served by events_stream_version_key
	   OR EXISTS (SELECT 1 FROM events e WHERE e.stream_id = c.id AND e.stream_version = c.v + 1)
	UNION
	-- served by events_event_id_key
	SELECT x.a FROM unnest((SELECT $5::int[]), $9::uuid[]) AS x(a, id)
	WHERE EXISTS (SELECT 1 FROM events e WHERE e.event_id = x.id)
), ins AS (
	INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type, schema_version,
	                    data, metadata, recorded_at, prev_hash, hash)
	SELECT x.sid, x.stype, x.v, x.id, x.t, x.sv, x.d, x.m, x.r, x.ph, x.h
	FROM unnest((SELECT $5::int[]), $6::text[], $7::text[], $8::bigint[], $9::uuid[], $10::text[], $11::int[],
	            $12::json[], $13::json[], $14::timestamptz[], $15::bytea[], $16::bytea[])
	            WITH ORDINALITY AS x(a, sid, stype, v, id, t, sv, d, m, r, ph, h, ord)
	WHERE x.a NOT IN (SELECT a FROM excluded)
	ORDER BY x.ord
	RETURNING position, transaction_id
)
SELECT (SELECT coalesce(array_agg(position ORDER BY position), '{}') FROM ins),
       (SELECT max(transaction_id::text::bigint) FROM ins),
       (SELECT coalesce(array_agg(a), '{}') FROM excluded),
       (SELECT ids FROM busy)`

// appendGroup runs batch (appends on distinct streams) with groupAppendSQL and sets each member's
// result or error.
func (s *Store) appendGroup(ctx context.Context, batch []*pendingAppend) {
	var (
		lockIDs, checkIDs                []string
		checkApp, evApp, evSchemaVersion []int32
		checkFrom, evVersion             []int64
		evStream, evStreamType, evType   []string
		evData, evMeta                   []string
		evID                             []uuid.UUID
		evRecorded                       []time.Time
		evPrev, evHash                   [][]byte
	)
	for k, q := range batch {
		f := q.f
		for i, id := range f.a.streamIDs {
			lockIDs = append(lockIDs, id)
			checkApp, checkIDs, checkFrom = append(checkApp, int32(k)), append(checkIDs, id), append(checkFrom, f.from[i])
		}
		for e := range f.a.eventIDs {
			evApp = append(evApp, int32(k))
			evStream, evStreamType = append(evStream, f.evStreamIDs[e]), append(evStreamType, f.evStreamTypes[e])
			evVersion, evID = append(evVersion, f.evVersions[e]), append(evID, f.a.eventIDs[e])
			evType, evSchemaVersion = append(evType, f.a.eventTypes[e]), append(evSchemaVersion, f.a.schemaVersions[e])
			evData, evMeta = append(evData, f.a.data[e]), append(evMeta, f.a.metadata[e])
			evRecorded = append(evRecorded, f.a.recordedAt)
			evPrev, evHash = append(evPrev, f.evPrev[e]), append(evHash, f.evHash[e])
		}
	}
	var (
		positions []int64
		txID      *int64
		excluded  []int32
		busy      []string
	)
	t0 := time.Now()
	defer func() { dbgNanos.Add(int64(time.Since(t0))) }()
	err := s.pool.QueryRow(ctx, groupAppendSQL, lockIDs, checkApp, checkIDs, checkFrom,
		evApp, evStream, evStreamType, evVersion, evID, evType, evSchemaVersion, evData, evMeta,
		evRecorded, evPrev, evHash).Scan(&positions, &txID, &excluded, &busy)
	left := make(map[int32]bool, len(excluded))
	for _, k := range excluded {
		left[k] = true
	}
	written := 0
	for k, q := range batch {
		if !left[int32(k)] {
			written += len(q.f.a.eventIDs)
		}
	}
	if err == nil && written > 0 && (txID == nil || len(positions) != written) {
		err = fmt.Errorf("append: %d positions for %d events", len(positions), written)
	}
	if err != nil {
		dbgErrs.Add(1)
		fmt.Println("DBG", err)
		// Nothing was written (or, for the impossible count mismatch, every member's retry replays
		// what was): each member runs alone.
		for _, q := range batch {
			q.err = errRunAlone
		}
		return
	}
	for k, q := range batch {
		if left[int32(k)] {
			q.err = errGroupConflict
			dbgExcl.Add(1)
			for _, id := range q.f.a.streamIDs {
				if slices.Contains(busy, id) {
					q.err = errRunAlone
				}
			}
			continue
		}
		n := len(q.f.a.eventIDs)
		q.res = s.finishFast(q.f, positions[:n:n], uint64(*txID))
		positions = positions[n:]
	}
}

var dbgNanos, dbgGroups, dbgSizes, dbgAlone, dbgErrs, dbgExcl atomic.Int64

var dbgMaxLeaders, dbgTarget = 1, 8
