package commands_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// gate is an Options.Now that holds its first n callers until release. A
// command reads the clock once it has loaded its state, just before it
// decides: a held command has read every stream version it will append at
// or assert, so whatever commits while it is held is, for it, concurrent.
type gate struct {
	n       int64
	calls   atomic.Int64
	held    sync.WaitGroup
	release chan struct{}
}

func newGate(n int) *gate {
	g := &gate{n: int64(n), release: make(chan struct{})}
	g.held.Add(n)
	return g
}

func (g *gate) now() time.Time {
	if g.calls.Add(1) <= g.n {
		g.held.Done()
		<-g.release
	}
	return time.Now()
}

// gated is a second fixture on the same database whose commands are held by
// g once they have loaded their state.
func (f *fixture) gated(g *gate) *fixture {
	f.t.Helper()
	return setup(f.t, func(o *commands.Options) { o.Now = g.now })
}

// Task commands do not conflict with creations in their project: 30 edits
// and status changes of 30 tasks, each with the exact expected version of
// its own task, load their state, then 30 tasks are created in the project,
// then the changes append. Every change commits at once, without a retry:
// creations write the task numbers stream and only assert the project, so
// the project version the changes assert has not moved. (When reservations
// were on the project stream, each change found the project 30 versions
// ahead and had to decide again: 30 retries.)
func TestTaskCommandsDoNotConflictWithCreations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	const n = 30
	tasks := make([]uuid.UUID, n)
	for i := range tasks {
		tasks[i] = f.newTask(b.project, title(i)).ID
	}
	expected := make([]int64, n)
	for i, id := range tasks {
		expected[i] = f.version(domain.TaskStream(id))
	}
	projectBefore := f.version(domain.ProjectStream(b.project))

	g := newGate(n)
	changer := f.gated(g)
	changes := make([]commands.Result, n)
	changeErrs := make([]error, n)
	var changed sync.WaitGroup
	for i := range n {
		changed.Go(func() {
			if i%2 == 0 {
				changes[i], changeErrs[i] = changer.h.EditTask.Handle(f.ctx, commands.EditTask{
					Actor: member2, TaskID: tasks[i], Title: ptr("edited " + title(i)), ExpectedVersion: &expected[i]})
			} else {
				changes[i], changeErrs[i] = changer.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{
					Actor: member2, TaskID: tasks[i], Status: "in_progress", ExpectedVersion: &expected[i]})
			}
		})
	}
	g.held.Wait() // every change has loaded the project at projectBefore

	created := make([]commands.TaskResult, n)
	createErrs := make([]error, n)
	parallel(n, func(i int) {
		created[i], createErrs[i] = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "new " + title(i)})
	})
	close(g.release)
	changed.Wait()

	numbers := make([]int64, n)
	for i := range n {
		require.NoErrorf(t, createErrs[i], "creation %d", i)
		numbers[i] = created[i].Number
	}
	slices.Sort(numbers)
	for i, got := range numbers {
		require.Equal(t, int64(n+2+i), got, "numbers after TF-1..TF-%d are dense and unique", n+1)
	}

	for i := range n {
		require.NoErrorf(t, changeErrs[i], "change %d", i)
		require.Equal(t, expected[i]+1, changes[i].Version, "change %d", i)
	}
	require.Zero(t, changer.counter("taskforge_command_retries_total", nil),
		"task commands decided before concurrent creations must not conflict with them")
	require.Equal(t, projectBefore, f.version(domain.ProjectStream(b.project)), "creations do not move the project stream")
}

