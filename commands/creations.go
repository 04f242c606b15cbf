package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// Task creations in one project are decided and appended in batches, so
// that concurrent creations do not conflict with each other.
//
// Every creation reserves the next number on the project's task numbers
// stream at that stream's exact version, which keeps numbers dense and
// unique, in every process, across crashes. Appended one by one, concurrent
// creations all load the same version and all but one conflict, reload and
// decide again: in a hot project (an import, a team on one board) most
// attempts were wasted, creations took seconds and timed out (issue 13).
// Batched, the creations waiting in this process for a project are decided
// together on one load, each on the numbers the previous ones took
// (domain.TaskNumbers.Recorded), and appended in one append: one
// reservation per task on the numbers stream at the version loaded, each
// task's stream, and the project and workspace asserted at the versions
// decided on, exactly as one creation asserts them. So:
//
//   - numbers stay dense and unique and are never reused: they are taken
//     from the log by an append at its exact version, as before, only
//     several at a time; another process's batch conflicts with ours, and
//     one of the two decides again, as single creations did;
//   - a creation that is refused (a bad title, an assignee who is not a
//     member, a caller without the right) takes no number: the next one in
//     the batch takes it; a batch whose append fails reserves nothing, and
//     a creation whose append fails alone (its task id is taken) leaves the
//     numbers it was given to the others, decided again at once;
//   - archiving the project or changing its workflow conflicts with every
//     creation of a batch in flight, which is decided again on the new
//     state (refused, or started in the new initial status);
//   - each creation keeps its own outcome: its own event ids, metadata,
//     idempotency key, result and position, and its own error.
//
//	Handle ─▶ queue of the project ─▶ holder of the project's token runs a batch:
//	          (in this process)         ├─ keyed calls already stored? their result
//	                                    ├─ load project and workspace; numbers: those of the
//	                                    │  last batch + the tail other processes appended
//	                                    ├─ decide each; refused ones leave, take no number
//	                                    └─ one Append ── ok ──▶ each its own result
//	                                          ├─ conflict on a task's own stream ─▶ that one fails, the rest again
//	                                          ├─ on the numbers stream (another process) ─▶ read its tail, all again
//	                                          ├─ on the project or workspace ─▶ back off, reload, all again (≤ MaxAttempts)
//	                                          └─ other error ─▶ each again alone: no creation fails its neighbours
//
// The caller that holds the project's token (one per project and process)
// runs batches, oldest creations first, until its own creation is settled;
// creations that arrive meanwhile queue for the next batch. There is no
// background goroutine: the token passes from caller to caller, as in the
// retry lanes (lanes.go). A batch runs under a context that ends only once
// every creation in it has given up; a creation whose caller gives up
// leaves at the batch's next attempt, or at once while it is still queued.

// maxNumberRounds bounds, in multiples of Options.MaxAttempts, the rounds a
// creation is decided again because other processes took numbers first.
const maxNumberRounds = 10

// maxCreationBatch bounds the creations appended together (about three
// events each).
const maxCreationBatch = 100

// creationQueues holds, per project, the creations this process is
// waiting to append.
type creationQueues struct {
	mu sync.Mutex
	m  map[uuid.UUID]*creationQueue
}

type creationQueue struct {
	project uuid.UUID
	token   chan struct{} // holds one token: the right to run batches
	pending []*creation   // FIFO; guarded by creationQueues.mu
	users   int           // creations queued or running; guarded by creationQueues.mu
	// numbers are the project's task numbers after this process's last
	// batch, a guess that the exact version of the next append checks;
	// only the holder of the token uses them.
	numbers *domain.TaskNumbers
}

// creation is one CreateTask call.
type creation struct {
	ctx    context.Context
	cmd    CreateTask
	inv    invocation
	taskID uuid.UUID
	taken  bool // in a batch; guarded by creationQueues.mu
	// attempts counts the batch attempts that conflicted on the project or
	// the workspace with this creation in them, numberRounds those that
	// conflicted on the task numbers stream (only the runner touches them).
	attempts, numberRounds int

	done    chan struct{} // closed once the outcome below is set
	res     eventstore.AppendResult
	created domain.TaskCreated
	err     error
}

