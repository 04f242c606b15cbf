package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// The helpers below run the commands that change one aggregate. Each loads
// the aggregate and the workspace that authorizes the change, decides, and
// appends the aggregate's events at the version it loaded, asserting the
// version of every other stream the decision read (see doc.go).

// workspaceCommand changes one workspace.
type workspaceCommand struct {
	cmd         Command
	workspaceID uuid.UUID
	expected    *int64
	decide      func(ws *domain.Workspace, now time.Time) ([]domain.Event, error)
}

func (rt *Runtime) runWorkspace(ctx context.Context, inv invocation, wc workspaceCommand) (Result, error) {
	if err := requireID("workspace_id", wc.workspaceID); err != nil {
		return Result{}, err
	}
	if err := validExpected(wc.expected); err != nil {
		return Result{}, err
	}
	stream := domain.WorkspaceStream(wc.workspaceID)
	p := plan{cmd: wc.cmd, target: "workspace", decide: func(ctx context.Context) (decision, error) {
		ws, err := rt.loadWorkspace(ctx, wc.workspaceID)
		if err != nil {
			return decision{}, err
		}
		events, err := wc.decide(ws, rt.now())
		if err := settle(err, wc.expected, ws.Version()); err != nil {
			return decision{}, err
		}
		return decision{workspaceID: ws.ID(), writes: []write{
			exactWrite(stream, domain.StreamTypeWorkspace, ws.Version(), events),
		}}, nil
	}}
	if wc.expected != nil {
		p.pinned = stream
	}
	res, err := rt.execute(ctx, inv, p)
	if err != nil {
		return Result{}, err
	}
	return result(wc.workspaceID, stream, res), nil
}

// settle orders what a decision on an aggregate at version current yields:
// FORBIDDEN first (a caller without the right learns nothing, not even the
// version), then a stale expected version (other verdicts were reached on
// state the caller has not seen), then the decision's own error.
func settle(err error, expected *int64, current int64) error {
	if domain.CodeOf(err) == domain.CodeForbidden {
		return err
	}
	if cerr := checkExpected(expected, current); cerr != nil {
		return cerr
	}
	return err
}

// projectScope is a project with the workspace that owns it.
type projectScope struct {
	ws      *domain.Workspace
	project *domain.Project
}

func (rt *Runtime) loadProjectScope(ctx context.Context, projectID uuid.UUID) (projectScope, error) {
	p, err := rt.loadProject(ctx, projectID)
	if err != nil {
		return projectScope{}, err
	}
	ws, err := rt.loadWorkspace(ctx, p.WorkspaceID())
	if err != nil {
		return projectScope{}, internal("the project's workspace", err)
	}
	return projectScope{ws: ws, project: p}, nil
}

// writes appends events to the project and asserts the workspace version
// they were authorized against.
func (s projectScope) writes(events []domain.Event) []write {
	return []write{
		exactWrite(domain.ProjectStream(s.project.ID()), domain.StreamTypeProject, s.project.Version(), events),
		exactWrite(domain.WorkspaceStream(s.ws.ID()), domain.StreamTypeWorkspace, s.ws.Version(), nil),
	}
}

// projectCommand changes one project.
type projectCommand struct {
	cmd       Command
	projectID uuid.UUID
	expected  *int64
	decide    func(s projectScope, now time.Time) ([]domain.Event, error)
}

func (rt *Runtime) runProject(ctx context.Context, inv invocation, pc projectCommand) (Result, error) {
	if err := requireID("project_id", pc.projectID); err != nil {
		return Result{}, err
	}
	if err := validExpected(pc.expected); err != nil {
		return Result{}, err
	}
	stream := domain.ProjectStream(pc.projectID)
	p := plan{cmd: pc.cmd, target: "project", decide: func(ctx context.Context) (decision, error) {
		s, err := rt.loadProjectScope(ctx, pc.projectID)
		if err != nil {
			return decision{}, err
		}
		events, err := pc.decide(s, rt.now())
		if err := settle(err, pc.expected, s.project.Version()); err != nil {
			return decision{}, err
		}
		return decision{workspaceID: s.ws.ID(), writes: s.writes(events)}, nil
	}}
	if pc.expected != nil {
		p.pinned = stream
	}
	res, err := rt.execute(ctx, inv, p)
	if err != nil {
		return Result{}, err
	}
	return result(pc.projectID, stream, res), nil
}

