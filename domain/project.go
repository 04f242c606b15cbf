package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

const (
	EventProjectCreated            = "project.created"
	EventProjectRenamed            = "project.renamed"
	EventProjectArchived           = "project.archived"
	EventProjectUnarchived         = "project.unarchived"
	EventProjectWorkflowDefined    = "project.workflow_defined"
	EventProjectTaskNumberReserved = "project.task_number_reserved"
)

// ProjectCreated starts a project stream. It carries the whole initial
// workflow so that later changes to DefaultWorkflow do not rewrite history.
type ProjectCreated struct {
	ProjectID   uuid.UUID `json:"project_id"`
	WorkspaceID uuid.UUID `json:"workspace_id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Workflow    Workflow  `json:"workflow"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type ProjectRenamed struct {
	ProjectID uuid.UUID `json:"project_id"`
	Name      string    `json:"name"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type ProjectArchived struct {
	ProjectID uuid.UUID `json:"project_id"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

type ProjectUnarchived struct {
	ProjectID uuid.UUID `json:"project_id"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

// ProjectWorkflowDefined replaces the project's workflow as a whole.
type ProjectWorkflowDefined struct {
	ProjectID uuid.UUID `json:"project_id"`
	Workflow  Workflow  `json:"workflow"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

// ProjectTaskNumberReserved hands task TaskID the project's next number. It is
// appended together with the task's TaskCreated, on the project's task
// numbers stream (TaskNumbersStream); projects created before that stream
// existed have theirs on the project stream, where they stay.
type ProjectTaskNumberReserved struct {
	ProjectID uuid.UUID `json:"project_id"`
	TaskID    uuid.UUID `json:"task_id"`
	Number    int64     `json:"number"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

func (ProjectCreated) EventType() string            { return EventProjectCreated }
func (ProjectRenamed) EventType() string            { return EventProjectRenamed }
func (ProjectArchived) EventType() string           { return EventProjectArchived }
func (ProjectUnarchived) EventType() string         { return EventProjectUnarchived }
func (ProjectWorkflowDefined) EventType() string    { return EventProjectWorkflowDefined }
func (ProjectTaskNumberReserved) EventType() string { return EventProjectTaskNumberReserved }

// Project groups tasks and owns their workflow. It knows nothing else about
// its tasks; their numbers are handed out by TaskNumbers.
type Project struct {
	state projectState
}

type projectState struct {
	ID             uuid.UUID `json:"id"`
	WorkspaceID    uuid.UUID `json:"workspace_id"`
	Key            string    `json:"key"`
	Name           string    `json:"name"`
	Workflow       Workflow  `json:"workflow"`
	Archived       bool      `json:"archived"`
	LastTaskNumber int64     `json:"last_task_number"`
	CreatedAt      time.Time `json:"created_at"`
	Version        int64     `json:"version"`
}

// CreateProject creates a project with the default workflow (member+). It
// returns events for two streams, which the command must append atomically:
// the key reservation on the workspace stream (expecting ws.Version()) and
// project.created on the new project stream (expecting no stream).
func CreateProject(ws *Workspace, actor Actor, projectID uuid.UUID, name, key string, now time.Time) (workspaceEvents, projectEvents []Event, err error) {
	if ws == nil {
		return nil, nil, errWrongWorkspace
	}
	if err := ws.Authorize(actor.UserID, RoleMember); err != nil {
		return nil, nil, err
	}
	name, err = cleanLine("name", name, MaxNameLen)
	if err != nil {
		return nil, nil, err
	}
	workspaceEvents, err = ws.ReserveProjectKey(actor, projectID, key, now)
	if err != nil {
		return nil, nil, err
	}
	reserved := workspaceEvents[0].(WorkspaceProjectKeyReserved)
	return workspaceEvents, []Event{ProjectCreated{
		ProjectID: projectID, WorkspaceID: ws.ID(), Key: reserved.Key, Name: name,
		Workflow: DefaultWorkflow(), By: actor.UserID, At: now.UTC(),
	}}, nil
}

// Rename changes the project's name (admin+). The key never changes.
func (p *Project) Rename(ws *Workspace, actor Actor, name string, now time.Time) ([]Event, error) {
	if err := p.authorizeChange(ws, actor, RoleAdmin); err != nil {
		return nil, err
	}
	name, err := cleanLine("name", name, MaxNameLen)
	if err != nil {
		return nil, err
	}
	if name == p.state.Name {
		return nil, nil
	}
	return []Event{ProjectRenamed{ProjectID: p.state.ID, Name: name, By: actor.UserID, At: now.UTC()}}, nil
}

// Archive freezes the project and its tasks (admin+): nothing changes the
// project but Unarchive, no task is created in it, and its tasks can only be
// restored. Its key stays reserved.
func (p *Project) Archive(ws *Workspace, actor Actor, now time.Time) ([]Event, error) {
	if _, err := ws.authorizeFor(p.state.WorkspaceID, actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	if p.state.Archived {
		return nil, nil
	}
	return []Event{ProjectArchived{ProjectID: p.state.ID, By: actor.UserID, At: now.UTC()}}, nil
}

// Unarchive makes the project editable again (admin+).
func (p *Project) Unarchive(ws *Workspace, actor Actor, now time.Time) ([]Event, error) {
	if _, err := ws.authorizeFor(p.state.WorkspaceID, actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	if !p.state.Archived {
		return nil, nil
	}
	return []Event{ProjectUnarchived{ProjectID: p.state.ID, By: actor.UserID, At: now.UTC()}}, nil
}

// DefineWorkflow replaces the project's workflow (admin+).
//
// The project does not know which statuses its tasks are in, so it cannot
// refuse to remove a status that tasks still use: the command must check
// that against the tasks before appending. A task left in a removed status
// may move to any status of the new workflow (see Task.ChangeStatus).
func (p *Project) DefineWorkflow(ws *Workspace, actor Actor, wf Workflow, now time.Time) ([]Event, error) {
	if err := p.authorizeChange(ws, actor, RoleAdmin); err != nil {
		return nil, err
	}
	wf, err := cleanWorkflow(wf)
	if err != nil {
		return nil, err
	}
	if wf.Equal(p.state.Workflow) {
		return nil, nil
	}
	return []Event{ProjectWorkflowDefined{ProjectID: p.state.ID, Workflow: wf, By: actor.UserID, At: now.UTC()}}, nil
}

// authorizeChange checks the actor's role and that the project is not
// archived.
func (p *Project) authorizeChange(ws *Workspace, actor Actor, min Role) error {
	if _, err := ws.authorizeFor(p.state.WorkspaceID, actor.UserID, min); err != nil {
		return err
	}
	if p.state.Archived {
		return PreconditionFailed("the project is archived")
	}
	return nil
}

func (p *Project) ID() uuid.UUID          { return p.state.ID }
func (p *Project) WorkspaceID() uuid.UUID { return p.state.WorkspaceID }
func (p *Project) Key() string            { return p.state.Key }
func (p *Project) Name() string           { return p.state.Name }
func (p *Project) Archived() bool         { return p.state.Archived }
func (p *Project) Workflow() Workflow     { return p.state.Workflow.Clone() }
func (p *Project) CreatedAt() time.Time   { return p.state.CreatedAt }

// LastTaskNumber is the last number reserved on the project stream itself,
// which only projects created before TaskNumbers did; 0 for the others.
func (p *Project) LastTaskNumber() int64 { return p.state.LastTaskNumber }

// Version is the number of events folded into p: the stream version that a
// command appending after it must expect.
func (p *Project) Version() int64 { return p.state.Version }

// LoadProject rebuilds a project from its whole stream, for loading only:
// decisions are taken by behaviour methods, never while folding. An empty
// stream is NOT_FOUND.
func LoadProject(events []Event) (*Project, error) { return RestoreProject(nil, events) }

// RestoreProject loads a project from a snapshot (nil for none) and the
// events recorded after it, for loading only.
func RestoreProject(snapshot []byte, events []Event) (*Project, error) {
	p := &Project{}
	if snapshot != nil {
		if err := unmarshalSnapshot(StreamTypeProject, projectSnapshotFormat, snapshot, &p.state); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := p.apply(e); err != nil {
			return nil, fmt.Errorf("load project %s at version %d: %w", p.state.ID, p.state.Version+1, err)
		}
		p.state.Version++
	}
	if p.state.Version == 0 {
		return nil, NotFound("project not found")
	}
	return p, nil
}

// Snapshot encodes p's state for the event store's snapshot table.
func (p *Project) Snapshot() ([]byte, error) {
	return marshalSnapshot(StreamTypeProject, projectSnapshotFormat, p.state)
}

func (p *Project) apply(e Event) error {
	if err := checkFirst(p.state.Version, e, EventProjectCreated); err != nil {
		return err
	}
	s := &p.state
	switch e := e.(type) {
	case ProjectCreated:
		*s = projectState{
			ID: e.ProjectID, WorkspaceID: e.WorkspaceID, Key: e.Key, Name: e.Name,
			Workflow: e.Workflow.Clone(), CreatedAt: e.At,
		}
	case ProjectRenamed:
		s.Name = e.Name
	case ProjectArchived:
		s.Archived = true
	case ProjectUnarchived:
		s.Archived = false
	case ProjectWorkflowDefined:
		s.Workflow = e.Workflow.Clone()
	case ProjectTaskNumberReserved: // before TaskNumbers: older projects only
		s.LastTaskNumber = max(s.LastTaskNumber, e.Number)
	default:
		return errUnexpectedEvent(e)
	}
	return nil
}
