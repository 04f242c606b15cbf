package domain

import (
	"strconv"

	"github.com/google/uuid"
)

// Stream types, stored next to each event; a stream id is "<type>-<id>".
const (
	StreamTypeWorkspace = "workspace"
	StreamTypeProject   = "project"
	StreamTypeTask      = "task"
	StreamTypeUser      = "user"
	// StreamTypeTaskNumbers holds a project's task number reservations,
	// apart from the project stream (see TaskNumbers).
	StreamTypeTaskNumbers = "task_numbers"
)

func WorkspaceStream(id uuid.UUID) string { return StreamTypeWorkspace + "-" + id.String() }
func ProjectStream(id uuid.UUID) string   { return StreamTypeProject + "-" + id.String() }
func TaskStream(id uuid.UUID) string      { return StreamTypeTask + "-" + id.String() }
func UserStream(id UserID) string         { return StreamTypeUser + "-" + string(id) }

// TaskNumbersStream is the stream of project projectID's task numbers.
func TaskNumbersStream(projectID uuid.UUID) string {
	return StreamTypeTaskNumbers + "-" + projectID.String()
}

// TaskKey is a task's human-readable key, e.g. "TF-42".
func TaskKey(projectKey string, number int64) string {
	return projectKey + "-" + strconv.FormatInt(number, 10)
}
