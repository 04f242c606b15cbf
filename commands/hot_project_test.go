package commands_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
)

// stepper is an Options.Now that holds its k-th caller (k < steps) until
// step k is released. A batch of creations reads the clock once it has
// loaded the project, the workspace and the numbers: a held batch has read
// every version it will append at or assert, and creations that arrive
// meanwhile queue for the next batch.
type stepper struct {
	calls            atomic.Int64
	reached, proceed []chan struct{}
}

func newStepper(steps int) *stepper {
	s := &stepper{}
	for range steps {
		s.reached = append(s.reached, make(chan struct{}))
		s.proceed = append(s.proceed, make(chan struct{}))
	}
	return s
}

func (s *stepper) now() time.Time {
	if k := int(s.calls.Add(1) - 1); k < len(s.reached) {
		close(s.reached[k])
		<-s.proceed[k]
	}
	return time.Now()
}

// awaitQueued waits until n creations of project wait for a batch in f's runtime.
func (f *fixture) awaitQueued(project uuid.UUID, n int) {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.rt.QueuedCreations(project) == n }, 10*time.Second, time.Millisecond,
		"%d creations queued", n)
}

// requireDenseNumbers checks that the project's task numbers stream holds
// exactly the numbers 1..n, in order, each reserved for a task created with
// that number and key, and returns the tasks by number.
func requireDenseNumbers(t *testing.T, f *fixture, project uuid.UUID, key string, n int) map[int64]uuid.UUID {
	t.Helper()
	byNumber := map[int64]uuid.UUID{}
	events := f.events(domain.TaskNumbersStream(project))
	require.Len(t, events, n, "one reservation per task")
	for i, e := range events {
		r := e.(domain.ProjectTaskNumberReserved)
		require.Equal(t, int64(i+1), r.Number, "the numbers stream is 1..%d in order", n)
		created := f.loadTask(r.TaskID)
		require.Equal(t, r.Number, created.Number())
		require.Equal(t, fmt.Sprintf("%s-%d", key, r.Number), created.Key())
		byNumber[r.Number] = r.TaskID
	}
	return byNumber
}

// Two processes (two runtimes on one database) create tasks in one project
// from many goroutines at once, some assigned, some repeating one
// idempotency key on both: every creation succeeds, the numbers are exactly
// 1..N without a gap or a duplicate, each caller's number is its task's,
// the repeated key created one task, and the assignment index lists exactly
// the assigned tasks.
func TestCreationsFromTwoProcesses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other := setup(t)
	ws := f.team()
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Hot", Key: "HOT"})
	require.NoError(t, err)

	const goroutines, each, twins = 40, 4, 8
	type call struct {
		res commands.TaskResult
		err error
		cmd commands.CreateTask
	}
	calls := make([][]call, goroutines+twins)
	parallel(goroutines+twins, func(g int) {
		h := []*fixture{f, other}[g%2].h
		if g >= goroutines { // the same key, half on each runtime
			cmd := commands.CreateTask{Actor: member, ProjectID: p.ID, Title: "imported once", IdempotencyKey: "import-1"}
			res, err := h.CreateTask.Handle(f.ctx, cmd)
			calls[g] = []call{{res, err, cmd}}
			return
		}
		for i := range each {
			cmd := commands.CreateTask{Actor: member, ProjectID: p.ID, Title: fmt.Sprintf("g%d task %d", g, i)}
			if (g+i)%3 == 0 {
				cmd.Assignee = member2.UserID
			}
			res, err := h.CreateTask.Handle(f.ctx, cmd)
			calls[g] = append(calls[g], call{res, err, cmd})
		}
	})

	n := goroutines*each + 1
	byNumber := requireDenseNumbers(t, f, p.ID, "HOT", n)
	seen := map[int64]bool{}
	twin := calls[goroutines][0].res
	for g, cs := range calls {
		for _, c := range cs {
			require.NoErrorf(t, c.err, "goroutine %d", g)
			require.Equal(t, byNumber[c.res.Number], c.res.ID, "the caller's number is its task's")
			task := f.loadTask(c.res.ID)
			require.Equal(t, c.cmd.Title, task.Title())
			require.Equal(t, c.cmd.Assignee, task.Assignee())
			require.Equal(t, int64(1), c.res.Version)
			require.NotZero(t, c.res.Position.TransactionID)
			if g >= goroutines {
				require.Equal(t, twin, c.res, "every call with the key gets the first result")
				continue
			}
			require.False(t, seen[c.res.Number], "number %d given twice", c.res.Number)
			seen[c.res.Number] = true
		}
	}
	require.False(t, seen[twin.Number])
	require.Equal(t, int64(1), f.version(domain.ProjectStream(p.ID)), "creations do not move the project stream")
	requireIndexMatches(t, f, ws, p.ID, outsider.UserID)
	t.Logf("%d creations from 2 runtimes: %.0f + %.0f retries", n,
		f.counter("taskforge_command_retries_total", nil), other.counter("taskforge_command_retries_total", nil))
}

