package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// projectsFolder is applyProjects in memory (see bulk.go); each case mirrors a statement there.
type projectsFolder struct {
	projects *bulkTable[uuid.UUID, projectRow]
	counts   *bulkTable[projectStatus, int32]
	tasks    *bulkTable[uuid.UUID, projectTaskRow]
	byProj   map[uuid.UUID][]uuid.UUID // rm_project_tasks_project_idx
	changes  *bulkTable[changeKey, changeRow]
}

type projectRow struct {
	workspaceID          uuid.UUID
	key, name, createdBy string
	archived             bool
	workflow             string
	closed               []string
	createdAt, updatedAt time.Time
	version              int64
}

type projectStatus struct {
	project uuid.UUID
	status  string
}

type projectTaskRow struct {
	project  uuid.UUID
	status   string
	due      *time.Time
	archived bool
	open     bool
}

func newProjectsFolder(v int) bulkFolder {
	return &projectsFolder{
		changes: newBulkChanges(v, "rm_project_changes"),
		projects: newBulkTable(v, "rm_projects", []string{"id", "workspace_id", "key", "name", "archived", "workflow", "closed_statuses",
			"created_by", "created_at", "updated_at", "version"}, 1,
			func(id uuid.UUID, r *projectRow) []any {
				return []any{pgUUID(id), pgUUID(r.workspaceID), r.key, r.name, r.archived, r.workflow, r.closed, r.createdBy, r.createdAt, r.updatedAt, r.version}
			}),
		counts: newBulkTable(v, "rm_project_status_counts", []string{"project_id", "status", "tasks"}, 2,
			func(k projectStatus, n *int32) []any { return []any{pgUUID(k.project), k.status, *n} }),
		tasks: newBulkTable(v, "rm_project_tasks", []string{"task_id", "project_id", "status", "due_date", "archived", "open"}, 1,
			func(id uuid.UUID, r *projectTaskRow) []any {
				var due any
				if r.due != nil {
					due = *r.due
				}
				return []any{pgUUID(id), pgUUID(r.project), r.status, due, r.archived, r.open}
			}),
		byProj: map[uuid.UUID][]uuid.UUID{},
	}
}

func (f *projectsFolder) take() bulkJob { return takeAll(f.projects, f.counts, f.tasks, f.changes) }

// addCount is the upsert of rm_project_status_counts (a missing row starts at delta).
func (f *projectsFolder) addCount(project uuid.UUID, status string, delta int32) {
	k := projectStatus{project, status}
	if n := f.counts.mod(k); n != nil {
		*n += delta
		return
	}
	f.counts.put(k, delta)
}

// countMove is countMove: only for a task that is known and not archived.
func (f *projectsFolder) countMove(task, project uuid.UUID, status string, delta int32) {
	if t := f.tasks.get(task); t != nil && !t.archived {
		f.addCount(project, status, delta)
	}
}

func (f *projectsFolder) apply(e *Event) error {
	if id, ok := projectChange(e); ok {
		foldChange(f.changes, e.Metadata.WorkspaceID, SyncProject, id.String(), e, false)
	}
	sv := e.StreamVersion
	switch ev := e.Payload.(type) {
	case domain.ProjectCreated:
		wf, err := json.Marshal(ev.Workflow)
		if err != nil {
			return fmt.Errorf("encode workflow: %w", err)
		}
		return f.projects.insert(ev.ProjectID, projectRow{workspaceID: ev.WorkspaceID, key: ev.Key, name: ev.Name, workflow: string(wf),
			closed: closedStatuses(ev.Workflow), createdBy: string(ev.By), createdAt: ev.At, updatedAt: ev.At, version: sv})
	case domain.ProjectRenamed:
		if p := f.projects.mod(ev.ProjectID); p != nil {
			p.name, p.updatedAt, p.version = ev.Name, ev.At, sv
		}
	case domain.ProjectArchived:
		if p := f.projects.mod(ev.ProjectID); p != nil {
			p.archived, p.updatedAt, p.version = true, ev.At, sv
		}
	case domain.ProjectUnarchived:
		if p := f.projects.mod(ev.ProjectID); p != nil {
			p.archived, p.updatedAt, p.version = false, ev.At, sv
		}
	case domain.ProjectWorkflowDefined:
		wf, err := json.Marshal(ev.Workflow)
		if err != nil {
			return fmt.Errorf("encode workflow: %w", err)
		}
		closed := closedStatuses(ev.Workflow)
		if p := f.projects.mod(ev.ProjectID); p != nil {
			p.workflow, p.closed, p.updatedAt, p.version = string(wf), closed, ev.At, sv
		}
		for _, id := range f.byProj[ev.ProjectID] {
			t := f.tasks.get(id)
			if t == nil {
				continue
			}
			if open := !slices.Contains(closed, t.status); open != t.open {
				f.tasks.mod(id).open = open
			}
		}
	case domain.ProjectTaskNumberReserved:
		if e.StreamType != domain.StreamTypeProject {
			break // on a task numbers stream, whose version is not the project's
		}
		if p := f.projects.mod(ev.ProjectID); p != nil {
			p.version = sv
		}

	case domain.TaskCreated:
		if p := f.projects.get(ev.ProjectID); p != nil {
			if err := f.tasks.insert(ev.TaskID, projectTaskRow{project: ev.ProjectID, status: ev.Status, due: ev.DueDate,
				open: !slices.Contains(p.closed, ev.Status)}); err != nil {
				return err
			}
			f.byProj[ev.ProjectID] = append(f.byProj[ev.ProjectID], ev.TaskID)
		}
		f.addCount(ev.ProjectID, ev.Status, 1)
	case domain.TaskStatusChanged:
		f.countMove(ev.TaskID, ev.ProjectID, ev.From, -1)
		f.countMove(ev.TaskID, ev.ProjectID, ev.To, +1)
		if t := f.tasks.get(ev.TaskID); t != nil {
			if p := f.projects.get(t.project); p != nil {
				t := f.tasks.mod(ev.TaskID)
				t.status, t.open = ev.To, !slices.Contains(p.closed, ev.To)
			}
		}
	case domain.TaskDueDateChanged:
		if t := f.tasks.mod(ev.TaskID); t != nil {
			t.due = ev.DueDate
		}
	case domain.TaskArchived:
		if t := f.tasks.get(ev.TaskID); t != nil {
			if !t.archived {
				if n := f.counts.mod(projectStatus{t.project, t.status}); n != nil {
					*n--
				}
			}
			f.tasks.mod(ev.TaskID).archived = true
		}
	case domain.TaskRestored:
		if t := f.tasks.get(ev.TaskID); t != nil {
			if t.archived {
				if n := f.counts.mod(projectStatus{t.project, t.status}); n != nil {
					*n++
				}
			}
			f.tasks.mod(ev.TaskID).archived = false
		}
	}
	return nil
}