// A creation still conflicts with what it read of the project: held after
// loading while the project is archived, or its workflow changed, it is
// decided again on the new state.
func TestCreationVersusProjectChanges(t *testing.T) {
	t.Parallel()
	f := setup(t)

	t.Run("archived meanwhile, the creation is refused", func(t *testing.T) {
		b := f.board()
		before := f.versions(domain.TaskNumbersStream(b.project))
		g := newGate(1)
		creator := f.gated(g)
		var err error
		var done sync.WaitGroup
		done.Go(func() {
			_, err = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "late"})
		})
		g.held.Wait()
		_, aerr := f.h.ArchiveProject.Handle(f.ctx, commands.ArchiveProject{Actor: admin, ProjectID: b.project})
		require.NoError(t, aerr)
		close(g.release)
		done.Wait()
		requireCode(t, err, domain.CodePreconditionFailed)
		require.Equal(t, before, f.versions(domain.TaskNumbersStream(b.project)), "no number reserved")
		require.Equal(t, float64(1), creator.counter("taskforge_command_retries_total", map[string]string{"command": "create_task"}))
	})

	t.Run("workflow changed meanwhile, the task starts in the new initial status", func(t *testing.T) {
		b := f.board()
		wf := domain.DefaultWorkflow()
		wf.Statuses = append([]domain.Status{{ID: "backlog", Name: "Backlog", Category: domain.CategoryTodo}}, wf.Statuses...)
		wf.Transitions = append(wf.Transitions, domain.Transition{From: "backlog", To: "todo"})
		wf.Initial = "backlog"
		g := newGate(1)
		creator := f.gated(g)
		var res commands.TaskResult
		var err error
		var done sync.WaitGroup
		done.Go(func() {
			res, err = creator.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "late"})
		})
		g.held.Wait()
		_, derr := f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: b.project, Workflow: wf})
		require.NoError(t, derr)
		close(g.release)
		done.Wait()
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Number)
		require.Equal(t, "backlog", f.loadTask(res.ID).Status())
	})
}

// Projects created before the task numbers stream have their reservations
// on the project stream. Numbering continues after them, densely even under
// concurrency, and the commands that list a project's tasks see both kinds.
func TestNumbersContinueAfterProjectStreamReservations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ws := f.team()
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Old", Key: "OLD"})
	require.NoError(t, err)
	// OLD-1..OLD-3 as the previous CreateTask recorded them; OLD-2 in review.
	legacy := make([]uuid.UUID, 3)
	for i := range legacy {
		legacy[i] = uuid.New()
		status := "todo"
		if i == 1 {
			status = "in_review"
		}
		f.legacyCreate(ws, p.ID, legacy[i], int64(i+1), status)
	}
	projectBefore := f.version(domain.ProjectStream(p.ID))
	require.Equal(t, int64(4), projectBefore)

	next := f.newTask(p.ID, "after the old ones")
	require.Equal(t, int64(4), next.Number)
	require.Equal(t, "OLD-4", next.Key)
	const n = 10
	results := make([]commands.TaskResult, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		results[i], errs[i] = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: p.ID, Title: title(i)})
	})
	numbers := []int64{}
	for i := range n {
		require.NoError(t, errs[i])
		numbers = append(numbers, results[i].Number)
	}
	slices.Sort(numbers)
	for i, got := range numbers {
		require.Equal(t, int64(5+i), got)
	}
	require.Len(t, f.events(domain.TaskNumbersStream(p.ID)), n+1)
	require.Equal(t, projectBefore, f.version(domain.ProjectStream(p.ID)))

	// Task commands work on old tasks.
	_, err = f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member, TaskID: legacy[0], Title: ptr("renamed"), ExpectedVersion: ptr(int64(1))})
	require.NoError(t, err)

	// A workflow change sees the tasks of both streams.
	_, err = f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: p.ID, Workflow: without(domain.DefaultWorkflow(), "in_review")})
	requireCode(t, err, domain.CodePreconditionFailed)
	require.Contains(t, err.Error(), "OLD-2")
	_, err = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: next.ID, Status: "in_progress"})
	require.NoError(t, err)
	_, err = f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: p.ID, Workflow: without(domain.DefaultWorkflow(), "in_progress")})
	requireCode(t, err, domain.CodePreconditionFailed)
	require.Contains(t, err.Error(), "OLD-4")
	require.Equal(t, projectBefore, f.version(domain.ProjectStream(p.ID)))

	// The last number counts wherever it is recorded.
	full, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Full", Key: "FULL"})
	require.NoError(t, err)
	f.legacyCreate(ws, full.ID, uuid.New(), domain.MaxTaskNumber, "todo")
	_, err = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: full.ID, Title: "one too many"})
	requireCode(t, err, domain.CodePreconditionFailed)
	require.Zero(t, f.version(domain.TaskNumbersStream(full.ID)))
}