func (c *creation) settle(res eventstore.AppendResult, created domain.TaskCreated, err error) {
	c.res, c.created, c.err = res, created, err
	close(c.done)
}

func (c *creation) settled() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// create queues c in its project's queue and returns once it is settled
// (c.err says how), or with the context's error while it is still queued.
func (rt *Runtime) create(c *creation) error {
	q := &rt.creations
	q.mu.Lock()
	if q.m == nil {
		q.m = make(map[uuid.UUID]*creationQueue)
	}
	cq := q.m[c.cmd.ProjectID]
	if cq == nil {
		cq = &creationQueue{project: c.cmd.ProjectID, token: make(chan struct{}, 1)}
		cq.token <- struct{}{}
		q.m[c.cmd.ProjectID] = cq
	}
	cq.users++
	cq.pending = append(cq.pending, c)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		if cq.users--; cq.users == 0 {
			delete(q.m, cq.project)
		}
		q.mu.Unlock()
	}()

	select {
	case <-c.done:
		return nil
	case <-cq.token:
		defer func() { cq.token <- struct{}{} }()
		// Batches are taken in arrival order: c is in this one or a later one.
		for !c.settled() {
			rt.runCreations(cq, q.take(cq, maxCreationBatch))
		}
		return nil
	case <-c.ctx.Done():
		q.mu.Lock()
		if !c.taken {
			cq.pending = slices.DeleteFunc(cq.pending, func(p *creation) bool { return p == c })
			q.mu.Unlock()
			return c.ctx.Err()
		}
		q.mu.Unlock()
		// In a batch: it leaves at the batch's next attempt, unless it commits.
		<-c.done
		return nil
	}
}

// take removes up to n creations from the head of cq's queue.
func (q *creationQueues) take(cq *creationQueue, n int) []*creation {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(cq.pending))
	batch := slices.Clone(cq.pending[:n])
	cq.pending = slices.Delete(cq.pending, 0, n)
	for _, c := range batch {
		c.taken = true
	}
	return batch
}

// runCreations appends batch, deciding it again after conflicts, until every
// creation in it is settled. Creations queued meanwhile wait for the next
// batch: a batch that grew while it backed off would take longer to decide
// and lose again to the batches of other processes.
func (rt *Runtime) runCreations(cq *creationQueue, batch []*creation) {
	const name = "create_task"
	var scope *projectScope
	for round := 1; ; {
		batch = slices.DeleteFunc(batch, func(c *creation) bool {
			if err := c.ctx.Err(); err != nil {
				c.settle(eventstore.AppendResult{}, domain.TaskCreated{}, fmt.Errorf("%s: %w", name, err))
				return true
			}
			return false
		})
		if len(batch) == 0 {
			return
		}
		ctx, release := whileAnyWaits(batch)
		out := rt.attemptCreations(ctx, cq, batch, scope)
		scope = nil
		switch {
		case out.alone:
			release()
			for _, c := range out.again {
				rt.runCreations(cq, []*creation{c})
			}
			return
		case out.conflict != nil:
			// A conflict on the numbers stream alone (out.scope set) means
			// that another process's creations committed: someone
			// progresses every round, so these rounds are not counted as
			// attempts. They go on while the callers wait, within a bound
			// for callers without a deadline, after a short jittered wait
			// that lets two processes fall out of step.
			numbers := out.scope != nil
			var again []*creation
			for _, c := range out.again {
				n, limit := &c.attempts, rt.opts.MaxAttempts
				if numbers {
					n, limit = &c.numberRounds, maxNumberRounds*rt.opts.MaxAttempts
				}
				if *n++; *n >= limit {
					c.settle(eventstore.AppendResult{}, domain.TaskCreated{}, fmt.Errorf("%s after %d attempts: %w (%w)",
						name, c.attempts+c.numberRounds, ErrContention, out.conflict))
					continue
				}
				rt.opts.Metrics.retried(name)
				again = append(again, c)
			}
			rt.log.DebugContext(ctx, "creations conflicted, deciding again", "command", name, "creations", len(again),
				"round", round, "err", out.conflict)
			// Canceled only once every creation of the batch gave up: the loop then settles them.
			if numbers {
				_ = rt.backoff(ctx, 1)
			} else {
				_ = rt.backoff(ctx, round)
				round++
			}
			batch = again
			// The project was still current (the store checks streams in id
			// order, "project-…" before "task_numbers-…"), the workspace
			// most likely: only the numbers are read again, and a stale
			// workspace makes the next append conflict on it. The batch
			// that lost then decides faster than the others, which load
			// everything.
			scope = out.scope
		default:
			batch = out.again // a neighbour left: the others go again at once
		}
		release()
	}
}