// taskScope is a task with its project and workspace.
type taskScope struct {
	ws      *domain.Workspace
	project *domain.Project
	task    *domain.Task
}

func (rt *Runtime) loadTaskScope(ctx context.Context, taskID uuid.UUID) (taskScope, error) {
	t, err := rt.loadTask(ctx, taskID)
	if err != nil {
		return taskScope{}, err
	}
	p, err := rt.loadProject(ctx, t.ProjectID())
	if err != nil {
		return taskScope{}, internal("the task's project", err)
	}
	ws, err := rt.loadWorkspace(ctx, t.WorkspaceID())
	if err != nil {
		return taskScope{}, internal("the task's workspace", err)
	}
	return taskScope{ws: ws, project: p, task: t}, nil
}

// taskWrites appends events to the task at the version decided on, asserts
// the project (workflow, archived) and workspace (roles, membership)
// versions the decision read, and keeps the assignment indexes.
func taskWrites(ws *domain.Workspace, project *domain.Project, taskStream string, taskVersion int64, taskExpected eventstore.ExpectedVersion, events []domain.Event) []write {
	writes := []write{
		{stream: taskStream, streamType: domain.StreamTypeTask, expected: taskExpected, loaded: taskVersion, events: events},
		exactWrite(domain.ProjectStream(project.ID()), domain.StreamTypeProject, project.Version(), nil),
		exactWrite(domain.WorkspaceStream(ws.ID()), domain.StreamTypeWorkspace, ws.Version(), nil),
	}
	return append(writes, indexWrites(ws.ID(), events)...)
}

// indexWrites keeps the assignment index of every member whose assignment
// taskEvents change. Any is enough: the task's own exact version orders the
// changes of one task, and a member removal, which must not miss one, writes
// the index at its exact version (doc.go).
func indexWrites(workspaceID uuid.UUID, taskEvents []domain.Event) []write {
	var writes []write
	for _, u := range domain.IndexAssignments(workspaceID, taskEvents) {
		writes = append(writes, write{
			stream: domain.MemberStream(workspaceID, u.Member), streamType: domain.StreamTypeMember,
			expected: eventstore.Any(), events: u.Events,
		})
	}
	return writes
}

// taskCommand changes one task.
type taskCommand struct {
	cmd      Command
	actor    domain.Actor
	taskID   uuid.UUID
	expected *int64
	// prepare, if set, loads more state (after authorization) for decide.
	prepare func(ctx context.Context, s taskScope) error
	decide  func(s taskScope, now time.Time) ([]domain.Event, error)
}

func (rt *Runtime) runTask(ctx context.Context, inv invocation, tc taskCommand) (Result, error) {
	if err := requireID("task_id", tc.taskID); err != nil {
		return Result{}, err
	}
	if err := validExpected(tc.expected); err != nil {
		return Result{}, err
	}
	stream := domain.TaskStream(tc.taskID)
	p := plan{cmd: tc.cmd, target: "task", decide: func(ctx context.Context) (decision, error) {
		s, err := rt.loadTaskScope(ctx, tc.taskID)
		if err != nil {
			return decision{}, err
		}
		if tc.prepare != nil {
			// Authorized first: reading more streams is for members only.
			if err := s.ws.Authorize(tc.actor.UserID, domain.RoleMember); err != nil {
				return decision{}, err
			}
			if err := tc.prepare(ctx, s); err != nil {
				return decision{}, settle(err, tc.expected, s.task.Version())
			}
		}
		events, err := tc.decide(s, rt.now())
		if err := settle(err, tc.expected, s.task.Version()); err != nil {
			return decision{}, err
		}
		v := s.task.Version()
		return decision{workspaceID: s.ws.ID(), writes: taskWrites(s.ws, s.project, stream, v, eventstore.Exact(v), events)}, nil
	}}
	if tc.expected != nil {
		p.pinned = stream
	}
	res, err := rt.execute(ctx, inv, p)
	if err != nil {
		return Result{}, err
	}
	return result(tc.taskID, stream, res), nil
}
