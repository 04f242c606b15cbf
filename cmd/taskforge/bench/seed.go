package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// SeedOptions configure `bench seed`.
type SeedOptions struct {
	DatabaseURL string
	// DatabaseName keeps the seeded database under this name (created; it must not exist) for
	// later benchmarks; empty: a scratch database, dropped at the end.
	DatabaseName string
	Workspaces   int    // default 10,000
	Tasks        int    // default 1,000,000 (about 5 events each)
	Writers      int    // concurrent appenders (default 8)
	Batch        int    // tasks per append (default 40)
	Seed         uint64 // random seed of the tasks' lives
	JSON         bool
	Out          io.Writer
	Progress     io.Writer // progress lines; nil for none
}

func (o *SeedOptions) validate() error {
	if o.DatabaseURL == "" {
		return errors.New("bench: a database url is required")
	}
	if o.Out == nil {
		return errors.New("bench: no output")
	}
	if o.Workspaces <= 0 {
		o.Workspaces = 10_000
	}
	if o.Tasks <= 0 {
		o.Tasks = 1_000_000
	}
	if o.Workspaces < 6 {
		return errors.New("bench seed: at least 6 workspaces (one huge, four large, the small ones)")
	}
	if o.Writers <= 0 {
		o.Writers = 8
	}
	if o.Batch <= 0 {
		o.Batch = 40
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// largeShape is the skew of a seeded database, the shape TestPlansAtScale (projections) checks
// the query plans against: workspace 0 is huge (20% of the tasks, 2,000 members, 20 projects: P1
// with half of its tasks, P2 a board of 5,000 open tasks at a million, none archived), workspaces
// 1–4 are large (5% of the tasks each, 200 members, 10 projects), the others small (2–9 members,
// 1–5 projects, the remaining 40% of the tasks, ½ to 1½ × their average). olga is a member of the
// huge and large workspaces and of every 50th small one.
type largeShape struct {
	workspaces []*largeWorkspace
	tasks      int
}

type largeWorkspace struct {
	id       uuid.UUID
	members  []domain.UserID
	projects []*largeProject
}

type largeProject struct {
	mu        sync.Mutex // a project's appends run one at a time (their expected versions)
	ws        *largeWorkspace
	id        uuid.UUID
	key       string
	tasks     int   // to create
	version   int64 // of the project stream
	number    int64 // the last reserved, and the task numbers stream's version
	noArchive bool
}

// largeUser is member j of workspace i: olga as member 0 of the huge and large workspaces and of
// every 50th, else one of 40,000 users (1009 is prime to 40,000: a workspace's members differ).
func largeUser(i, j int) domain.UserID {
	if j == 0 && (i < 5 || i%50 == 0) {
		return "olga"
	}
	return domain.UserID(fmt.Sprintf("user-%d", (i*37+(j+1)*1009)%40000))
}

func newLargeShape(workspaces, tasks int) *largeShape {
	s := &largeShape{tasks: tasks}
	small := workspaces - 5
	smallTasks := tasks - tasks/5 - 4*(tasks/20)
	for i := range workspaces {
		ws := &largeWorkspace{id: uuid.New()}
		members, projects, n := 2+i%8, 1+i%5, 0
		switch {
		case i == 0:
			members, projects, n = 2000, 20, tasks/5
		case i < 5:
			members, projects, n = 200, 10, tasks/20
		default:
			// half, once or one and a half times the average: the small ones sum to smallTasks
			n = smallTasks / small * (1 + i%3) / 2
			if i == workspaces-1 {
				n = max(smallTasks-s.smallSum(), 0)
			}
		}
		for j := range members {
			ws.members = append(ws.members, largeUser(i, j))
		}
		s.workspaces = append(s.workspaces, ws)
		for k := range projects {
			p := &largeProject{ws: ws, id: uuid.New(), key: fmt.Sprintf("P%d", k+1), version: 1, tasks: n / projects}
			if i == 0 { // P1 about half, P2 the board of open tasks, the others the rest
				board := min(5000, n/4)
				p.tasks, p.noArchive = (n-n/2-board)/(projects-2), k == 1
				if k == 1 {
					p.tasks = board
				}
			}
			ws.projects = append(ws.projects, p)
		}
		// P1 takes what the division left
		sum := 0
		for _, p := range ws.projects[1:] {
			sum += p.tasks
		}
		ws.projects[0].tasks = n - sum
	}
	return s
}

func (s *largeShape) smallSum() int {
	n := 0
	for _, w := range s.workspaces[min(5, len(s.workspaces)):] {
		for _, p := range w.projects {
			n += p.tasks
		}
	}
	return n
}

// largeJob is an append of up to batch new tasks of one project, with their lives.
type largeJob struct {
	p *largeProject
	n int
	// at orders the jobs: a project's jobs spread evenly over the run, so that the log
	// interleaves workspaces and projects as a real one does
	at float64
}

// Seed appends a large, skewed log (largeShape) through the event store's append path, as many
// writers as asked, tasks in batches per append with their number reservations and lives, as
// commands would; then builds every projection from it with projections.Rebuild.
//
//	seed        workspaces, members and projects, then the tasks with their lives
//	rebuild_all projections.Rebuild of every projection (load, index, swap)
func Seed(ctx context.Context, o SeedOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, url, done, err := largeDatabase(ctx, o)
	if err != nil {
		return err
	}
	defer done()
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters()})
	if err != nil {
		return err
	}
	ps := projections.All()
	if err := projections.Ensure(ctx, pool, ps); err != nil {
		return err
	}
	shape := newLargeShape(o.Workspaces, o.Tasks)
	start := time.Now()
	n, err := largeLog(ctx, es, shape, o)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintln(o.Progress)
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		return err
	}
	start = time.Now()
	_, err = projections.Rebuild(ctx, es, ps, projections.RebuildOptions{BatchEvents: 5000, Progress: rebuildProgress(o.Progress, "rebuild")})
	if err != nil {
		return err
	}
	rebuilt := time.Since(start)
	fmt.Fprintln(o.Progress)
	if o.DatabaseName != "" {
		fmt.Fprintf(o.Progress, "seeded database kept: %s\n", url)
	}
	return printProjectionResults(ProjectionOptions{JSON: o.JSON, Out: o.Out}, []ProjectionResult{
		{Name: "seed", Events: n, Seconds: took.Seconds(), EventsPerSec: float64(n) / took.Seconds()},
		{Name: "rebuild_all", Events: n, Seconds: rebuilt.Seconds(), EventsPerSec: float64(n) / rebuilt.Seconds()},
	})
}

