package projections

import "github.com/google/uuid"

// TaskListSQL is ListTasks' statement for f, for the planner tests.
func TaskListSQL(workspaceID uuid.UUID, f TaskFilter) (string, []any, error) {
	st, err := listTasksStatement(workspaceID, f)
	return st.sql, st.args, err
}