// legacyCreate appends a task's creation as CreateTask did before the task
// numbers stream: the reservation on the project stream.
func (f *fixture) legacyCreate(ws, project, task uuid.UUID, number int64, status string) {
	f.t.Helper()
	key := domain.TaskKey(f.loadProjectKey(project), number)
	meta := eventstore.Metadata{Actor: string(member.UserID), CorrelationID: uuid.New(), CausationID: uuid.New(), WorkspaceID: ws}
	encode := func(e domain.Event) eventstore.EventData {
		typ, v, data, err := f.reg.Encode(e)
		require.NoError(f.t, err)
		return eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, Metadata: meta}
	}
	now := time.Now().UTC()
	_, err := f.store.Append(f.ctx,
		eventstore.StreamAppend{StreamID: domain.ProjectStream(project), StreamType: domain.StreamTypeProject,
			Expected: eventstore.Exact(f.version(domain.ProjectStream(project))), Events: []eventstore.EventData{encode(
				domain.ProjectTaskNumberReserved{ProjectID: project, TaskID: task, Number: number, By: member.UserID, At: now})}},
		eventstore.StreamAppend{StreamID: domain.TaskStream(task), StreamType: domain.StreamTypeTask,
			Expected: eventstore.NoStream(), Events: []eventstore.EventData{encode(domain.TaskCreated{
				TaskID: task, ProjectID: project, WorkspaceID: ws, Number: number, Key: key, Title: "old " + key,
				Priority: domain.PriorityNone, Labels: []string{}, Status: status, Rank: "0" + key, By: member.UserID, At: now})}})
	require.NoError(f.t, err)
}

func (f *fixture) loadProjectKey(id uuid.UUID) string {
	f.t.Helper()
	p, err := domain.LoadProject(f.events(domain.ProjectStream(id)))
	require.NoError(f.t, err)
	return p.Key()
}

// without is wf without status (and its transitions).
func without(wf domain.Workflow, status string) domain.Workflow {
	wf.Statuses = slices.DeleteFunc(wf.Statuses, func(s domain.Status) bool { return s.ID == status })
	wf.Transitions = slices.DeleteFunc(wf.Transitions, func(t domain.Transition) bool { return t.From == status || t.To == status })
	return wf
}

// A workflow change that removes a status scans the project's tasks and
// asserts the task numbers stream it read them from: a task created
// meanwhile in that status, committed between the scan and the append, makes
// the change conflict, and the retry sees it. After any interleaving, no
// task is in a status the workflow lacks.
func TestWorkflowChangeVersusCreations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ws := f.team()
	wf := without(domain.DefaultWorkflow(), "todo")
	wf.Initial = "in_progress"
	const iterations, creations = 20, 4
	var applied, refused int
	for it := range iterations {
		p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Race", Key: "R" + string(rune('A'+it))})
		require.NoError(t, err)
		errs := make([]error, 1+creations)
		parallel(len(errs), func(i int) {
			if i == 0 {
				_, errs[i] = f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: p.ID, Workflow: wf})
				return
			}
			_, errs[i] = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: p.ID, Title: title(i)})
		})
		for _, err := range errs[1:] {
			require.NoError(t, err)
		}
		if errs[0] == nil {
			applied++
		} else {
			requireCode(t, errs[0], domain.CodePreconditionFailed)
			refused++
		}
		project, err := domain.LoadProject(f.events(domain.ProjectStream(p.ID)))
		require.NoError(t, err)
		for _, e := range f.events(domain.TaskNumbersStream(p.ID)) {
			task := f.loadTask(e.(domain.ProjectTaskNumberReserved).TaskID)
			_, ok := project.Workflow().Status(task.Status())
			require.Truef(t, ok, "%s is in %q, which the workflow removed", task.Key(), task.Status())
		}
	}
	t.Logf("%d iterations: workflow applied %d times, refused %d times", iterations, applied, refused)
}