// In one batch, creations that are refused take no number, and one whose
// append fails (its task id is taken) gives its number back: the others
// take the numbers in order, without a gap. A creation whose caller gives
// up while it waits for the batch leaves the queue and takes nothing.
func TestFailedCreationsInABatchTakeNoNumber(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board() // TF-1
	st := newStepper(1)
	creator := setup(t, func(o *commands.Options) { o.Now = st.now })

	var wg sync.WaitGroup
	var first commands.TaskResult
	var firstErr error
	wg.Go(func() {
		first, firstErr = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "first"})
	})
	<-st.reached[0] // the first batch, of that creation alone, is held: the others queue

	valid := func(i int) commands.CreateTask {
		return commands.CreateTask{Actor: member, ProjectID: b.project, Title: title(i)}
	}
	cmds := []commands.CreateTask{valid(0), valid(1)}
	wantCodes := []domain.Code{"", ""}
	add := func(cmd commands.CreateTask, code domain.Code) {
		cmds, wantCodes = append(cmds, cmd, valid(len(cmds))), append(wantCodes, code, "")
	}
	add(commands.CreateTask{Actor: member, ProjectID: b.project, Title: "to an outsider", Assignee: outsider.UserID}, domain.CodeInvalidInput)
	add(commands.CreateTask{Actor: member, ProjectID: b.project, Title: "  "}, domain.CodeInvalidInput)
	add(commands.CreateTask{Actor: viewer, ProjectID: b.project, Title: "by a viewer"}, domain.CodeForbidden)
	add(commands.CreateTask{Actor: outsider, ProjectID: b.project, Title: "by an outsider"}, domain.CodeNotFound)
	add(commands.CreateTask{Actor: member, ProjectID: b.project, TaskID: b.task, Title: "a taken id"}, domain.CodeConflict)
	results := make([]commands.TaskResult, len(cmds))
	errs := make([]error, len(cmds))
	for i, cmd := range cmds {
		wg.Go(func() { results[i], errs[i] = creator.h.CreateTask.Handle(f.ctx, cmd) })
	}
	f.awaitQueued(b.project, 0) // (f's runtime queues nothing: the creator's does)
	creator.awaitQueued(b.project, len(cmds))
	gone, cancel := context.WithCancel(f.ctx)
	var goneErr error
	wg.Go(func() {
		_, goneErr = creator.h.CreateTask.Handle(gone, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "given up"})
	})
	creator.awaitQueued(b.project, len(cmds)+1)
	cancel()
	creator.awaitQueued(b.project, len(cmds))
	close(st.proceed[0])
	wg.Wait()

	require.NoError(t, firstErr)
	require.Equal(t, int64(2), first.Number)
	require.ErrorIs(t, goneErr, context.Canceled)
	var numbers []int64
	for i := range cmds {
		if wantCodes[i] != "" {
			requireCode(t, errs[i], wantCodes[i])
			continue
		}
		require.NoErrorf(t, errs[i], "creation %d", i)
		numbers = append(numbers, results[i].Number)
	}
	slices.Sort(numbers)
	for i, got := range numbers {
		require.Equal(t, int64(3+i), got, "the valid creations take 3, 4, … without a gap")
	}
	requireDenseNumbers(t, f, b.project, "TF", 2+len(numbers))
	require.Zero(t, creator.counter("taskforge_command_retries_total", nil), "a failing neighbour is not a conflict")
}