// whileAnyWaits returns a context for work done on behalf of batch: it
// carries the first creation's values and ends once every creation's
// context has ended, so that one caller giving up does not fail the others.
func whileAnyWaits(batch []*creation) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, c := range batch {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// batchOutcome is what one attempt leaves to do: the creations to decide
// again, after a conflict on a stream they share (conflict set), one by one
// (alone), or at once. After a conflict on the numbers stream alone, scope
// is the project and workspace the attempt decided on, still current.
type batchOutcome struct {
	again    []*creation
	conflict error
	alone    bool
	scope    *projectScope
}

// attemptCreations loads the project once, decides every creation of batch
// on it and appends those accepted in one append. It settles the creations
// it can and returns the others.
func (rt *Runtime) attemptCreations(ctx context.Context, cq *creationQueue, batch []*creation, scope *projectScope) batchOutcome {
	const name = "create_task"
	projectID := cq.project
	var out batchOutcome
	// A keyed call may have been stored by a call with the same key (here,
	// in another process, or before a crash): its result is the answer.
	// Twins within the batch wait for the next attempt, which finds the
	// first one's events.
	var live []*creation
	seen := map[uuid.UUID]bool{}
	for _, c := range batch {
		if c.inv.keyed {
			if seen[c.inv.id] {
				out.again = append(out.again, c)
				continue
			}
			seen[c.inv.id] = true
			if res, found, err := rt.findAppend(ctx, c.inv); err != nil || found {
				rt.settleReplay(ctx, c, res, err)
				continue
			}
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return out
	}

	fail := func(err error) batchOutcome {
		for _, c := range live {
			rt.settleRefused(ctx, c, err)
		}
		return out
	}
	if scope == nil {
		s, err := rt.loadProjectScope(ctx, projectID)
		if err != nil {
			return fail(err)
		}
		scope = &s
	}
	s := *scope
	numbers, err := rt.currentTaskNumbers(ctx, cq)
	if err != nil {
		return fail(err)
	}
	loaded := numbers.Version()
	now := rt.now()

	// Decide each on the numbers the previous ones left.
	type accepted struct {
		c       *creation
		created domain.TaskCreated
		ids     map[uuid.UUID]bool
	}
	var (
		acc     []accepted
		appends []eventstore.StreamAppend
		index   = map[string]int{} // stream id → its place in appends
		byTask  = map[string]*creation{}
	)
	for _, c := range live {
		numberEvents, taskEvents, err := domain.CreateTask(s.ws, s.project, numbers, c.cmd.Actor, c.taskID, domain.NewTask{
			Title: c.cmd.Title, Description: c.cmd.Description, Priority: c.cmd.Priority,
			DueDate: c.cmd.DueDate, Labels: c.cmd.Labels, Assignee: c.cmd.Assignee,
		}, now)
		if err == nil {
			numbers, err = numbers.Recorded(numberEvents)
		}
		if err != nil {
			rt.settleRefused(ctx, c, err)
			continue
		}
		stream := domain.TaskStream(c.taskID)
		writes := []write{
			exactWrite(domain.TaskNumbersStream(projectID), domain.StreamTypeTaskNumbers, loaded, numberEvents),
			newStreamWrite(stream, domain.StreamTypeTask, taskEvents),
		}
		// The caller's own metadata and event ids, as if it were appended alone.
		encoded, err := rt.encode(c.ctx, c.inv, c.cmd, decision{workspaceID: s.ws.ID(), writes: append(writes, indexWrites(s.ws.ID(), taskEvents)...)})
		if err != nil {
			c.settle(eventstore.AppendResult{}, domain.TaskCreated{}, fmt.Errorf("%s: %w", name, err))
			continue
		}
		a := accepted{c: c, created: taskEvents[0].(domain.TaskCreated), ids: map[uuid.UUID]bool{}}
		for _, sa := range encoded {
			for _, e := range sa.Events {
				a.ids[e.ID] = true
			}
		}
		acc = append(acc, a)
		appends = mergeAppends(appends, index, encoded)
		byTask[stream] = c
	}
	if len(acc) == 0 {
		return out
	}
	// Asserted, as for a single creation: the archive flag and the initial
	// status are read from the project, the assignees' membership and the
	// creators' roles from the workspace.
	appends = append(appends,
		eventstore.StreamAppend{StreamID: domain.ProjectStream(projectID), StreamType: domain.StreamTypeProject, Expected: eventstore.Exact(s.project.Version())},
		eventstore.StreamAppend{StreamID: domain.WorkspaceStream(s.ws.ID()), StreamType: domain.StreamTypeWorkspace, Expected: eventstore.Exact(s.ws.Version())},
	)

	res, err := rt.store.Append(ctx, appends...)
	var ce *eventstore.ConflictError
	switch {
	case err == nil && !res.Replayed:
		rt.appendedNumbers(ctx, cq, loaded, numbers)
		for _, a := range acc {
			a.c.settle(own(res, a.ids), a.created, nil)
		}
	case err == nil:
		// Every event id was stored already: keyed calls whose twins
		// committed meanwhile. Each gets its own stored result.
		for _, a := range acc {
			found, ok, ferr := rt.findAppend(ctx, a.c.inv)
			if ferr == nil && !ok {
				ferr = fmt.Errorf("%s: append replayed without the call's events", name)
			}
			rt.settleReplay(ctx, a.c, found, ferr)
		}
	case errors.As(err, &ce) && byTask[ce.StreamID] != nil:
		// A task id that is taken (a caller's, or a keyed twin's): that
		// creation fails, the others go again.
		c := byTask[ce.StreamID]
		rt.settleFailed(ctx, c, errAlreadyExists)
		for _, a := range acc {
			if a.c != c {
				out.again = append(out.again, a.c)
			}
		}
	case errors.Is(err, eventstore.ErrConcurrency):
		out.conflict = err
		if ce != nil && ce.StreamID == domain.TaskNumbersStream(projectID) {
			out.scope = scope
		}
		for _, a := range acc {
			out.again = append(out.again, a.c)
		}
	case len(acc) > 1:
		// An error no creation can be blamed for yet (an id stored by a
		// keyed twin elsewhere, an invalid event): each goes again alone,
		// so that none fails because of another.
		out.alone = true
		for _, a := range acc {
			out.again = append(out.again, a.c)
		}
	default:
		rt.settleFailed(ctx, acc[0].c, fmt.Errorf("%s: %w", name, err))
	}
	return out
}

// currentTaskNumbers returns the project's task numbers: those this process
// left after its last batch, brought up to date with what other processes
// appended since (one read of the stream's tail, empty when none did), or
// loaded from the snapshot and tail. Only the holder of cq's token calls it.
func (rt *Runtime) currentTaskNumbers(ctx context.Context, cq *creationQueue) (*domain.TaskNumbers, error) {
	if cq.numbers == nil {
		n, err := rt.loadTaskNumbers(ctx, cq.project)
		if err != nil {
			return nil, err
		}
		cq.numbers = n
		return n, nil
	}
	stream := domain.TaskNumbersStream(cq.project)
	recorded, err := rt.readStream(ctx, stream, cq.numbers.Version()+1)
	if err != nil {
		return nil, err
	}
	events, err := rt.codec.DecodeAll(recorded)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	n, err := cq.numbers.Recorded(events)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	cq.numbers = n
	return n, nil
}

// appendedNumbers keeps the numbers a batch appended, at their version, for
// the next batch, and snapshots them each SnapshotEvery versions (as the
// loader does) so that a process loading them reads a short tail.
func (rt *Runtime) appendedNumbers(ctx context.Context, cq *creationQueue, before int64, n *domain.TaskNumbers) {
	cq.numbers = n
	if every := rt.opts.SnapshotEvery; before/every != n.Version()/every {
		format, _ := domain.SnapshotFormat(domain.StreamTypeTaskNumbers)
		rt.maybeSnapshot(ctx, domain.TaskNumbersStream(cq.project), format, 0, n)
	}
}

// settleFailed settles c, whose append failed, with err, unless it is a
// keyed call whose twin stored its events meanwhile (then that result, or
// ErrIdempotencyKeyReused, as attempt does).
func (rt *Runtime) settleFailed(ctx context.Context, c *creation, err error) {
	if c.inv.keyed {
		if found, ok, ferr := rt.findAppend(ctx, c.inv); (ferr == nil && ok) || errors.Is(ferr, ErrIdempotencyKeyReused) {
			rt.settleReplay(ctx, c, found, ferr)
			return
		}
	}
	c.settle(eventstore.AppendResult{}, domain.TaskCreated{}, err)
}

// settleRefused settles c with a decision's error, unless a keyed call's
// twin stored its events meanwhile (then that result, as attempt does).
func (rt *Runtime) settleRefused(ctx context.Context, c *creation, err error) {
	if domain.CodeOf(err) == "" {
		c.settle(eventstore.AppendResult{}, domain.TaskCreated{}, fmt.Errorf("create_task: %w", err))
		return
	}
	if errors.Is(err, domain.ErrNotMember) {
		// The same answer as for a project that does not exist (execute).
		err = domain.NotFound("project not found")
	}
	res, err := rt.replayedOr(ctx, c.inv, eventstore.AppendResult{}, err)
	if err == nil {
		rt.settleReplay(ctx, c, res, nil)
		return
	}
	c.settle(eventstore.AppendResult{}, domain.TaskCreated{}, err)
}

// settleReplay settles c with a stored result: the task it created then.
func (rt *Runtime) settleReplay(ctx context.Context, c *creation, res eventstore.AppendResult, err error) {
	var created domain.TaskCreated
	if err == nil {
		created, err = rt.taskCreated(ctx, c.taskID)
	}
	c.settle(res, created, err)
}

// own is a batch's result as one creation sees it: its events, the versions
// its events gave their streams, and the position of its last event, as
// findAppend would return it to a repeated call.
func own(res eventstore.AppendResult, ids map[uuid.UUID]bool) eventstore.AppendResult {
	out := eventstore.AppendResult{Streams: map[string]int64{}, TransactionID: res.TransactionID}
	for _, e := range res.Events {
		if ids[e.ID] {
			out.Events = append(out.Events, e)
			out.Streams[e.StreamID] = max(out.Streams[e.StreamID], e.StreamVersion)
			out.LastPosition = max(out.LastPosition, e.Position)
		}
	}
	return out
}

// mergeAppends adds more to appends (index: each stream's place in it), a
// stream already there getting the new events after its own: the store
// takes each stream once per append. The streams two creations share are
// the numbers stream, at the one version loaded, and assignees' indexes,
// written with Any.
func mergeAppends(appends []eventstore.StreamAppend, index map[string]int, more []eventstore.StreamAppend) []eventstore.StreamAppend {
	for _, sa := range more {
		i, ok := index[sa.StreamID]
		if !ok {
			index[sa.StreamID] = len(appends)
			appends = append(appends, sa)
			continue
		}
		appends[i].Events = append(appends[i].Events, sa.Events...)
	}
	return appends
}
