package projections_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/projections"
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		os.Exit(runWorker())
	}
	os.Exit(pgtest.Run(m, "projections"))
}

var (
	owner  = domain.Actor{UserID: "olga", Email: "olga@example.com", EmailVerified: true, DisplayName: "Olga"}
	member = domain.Actor{UserID: "mia", Email: "mia@example.com", EmailVerified: true, DisplayName: "Mia"}
	other  = domain.Actor{UserID: "max", Email: "max@example.com", EmailVerified: true, DisplayName: "Max"}
)

// fixture is a database of its own (the global log and NOTIFY are per database), a store whose
// commits wake this process's readers, and the command handlers that produce real events.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	url      string
	pool     *pgxpool.Pool
	store    *eventstore.Store
	notifier *eventstore.Notifier
	h        *commands.Handlers
	q        *projections.Queries
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url := pgtest.NewDatabase(t)
	pool := pgtest.Open(t, url)
	notifier := eventstore.NewNotifier(pool, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = notifier.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	store, err := eventstore.New(pool, eventstore.Options{OnCommit: notifier.Wake})
	require.NoError(t, err)
	rt, err := commands.NewRuntime(store, domain.NewRegistry(), commands.Options{})
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(t, err)
	return &fixture{t: t, ctx: ctx, url: url, pool: pool, store: store, notifier: notifier, h: h, q: projections.NewQueries(pool)}
}

// run starts a runner until the test ends and returns it.
func (f *fixture) run(opts projections.RunnerOptions) *projections.Runner {
	f.t.Helper()
	if opts.Notifier == nil {
		opts.Notifier = f.notifier
	}
	r, err := projections.NewRunner(f.store, opts)
	require.NoError(f.t, err)
	ps := opts.Projections
	if ps == nil {
		ps = projections.All()
	}
	require.NoError(f.t, projections.Ensure(f.ctx, f.pool, ps))
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		require.NoError(f.t, <-done)
	})
	return r
}

// caughtUp waits until every projection has applied the whole log.
func (f *fixture) caughtUp() {
	f.t.Helper()
	// The last committed event, whether or not it is below the horizon yet: store.Head stops at
	// the oldest transaction running anywhere on the server, which other test packages' work can
	// hold back, and waiting for that older head would return before the projections are done.
	var head eventstore.GlobalPosition
	var tx int64
	err := f.pool.QueryRow(f.ctx, `SELECT events.transaction_id::text::bigint, events.position FROM events
		ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1`).Scan(&tx, &head.Position)
	require.NoError(f.t, err)
	head.TransactionID = uint64(tx)
	f.waitFor(stallBound, func() bool {
		sts, err := projections.Statuses(f.ctx, f.pool)
		require.NoError(f.t, err)
		if len(sts) == 0 {
			return false
		}
		for _, s := range sts {
			if s.Position.Less(head) {
				return false
			}
		}
		return true
	}, "projections to catch up")
}

// stallBound bounds the tests' waits for the projections, as a stall, not a timing: make test runs
// every package at once with -race, on 2 cores catching up took over 10 s there
// (TestTwoRunnersApplyEachEventOnce, TestCrashRecovery), and the read horizon is the whole
// server's, so another package's transaction held open holds these projections back too.
// (WaitFor's own default, DefaultWait, is an API request's.)
const stallBound = 60 * time.Second

// applied waits until every projection has applied pos.
func (f *fixture) applied(pos eventstore.GlobalPosition) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, stallBound)
	defer cancel()
	require.NoError(f.t, f.q.WaitFor(ctx, pos))
}

// belowHorizon waits until readers of the log see pos: the store's head, which stops at the oldest
// transaction running anywhere on the server, has reached it.
func (f *fixture) belowHorizon(pos eventstore.GlobalPosition) {
	f.t.Helper()
	f.waitFor(stallBound, func() bool {
		head, err := f.store.Head(f.ctx)
		require.NoError(f.t, err)
		return !head.Less(pos)
	}, "the log to be readable up to "+pos.String())
}

// waitFor polls cond until it holds or the deadline passes.
func (f *fixture) waitFor(d time.Duration, cond func() bool, what string) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// world is a workspace with three members, a project TF and some tasks.
type world struct {
	ws, project uuid.UUID
	tasks       []uuid.UUID
}