// A batch of creations held after loading while the project is archived,
// or its workflow changed, conflicts as one creation does: decided again on
// the new state, every creation of the batch is refused (and takes no
// number), or starts in the new initial status.
func TestBatchVersusProjectChanges(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const n = 10
	// run holds a batch of n creations after it loaded the project, runs
	// change, then lets the batch append.
	run := func(t *testing.T, change func(b board)) (board, []commands.TaskResult, []error, *fixture) {
		b := f.board()
		st := newStepper(2)
		creator := setup(t, func(o *commands.Options) { o.Now = st.now })
		var wg sync.WaitGroup
		var firstErr error
		wg.Go(func() {
			_, firstErr = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "first"})
		})
		<-st.reached[0]
		results, errs := make([]commands.TaskResult, n), make([]error, n)
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: title(i)})
			})
		}
		creator.awaitQueued(b.project, n)
		close(st.proceed[0]) // the first creation appends; the n others form the next batch
		<-st.reached[1]      // which is held after loading
		change(b)
		close(st.proceed[1])
		wg.Wait()
		require.NoError(t, firstErr)
		return b, results, errs, creator
	}

	t.Run("archived meanwhile, every creation is refused", func(t *testing.T) {
		b, _, errs, creator := run(t, func(b board) {
			_, err := f.h.ArchiveProject.Handle(f.ctx, commands.ArchiveProject{Actor: admin, ProjectID: b.project})
			require.NoError(t, err)
		})
		for i := range n {
			requireCode(t, errs[i], domain.CodePreconditionFailed)
		}
		requireDenseNumbers(t, f, b.project, "TF", 2) // TF-1 and the first
		require.Equal(t, float64(n), creator.counter("taskforge_command_retries_total", map[string]string{"command": "create_task"}))
	})

	t.Run("workflow changed meanwhile, every task starts in the new initial status", func(t *testing.T) {
		wf := domain.DefaultWorkflow()
		wf.Statuses = append([]domain.Status{{ID: "backlog", Name: "Backlog", Category: domain.CategoryTodo}}, wf.Statuses...)
		wf.Transitions = append(wf.Transitions, domain.Transition{From: "backlog", To: "todo"})
		wf.Initial = "backlog"
		b, results, errs, _ := run(t, func(b board) {
			_, err := f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: b.project, Workflow: wf})
			require.NoError(t, err)
		})
		numbers := make([]int64, n)
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, "backlog", f.loadTask(results[i].ID).Status())
			numbers[i] = results[i].Number
		}
		slices.Sort(numbers)
		require.Equal(t, int64(3), numbers[0])
		requireDenseNumbers(t, f, b.project, "TF", n+2)
	})
}

// A keyed creation whose twin (the same call, retried on another process)
// commits while its batch is deciding: the batch's append cannot store the
// twin's event ids again, so each of its creations goes again alone; the
// keyed one gets the twin's result, its neighbour the next number.
func TestKeyedTwinCommittedByAnotherProcessMeanwhile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board() // TF-1
	st := newStepper(2)
	creator := setup(t, func(o *commands.Options) { o.Now = st.now })
	keyed := commands.CreateTask{Actor: member, ProjectID: b.project, Title: "imported", IdempotencyKey: "row-7"}

	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() {
		_, firstErr = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "first"})
	})
	<-st.reached[0]
	var mine, neighbour commands.TaskResult
	var mineErr, neighbourErr error
	wg.Go(func() { mine, mineErr = creator.h.CreateTask.Handle(f.ctx, keyed) })
	wg.Go(func() {
		neighbour, neighbourErr = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "neighbour"})
	})
	creator.awaitQueued(b.project, 2)
	close(st.proceed[0]) // TF-2
	<-st.reached[1]      // the keyed creation and its neighbour, held after loading
	twin, err := f.h.CreateTask.Handle(f.ctx, keyed)
	require.NoError(t, err)
	require.Equal(t, int64(3), twin.Number)
	close(st.proceed[1])
	wg.Wait()

	require.NoError(t, firstErr)
	require.NoError(t, mineErr)
	require.NoError(t, neighbourErr)
	require.Equal(t, twin, mine)
	require.Equal(t, int64(4), neighbour.Number)
	requireDenseNumbers(t, f, b.project, "TF", 4)

	_, err = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: uuid.New(), Title: "nowhere"})
	requireCode(t, err, domain.CodeNotFound)
}
