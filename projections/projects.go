package projections

import (
	"encoding/json"
	"fmt"

	"github.com/taskforge/taskforge/domain"
)

// projectsProjection: projects with their task counts per status and overdue count.
//
// Counts per status are kept incrementally (archived tasks are not counted). Overdue depends on
// the clock, not on events, so it is counted at query time from rm_project_tasks through a partial
// index that holds only open, dated, unarchived tasks.
func projectsProjection() *Projection {
	return &Projection{
		Name: Projects,
		// 2: rm_project_changes (sync records)
		Revision: 2,
		Tables:   []string{"rm_projects", "rm_project_status_counts", "rm_project_tasks", "rm_project_changes"},
		Schema: `
CREATE TABLE rm_projects{v} (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL,
    key             text NOT NULL,
    name            text NOT NULL,
    archived        boolean NOT NULL DEFAULT false,
    workflow        jsonb NOT NULL,
    -- statuses whose category is done or cancelled: tasks there are not open
    closed_statuses text[] NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint NOT NULL
);
CREATE TABLE rm_project_status_counts{v} (
    project_id uuid NOT NULL,
    status     text NOT NULL,
    tasks      int NOT NULL,
    PRIMARY KEY (project_id, status)
);
CREATE TABLE rm_project_tasks{v} (
    task_id    uuid PRIMARY KEY,
    project_id uuid NOT NULL,
    status     text NOT NULL,
    due_date   timestamptz,
    archived   boolean NOT NULL DEFAULT false,
    open       boolean NOT NULL
);
-- serves the workflow change that recomputes open for a project's tasks
CREATE INDEX rm_project_tasks{v}_project_idx ON rm_project_tasks{v} (project_id);` + changesDDL("rm_project_changes"),
		QueryIndexes: `
-- serves ProjectPages (a workspace's projects by name, paged either way)
CREATE INDEX IF NOT EXISTS rm_projects{v}_workspace_idx ON rm_projects{v} (workspace_id, name, id);
-- serves the overdue count of every project read
CREATE INDEX IF NOT EXISTS rm_project_tasks{v}_overdue_idx ON rm_project_tasks{v} (project_id, due_date)
    WHERE open AND NOT archived AND due_date IS NOT NULL;` + changesIndex("rm_project_changes"),
		Apply: applyProjects,
		bulk:  newProjectsFolder,
	}
}

func closedStatuses(wf domain.Workflow) []string {
	out := []string{}
	for _, s := range wf.Statuses {
		if s.Category == domain.CategoryDone || s.Category == domain.CategoryCancelled {
			out = append(out, s.ID)
		}
	}
	return out
}