// largeDatabase creates, migrates and opens the database to seed: o.DatabaseName, kept, or a
// scratch one. done closes the pool (and drops a scratch database).
func largeDatabase(ctx context.Context, o SeedOptions) (*pgxpool.Pool, string, func(), error) {
	if o.DatabaseName == "" {
		pool, drop, err := scratch(ctx, o.DatabaseURL, int32(o.Writers+8))
		return pool, "", drop, err
	}
	pool, url, err := keptDatabase(ctx, o.DatabaseURL, o.DatabaseName, int32(o.Writers+8), false)
	if err != nil {
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42P04" {
			err = fmt.Errorf("%w (seed only a new database: drop it or choose another --database-name)", err)
		}
		return nil, "", nil, err
	}
	return pool, url, pool.Close, nil
}

// largeLog appends the shape's log and returns the number of events.
func largeLog(ctx context.Context, es *eventstore.Store, s *largeShape, o SeedOptions) (int64, error) {
	reg := domain.NewRegistry()
	var events atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := events.Load()
				fmt.Fprintf(o.Progress, "\rseed %d events %6.0f/s   ", n, float64(n)/time.Since(start).Seconds())
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	a := &largeAppender{es: es, reg: reg, events: &events}

	// workspaces, their members and projects: a workspace's appends in order, workspaces side by side
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Writers)
	for i := range s.workspaces {
		g.Go(func() error { return a.workspace(gctx, s.workspaces[i], i) })
	}
	if err := g.Wait(); err != nil {
		return events.Load(), err
	}

	// the tasks: every project's jobs spread over the run
	var jobs []largeJob
	for _, w := range s.workspaces {
		for _, p := range w.projects {
			chunks := (p.tasks + o.Batch - 1) / o.Batch
			for c := range chunks {
				jobs = append(jobs, largeJob{p: p, n: min(o.Batch, p.tasks-c*o.Batch), at: (float64(c) + 0.5) / float64(chunks)})
			}
		}
	}
	sort.SliceStable(jobs, func(x, y int) bool { return jobs[x].at < jobs[y].at })
	queue := make(chan largeJob)
	g, gctx = errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(queue)
		for _, j := range jobs {
			select {
			case queue <- j:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for w := range o.Writers {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(w)))
		g.Go(func() error {
			for j := range queue {
				if err := a.tasks(gctx, rng, j); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return events.Load(), err
}

type largeAppender struct {
	es     *eventstore.Store
	reg    *domain.Registry
	events *atomic.Int64
}

type largeStream struct {
	stream, typ string
	expected    eventstore.ExpectedVersion
	events      []domain.Event
}

func (a *largeAppender) append(ctx context.Context, ws uuid.UUID, actor domain.UserID, streams ...largeStream) error {
	meta := eventstore.Metadata{Actor: string(actor), CorrelationID: uuid.New(), CausationID: uuid.New(), WorkspaceID: ws}
	apps := make([]eventstore.StreamAppend, 0, len(streams))
	n := 0
	for _, s := range streams {
		app := eventstore.StreamAppend{StreamID: s.stream, StreamType: s.typ, Expected: s.expected}
		for _, e := range s.events {
			typ, v, data, err := a.reg.Encode(e)
			if err != nil {
				return err
			}
			app.Events = append(app.Events, eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, Metadata: meta})
		}
		n += len(app.Events)
		apps = append(apps, app)
	}
	if _, err := a.es.Append(ctx, apps...); err != nil {
		return fmt.Errorf("seed append: %w", err)
	}
	a.events.Add(int64(n))
	return nil
}

// workspace appends workspace i's creation with its members (one append), then each project's
// creation with its key's reservation, as CreateWorkspace, AcceptInvitation and CreateProject do.
func (a *largeAppender) workspace(ctx context.Context, w *largeWorkspace, i int) error {
	now := time.Now().UTC()
	owner := w.members[0]
	evs := []domain.Event{domain.WorkspaceCreated{WorkspaceID: w.id, Name: fmt.Sprintf("Workspace %d", i), Plan: domain.PlanPro, By: owner, At: now}}
	for j, u := range w.members {
		role := domain.RoleMember
		if j == 0 {
			role = domain.RoleOwner
		}
		evs = append(evs, domain.WorkspaceMemberJoined{WorkspaceID: w.id, UserID: u, Email: string(u) + "@example.com",
			DisplayName: "Name of " + string(u), Role: role, By: u, At: now})
	}
	if err := a.append(ctx, w.id, owner, largeStream{domain.WorkspaceStream(w.id), domain.StreamTypeWorkspace, eventstore.NoStream(), evs}); err != nil {
		return err
	}
	version := int64(len(evs))
	for _, p := range w.projects {
		err := a.append(ctx, w.id, owner,
			largeStream{domain.WorkspaceStream(w.id), domain.StreamTypeWorkspace, eventstore.Exact(version), []domain.Event{
				domain.WorkspaceProjectKeyReserved{WorkspaceID: w.id, ProjectID: p.id, Key: p.key, By: owner, At: now}}},
			largeStream{domain.ProjectStream(p.id), domain.StreamTypeProject, eventstore.NoStream(), []domain.Event{
				domain.ProjectCreated{ProjectID: p.id, WorkspaceID: w.id, Key: p.key, Name: "Project " + p.key,
					Workflow: domain.DefaultWorkflow(), By: owner, At: now}}})
		if err != nil {
			return err
		}
		version++
	}
	return nil
}

var largeTitles = []string{"Login page", "Billing export", "Authentication flow", "Widget loader", "Database index",
	"Onboarding email", "Search ranking", "Mobile layout"}

var largeStatuses = []string{"todo", "in_progress", "in_review", "done"}

var largeLabels = [][]string{{}, {"bug"}, {"ui", "backend"}, {"feature"}}

// tasks appends job j's new tasks in one append, as CreateTask does for each: the number
// reservations on the project's task numbers stream, the project stream asserted, each task's
// stream with its creation and its life (about 3 more events: status changes, comments with
// mentions, assignments, due dates, edits, reorders; a tenth archived).
func (a *largeAppender) tasks(ctx context.Context, rng *rand.Rand, j largeJob) error {
	p := j.p
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now().UTC()
	members := p.ws.members
	by := members[rng.IntN(len(members))]
	numbers := largeStream{domain.TaskNumbersStream(p.id), domain.StreamTypeTaskNumbers, eventstore.Exact(p.number), nil}
	streams := []largeStream{{domain.ProjectStream(p.id), domain.StreamTypeProject, eventstore.Exact(p.version), nil}}
	for range j.n {
		p.number++
		id := uuid.New()
		var assignee domain.UserID
		if rng.IntN(4) != 0 {
			assignee = members[rng.IntN(len(members))]
		}
		numbers.events = append(numbers.events, domain.ProjectTaskNumberReserved{ProjectID: p.id, TaskID: id, Number: p.number, By: by, At: now})
		evs := []domain.Event{domain.TaskCreated{TaskID: id, ProjectID: p.id, WorkspaceID: p.ws.id, Number: p.number,
			Key: domain.TaskKey(p.key, p.number), Title: fmt.Sprintf("%s %d", largeTitles[rng.IntN(len(largeTitles))], p.number),
			Description: "Steps to reproduce: open the board.", Priority: domain.PriorityMedium, Labels: largeLabels[rng.IntN(len(largeLabels))],
			Assignee: assignee, Status: "todo", Rank: fmt.Sprintf("%08d", p.number), By: by, At: now}}
		status := "todo"
		for range rng.IntN(7) {
			actor := members[rng.IntN(len(members))]
			switch rng.IntN(10) {
			case 0, 1, 2, 3:
				to := largeStatuses[rng.IntN(len(largeStatuses))]
				if to != status {
					evs = append(evs, domain.TaskStatusChanged{TaskID: id, ProjectID: p.id, From: status, To: to, By: actor, At: now})
					status = to
				}
			case 4, 5:
				mention := members[rng.IntN(len(members))]
				evs = append(evs, domain.TaskCommentAdded{TaskID: id, ProjectID: p.id, CommentID: uuid.New(),
					Body: "I looked into this, @" + string(mention) + " can you review?", Mentions: []domain.UserID{mention}, By: actor, At: now})
			case 6:
				evs = append(evs, domain.TaskAssigned{TaskID: id, ProjectID: p.id, Assignee: members[rng.IntN(len(members))], By: actor, At: now})
			case 7:
				evs = append(evs, domain.TaskTitleChanged{TaskID: id, ProjectID: p.id, Title: fmt.Sprintf("Revised task %d", p.number), By: actor, At: now})
			case 8:
				due := now.Add(time.Duration(rng.IntN(60)-30) * 24 * time.Hour)
				evs = append(evs, domain.TaskDueDateChanged{TaskID: id, ProjectID: p.id, DueDate: &due, By: actor, At: now})
			case 9:
				evs = append(evs, domain.TaskReordered{TaskID: id, ProjectID: p.id, Rank: fmt.Sprintf("%08dV", p.number), By: actor, At: now})
			}
		}
		if !p.noArchive && rng.IntN(10) == 0 {
			evs = append(evs, domain.TaskArchived{TaskID: id, ProjectID: p.id, By: by, At: now})
		}
		streams = append(streams, largeStream{domain.TaskStream(id), domain.StreamTypeTask, eventstore.NoStream(), evs})
	}
	if err := a.append(ctx, p.ws.id, by, append([]largeStream{numbers}, streams...)...); err != nil {
		return err
	}
	return nil
}