func (f *fixture) world(tasks int) world {
	f.t.Helper()
	ws, err := f.h.CreateWorkspace.Handle(f.ctx, commands.CreateWorkspace{Actor: owner, Name: "Acme"})
	require.NoError(f.t, err)
	for _, a := range []domain.Actor{member, other} {
		inv, err := f.h.InviteMember.Handle(f.ctx, commands.InviteMember{Actor: owner, WorkspaceID: ws.ID, Email: a.Email, Role: domain.RoleMember})
		require.NoError(f.t, err)
		_, err = f.h.AcceptInvitation.Handle(f.ctx, commands.AcceptInvitation{Actor: a, WorkspaceID: ws.ID, InvitationID: inv.InvitationID})
		require.NoError(f.t, err)
	}
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws.ID, Name: "Taskforge", Key: "TF"})
	require.NoError(f.t, err)
	w := world{ws: ws.ID, project: p.ID}
	for i := range tasks {
		res, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: p.ID, Title: fmt.Sprintf("Task number %d", i+1)})
		require.NoError(f.t, err)
		w.tasks = append(w.tasks, res.ID)
	}
	return w
}

// randomOp runs one random realistic command on w; refused commands are fine.
func randomOp(ctx context.Context, h *commands.Handlers, w *world, rng *rand.Rand) error {
	actors := []domain.Actor{owner, member, other}
	a := actors[rng.IntN(len(actors))]
	task := w.tasks[rng.IntN(len(w.tasks))]
	var err error
	switch rng.IntN(9) {
	case 0:
		var res commands.TaskResult
		res, err = h.CreateTask.Handle(ctx, commands.CreateTask{Actor: a, ProjectID: w.project, Title: fmt.Sprintf("Fix the widget %d", rng.IntN(1000)),
			Assignee: actors[rng.IntN(3)].UserID, Labels: []string{"bug"}})
		if err == nil {
			w.tasks = append(w.tasks, res.ID)
		}
	case 1:
		statuses := []string{"in_progress", "in_review", "done", "todo", "cancelled"}
		_, err = h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: a, TaskID: task, Status: statuses[rng.IntN(len(statuses))]})
	case 2:
		_, err = h.AssignTask.Handle(ctx, commands.AssignTask{Actor: a, TaskID: task, Assignee: actors[rng.IntN(3)].UserID})
	case 3:
		_, err = h.AddComment.Handle(ctx, commands.AddComment{Actor: a, TaskID: task, Body: "Looks good @mia, what about @max?"})
	case 4:
		title := fmt.Sprintf("Renamed task %d", rng.IntN(1000))
		due := time.Date(2020+rng.IntN(15), 1, 1, 0, 0, 0, 0, time.UTC)
		_, err = h.EditTask.Handle(ctx, commands.EditTask{Actor: a, TaskID: task, Title: &title, DueDate: &due})
	case 5:
		_, err = h.ReorderTask.Handle(ctx, commands.ReorderTask{Actor: a, TaskID: task, NextTaskID: w.tasks[rng.IntN(len(w.tasks))]})
	case 6:
		_, err = h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: a, TaskID: task})
	case 7:
		_, err = h.RestoreTask.Handle(ctx, commands.RestoreTask{Actor: a, TaskID: task})
	case 8:
		_, err = h.UnassignTask.Handle(ctx, commands.UnassignTask{Actor: a, TaskID: task})
	}
	if err != nil && domain.CodeOf(err) != "" {
		return nil // refused by the domain: nothing appended
	}
	return err
}

// appliedCounts counts how often each projection applied each event (RunnerOptions.OnApplied,
// called after the commit): shared by runners, it shows an event applied twice.
type appliedCounts struct {
	mu sync.Mutex
	n  map[string]map[uuid.UUID]int
}

func newAppliedCounts() *appliedCounts { return &appliedCounts{n: map[string]map[uuid.UUID]int{}} }

func (a *appliedCounts) OnApplied(name string, ev eventstore.RecordedEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[name] == nil {
		a.n[name] = map[uuid.UUID]int{}
	}
	a.n[name][ev.ID]++
}

// of returns a copy of projection name's counts.
func (a *appliedCounts) of(name string) map[uuid.UUID]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[uuid.UUID]int, len(a.n[name]))
	for id, n := range a.n[name] {
		out[id] = n
	}
	return out
}

// sameAsRebuild rebuilds every projection beside its live tables (KeepOld) and requires each live
// table to hold exactly the rows of the rebuilt one: what the live path applied is what the log
// says, each event once. what names the live path in the failure.
func (f *fixture) sameAsRebuild(opts projections.RebuildOptions, what string) {
	f.t.Helper()
	opts.KeepOld = true
	res, err := projections.Rebuild(f.ctx, f.store, projections.All(), opts)
	require.NoError(f.t, err)
	for _, r := range res {
		p, err := projections.ByName(r.Name)
		require.NoError(f.t, err)
		for _, table := range p[0].Tables {
			require.Equal(f.t, f.checksum(fmt.Sprintf("%s_v%d", table, r.FromVersion)), f.checksum(fmt.Sprintf("%s_v%d", table, r.Version)),
				"%s %s differs from a rebuild", table, what)
		}
	}
}
