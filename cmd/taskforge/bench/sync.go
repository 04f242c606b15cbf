package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/projections"
)

// SyncOptions configure `taskforge bench sync`.
type SyncOptions struct {
	DatabaseURL string
	Events      int // length of the seeded log (default 100,000)
	Workspaces  int // workspaces the log is spread over (default 8)
	Clients     int // resuming clients (default 1,000)
	Concurrency int // clients resuming at once (default 16)
	Page        int // first of each changes page (default 200)
	Seed        uint64
	JSON        bool
	Out         io.Writer
	Progress    io.Writer // seeding progress; nil for none
}

func (o *SyncOptions) validate() error {
	if o.Events == 0 {
		o.Events = 100_000
	}
	if o.Workspaces == 0 {
		o.Workspaces = 8
	}
	if o.Clients == 0 {
		o.Clients = 1000
	}
	if o.Concurrency == 0 {
		o.Concurrency = 16
	}
	if o.Page == 0 {
		o.Page = 200
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	switch {
	case o.DatabaseURL == "":
		return errors.New("bench sync: a database url is required")
	case o.Events < 500 || o.Events > 10_000_000:
		return errors.New("bench sync: --events must be in 500..10000000")
	case o.Workspaces < 1 || o.Workspaces > 64:
		return errors.New("bench sync: --workspaces must be in 1..64")
	case o.Clients < 1 || o.Clients > 100_000:
		return errors.New("bench sync: --clients must be in 1..100000")
	case o.Concurrency < 1 || o.Concurrency > 256:
		return errors.New("bench sync: --concurrency must be in 1..256")
	case o.Page < 1 || o.Page > 200:
		return errors.New("bench sync: --page must be in 1..200")
	case o.Out == nil:
		return errors.New("bench sync: no output")
	}
	return nil
}

// SyncResult is one line of `bench sync`. SQLPerResume is the most SQL statements one request of
// the line ran: the first page's for resume_first_page, a page's for the others (a resume makes
// one request per page; the total is in SQLTotalP50/P99). It must not grow with the gap.
type SyncResult struct {
	Name         string  `json:"name"`
	Samples      int     `json:"samples"`
	Events       int     `json:"events"` // length of the log
	GapMin       int     `json:"gap_min"`
	GapMax       int     `json:"gap_max"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	SQLPerResume int     `json:"sql_per_resume"`
	// SQLFixedMax is the most statements of a request besides the one per entity kind its page
	// loads (graph/sync.go: the bound, the records, the caller's membership): the same for
	// every page, whatever the gap.
	SQLFixedMax int `json:"sql_fixed_max"`
	SQLP50      int `json:"sql_per_request_p50"`
	SQLTotalP50 int `json:"sql_total_p50"`
	SQLTotalP99 int `json:"sql_total_p99"`
	PagesP50    int `json:"pages_p50"`
	PagesP99    int `json:"pages_p99"`
	RecordsP50  int `json:"records_p50"`
	RecordsP99  int `json:"records_p99"`
	// The same client's first page, within a full resume (bucket lines).
	FirstPageP50ms float64 `json:"first_page_p50_ms,omitempty"`
	FirstPageP99ms float64 `json:"first_page_p99_ms,omitempty"`
	// Against refetch_full, measured in the same run: p50 latency and p50 SQL statements.
	VsRefetch    *float64 `json:"vs_refetch,omitempty"`
	SQLVsRefetch *float64 `json:"sql_vs_refetch,omitempty"`
	// sync_http_revalidate: answers 304 Not Modified out of samples.
	NotModified int `json:"not_modified,omitempty"`
}

// syncFragments are the fields a sync client keeps (graph/sync_test.go's), by name.
var syncFragments = map[string]string{
	"W": `fragment W on Workspace { id name plan version myRole memberCount updatedAt }`,
	"M": `fragment M on Member { userId displayName email role joinedAt }`,
	"P": `fragment P on Project { id key name archived version updatedAt }`,
	"T": `fragment T on Task { id key number title description status priority assigneeId labels dueDate rank commentCount archived createdAt updatedAt version }`,
	"C": `fragment C on Comment { id taskId authorId authorName body mentions createdAt editedAt }`,
	"N": `fragment N on Notification { id kind taskId commentId actorId line at read }`,
}

// withFragments appends the named fragments to query (GraphQL refuses unused ones).
func withFragments(query string, names ...string) string {
	for _, n := range names {
		query += "\n" + syncFragments[n]
	}
	return query
}

var (
	syncChangesQuery = withFragments(`query($ws: ID!, $since: String, $first: Int) {
	changes(workspaceId: $ws, since: $since, first: $first) {
		lastPosition hasMore mustRefetch mustRefetchReason
		changes { position entity id removed clientMutationId
			workspace { ...W } member { ...M } project { ...P } task { ...T } comment { ...C } notification { ...N } } } }`,
		"W", "M", "P", "T", "C", "N")

	// The refetch a client without sync does: the workspace with its members and projects, every
	// task with its comments, and the caller's notifications, page after page.
	refetchWorkspaceQuery = withFragments(`query($ws: ID!) { workspace(id: $ws) { ...W members(first: 200) { nodes { ...M } } projects(first: 200) { nodes { ...P } } } }`, "W", "M", "P")
	refetchTasksQuery     = withFragments(`query($ws: ID!, $after: String, $first: Int) { tasks(workspaceId: $ws, first: $first, after: $after,
		filter: {includeArchived: true}) { nodes { ...T comments(first: 200) { nodes { ...C } } } pageInfo { hasNextPage endCursor } } }`, "T", "C")
	refetchNotificationsQuery = withFragments(`query($ws: ID!, $after: String, $first: Int) { notifications(workspaceId: $ws, first: $first, after: $after) {
		nodes { ...N } pageInfo { hasNextPage endCursor } } }`, "N")
)

// gap buckets: events of the log after the client's position.
var syncBuckets = []struct {
	name   string
	lo, hi int // lo <= gap < hi
}{
	{"resume_gap_lt_1k", 0, 1_000},
	{"resume_gap_1k_10k", 1_000, 10_000},
	{"resume_gap_10k_50k", 10_000, 50_000},
	{"resume_gap_gt_50k", 50_000, 1 << 62},
}

// Sync measures how clients that were away catch up through Query.changes. It seeds a log of
// o.Events events (seedSync: o.Workspaces workspaces, one writer each: tasks created, edited,
// moved, assigned, reordered, archived and restored, commented on, comments edited and deleted,
// members joining, projects renamed), waits for the in-process projections, then
// o.Clients clients, o.Concurrency at a time, each resume from a random position of a workspace's
// events: pages of changes(since, first: o.Page) over HTTP until hasMore is false.
//
//	resume_first_page   the first page of each resume (what a client shows first)
//	resume_full         the whole resume: every page
//	resume_gap_*        resume_full by gap (events of the log after since)
//	refetch_full        baseline: the same client refetching the workspace through the read queries
//	sync_http_revalidate  GET /sync/{ws} again with the first's ETag in If-None-Match (304)
func Sync(ctx context.Context, o SyncOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	pool, drop, err := scratch(ctx, o.DatabaseURL, int32(o.Concurrency+o.Workspaces+24))
	if err != nil {
		return err
	}
	defer drop()
	env, err := startAPI(ctx, pool, o.Concurrency, config.Limits{}, noRateLimits)
	if err != nil {
		return err
	}
	defer env.close()

	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), Redact: domain.RedactStored})
	if err != nil {
		return err
	}
	rt, err := commands.NewRuntime(es, domain.NewRegistry(), commands.Options{})
	if err != nil {
		return err
	}
	h, err := commands.NewHandlers(rt, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	start := time.Now()
	seeded, err := seedSync(ctx, h, es, o)
	if err != nil {
		return fmt.Errorf("bench sync: seed: %w", err)
	}
	fmt.Fprintf(o.Progress, "\rseeded the log in %s; waiting for the projections\n", time.Since(start).Round(time.Millisecond))
	caught := time.Now()
	if err := awaitProjections(ctx, pool, seeded.last); err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "projections caught up %s after the last append\n", time.Since(caught).Round(time.Millisecond))
	// Statistics as autovacuum keeps them in production (a test server may run without it):
	// without them the planner reads a change table's whole range after since, then sorts,
	// instead of walking its since index up to the page's limit.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return err
	}

	log, err := loadLog(ctx, pool)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	plans := make([]resumePlan, o.Clients)
	for i := range plans {
		ws := seeded.workspaces[rng.IntN(len(seeded.workspaces))]
		idx := log.byWorkspace[ws]
		at := idx[rng.IntN(len(idx))]
		plans[i] = resumePlan{ws: ws, since: log.positions[at].String(), gap: len(log.positions) - at - 1}
	}
	resumes, err := runResumes(ctx, env.client, plans, o)
	if err != nil {
		return err
	}
	refetches, err := runRefetches(ctx, env.client, seeded.workspaces, max(2*o.Concurrency, 20), o)
	if err != nil {
		return err
	}
	reval, err := runRevalidations(ctx, env, plans[:min(len(plans), 200)], o)
	if err != nil {
		return err
	}
	reval.Events = len(log.positions)

	results := summarizeSync(resumes, refetches, len(log.positions))
	return printSync(o, append(results, reval))
}

// syncSeed is what seeding made.
type syncSeed struct {
	workspaces []string
	last       eventstore.GlobalPosition // the furthest append
}

// seedSync writes a log of about o.Events events, one writer per workspace. The command handlers
// create the workspaces and projects and make members join (now and then, all along the log);
// the bulk of it, the tasks' lives, is appended as the task commands would append it (the same
// events, streams, expected versions and metadata, each change by one member, half of them
// tagged with a clientMutationId) but batchCommands changes per append: one command per
// transaction would take minutes for 100k events. A change is decided on the writer's own view
// of its tasks (it is their only writer), so every event is one the domain would accept.
func seedSync(ctx context.Context, h *commands.Handlers, es *eventstore.Store, o SyncOptions) (syncSeed, error) {
	owner := domain.Actor{UserID: "bench-owner", Email: "owner@bench.test", DisplayName: "Owner", EmailVerified: true}
	if _, err := h.RegisterUser.Handle(ctx, commands.RegisterUser{Actor: owner}); err != nil {
		return syncSeed{}, err
	}
	var (
		mu   sync.Mutex
		seed syncSeed
		head atomic.Int64 // the highest position appended: about the log's length
	)
	note := func(p eventstore.GlobalPosition) {
		mu.Lock()
		head.Store(max(head.Load(), p.Position))
		if seed.last.Less(p) {
			seed.last = p
		}
		mu.Unlock()
	}
	stop := make(chan struct{})
	var pw sync.WaitGroup
	pw.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(o.Progress, "\rseed %d/%d events", head.Load(), o.Events)
			}
		}
	})
	defer func() { close(stop); pw.Wait() }()

	reg := domain.NewRegistry()
	g, gctx := errgroup.WithContext(ctx)
	for w := range o.Workspaces {
		g.Go(func() error {
			s := &syncSeeder{h: h, es: es, reg: reg, owner: owner, rng: rand.New(rand.NewPCG(o.Seed+uint64(w), 11)), note: note, n: w}
			if err := s.setup(gctx, fmt.Sprintf("Workspace %d", w)); err != nil {
				return err
			}
			mu.Lock()
			seed.workspaces = append(seed.workspaces, s.ws.String())
			mu.Unlock()
			for head.Load() < int64(o.Events) {
				if err := s.step(gctx); err != nil {
					return err
				}
			}
			return s.flush(gctx)
		})
	}
	if err := g.Wait(); err != nil {
		return syncSeed{}, err
	}
	slices.Sort(seed.workspaces)
	return seed, nil
}

// batchCommands is how many task changes one append of the seeder holds.
const batchCommands = 25

// syncSeeder is one workspace's writer.
type syncSeeder struct {
	h        *commands.Handlers
	es       *eventstore.Store
	reg      *domain.Registry
	owner    domain.Actor
	rng      *rand.Rand
	note     func(eventstore.GlobalPosition)
	n        int // the seeder's number, in names
	ws       uuid.UUID
	members  []domain.Actor
	projects []*seedProject
	tasks    []*seedTask
	cmid     int
	// the pending append: streams in first-touched order, and how many changes it holds
	batch   []eventstore.StreamAppend
	streams map[string]int
	changes int
}

type seedProject struct {
	id          uuid.UUID
	key         string
	numbers     int64  // the task numbers stream's version: the last number reserved
	first, last string // the lowest and highest rank on the board
}

type seedTask struct {
	id       uuid.UUID
	project  *seedProject
	version  int64 // of the task stream, appended or pending
	status   string
	assignee domain.UserID
	archived bool
	comments []uuid.UUID
}

// setup creates the workspace, its first members and projects.
func (s *syncSeeder) setup(ctx context.Context, name string) error {
	res, err := s.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: s.owner, Name: name, Plan: domain.PlanPro})
	if err != nil {
		return err
	}
	s.ws = res.ID
	s.note(res.Position)
	s.members = []domain.Actor{s.owner}
	for range 5 {
		if err := s.join(ctx); err != nil {
			return err
		}
	}
	for i := range 3 {
		p := &seedProject{key: fmt.Sprintf("P%c", 'A'+i)}
		res, err := s.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: s.owner, WorkspaceID: s.ws,
			Name: fmt.Sprintf("Project %c", 'A'+i), Key: p.key})
		if err != nil {
			return err
		}
		s.note(res.Position)
		p.id = res.ID
		s.projects = append(s.projects, p)
	}
	return nil
}

// join invites a new user and has them accept, through the command handlers.
func (s *syncSeeder) join(ctx context.Context) error {
	k := len(s.members)
	a := domain.Actor{UserID: domain.UserID(fmt.Sprintf("user-%d-%d", s.n, k)), Email: fmt.Sprintf("user-%d-%d@bench.test", s.n, k),
		DisplayName: fmt.Sprintf("User %d.%d", s.n, k), EmailVerified: true}
	inv, err := s.h.InviteMember.Handle(ctx, commands.InviteMember{Actor: s.owner, WorkspaceID: s.ws, Email: a.Email, Role: domain.RoleMember})
	if err != nil {
		return err
	}
	s.note(inv.Position)
	res, err := s.h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: a, WorkspaceID: s.ws, InvitationID: inv.InvitationID})
	if err != nil {
		return err
	}
	s.note(res.Position)
	s.members = append(s.members, a)
	return nil
}

// syncMoves are the default workflow's moves from each status.
var syncMoves = func() map[string][]string {
	m := map[string][]string{}
	for _, t := range domain.DefaultWorkflow().Transitions {
		m[t.From] = append(m[t.From], t.To)
	}
	return m
}()

var syncPriorities = []domain.Priority{domain.PriorityNone, domain.PriorityLow, domain.PriorityMedium, domain.PriorityHigh, domain.PriorityUrgent}

// pick returns a live task to change: recent ones more often, as on a real board.
func (s *syncSeeder) pick() *seedTask {
	for range 4 {
		var t *seedTask
		if s.rng.IntN(10) < 6 {
			t = s.tasks[len(s.tasks)-1-s.rng.IntN(min(len(s.tasks), 100))]
		} else {
			t = s.tasks[s.rng.IntN(len(s.tasks))]
		}
		if !t.archived {
			return t
		}
	}
	return nil
}

// add queues events of one stream in the pending append, with the metadata of the change.
func (s *syncSeeder) add(stream, typ string, expected eventstore.ExpectedVersion, meta eventstore.Metadata, evs ...domain.Event) error {
	i, ok := s.streams[stream]
	if !ok {
		if s.streams == nil {
			s.streams = map[string]int{}
		}
		i = len(s.batch)
		s.streams[stream] = i
		s.batch = append(s.batch, eventstore.StreamAppend{StreamID: stream, StreamType: typ, Expected: expected})
	}
	for _, e := range evs {
		typ, v, data, err := s.reg.Encode(e)
		if err != nil {
			return err
		}
		s.batch[i].Events = append(s.batch[i].Events, eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, Metadata: meta})
	}
	return nil
}

// taskEvents queues events of t's stream.
func (s *syncSeeder) taskEvents(t *seedTask, meta eventstore.Metadata, evs ...domain.Event) error {
	if err := s.add(domain.TaskStream(t.id), domain.StreamTypeTask, eventstore.Exact(t.version), meta, evs...); err != nil {
		return err
	}
	t.version += int64(len(evs))
	return nil
}

// flush appends the pending changes in one transaction.
func (s *syncSeeder) flush(ctx context.Context) error {
	if len(s.batch) == 0 {
		return nil
	}
	res, err := s.es.Append(ctx, s.batch...)
	if err != nil {
		return err
	}
	s.note(eventstore.GlobalPosition{TransactionID: res.TransactionID, Position: res.LastPosition})
	s.batch, s.changes = s.batch[:0], 0
	clear(s.streams)
	return nil
}

// step makes one change of the mix: a member joining or a project renamed through the command
// handlers, or a task change queued for the next append.
func (s *syncSeeder) step(ctx context.Context) error {
	actor := s.members[s.rng.IntN(len(s.members))]
	meta := eventstore.Metadata{Actor: string(actor.UserID), CorrelationID: uuid.New(), WorkspaceID: s.ws}
	meta.CausationID = meta.CorrelationID
	if s.rng.IntN(2) == 0 { // half the changes come from clients that tag their mutations
		s.cmid++
		meta.ClientMutationID = fmt.Sprintf("bench-%d-%d", s.n, s.cmid)
		ctx = commands.WithClientMutationID(ctx, meta.ClientMutationID)
	}
	now := time.Now().UTC()
	by := actor.UserID
	r := s.rng.IntN(1000)
	if len(s.tasks) < 20 {
		r = 0
	}
	var t *seedTask
	if r >= 200 && r < 975 {
		if t = s.pick(); t == nil {
			return nil
		}
	}
	var err error
	switch {
	case r < 200: // a task is created
		p := s.projects[s.rng.IntN(len(s.projects))]
		rank, rerr := domain.RankBetween(p.last, "")
		if rerr != nil {
			return rerr
		}
		if p.first == "" {
			p.first = rank
		}
		p.last = rank
		t = &seedTask{id: uuid.New(), project: p, status: "todo"}
		numbers := eventstore.NoStream()
		if p.numbers > 0 {
			numbers = eventstore.Exact(p.numbers)
		}
		p.numbers++
		if err := s.add(domain.TaskNumbersStream(p.id), domain.StreamTypeTaskNumbers, numbers, meta,
			domain.ProjectTaskNumberReserved{ProjectID: p.id, TaskID: t.id, Number: p.numbers, By: by, At: now}); err != nil {
			return err
		}
		var due *time.Time
		if s.rng.IntN(3) == 0 {
			d := now.Add(time.Duration(s.rng.IntN(60)-20) * 24 * time.Hour).Truncate(time.Hour)
			due = &d
		}
		if s.rng.IntN(2) == 0 {
			t.assignee = s.members[s.rng.IntN(len(s.members))].UserID
		}
		err = s.add(domain.TaskStream(t.id), domain.StreamTypeTask, eventstore.NoStream(), meta, domain.TaskCreated{
			TaskID: t.id, ProjectID: p.id, WorkspaceID: s.ws, Number: p.numbers, Key: domain.TaskKey(p.key, p.numbers),
			Title: fmt.Sprintf("Implement feature %d of project %s", p.numbers, p.key), Description: "As a user I want the board to load fast, offline too.",
			Priority: syncPriorities[s.rng.IntN(len(syncPriorities))], DueDate: due, Labels: []string{[]string{"backend", "frontend", "docs", "bug"}[s.rng.IntN(4)]},
			Assignee: t.assignee, Status: "todo", Rank: rank, By: by, At: now})
		t.version = 1
		s.tasks = append(s.tasks, t)
	case r < 370: // a field is edited
		var e domain.Event
		switch s.rng.IntN(5) {
		case 0:
			e = domain.TaskTitleChanged{TaskID: t.id, ProjectID: t.project.id, Title: fmt.Sprintf("Implement feature %s (revised %d)", t.id.String()[:6], s.rng.IntN(100)), By: by, At: now}
		case 1:
			e = domain.TaskPriorityChanged{TaskID: t.id, ProjectID: t.project.id, Priority: syncPriorities[s.rng.IntN(len(syncPriorities))], By: by, At: now}
		case 2:
			e = domain.TaskLabelsChanged{TaskID: t.id, ProjectID: t.project.id, Labels: []string{"backend", []string{"urgent", "customer", "tech-debt"}[s.rng.IntN(3)]}, By: by, At: now}
		case 3:
			d := now.Add(time.Duration(s.rng.IntN(30)) * 24 * time.Hour).Truncate(time.Hour)
			e = domain.TaskDueDateChanged{TaskID: t.id, ProjectID: t.project.id, DueDate: &d, By: by, At: now}
		default:
			e = domain.TaskDescriptionChanged{TaskID: t.id, ProjectID: t.project.id, Description: "Updated after the review: " + strconv.Itoa(s.rng.IntN(1000)), By: by, At: now}
		}
		err = s.taskEvents(t, meta, e)
	case r < 550: // moved on the board
		to := syncMoves[t.status][s.rng.IntN(len(syncMoves[t.status]))]
		err = s.taskEvents(t, meta, domain.TaskStatusChanged{TaskID: t.id, ProjectID: t.project.id, From: t.status, To: to, By: by, At: now})
		t.status = to
	case r < 740: // a comment, mentioning someone now and then
		c := domain.TaskCommentAdded{TaskID: t.id, ProjectID: t.project.id, CommentID: uuid.New(), Body: "I looked into this, here is what I found.", By: by, At: now}
		if s.rng.IntN(3) == 0 {
			m := s.members[s.rng.IntN(len(s.members))].UserID
			c.Body, c.Mentions = "@"+string(m)+" can you review?", []domain.UserID{m}
		}
		err = s.taskEvents(t, meta, c)
		t.comments = append(t.comments, c.CommentID)
	case r < 790: // a comment edited or deleted
		if len(t.comments) == 0 {
			return nil
		}
		i := s.rng.IntN(len(t.comments))
		if r < 775 {
			err = s.taskEvents(t, meta, domain.TaskCommentEdited{TaskID: t.id, ProjectID: t.project.id, CommentID: t.comments[i],
				Body: "Edited: never mind.", Mentions: []domain.UserID{}, NewMentions: []domain.UserID{}, By: by, At: now})
		} else {
			err = s.taskEvents(t, meta, domain.TaskCommentDeleted{TaskID: t.id, ProjectID: t.project.id, CommentID: t.comments[i], By: by, At: now})
			t.comments = slices.Delete(t.comments, i, i+1)
		}
	case r < 870: // assigned or unassigned
		if r < 850 || t.assignee == "" {
			to := s.members[s.rng.IntN(len(s.members))].UserID
			if to == t.assignee {
				return nil
			}
			err = s.taskEvents(t, meta, domain.TaskAssigned{TaskID: t.id, ProjectID: t.project.id, Assignee: to, Previous: t.assignee, By: by, At: now})
			t.assignee = to
		} else {
			err = s.taskEvents(t, meta, domain.TaskUnassigned{TaskID: t.id, ProjectID: t.project.id, Assignee: t.assignee,
				Reason: domain.UnassignReasonUnassigned, By: by, At: now})
			t.assignee = ""
		}
	case r < 950: // dragged to the top of its board
		rank, rerr := domain.RankBetween("", t.project.first)
		if rerr != nil {
			return rerr
		}
		t.project.first = rank
		err = s.taskEvents(t, meta, domain.TaskReordered{TaskID: t.id, ProjectID: t.project.id, Rank: rank, By: by, At: now})
	case r < 975: // archived
		err = s.taskEvents(t, meta, domain.TaskArchived{TaskID: t.id, ProjectID: t.project.id, By: by, At: now})
		t.archived = true
	case r < 980: // an archived task restored
		for _, u := range s.tasks {
			if u.archived {
				err = s.taskEvents(u, meta, domain.TaskRestored{TaskID: u.id, ProjectID: u.project.id, By: by, At: now})
				u.archived = false
				break
			}
		}
	case r < 992: // a member joins
		if len(s.members) >= 200 {
			return nil
		}
		return s.join(ctx)
	default: // a project is renamed
		pi := s.rng.IntN(len(s.projects))
		res, err := s.h.RenameProject.Handle(ctx, commands.RenameProject{Actor: s.owner, ProjectID: s.projects[pi].id,
			Name: fmt.Sprintf("Project %c, phase %d", 'A'+pi, s.cmid)})
		if err != nil {
			return err
		}
		s.note(res.Position)
		return nil
	}
	if err != nil {
		return err
	}
	if s.changes++; s.changes >= batchCommands {
		return s.flush(ctx)
	}
	return nil
}

// awaitProjections waits until every projection has applied the log up to last.
func awaitProjections(ctx context.Context, pool *pgxpool.Pool, last eventstore.GlobalPosition) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	return projections.NewQueries(pool).WaitFor(ctx, last)
}

// syncLog is the seeded log's positions in log order, and each workspace's events among them.
type syncLog struct {
	positions   []eventstore.GlobalPosition
	byWorkspace map[string][]int
}

func loadLog(ctx context.Context, pool *pgxpool.Pool) (syncLog, error) {
	l := syncLog{byWorkspace: map[string][]int{}}
	rows, err := pool.Query(ctx, `SELECT transaction_id::text::bigint, position, metadata->>'workspace_id' FROM events
		ORDER BY transaction_id, position`)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	for rows.Next() {
		var tx, pos int64
		var ws *string
		if err := rows.Scan(&tx, &pos, &ws); err != nil {
			return l, err
		}
		if ws != nil && *ws != uuid.Nil.String() {
			l.byWorkspace[*ws] = append(l.byWorkspace[*ws], len(l.positions))
		}
		l.positions = append(l.positions, eventstore.GlobalPosition{TransactionID: uint64(tx), Position: pos})
	}
	return l, rows.Err()
}

// resumePlan is one client: its workspace, where it resumes from, and how many events of the
// log are after that position.
type resumePlan struct {
	ws, since string
	gap       int
}

// resume is what one client's catch-up took.
type resume struct {
	plan              resumePlan
	first, full       time.Duration
	firstSQL, maxSQL  int // statements of the first page, and of the costliest page
	firstFixed, fixed int // the same less one per entity kind loaded (SyncResult.SQLFixedMax)
	totalSQL          int
	pages, records    int
	firstRecords      int
}

// runResumes runs every plan, o.Concurrency at a time.
func runResumes(ctx context.Context, c *gqlClient, plans []resumePlan, o SyncOptions) ([]resume, error) {
	out := make([]resume, len(plans))
	next := make(chan int)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for i := range plans {
			select {
			case next <- i:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	var done atomic.Int64
	for range o.Concurrency {
		g.Go(func() error {
			for i := range next {
				r, err := resumeOnce(gctx, c, plans[i], o.Page)
				if err != nil {
					return fmt.Errorf("resume from %s in %s: %w", plans[i].since, plans[i].ws, err)
				}
				out[i] = r
				if n := done.Add(1); n%50 == 0 {
					fmt.Fprintf(o.Progress, "\rresumes %d/%d", n, len(plans))
				}
			}
			return nil
		})
	}
	err := g.Wait()
	fmt.Fprintln(o.Progress)
	return out, err
}

// resumeOnce pages through changes from p.since until hasMore is false.
func resumeOnce(ctx context.Context, c *gqlClient, p resumePlan, page int) (resume, error) {
	r := resume{plan: p}
	since := p.since
	start := time.Now()
	for {
		var pg struct {
			LastPosition string
			HasMore      bool
			MustRefetch  bool
			Changes      []struct {
				Entity  string
				Removed bool
			}
		}
		n, err := c.doStatements(ctx, syncChangesQuery, map[string]any{"ws": p.ws, "since": since, "first": page}, &pg)
		if err != nil {
			return r, err
		}
		kinds := map[string]bool{}
		for _, c := range pg.Changes {
			if !c.Removed {
				kinds[c.Entity] = true
			}
		}
		fixed := n - len(kinds)
		if r.pages == 0 {
			r.first, r.firstSQL, r.firstRecords, r.firstFixed = time.Since(start), n, len(pg.Changes), fixed
		}
		r.fixed = max(r.fixed, fixed)
		if pg.MustRefetch {
			return r, errors.New("unexpected mustRefetch")
		}
		r.pages++
		r.records += len(pg.Changes)
		r.totalSQL += n
		r.maxSQL = max(r.maxSQL, n)
		if !pg.HasMore {
			break
		}
		if pg.LastPosition == since {
			return r, errors.New("hasMore without progress")
		}
		since = pg.LastPosition
	}
	r.full = time.Since(start)
	return r, nil
}

// refetch is one full refetch of a workspace through the read queries.
type refetch struct {
	took                   time.Duration
	sql, requests, records int
}

// runRefetches refetches the workspaces n times in all, o.Concurrency at a time.
func runRefetches(ctx context.Context, c *gqlClient, workspaces []string, n int, o SyncOptions) ([]refetch, error) {
	out := make([]refetch, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	g, gctx := errgroup.WithContext(ctx)
	for range o.Concurrency {
		g.Go(func() error {
			for i := range next {
				r, err := refetchOnce(gctx, c, workspaces[i%len(workspaces)])
				if err != nil {
					return fmt.Errorf("refetch: %w", err)
				}
				out[i] = r
			}
			return nil
		})
	}
	return out, g.Wait()
}

// refetchTasksPage is the tasks page of a refetch: tasks with their comments, within the
// API's default cost limit.
const refetchTasksPage = 100

func refetchOnce(ctx context.Context, c *gqlClient, ws string) (refetch, error) {
	var r refetch
	start := time.Now()
	var w struct {
		Members, Projects struct{ Nodes []json.RawMessage }
	}
	n, err := c.doStatements(ctx, refetchWorkspaceQuery, map[string]any{"ws": ws}, &w)
	if err != nil {
		return r, err
	}
	r.sql, r.requests, r.records = n, 1, 1+len(w.Members.Nodes)+len(w.Projects.Nodes)
	for _, q := range []string{refetchTasksQuery, refetchNotificationsQuery} {
		var after any
		for {
			var conn struct {
				Nodes []struct {
					Comments struct{ Nodes []json.RawMessage }
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
			n, err := c.doStatements(ctx, q, map[string]any{"ws": ws, "after": after, "first": refetchTasksPage}, &conn)
			if err != nil {
				return r, err
			}
			r.sql += n
			r.requests++
			for _, t := range conn.Nodes {
				r.records += 1 + len(t.Comments.Nodes)
			}
			if !conn.PageInfo.HasNextPage {
				break
			}
			after = conn.PageInfo.EndCursor
		}
	}
	r.took = time.Since(start)
	return r, nil
}

// runRevalidations fetches the first page of each plan over GET /sync, then again with its ETag:
// the second is timed, and must answer 304.
func runRevalidations(ctx context.Context, env *apiEnv, plans []resumePlan, o SyncOptions) (SyncResult, error) {
	get := func(p resumePlan, etag string) (int, string, int, error) {
		url := env.srv.URL + "/sync/" + p.ws + "?first=" + strconv.Itoa(o.Page) + "&since=" + p.since
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, "", 0, err
		}
		req.Header.Set("Authorization", "Bearer "+env.token)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := env.client.http.Do(req)
		if err != nil {
			return 0, "", 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		n, _ := strconv.Atoi(resp.Header.Get("X-Sql-Statements"))
		return resp.StatusCode, resp.Header.Get("ETag"), n, nil
	}
	res := SyncResult{Name: "sync_http_revalidate", Samples: len(plans), GapMin: -1}
	var lats []time.Duration
	var sqls []int
	var mu sync.Mutex
	next := make(chan resumePlan, len(plans))
	for _, p := range plans {
		next <- p
	}
	close(next)
	g, _ := errgroup.WithContext(ctx)
	for range o.Concurrency {
		g.Go(func() error {
			for p := range next {
				status, etag, _, err := get(p, "")
				if err != nil {
					return err
				}
				if status != http.StatusOK || etag == "" {
					return fmt.Errorf("GET /sync: HTTP %d, ETag %q", status, etag)
				}
				t0 := time.Now()
				status, _, n, err := get(p, etag)
				took := time.Since(t0)
				if err != nil {
					return err
				}
				mu.Lock()
				lats, sqls = append(lats, took), append(sqls, n)
				if status == http.StatusNotModified {
					res.NotModified++
				}
				res.GapMin, res.GapMax = minGap(res.GapMin, p.gap), max(res.GapMax, p.gap)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	slices.Sort(lats)
	slices.Sort(sqls)
	res.P50ms, res.P99ms = percentileMS(lats, 0.50), percentileMS(lats, 0.99)
	res.SQLPerResume, res.SQLP50 = sqls[len(sqls)-1], pct(sqls, 0.50)
	res.SQLTotalP50, res.SQLTotalP99 = pct(sqls, 0.50), pct(sqls, 0.99)
	res.PagesP50, res.PagesP99 = 1, 1
	return res, nil
}

func minGap(a, b int) int {
	if a < 0 {
		return b
	}
	return min(a, b)
}

// pct is the p-quantile of sorted.
func pct(sorted []int, p float64) int {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}

// summarizeSync turns the samples into the output lines.
func summarizeSync(rs []resume, fs []refetch, events int) []SyncResult {
	durs := func(f func(resume) time.Duration, rs []resume) []time.Duration {
		out := make([]time.Duration, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		slices.Sort(out)
		return out
	}
	ints := func(f func(resume) int, rs []resume) []int {
		out := make([]int, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		slices.Sort(out)
		return out
	}
	line := func(name string, rs []resume, firstOnly bool) SyncResult {
		res := SyncResult{Name: name, Samples: len(rs), Events: events, GapMin: -1}
		for _, r := range rs {
			res.GapMin, res.GapMax = minGap(res.GapMin, r.plan.gap), max(res.GapMax, r.plan.gap)
		}
		first := durs(func(r resume) time.Duration { return r.first }, rs)
		if firstOnly {
			sql := ints(func(r resume) int { return r.firstSQL }, rs)
			res.P50ms, res.P99ms = percentileMS(first, 0.50), percentileMS(first, 0.99)
			res.SQLPerResume, res.SQLP50 = sql[len(sql)-1], pct(sql, 0.50)
			fixed := ints(func(r resume) int { return r.firstFixed }, rs)
			res.SQLFixedMax = fixed[len(fixed)-1]
			res.SQLTotalP50, res.SQLTotalP99 = pct(sql, 0.50), pct(sql, 0.99)
			res.PagesP50, res.PagesP99 = 1, 1
			recs := ints(func(r resume) int { return r.firstRecords }, rs)
			res.RecordsP50, res.RecordsP99 = pct(recs, 0.50), pct(recs, 0.99)
		} else {
			full := durs(func(r resume) time.Duration { return r.full }, rs)
			res.P50ms, res.P99ms = percentileMS(full, 0.50), percentileMS(full, 0.99)
			res.FirstPageP50ms, res.FirstPageP99ms = percentileMS(first, 0.50), percentileMS(first, 0.99)
			maxSQL := ints(func(r resume) int { return r.maxSQL }, rs)
			res.SQLPerResume = maxSQL[len(maxSQL)-1]
			fixed := ints(func(r resume) int { return r.fixed }, rs)
			res.SQLFixedMax = fixed[len(fixed)-1]
			total := ints(func(r resume) int { return r.totalSQL }, rs)
			res.SQLTotalP50, res.SQLTotalP99 = pct(total, 0.50), pct(total, 0.99)
			var perPage []int
			for _, r := range rs {
				perPage = append(perPage, (r.totalSQL+r.pages/2)/r.pages)
			}
			slices.Sort(perPage)
			res.SQLP50 = pct(perPage, 0.50)
			pages := ints(func(r resume) int { return r.pages }, rs)
			res.PagesP50, res.PagesP99 = pct(pages, 0.50), pct(pages, 0.99)
			recs := ints(func(r resume) int { return r.records }, rs)
			res.RecordsP50, res.RecordsP99 = pct(recs, 0.50), pct(recs, 0.99)
		}
		return res
	}
	out := []SyncResult{line("resume_first_page", rs, true), line("resume_full", rs, false)}
	for _, b := range syncBuckets {
		var in []resume
		for _, r := range rs {
			if r.plan.gap >= b.lo && r.plan.gap < b.hi {
				in = append(in, r)
			}
		}
		if len(in) > 0 {
			out = append(out, line(b.name, in, false))
		}
	}

	// The baseline: a full refetch of a workspace.
	var took []time.Duration
	var sql, reqs, recs []int
	for _, f := range fs {
		took, sql, reqs, recs = append(took, f.took), append(sql, f.sql), append(reqs, f.requests), append(recs, f.records)
	}
	slices.Sort(took)
	slices.Sort(sql)
	slices.Sort(reqs)
	slices.Sort(recs)
	base := SyncResult{Name: "refetch_full", Samples: len(fs), Events: events, P50ms: percentileMS(took, 0.50), P99ms: percentileMS(took, 0.99),
		SQLTotalP50: pct(sql, 0.50), SQLTotalP99: pct(sql, 0.99), PagesP50: pct(reqs, 0.50), PagesP99: pct(reqs, 0.99),
		RecordsP50: pct(recs, 0.50), RecordsP99: pct(recs, 0.99), SQLPerResume: pct(sql, 1)}
	for i := range out {
		if base.P50ms > 0 {
			v := out[i].P50ms / base.P50ms
			out[i].VsRefetch = &v
		}
		if base.SQLTotalP50 > 0 {
			v := float64(out[i].SQLTotalP50) / float64(base.SQLTotalP50)
			out[i].SQLVsRefetch = &v
		}
	}
	return append(out, base)
}

func printSync(o SyncOptions, rs []SyncResult) error {
	if o.JSON {
		return jsonLines(o.Out, rs)
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tsamples\tgap\tp50 ms\tp99 ms\tSQL/request max\tSQL total p50\tpages p50/p99\trecords p50/p99\tvs refetch\t")
	for _, r := range rs {
		ratio := "-"
		if r.VsRefetch != nil {
			ratio = fmt.Sprintf("%.3f", *r.VsRefetch)
		}
		gap := "-"
		if r.GapMax > 0 {
			gap = fmt.Sprintf("%d–%d", r.GapMin, r.GapMax)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.2f\t%d\t%d\t%d/%d\t%d/%d\t%s\t\n", r.Name, r.Samples, gap, r.P50ms, r.P99ms,
			r.SQLPerResume, r.SQLTotalP50, r.PagesP50, r.PagesP99, r.RecordsP50, r.RecordsP99, ratio)
	}
	return tw.Flush()
}