func applyProjects(w *Writer, e *Event) error {
	switch ev := e.Payload.(type) {
	case domain.ProjectCreated:
		wf, err := json.Marshal(ev.Workflow)
		if err != nil {
			return fmt.Errorf("encode workflow: %w", err)
		}
		w.Exec(`INSERT INTO rm_projects{v} (id, workspace_id, key, name, workflow, closed_statuses, created_by, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)`,
			ev.ProjectID, ev.WorkspaceID, ev.Key, ev.Name, string(wf), closedStatuses(ev.Workflow), string(ev.By), ev.At, e.StreamVersion)
	case domain.ProjectRenamed:
		w.Exec(`UPDATE rm_projects{v} SET name = $2, updated_at = $3, version = $4 WHERE id = $1`, ev.ProjectID, ev.Name, ev.At, e.StreamVersion)
	case domain.ProjectArchived:
		w.Exec(`UPDATE rm_projects{v} SET archived = true, updated_at = $2, version = $3 WHERE id = $1`, ev.ProjectID, ev.At, e.StreamVersion)
	case domain.ProjectUnarchived:
		w.Exec(`UPDATE rm_projects{v} SET archived = false, updated_at = $2, version = $3 WHERE id = $1`, ev.ProjectID, ev.At, e.StreamVersion)
	case domain.ProjectWorkflowDefined:
		wf, err := json.Marshal(ev.Workflow)
		if err != nil {
			return fmt.Errorf("encode workflow: %w", err)
		}
		closed := closedStatuses(ev.Workflow)
		w.Exec(`UPDATE rm_projects{v} SET workflow = $2, closed_statuses = $3, updated_at = $4, version = $5 WHERE id = $1`,
			ev.ProjectID, string(wf), closed, ev.At, e.StreamVersion)
		w.Exec(`UPDATE rm_project_tasks{v} SET open = NOT (status = ANY ($2)) WHERE project_id = $1 AND open = (status = ANY ($2))`, ev.ProjectID, closed)
	case domain.ProjectTaskNumberReserved:
		// version is the project stream's: only older projects have their reservations there, newer
		// ones on their task numbers stream, whose version is not the project's.
		if e.StreamType == domain.StreamTypeProject {
			w.Exec(`UPDATE rm_projects{v} SET version = $2 WHERE id = $1`, ev.ProjectID, e.StreamVersion)
		}

	case domain.TaskCreated:
		w.Exec(`INSERT INTO rm_project_tasks{v} (task_id, project_id, status, due_date, open)
			SELECT $1, $2, $3, $4, NOT ($3 = ANY (p.closed_statuses)) FROM rm_projects{v} p WHERE p.id = $2`,
			ev.TaskID, ev.ProjectID, ev.Status, ev.DueDate)
		w.Exec(`INSERT INTO rm_project_status_counts{v} (project_id, status, tasks) VALUES ($1, $2, 1)
			ON CONFLICT (project_id, status) DO UPDATE SET tasks = rm_project_status_counts{v}.tasks + 1`, ev.ProjectID, ev.Status)
	case domain.TaskStatusChanged:
		countMove(w, ev.TaskID, ev.ProjectID, ev.From, -1)
		countMove(w, ev.TaskID, ev.ProjectID, ev.To, +1)
		w.Exec(`UPDATE rm_project_tasks{v} t SET status = $2, open = NOT ($2 = ANY (p.closed_statuses))
			FROM rm_projects{v} p WHERE t.task_id = $1 AND p.id = t.project_id`, ev.TaskID, ev.To)
	case domain.TaskDueDateChanged:
		w.Exec(`UPDATE rm_project_tasks{v} SET due_date = $2 WHERE task_id = $1`, ev.TaskID, ev.DueDate)
	case domain.TaskArchived:
		w.Exec(`UPDATE rm_project_status_counts{v} c SET tasks = c.tasks - 1 FROM rm_project_tasks{v} t
			WHERE t.task_id = $1 AND NOT t.archived AND c.project_id = t.project_id AND c.status = t.status`, ev.TaskID)
		w.Exec(`UPDATE rm_project_tasks{v} SET archived = true WHERE task_id = $1`, ev.TaskID)
	case domain.TaskRestored:
		w.Exec(`UPDATE rm_project_status_counts{v} c SET tasks = c.tasks + 1 FROM rm_project_tasks{v} t
			WHERE t.task_id = $1 AND t.archived AND c.project_id = t.project_id AND c.status = t.status`, ev.TaskID)
		w.Exec(`UPDATE rm_project_tasks{v} SET archived = false WHERE task_id = $1`, ev.TaskID)
	}
	// after the entity statements: the tables are locked in the order Ensure indexes them
	if id, ok := projectChange(e); ok {
		recordChange(w, "rm_project_changes", e.Metadata.WorkspaceID, SyncProject, id.String(), e, false)
	}
	return nil
}

// countMove adds delta to the count of status unless the task is archived (archived tasks are
// not counted).
func countMove(w *Writer, task, project any, status string, delta int) {
	w.Exec(`INSERT INTO rm_project_status_counts{v} (project_id, status, tasks)
		SELECT $1, $2, $3 FROM rm_project_tasks{v} t WHERE t.task_id = $4 AND NOT t.archived
		ON CONFLICT (project_id, status) DO UPDATE SET tasks = rm_project_status_counts{v}.tasks + $3`, project, status, delta, task)
}
